package replication

import (
	"context"
	"encoding/base64"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"nergateway/api"
	"nergateway/emulator"
	"nergateway/internal/secret"
	"nergateway/internal/testkit/azurite"
	"nergateway/replication/docsync"
)

// storagePair is two emulated regions whose training documents live in
// Azurite (one container per region), and a worker that syncs them and
// runs the canary. The secondary's storage is reached through a fault
// proxy.
type storagePair struct {
	*regionPair
	store        *docsync.Store // the primary's Azurite, directly
	dr           *docsync.Store // the secondary's Azurite, directly
	proxy        *azurite.FaultProxy
	pDocs, sDocs string
}

// newStoragePair keeps both regions' documents in one Azurite; with copy,
// the sync copies what the secondary lacks, else only verifies.
func newStoragePair(t *testing.T, copy bool) *storagePair {
	t.Helper()
	return newStoragePairOn(t, copy, azurite.Shared(t))
}

// newStoragePairOn keeps the primary's documents in the shared Azurite and
// the secondary's in drAz: the same one, or another service, as two
// regions' storage accounts are.
func newStoragePairOn(t *testing.T, copy bool, drAz *azurite.Server) *storagePair {
	t.Helper()
	az := azurite.Shared(t)
	newStore := func(rawURL, key, side string) *docsync.Store {
		s, err := docsync.NewStore(rawURL, docsync.Options{Key: secret.Secret(key), RetryDelay: time.Millisecond, Side: side})
		require.NoError(t, err)
		return s
	}
	store, dr := newStore(az.URL, az.Key, "primary"), newStore(drAz.URL, drAz.Key, "secondary")
	proxy := azurite.NewFaultProxy(t, drAz)
	toSecondary := newStore(proxy.AccountURL(), drAz.Key, "secondary")
	sp := &storagePair{store: store, dr: dr, proxy: proxy,
		pDocs: azurite.Container("primary-docs"), sDocs: azurite.Container("dr-docs")}
	sp.regionPair = newRegionPairWith(t, pairOptions{secondary: emulator.Options{Documents: dr}},
		emulator.Options{Documents: store}, sp.pDocs, sp.sDocs, false)
	sp.cfg.Documents = &docsync.Syncer{From: store, To: toSecondary, Copy: copy}
	sp.cfg.PrimaryRuntime, sp.cfg.SecondaryRuntime = sp.pc, sp.sc
	sp.cfg.CanaryDocs, sp.cfg.CanaryStore, sp.cfg.CanaryMinAgreement = 5, store, 0.9
	return sp
}

func (sp *storagePair) secondaryHas(t *testing.T, name string) (string, bool) {
	t.Helper()
	text, ok, err := sp.dr.ReadDocument(t.Context(), sp.sDocs, name)
	require.NoError(t, err)
	return text, ok
}

func mustStatus(t *testing.T, w *Worker) ProjectStatus {
	t.Helper()
	return statusOf(t, w, projectName)
}

func wantCanary(t *testing.T, st ProjectStatus, agreement float64) {
	t.Helper()
	require.Len(t, st.Canary, 1, "canary, want agreement over 3 documents")
	require.Equal(t, agreement, st.Canary[0].Agreement, "canary, want agreement over 3 documents")
	require.Equal(t, 3, st.Canary[0].Documents, "canary, want agreement over 3 documents")
}

func TestStorageFreshSecondaryGetsDocumentsProjectAndCanary(t *testing.T) {
	sp := newStoragePair(t, true)
	w := mustNew(t, sp.cfg)
	require.NoError(t, w.SyncOnce(t.Context()), "SyncOnce")
	for name, text := range seedTexts {
		got, ok := sp.secondaryHas(t, name)
		require.True(t, ok, "secondary container: %s = %q, %v", name, got, ok)
		require.Equal(t, text, got, "secondary container: %s = %q, %v", name, got, ok)
	}
	st := mustStatus(t, w)
	require.Equal(t, StateInSync, st.State, "status %+v documents %+v", st, st.Documents)
	require.NotNil(t, st.Documents, "status %+v documents %+v", st, st.Documents)
	require.Equal(t, docsync.Progress{Checked: 3, Copied: 3}, *st.Documents, "status %+v documents %+v", st, st.Documents)
	wantCanary(t, st, 1)
	require.Equal(t, deployment, st.Canary[0].Deployment, "canary names %+v", st.Canary[0])
	require.Equal(t, drDeployment, st.Canary[0].SecondaryDeployment, "canary names %+v", st.Canary[0])
	sp.sameAnswers(t, "City:Zürich@")

	// A document added and labelled in the primary is copied by the next
	// run, and only it.
	seed := seedProject()
	seed.Container = sp.pDocs
	seed.Documents = append(seed.Documents, emulator.SeedDocument{Name: "04.txt", Text: "Kraków on Monday.",
		Labels: []api.Label{utf16Label("Kraków on Monday.", "City", "Kraków")}})
	require.NoError(t, sp.primary.Seed(seed))
	require.NoError(t, w.SyncOnce(t.Context()), "second SyncOnce")
	got, ok := sp.secondaryHas(t, "04.txt")
	require.True(t, ok, "04.txt in the secondary")
	require.Equal(t, "Kraków on Monday.", got, "04.txt in the secondary")
	st = mustStatus(t, w)
	require.Equal(t, StateInSync, st.State, "after the addition: %+v documents %+v", st, st.Documents)
	require.Equal(t, docsync.Progress{Checked: 4, Copied: 1}, *st.Documents, "after the addition: %+v documents %+v", st, st.Documents)
	sp.sameAnswers(t)
}

// Two storage accounts are two blob services, as the runbook advises: the
// secondary's service cannot read the primary's blobs (Azurite answers
// ContainerNotFound when both accounts have one name, CannotVerifyCopySource
// when they differ), so the run streams the documents, a hostile name
// included, and ends in sync with the canary agreeing. When streaming is
// refused too, the project's error names the side, the container and the
// operation.
func TestStorageTwoServicesStreamThenInSync(t *testing.T) {
	for _, pair := range []struct {
		name string
		dr   azurite.Options
	}{
		{"same account name", azurite.Options{}},
		{"distinct accounts", azurite.Options{Account: "drstoreaccount",
			Key: base64.StdEncoding.EncodeToString([]byte("the secondary's test key, worth nothing"))}},
	} {
		t.Run(pair.name, func(t *testing.T) {
			sp := newStoragePairOn(t, true, azurite.StartWith(t, pair.dr))
			w := mustNew(t, sp.cfg)
			require.NoError(t, w.SyncOnce(t.Context()))
			for name, text := range seedTexts {
				got, ok := sp.secondaryHas(t, name)
				require.True(t, ok, "%s is not in the secondary's container", name)
				assert.Equal(t, text, got)
			}
			st := mustStatus(t, w)
			assert.Equal(t, StateInSync, st.State, "%+v", st.LastError)
			require.NotNil(t, st.Documents)
			assert.Equal(t, docsync.Progress{Checked: 3, Copied: 3, Streamed: 3}, *st.Documents)
			wantCanary(t, st, 1)
			sp.sameAnswers(t, "City:Zürich@")

			// A document with a hostile name, added and labelled in the
			// primary, reaches the secondary under that name.
			const hostile, text = "ünïcødé/deep dir/%2e%2e 04.txt", "Kraków on Monday."
			seed := seedProject()
			seed.Container = sp.pDocs
			seed.Documents = append(seed.Documents, emulator.SeedDocument{Name: hostile, Text: text,
				Labels: []api.Label{utf16Label(text, "City", "Kraków")}})
			require.NoError(t, sp.primary.Seed(seed))
			require.NoError(t, w.SyncOnce(t.Context()))
			got, ok := sp.secondaryHas(t, hostile)
			assert.True(t, ok)
			assert.Equal(t, text, got)
			st = mustStatus(t, w)
			assert.Equal(t, StateInSync, st.State, "%+v", st.LastError)
			assert.Equal(t, docsync.Progress{Checked: 4, Copied: 1, Streamed: 1}, *st.Documents)
			require.Len(t, st.Canary, 1)
			assert.Equal(t, 4, st.Canary[0].Documents, "the canary reads the hostile name too")
			assert.Equal(t, 1.0, st.Canary[0].Agreement)

			// Neither a server-side copy nor streaming: the secondary
			// refuses every upload.
			sp.proxy.SetFault(func(w http.ResponseWriter, r *http.Request) bool {
				if r.Method != http.MethodPut || r.Header.Get("x-ms-copy-source") != "" {
					return false
				}
				w.Header().Set("x-ms-error-code", "AuthorizationPermissionMismatch")
				w.WriteHeader(http.StatusForbidden)
				return true
			})
			seed.Documents = append(seed.Documents, emulator.SeedDocument{Name: "05.txt", Text: "Nothing here."})
			require.NoError(t, sp.primary.Seed(seed))
			trained := sp.secondary.Calls("import") + sp.secondary.Calls("train")
			require.Error(t, w.SyncOnce(t.Context()))
			st = mustStatus(t, w)
			assert.Equal(t, StateFailed, st.State)
			assert.Equal(t, StageDocuments, st.Stage)
			require.NotNil(t, st.LastError)
			assert.Equal(t, "AuthorizationPermissionMismatch", st.LastError.Code)
			for _, want := range []string{"secondary storage", "container " + sp.sDocs, "upload", "05.txt"} {
				assert.Contains(t, st.LastError.Message, want)
			}
			for _, never := range []string{"127.0.0.1", "sig=", azurite.Key, pair.dr.Key} {
				if never != "" {
					assert.NotContains(t, st.LastError.Message, never)
				}
			}
			assert.Equal(t, trained, sp.secondary.Calls("import")+sp.secondary.Calls("train"), "import or train after a failed document sync")
		})
	}
}

func TestStorageVerifyMissingDocumentFailsWithoutTraining(t *testing.T) {
	sp := newStoragePair(t, false)
	for _, name := range []string{"01.txt", "02.txt"} {
		require.NoError(t, sp.dr.WriteDocument(t.Context(), sp.sDocs, name, seedTexts[name]))
	}
	w := mustNew(t, sp.cfg)
	err := w.SyncOnce(t.Context())
	var me *docsync.MissingError
	require.ErrorAs(t, err, &me, "SyncOnce, want 03.txt missing")
	require.Equal(t, 1, me.Count, "SyncOnce, want 03.txt missing")
	require.Equal(t, "03.txt", me.First[0], "SyncOnce, want 03.txt missing")
	st := mustStatus(t, w)
	require.Equal(t, StateFailed, st.State, "status %+v error %+v", st, st.LastError)
	require.Equal(t, StageDocuments, st.Stage, "status %+v error %+v", st, st.LastError)
	require.NotNil(t, st.LastError, "status %+v error %+v", st, st.LastError)
	require.Equal(t, docsync.CodeDocumentsMissing, st.LastError.Code, "status %+v error %+v", st, st.LastError)
	require.Contains(t, st.LastError.Message, "03.txt", "status %+v error %+v", st, st.LastError)
	n := sp.secondary.Calls("train") + sp.secondary.Calls("import")
	require.Equal(t, 0, n, "import/train calls after a verify that found a document missing")
	_, ok := sp.secondaryHas(t, "03.txt")
	require.False(t, ok, "verify copied a document")
}

// deleteDeployment deletes a secondary deployment by hand, as an operator
// in the portal would.
func deleteDeployment(t *testing.T, s *emulator.Server, project, name string) {
	t.Helper()
	req, _ := http.NewRequestWithContext(t.Context(), http.MethodDelete,
		s.URL+api.DeploymentPath(project, name)+"?api-version=2022-05-01", nil)
	req.Header.Set("Ocp-Apim-Subscription-Key", secondaryKey)
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusAccepted, resp.StatusCode, "delete deployment: %s", resp.Status)
}

func TestStorageCanaryFindsHandMadeChangesAndTheRunRepairs(t *testing.T) {
	sp := newStoragePair(t, true)
	w := mustNew(t, sp.cfg)
	require.NoError(t, w.SyncOnce(t.Context()))
	wantCanary(t, mustStatus(t, w), 1)

	t.Run("deployment deleted", func(t *testing.T) {
		deleteDeployment(t, sp.secondary, drProject, drDeployment)
		require.NoError(t, w.Check(t.Context()))
		st := mustStatus(t, w)
		require.Equal(t, StateDiverged, st.State, "state %q, want diverged: %+v", st.State, st)
		wantCanary(t, st, 0)
		require.NoError(t, w.SyncOnce(t.Context()))
		st = mustStatus(t, w)
		require.Equal(t, StateInSync, st.State, "after the repair: %+v", st)
		wantCanary(t, st, 1)
	})

	t.Run("retrained on other labels", func(t *testing.T) {
		// By hand in the secondary: the same texts, Zürich labelled as a
		// Day, trained and deployed under the replicated names. Its
		// timestamps are newer than the primary's, so only the canary can
		// tell.
		hand := seedProject()
		hand.Name, hand.Container, hand.DeploymentName = drProject, sp.sDocs, drDeployment
		for i := range hand.Documents {
			for j := range hand.Documents[i].Labels {
				hand.Documents[i].Labels[j].Category = "Day"
			}
		}
		require.NoError(t, sp.secondary.Seed(hand))
		require.NoError(t, w.Check(t.Context()))
		st := mustStatus(t, w)
		require.Equal(t, StateDiverged, st.State, "state canary, want diverged")
		require.Len(t, st.Canary, 1, "state canary, want diverged")
		require.Less(t, st.Canary[0].Agreement, 0.9, "state canary, want diverged")
		for _, d := range st.Canary[0].Differences {
			for _, text := range seedTexts {
				require.NotContains(t, text, d, "a difference quotes text")
				require.NotContains(t, d, "Zürich", "a difference quotes text")
				require.NotContains(t, d, "Łódź", "a difference quotes text")
			}
			require.True(t, strings.HasPrefix(d, "document "), "difference %q does not name the document", d)
		}
		require.NoError(t, w.SyncOnce(t.Context()))
		st = mustStatus(t, w)
		require.Equal(t, StateInSync, st.State, "after the repair: %+v", st)
		wantCanary(t, st, 1)
		sp.sameAnswers(t, "City:Zürich@")
	})
}

func TestStorageFaultsEndInAClearStateThenSucceed(t *testing.T) {
	for _, tc := range []struct {
		name  string
		fault func(*atomic.Int32) func(http.ResponseWriter, *http.Request) bool
		code  string
	}{
		{"unreachable", func(*atomic.Int32) func(http.ResponseWriter, *http.Request) bool { return azurite.Cut }, CodeStorage},
		{"throttled", func(*atomic.Int32) func(http.ResponseWriter, *http.Request) bool { return azurite.Unavailable }, CodeStorage},
		{"copy cut halfway", func(puts *atomic.Int32) func(http.ResponseWriter, *http.Request) bool {
			return func(w http.ResponseWriter, r *http.Request) bool {
				// One document goes through (the container exists);
				// the connection drops on the next.
				if r.Method == http.MethodPut && puts.Add(1) > 1 {
					return azurite.Cut(w, r)
				}
				return false
			}
		}, CodeStorage},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sp := newStoragePair(t, true)
			sp.cfg.Documents.Concurrency = 1
			require.NoError(t, sp.dr.WriteDocument(t.Context(), sp.sDocs, "operator-notes.txt", "kept"))
			var puts atomic.Int32
			sp.proxy.SetFault(tc.fault(&puts))
			w := mustNew(t, sp.cfg)
			require.Error(t, w.SyncOnce(t.Context()), "SyncOnce succeeded through the fault")
			st := mustStatus(t, w)
			require.Equal(t, StateFailed, st.State, "status %+v error %+v", st, st.LastError)
			require.Equal(t, StageDocuments, st.Stage, "status %+v error %+v", st, st.LastError)
			require.NotNil(t, st.LastError, "status %+v error %+v", st, st.LastError)
			require.Equal(t, tc.code, st.LastError.Code, "status %+v error %+v", st, st.LastError)
			require.NotContains(t, st.LastError.Message, "127.0.0.1", "the error names the storage URL")
			require.NotContains(t, st.LastError.Message, "sig=", "the error names the storage URL")
			n := sp.secondary.Calls("import") + sp.secondary.Calls("train")
			require.Equal(t, 0, n, "import/train calls after a failed document sync")

			sp.proxy.SetFault(nil)
			require.NoError(t, w.SyncOnce(context.Background()), "later SyncOnce")
			st = mustStatus(t, w)
			require.Equal(t, StateInSync, st.State, "after the fault: %+v documents %+v", st, st.Documents)
			require.Equal(t, 3, st.Documents.Checked, "after the fault: %+v documents %+v", st, st.Documents)
			require.Equal(t, 0, st.Documents.Missing, "after the fault: %+v documents %+v", st, st.Documents)
			require.False(t, tc.name == "copy cut halfway" && st.Documents.Copied != 2, "the resumed sync copied %d, want the 2 the cut one left", st.Documents.Copied)
			got, ok := sp.secondaryHas(t, "operator-notes.txt")
			require.True(t, ok, "a blob only the secondary held was deleted or changed")
			require.Equal(t, "kept", got, "a blob only the secondary held was deleted or changed")
			wantCanary(t, st, 1)
		})
	}
}

func TestCanaryDocumentsAreTheFirstLabelled(t *testing.T) {
	labelled := `[{"regionOffset":0,"regionLength":9,"labels":[{"category":"City","offset":0,"length":4}]}]`
	f, err := parseProjectFile([]byte(`{"projectFileVersion":"2022-05-01","metadata":{"projectKind":"CustomEntityRecognition"},
		"assets":{"documents":[{"location":"unlabelled.txt"},{"location":"a.txt","entities":` + labelled + `},
		{"location":"empty-region.txt","entities":[{"regionOffset":0,"regionLength":3,"labels":[]}]},
		{"location":"b.txt","entities":` + labelled + `},{"location":"c.txt","entities":` + labelled + `}]}}`))
	require.NoError(t, err)
	got := f.firstLabelled(2)
	require.Equal(t, "a.txt,b.txt", strings.Join(got, ","), "canary documents %v", got)
	got = f.firstLabelled(9)
	require.Len(t, got, 3, "all labelled")
	f, err = parseProjectFile([]byte(`{"projectFileVersion":"2022-05-01","metadata":{"projectKind":"CustomEntityRecognition"},"assets":{}}`))
	require.NoError(t, err)
	got = f.firstLabelled(2)
	require.Empty(t, got, "no documents")
}

func TestCompareEntities(t *testing.T) {
	for _, tc := range []struct {
		name               string
		primary, secondary entitiesByDoc
		agreement          float64
		diffs              []string
	}{
		{"both empty", entitiesByDoc{"1": nil}, entitiesByDoc{"1": nil}, 1, nil},
		{"same", entitiesByDoc{"1": {"City@0+5", "City@0+5"}}, entitiesByDoc{"1": {"City@0+5", "City@0+5"}}, 1, nil},
		{"other category", entitiesByDoc{"1": {"City@0+5", "Day@9+6"}}, entitiesByDoc{"1": {"City@0+5", "Party@9+6"}}, 1.0 / 3,
			[]string{"document 1: Party@9+6 only in the secondary", "document 1: Day@9+6 only in the primary"}},
		{"missing document", entitiesByDoc{"1": {"City@0+5"}, "2": {"City@3+2"}}, entitiesByDoc{"1": {"City@0+5"}}, 0.5,
			[]string{"document 2: City@3+2 only in the primary"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a, d := compareEntities(tc.primary, tc.secondary)
			require.Equal(t, tc.agreement, a, "agreement %v differences %q, want %v %q", a, d, tc.agreement, tc.diffs)
			require.Equal(t, strings.Join(tc.diffs, "|"), strings.Join(d, "|"), "agreement %v differences %q, want %v %q", a, d, tc.agreement, tc.diffs)
		})
	}
}

// Without storage, the canary analyses REPLICATION_CANARY_FILE's texts,
// the first CanaryDocs of them.
func TestCanaryFromFixedTextsWithoutStorage(t *testing.T) {
	rp := newRegionPair(t, pairOptions{})
	rp.cfg.PrimaryRuntime, rp.cfg.SecondaryRuntime = rp.pc, rp.sc
	rp.cfg.CanaryDocs, rp.cfg.CanaryMinAgreement = 2, 0.9
	rp.cfg.CanaryTexts = []string{queryText, "Nothing to find here.", "not analysed"}
	w := mustNew(t, rp.cfg)
	require.NoError(t, w.SyncOnce(t.Context()))
	st := mustStatus(t, w)
	require.Equal(t, StateInSync, st.State, "status %+v canary %+v", st, st.Canary)
	require.Len(t, st.Canary, 1, "status %+v canary %+v", st, st.Canary)
	require.EqualValues(t, 1, st.Canary[0].Agreement, "status %+v canary %+v", st, st.Canary)
	require.Equal(t, 2, st.Canary[0].Documents, "status %+v canary %+v", st, st.Canary)
	require.Nil(t, st.Documents, "documents without document sync")
}

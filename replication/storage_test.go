package replication

import (
	"context"
	"encoding/base64"
	"errors"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"nergateway/api"
	"nergateway/emulator"
	"nergateway/internal/azurite"
	"nergateway/internal/secret"
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

// newStoragePair keeps both regions' documents in one Azurite.
func newStoragePair(t *testing.T, mode string) *storagePair {
	t.Helper()
	return newStoragePairOn(t, mode, azurite.Shared(t))
}

// newStoragePairOn keeps the primary's documents in the shared Azurite and
// the secondary's in drAz: the same one, or another service, as two
// regions' storage accounts are.
func newStoragePairOn(t *testing.T, mode string, drAz *azurite.Server) *storagePair {
	t.Helper()
	az := azurite.Shared(t)
	newStore := func(rawURL, key, side string) *docsync.Store {
		s, err := docsync.NewStore(rawURL, docsync.Options{Key: secret.Secret(key), RetryDelay: time.Millisecond, Side: side})
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	store, dr := newStore(az.URL, az.Key, "primary"), newStore(drAz.URL, drAz.Key, "secondary")
	proxy := azurite.NewFaultProxy(t, drAz)
	toSecondary := newStore(proxy.AccountURL(), drAz.Key, "secondary")
	sp := &storagePair{store: store, dr: dr, proxy: proxy,
		pDocs: azurite.Container("primary-docs"), sDocs: azurite.Container("dr-docs")}
	sp.regionPair = newRegionPairWith(t, pairOptions{secondary: emulator.Options{Documents: dr}},
		emulator.Options{Documents: store}, sp.pDocs, sp.sDocs, false)
	sp.cfg.Documents = &docsync.Syncer{From: store, To: toSecondary, Mode: mode}
	sp.cfg.PrimaryRuntime, sp.cfg.SecondaryRuntime = sp.pc, sp.sc
	sp.cfg.CanaryDocs, sp.cfg.CanaryStore, sp.cfg.CanaryMinAgreement = 5, store, 0.9
	return sp
}

func (sp *storagePair) secondaryHas(t *testing.T, name string) (string, bool) {
	t.Helper()
	text, ok, err := sp.dr.ReadDocument(t.Context(), sp.sDocs, name)
	if err != nil {
		t.Fatal(err)
	}
	return text, ok
}

func mustStatus(t *testing.T, w *Worker) ProjectStatus {
	t.Helper()
	return statusOf(t, w, projectName)
}

func wantCanary(t *testing.T, st ProjectStatus, agreement float64) {
	t.Helper()
	if len(st.Canary) != 1 || st.Canary[0].Agreement != agreement || st.Canary[0].Documents != 3 {
		t.Fatalf("canary %+v, want agreement %v over 3 documents", st.Canary, agreement)
	}
}

func TestStorageFreshSecondaryGetsDocumentsProjectAndCanary(t *testing.T) {
	sp := newStoragePair(t, docsync.ModeCopy)
	w := mustNew(t, sp.cfg)
	if err := w.SyncOnce(t.Context()); err != nil {
		t.Fatalf("SyncOnce: %v", err)
	}
	for name, text := range seedTexts {
		if got, ok := sp.secondaryHas(t, name); !ok || got != text {
			t.Fatalf("secondary container: %s = %q, %v", name, got, ok)
		}
	}
	st := mustStatus(t, w)
	if st.State != StateInSync || st.Documents == nil || *st.Documents != (docsync.Progress{Checked: 3, Copied: 3}) {
		t.Fatalf("status %+v documents %+v", st, st.Documents)
	}
	wantCanary(t, st, 1)
	if st.Canary[0].Deployment != deployment || st.Canary[0].SecondaryDeployment != drDeployment {
		t.Fatalf("canary names %+v", st.Canary[0])
	}
	sp.sameAnswers(t, "City:Zürich@")

	// A document added and labelled in the primary is copied by the next
	// run, and only it.
	seed := seedProject()
	seed.Container = sp.pDocs
	seed.Documents = append(seed.Documents, emulator.SeedDocument{Name: "04.txt", Text: "Kraków on Monday.",
		Labels: []api.Label{utf16Label("Kraków on Monday.", "City", "Kraków")}})
	if err := sp.primary.Seed(seed); err != nil {
		t.Fatal(err)
	}
	if err := w.SyncOnce(t.Context()); err != nil {
		t.Fatalf("second SyncOnce: %v", err)
	}
	if got, ok := sp.secondaryHas(t, "04.txt"); !ok || got != "Kraków on Monday." {
		t.Fatalf("04.txt in the secondary: %q, %v", got, ok)
	}
	st = mustStatus(t, w)
	if st.State != StateInSync || *st.Documents != (docsync.Progress{Checked: 4, Copied: 1}) {
		t.Fatalf("after the addition: %+v documents %+v", st, st.Documents)
	}
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
			sp := newStoragePairOn(t, docsync.ModeCopy, azurite.StartWith(t, pair.dr))
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
	sp := newStoragePair(t, docsync.ModeVerify)
	for _, name := range []string{"01.txt", "02.txt"} {
		if err := sp.dr.WriteDocument(t.Context(), sp.sDocs, name, seedTexts[name]); err != nil {
			t.Fatal(err)
		}
	}
	w := mustNew(t, sp.cfg)
	err := w.SyncOnce(t.Context())
	var me *docsync.MissingError
	if !errors.As(err, &me) || me.Count != 1 || me.First[0] != "03.txt" {
		t.Fatalf("SyncOnce: %v, want 03.txt missing", err)
	}
	st := mustStatus(t, w)
	if st.State != StateFailed || st.Stage != StageDocuments || st.LastError == nil ||
		st.LastError.Code != docsync.CodeDocumentsMissing || !strings.Contains(st.LastError.Message, "03.txt") {
		t.Fatalf("status %+v error %+v", st, st.LastError)
	}
	if n := sp.secondary.Calls("train") + sp.secondary.Calls("import"); n != 0 {
		t.Fatalf("%d import/train calls after a verify that found a document missing", n)
	}
	if _, ok := sp.secondaryHas(t, "03.txt"); ok {
		t.Fatal("verify copied a document")
	}
}

// deleteDeployment deletes a secondary deployment by hand, as an operator
// in the portal would.
func deleteDeployment(t *testing.T, s *emulator.Server, project, name string) {
	t.Helper()
	req, _ := http.NewRequestWithContext(t.Context(), http.MethodDelete,
		s.URL+api.DeploymentPath(project, name)+"?api-version=2022-05-01", nil)
	req.Header.Set("Ocp-Apim-Subscription-Key", secondaryKey)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusAccepted {
		t.Fatalf("delete deployment: %s", resp.Status)
	}
}

func TestStorageCanaryFindsHandMadeChangesAndTheRunRepairs(t *testing.T) {
	sp := newStoragePair(t, docsync.ModeCopy)
	w := mustNew(t, sp.cfg)
	if err := w.SyncOnce(t.Context()); err != nil {
		t.Fatal(err)
	}
	wantCanary(t, mustStatus(t, w), 1)

	t.Run("deployment deleted", func(t *testing.T) {
		deleteDeployment(t, sp.secondary, drProject, drDeployment)
		if err := w.Check(t.Context()); err != nil {
			t.Fatal(err)
		}
		st := mustStatus(t, w)
		if st.State != StateDiverged {
			t.Fatalf("state %q, want diverged: %+v", st.State, st)
		}
		wantCanary(t, st, 0)
		if err := w.SyncOnce(t.Context()); err != nil {
			t.Fatal(err)
		}
		st = mustStatus(t, w)
		if st.State != StateInSync {
			t.Fatalf("after the repair: %+v", st)
		}
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
		if err := sp.secondary.Seed(hand); err != nil {
			t.Fatal(err)
		}
		if err := w.Check(t.Context()); err != nil {
			t.Fatal(err)
		}
		st := mustStatus(t, w)
		if st.State != StateDiverged || len(st.Canary) != 1 || st.Canary[0].Agreement >= 0.9 {
			t.Fatalf("state %q canary %+v, want diverged", st.State, st.Canary)
		}
		for _, d := range st.Canary[0].Differences {
			for _, text := range seedTexts {
				if strings.Contains(text, d) || strings.Contains(d, "Zürich") || strings.Contains(d, "Łódź") {
					t.Fatalf("a difference quotes text: %q", d)
				}
			}
			if !strings.HasPrefix(d, "document ") {
				t.Fatalf("difference %q does not name the document", d)
			}
		}
		if err := w.SyncOnce(t.Context()); err != nil {
			t.Fatal(err)
		}
		st = mustStatus(t, w)
		if st.State != StateInSync {
			t.Fatalf("after the repair: %+v", st)
		}
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
			sp := newStoragePair(t, docsync.ModeCopy)
			sp.cfg.Documents.Concurrency = 1
			if err := sp.dr.WriteDocument(t.Context(), sp.sDocs, "operator-notes.txt", "kept"); err != nil {
				t.Fatal(err)
			}
			var puts atomic.Int32
			sp.proxy.SetFault(tc.fault(&puts))
			w := mustNew(t, sp.cfg)
			if err := w.SyncOnce(t.Context()); err == nil {
				t.Fatal("SyncOnce succeeded through the fault")
			}
			st := mustStatus(t, w)
			if st.State != StateFailed || st.Stage != StageDocuments || st.LastError == nil || st.LastError.Code != tc.code {
				t.Fatalf("status %+v error %+v", st, st.LastError)
			}
			if strings.Contains(st.LastError.Message, "127.0.0.1") || strings.Contains(st.LastError.Message, "sig=") {
				t.Fatalf("the error names the storage URL: %q", st.LastError.Message)
			}
			if n := sp.secondary.Calls("import") + sp.secondary.Calls("train"); n != 0 {
				t.Fatalf("%d import/train calls after a failed document sync", n)
			}

			sp.proxy.SetFault(nil)
			if err := w.SyncOnce(context.Background()); err != nil {
				t.Fatalf("later SyncOnce: %v", err)
			}
			st = mustStatus(t, w)
			if st.State != StateInSync || st.Documents.Checked != 3 || st.Documents.Missing != 0 {
				t.Fatalf("after the fault: %+v documents %+v", st, st.Documents)
			}
			if tc.name == "copy cut halfway" && st.Documents.Copied != 2 {
				t.Fatalf("the resumed sync copied %d, want the 2 the cut one left", st.Documents.Copied)
			}
			if got, ok := sp.secondaryHas(t, "operator-notes.txt"); !ok || got != "kept" {
				t.Fatal("a blob only the secondary held was deleted or changed")
			}
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
	if err != nil {
		t.Fatal(err)
	}
	if got := f.firstLabelled(2); strings.Join(got, ",") != "a.txt,b.txt" {
		t.Fatalf("canary documents %v", got)
	}
	if got := f.firstLabelled(9); len(got) != 3 {
		t.Fatalf("all labelled: %v", got)
	}
	f, err = parseProjectFile([]byte(`{"projectFileVersion":"2022-05-01","metadata":{"projectKind":"CustomEntityRecognition"},"assets":{}}`))
	if err != nil {
		t.Fatal(err)
	}
	if got := f.firstLabelled(2); len(got) != 0 {
		t.Fatalf("no documents: %v", got)
	}
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
			if a != tc.agreement || strings.Join(d, "|") != strings.Join(tc.diffs, "|") {
				t.Fatalf("agreement %v differences %q, want %v %q", a, d, tc.agreement, tc.diffs)
			}
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
	if err := w.SyncOnce(t.Context()); err != nil {
		t.Fatal(err)
	}
	st := mustStatus(t, w)
	if st.State != StateInSync || len(st.Canary) != 1 || st.Canary[0].Agreement != 1 || st.Canary[0].Documents != 2 {
		t.Fatalf("status %+v canary %+v", st, st.Canary)
	}
	if st.Documents != nil {
		t.Fatalf("documents %+v without document sync", st.Documents)
	}
}

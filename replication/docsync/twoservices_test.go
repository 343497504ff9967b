package docsync

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/streaming"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/blockblob"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"nergateway/internal/secret"
	"nergateway/internal/testkit/azurite"
)

// The pairs of blob services two regions' storage accounts can be: two
// Azurite processes serving the same account name (as two regions'
// accounts are separate services whatever their names), and two serving
// distinct accounts. The primary is the package's shared Azurite.
var servicePairs = []struct {
	name      string
	secondary azurite.Options
}{
	{"same account name", azurite.Options{}},
	{"distinct accounts", azurite.Options{Account: "drstoreaccount",
		Key: base64.StdEncoding.EncodeToString([]byte("the secondary's test key, worth nothing"))}},
}

// hostileDocuments are legal blob names that break naive URL handling
// (a space, non-ASCII, deep paths, 900 characters, a literal
// percent-encoded "..", a real ".." segment beside the blob it would
// resolve to) and sizes at both ends (0 bytes, 6 MiB: streamed in blocks),
// with their contents.
func hostileDocuments() map[string][]byte {
	big := make([]byte, 6<<20)
	r := rand.New(rand.NewPCG(1, 2))
	for i := range big {
		big[i] = byte(r.Uint32())
	}
	return map[string][]byte{
		"space name.txt":                  []byte("Contoso signs the lease in Köln."),
		"ünïcødé/日本.txt":                  []byte("東京で契約。"),
		"deep/a/b/c/d.txt":                []byte("Fabrikam in Zürich."),
		strings.Repeat("n", 896) + ".txt": []byte("a long name"),
		"%2e%2e/x.txt":                    []byte("not the parent's x.txt"),
		"a/../b.txt":                      []byte("a's parent's b.txt, by name only"),
		"b.txt":                           []byte("the b.txt a/../b.txt is not"),
		"empty.txt":                       {},
		"big.bin":                         big,
	}
}

func sortedNames[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for n := range m {
		out = append(out, n)
	}
	slices.Sort(out)
	return out
}

func putBytes(t *testing.T, s *Store, c, name string, b []byte) {
	t.Helper()
	ctx := t.Context()
	if _, err := s.Container(c).Create(ctx, nil); err != nil && !isCode(err, "ContainerAlreadyExists") {
		require.NoError(t, err)
	}
	_, err := s.Container(c).NewBlockBlobClient(name).Upload(ctx, streaming.NopCloser(bytes.NewReader(b)), &blockblob.UploadOptions{})
	require.NoError(t, err, "seeding %q", name)
}

// everything lists every blob of every container of s, as
// "container/name".
func everything(t *testing.T, s *Store) []string {
	t.Helper()
	var out []string
	pager := s.svc.NewListContainersPager(nil)
	for pager.More() {
		page, err := pager.NextPage(t.Context())
		require.NoError(t, err)
		for _, c := range page.ContainerItems {
			blobs := s.Container(*c.Name).NewListBlobsFlatPager(nil)
			for blobs.More() {
				bp, err := blobs.NextPage(t.Context())
				require.NoError(t, err)
				for _, b := range bp.Segment.BlobItems {
					out = append(out, *c.Name+"/"+*b.Name)
				}
			}
		}
	}
	slices.Sort(out)
	return out
}

func download(t *testing.T, s *Store, c, name string) []byte {
	t.Helper()
	dl, err := s.Container(c).NewBlobClient(name).DownloadStream(t.Context(), nil)
	require.NoError(t, err, "download %q", name)
	defer dl.Body.Close()
	b, err := io.ReadAll(dl.Body)
	require.NoError(t, err)
	return b
}

func storeOf(t *testing.T, rawURL, key string) *Store {
	t.Helper()
	s, err := NewStore(rawURL, Options{Key: secret.Secret(key), RetryDelay: time.Millisecond})
	require.NoError(t, err)
	return s
}

// refuse answers a request in the service's place with Azure's error
// shape.
func refuse(w http.ResponseWriter, status int, code string) {
	w.Header().Set("x-ms-error-code", code)
	w.Header().Set("Content-Type", "application/xml")
	w.WriteHeader(status)
	_, _ = io.WriteString(w, `<?xml version="1.0" encoding="utf-8"?><Error><Code>`+code+`</Code><Message>refused by the test</Message></Error>`)
}

// isList reports whether r lists a container or the service.
func isList(r *http.Request) bool { return r.URL.Query().Get("comp") == "list" }

// Documents arrive byte-exact under the same names, hostile ones
// included, with nothing written outside the secondary container: within
// one blob service (copied server-side, but for the name with a ".."
// segment), and between two, as two storage accounts are. There the
// secondary's service cannot read the primary's blobs (Azurite answers
// ContainerNotFound when the account names match, CannotVerifyCopySource
// when they differ), and every document is streamed.
func TestHostileNamesCopiedByteExact(t *testing.T) {
	docs := hostileDocuments()
	for _, pair := range append([]struct {
		name      string
		secondary azurite.Options
	}{{"one service", azurite.Options{}}}, servicePairs...) {
		t.Run(pair.name, func(t *testing.T) {
			az := azurite.Shared(t)
			dr := az
			if pair.name != "one service" {
				dr = azurite.StartWith(t, pair.secondary)
			}
			// The secondary is reached through a proxy that keeps the
			// largest request body it saw: memory per copy is bounded only
			// if no request carries a whole multi-MiB document.
			proxy := azurite.NewFaultProxy(t, dr)
			var (
				mu      sync.Mutex
				largest int64
			)
			proxy.SetFault(func(_ http.ResponseWriter, r *http.Request) bool {
				mu.Lock()
				largest = max(largest, r.ContentLength)
				mu.Unlock()
				return false
			})
			primary, secondary := storeOf(t, az.URL, az.Key), storeOf(t, proxy.AccountURL(), dr.Key)
			from, to := azurite.Container("hostile"), azurite.Container("hostile-dr")
			for name, b := range docs {
				putBytes(t, primary, from, name, b)
			}
			names := sortedNames(docs)
			before := everything(t, secondary)

			s := &Syncer{From: primary, To: secondary, Copy: true, Concurrency: 3}
			start := time.Now()
			p, err := s.Sync(t.Context(), from, to, names)
			require.NoError(t, err)
			var size int
			for _, b := range docs {
				size += len(b)
			}
			// The figures of docs/reliability.md's attack table.
			t.Logf("%d names, %d bytes, copied in %v (%d streamed)", p.Copied, size, time.Since(start).Round(time.Millisecond), p.Streamed)
			assert.Equal(t, len(docs), p.Checked)
			assert.Equal(t, len(docs), p.Copied)
			if dr == az {
				assert.Equal(t, 1, p.Streamed, "within one service only a/../b.txt streams")
			} else {
				assert.Equal(t, len(docs), p.Streamed, "the secondary's service cannot read the primary's blobs: every copy streams")
			}
			assert.Zero(t, p.Missing)
			mu.Lock()
			assert.LessOrEqual(t, largest, int64(streamBlock), "a request to the secondary carried more than one block")
			mu.Unlock()
			for name, want := range docs {
				got := download(t, secondary, to, name)
				assert.True(t, bytes.Equal(want, got), "%q: %d bytes copied, want %d", name, len(got), len(want))
			}
			after := before
			for _, n := range names {
				after = append(after, to+"/"+n)
			}
			slices.Sort(after)
			assert.Equal(t, after, everything(t, secondary), "the secondary service gained exactly the documents, in its container")

			// The copies compare equal to their sources: nothing is copied again.
			p, err = s.Sync(t.Context(), from, to, names)
			require.NoError(t, err)
			assert.Zero(t, p.Copied, "a second sync copied again: the copies differ from their sources")
		})
	}
}

// When neither a server-side copy nor streaming works, the error says
// which side refused, in which container, doing what, and nothing of the
// URL, its SAS or the key.
func TestTwoServicesFailuresNameSideContainerAndOperation(t *testing.T) {
	for _, pair := range servicePairs {
		t.Run(pair.name, func(t *testing.T) {
			az := azurite.Shared(t)
			dr := azurite.StartWith(t, pair.secondary)
			direct := storeOf(t, dr.URL, dr.Key)
			for _, tc := range []struct {
				name string
				// fault is set on the primary's or the secondary's proxy.
				onPrimary bool
				fault     func(to string) func(http.ResponseWriter, *http.Request) bool
				want      []string
				status    int
				code      string
			}{
				{"primary refuses the download", true, func(string) func(http.ResponseWriter, *http.Request) bool {
					return func(w http.ResponseWriter, r *http.Request) bool {
						if r.Method == http.MethodGet && !isList(r) {
							refuse(w, http.StatusForbidden, "AuthorizationFailure")
							return true
						}
						return false
					}
				}, []string{"primary storage", "download"}, http.StatusForbidden, "AuthorizationFailure"},
				{"secondary refuses the upload", false, func(string) func(http.ResponseWriter, *http.Request) bool {
					return func(w http.ResponseWriter, r *http.Request) bool {
						if r.Method == http.MethodPut && r.Header.Get("x-ms-copy-source") == "" && r.URL.Query().Get("restype") != "container" {
							refuse(w, http.StatusForbidden, "AuthorizationPermissionMismatch")
							return true
						}
						return false
					}
				}, []string{"secondary storage", "upload"}, http.StatusForbidden, "AuthorizationPermissionMismatch"},
				{"secondary container deleted before the copy", false, func(to string) func(http.ResponseWriter, *http.Request) bool {
					var once atomic.Bool
					return func(_ http.ResponseWriter, r *http.Request) bool {
						if r.Method == http.MethodPut && r.Header.Get("x-ms-copy-source") != "" && once.CompareAndSwap(false, true) {
							_, err := direct.Container(to).Delete(r.Context(), nil)
							assert.NoError(t, err)
						}
						return false
					}
				}, []string{"secondary storage"}, http.StatusNotFound, "ContainerNotFound"},
			} {
				t.Run(tc.name, func(t *testing.T) {
					from, to := azurite.Container("refused"), azurite.Container("refused-dr")
					seed := storeOf(t, az.URL, az.Key)
					putBytes(t, seed, from, "01.txt", []byte("Contoso in Köln."))
					require.NoError(t, direct.WriteDocument(t.Context(), to, "operator-notes.txt", "kept"))
					srcProxy, dstProxy := azurite.NewFaultProxy(t, az), azurite.NewFaultProxy(t, dr)
					proxy := dstProxy
					if tc.onPrimary {
						proxy = srcProxy
					}
					proxy.SetFault(tc.fault(to))
					s := &Syncer{From: storeOf(t, srcProxy.AccountURL(), az.Key), To: storeOf(t, dstProxy.AccountURL(), dr.Key), Copy: true}
					_, err := s.Sync(t.Context(), from, to, []string{"01.txt"})
					require.Error(t, err)
					var se *Error
					require.True(t, errors.As(err, &se), "%v", err)
					assert.Equal(t, tc.status, se.StatusCode, "%v", err)
					assert.Equal(t, tc.code, se.Code, "%v", err)
					msg := err.Error()
					container := from
					if !tc.onPrimary {
						container = to
					}
					for _, w := range append(tc.want, "container "+container) {
						assert.Contains(t, msg, w)
					}
					for _, secretish := range []string{"127.0.0.1", "sig=", az.Key, dr.Key} {
						assert.NotContains(t, msg, secretish)
					}
				})
			}
		})
	}
}

func TestEscapeNameKeepsEverySegmentExact(t *testing.T) {
	for name, want := range map[string]string{
		"space name.txt":   "space%20name.txt",
		"ünïcødé/日本.txt":   "%C3%BCn%C3%AFc%C3%B8d%C3%A9/%E6%97%A5%E6%9C%AC.txt",
		"deep/a/b/c/d.txt": "deep/a/b/c/d.txt",
		"%2e%2e/x.txt":     "%252e%252e/x.txt",
		"a/../b.txt":       "a/%2E%2E/b.txt",
		"./c.txt":          "%2E/c.txt",
		"...txt":           "...txt",
		"q?#;,.txt":        "q%3F%23%3B%2C.txt",
		"trailing/":        "trailing/",
	} {
		assert.Equal(t, want, escapeName(name), "%q", name)
		assert.Equal(t, name != "a/../b.txt" && name != "./c.txt", !dotSegment(name), "dotSegment(%q)", name)
	}
}

// countingCredential hands out tokens expiring at exp, counting the calls.
type countingCredential struct {
	calls int
	exp   time.Time
}

func (c *countingCredential) GetToken(context.Context, policy.TokenRequestOptions) (azcore.AccessToken, error) {
	c.calls++
	return azcore.AccessToken{Token: fmt.Sprint("token-", c.calls), ExpiresOn: c.exp}, nil
}

func TestSharedTokenAsksOncePerTokenLife(t *testing.T) {
	inner := &countingCredential{exp: time.Now().Add(time.Hour)}
	cred := &sharedToken{cred: inner}
	storage := policy.TokenRequestOptions{Scopes: []string{storageScope}}
	for range 100 { // a client per blob, a document each
		tok, err := cred.GetToken(t.Context(), storage)
		require.NoError(t, err)
		assert.Equal(t, "token-1", tok.Token)
	}
	assert.Equal(t, 1, inner.calls)

	_, _ = cred.GetToken(t.Context(), policy.TokenRequestOptions{Scopes: []string{storageScope}, Claims: `{"access_token":{}}`})
	assert.Equal(t, 2, inner.calls, "a claims challenge is the credential's to answer")
	_, _ = cred.GetToken(t.Context(), policy.TokenRequestOptions{Scopes: []string{"https://other/.default"}})
	assert.Equal(t, 3, inner.calls, "another scope, another token")

	inner.exp = time.Now().Add(tokenMargin - time.Second)
	_, _ = cred.GetToken(t.Context(), storage)
	_, _ = cred.GetToken(t.Context(), storage)
	assert.Equal(t, 5, inner.calls, "a token about to expire is renewed")
}

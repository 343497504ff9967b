package docsync

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/streaming"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/blockblob"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/sync/errgroup"

	"nergateway/internal/secret"
	"nergateway/internal/testkit/azurite"
	"nergateway/internal/testkit/loopback"
)

func newStore(t *testing.T, rawURL string) *Store {
	t.Helper()
	s, err := NewStore(rawURL, Options{Key: secret.Secret(azurite.Key), RetryDelay: time.Millisecond})
	require.NoError(t, err)
	return s
}

func put(t *testing.T, s *Store, c, name, text string) {
	t.Helper()
	ctx := context.Background()
	_, err := s.Container(c).Create(ctx, nil)
	require.False(t, err != nil && !isCode(err, "ContainerAlreadyExists"), fmt.Sprint(err))
	_, err = s.Container(c).NewBlockBlobClient(name).Upload(ctx, streaming.NopCloser(strings.NewReader(text)), &blockblob.UploadOptions{})
	require.NoError(t, err)
}

func get(t *testing.T, s *Store, c, name string) (string, bool) {
	t.Helper()
	dl, err := s.Container(c).NewBlobClient(name).DownloadStream(context.Background(), nil)
	if err != nil {
		return "", false
	}
	defer dl.Body.Close()
	b, err := io.ReadAll(dl.Body)
	require.NoError(t, err)
	return string(b), true
}

func names(n int) []string {
	var out []string
	for i := range n {
		out = append(out, fmt.Sprintf("doc-%03d.txt", i))
	}
	return out
}

func text(name string) string { return "Contoso signs " + name + " in Köln." }

func TestMain(m *testing.M) {
	code := m.Run()
	azurite.StopShared()
	os.Exit(code)
}

// setup is a primary container holding n documents, a secondary store
// reached through a fault proxy, and the names of both containers.
func setup(t *testing.T, n int) (az *azurite.Server, primary, secondary *Store, proxy *azurite.FaultProxy, from, to string) {
	az = azurite.Shared(t)
	from, to = azurite.Container("docs"), azurite.Container("docs-dr")
	primary = newStore(t, az.URL)
	for _, name := range names(n) {
		put(t, primary, from, name, text(name))
	}
	proxy = azurite.NewFaultProxy(t, az)
	return az, primary, newStore(t, proxy.AccountURL()), proxy, from, to
}

func TestCopyFillsAnEmptyContainerThenOnlyLists(t *testing.T) {
	_, primary, secondary, proxy, from, to := setup(t, 12)
	put(t, secondary, to, "operator-only.txt", "kept") // never deleted
	s := &Syncer{From: primary, To: secondary, Copy: true, Concurrency: 3}
	var serverSide atomic.Int32
	proxy.SetFault(func(_ http.ResponseWriter, r *http.Request) bool {
		if r.Header.Get("x-ms-copy-source") != "" {
			serverSide.Add(1)
		}
		return false
	})
	var last Progress
	s.OnProgress = func(p Progress) { last = p }
	p, err := s.Sync(t.Context(), from, to, names(12))
	require.NoError(t, err)
	require.Equal(t, Progress{Checked: 12, Copied: 12}, p, "progress, last reported")
	require.Equal(t, p, last, "progress, last reported")
	for _, n := range names(12) {
		got, _ := get(t, secondary, to, n)
		require.Equal(t, text(n), got, "%s holds %q", n, got)
	}
	got, ok := get(t, secondary, to, "operator-only.txt")
	require.True(t, ok, "a blob only the secondary holds was touched")
	require.Equal(t, "kept", got, "a blob only the secondary holds was touched")
	n := serverSide.Load()
	require.EqualValues(t, 12, n, "server-side copies, want 12 (Azurite serves Copy Blob From URL)")

	// Nothing to copy: one list call on the secondary, nothing written.
	proxy.Take()
	p, err = s.Sync(t.Context(), from, to, names(12))
	require.NoError(t, err, "second sync")
	require.Equal(t, Progress{Checked: 12}, p, "second sync")
	c := proxy.Take()
	require.Equal(t, 0, c[http.MethodPut], "second sync sent, want one list GET")
	require.Equal(t, 1, c[http.MethodGet], "second sync sent, want one list GET")
	require.Len(t, c, 1, "second sync sent, want one list GET")

	// A document changed in the primary (same name, other content) is
	// copied again, and only it.
	put(t, primary, from, "doc-003.txt", "Fabrikam now.")
	p, err = s.Sync(t.Context(), from, to, names(12))
	require.NoError(t, err, "after a change: %+v, %v", p, err)
	require.Equal(t, 1, p.Copied, "after a change: %+v, %v", p, err)
	got, _ = get(t, secondary, to, "doc-003.txt")
	require.Equal(t, "Fabrikam now.", got, "changed document holds")
}

func TestVerifyReportsMissingAndWritesNothing(t *testing.T) {
	_, primary, secondary, proxy, from, to := setup(t, 4)
	for _, n := range names(4)[:2] {
		put(t, secondary, to, n, text(n))
	}
	proxy.Take()
	s := &Syncer{From: primary, To: secondary}
	p, err := s.Sync(t.Context(), from, to, names(4))
	var me *MissingError
	require.ErrorAs(t, err, &me, "err, want 2 missing")
	require.Equal(t, 2, me.Count, "err, want 2 missing")
	require.Equal(t, "doc-002.txt,doc-003.txt", strings.Join(me.First, ","), "err, want 2 missing")
	require.Equal(t, Progress{Checked: 4, Missing: 2}, p, "progress")
	require.Contains(t, err.Error(), CodeDocumentsMissing, "error %q does not name the code", err)
	c := proxy.Take()
	require.Equal(t, 0, c[http.MethodPut], "verify wrote: %v", c)
}

func TestDocumentInNeitherContainerIsMissingEvenWhenCopying(t *testing.T) {
	_, primary, secondary, _, from, to := setup(t, 2)
	s := &Syncer{From: primary, To: secondary, Copy: true}
	_, err := s.Sync(t.Context(), from, to, append(names(2), "gone.txt"))
	var me *MissingError
	require.ErrorAs(t, err, &me, "err")
	require.True(t, me.NowhereToCopyFrom, "err")
	require.Equal(t, "gone.txt", me.First[0], "err")
}

func TestUnreachableStorageThenSuccess(t *testing.T) {
	az, primary, _, _, from, to := setup(t, 3)
	deadAddr := loopback.FreeAddr(t)
	dead := "http://" + deadAddr + "/" + azurite.Account + "?sv=2024&sig=SECRETSIG"
	deadStore, err := NewStore(dead, Options{Key: secret.Secret(azurite.Key), RetryDelay: time.Millisecond})
	require.NoError(t, err)
	s := &Syncer{From: primary, To: deadStore, Copy: true}
	_, err = s.Sync(t.Context(), from, to, names(3))
	var se *Error
	require.ErrorAs(t, err, &se, "err, want an unreachable storage error that says why")
	require.Equal(t, 0, se.StatusCode, "err, want an unreachable storage error that says why")
	require.Contains(t, err.Error(), "connection refused", "err, want an unreachable storage error that says why")
	require.NotContains(t, err.Error(), "SECRETSIG", "error names the URL: %v", err)
	require.NotContains(t, err.Error(), deadAddr, "error names the URL: %v", err)
	s.To = newStore(t, az.URL)
	p, err := s.Sync(t.Context(), from, to, names(3))
	require.NoError(t, err, "later sync: %+v, %v", p, err)
	require.Equal(t, 3, p.Copied, "later sync: %+v, %v", p, err)
}

func TestThrottledStorageThenSuccess(t *testing.T) {
	_, primary, secondary, proxy, from, to := setup(t, 3)
	var throttled atomic.Int32
	proxy.SetFault(func(w http.ResponseWriter, r *http.Request) bool {
		throttled.Add(1)
		w.Header().Set("Retry-After", "0")
		w.WriteHeader(http.StatusServiceUnavailable)
		return true
	})
	s := &Syncer{From: primary, To: secondary, Copy: true}
	_, err := s.Sync(t.Context(), from, to, names(3))
	var se *Error
	require.ErrorAs(t, err, &se, "err, want 503")
	require.Equal(t, http.StatusServiceUnavailable, se.StatusCode, "err, want 503")
	require.GreaterOrEqual(t, throttled.Load(), int32(2), "a 503 was not retried")
	proxy.SetFault(nil)
	p, err := s.Sync(t.Context(), from, to, names(3))
	require.NoError(t, err, "later sync: %+v, %v", p, err)
	require.Equal(t, 3, p.Copied, "later sync: %+v, %v", p, err)
}

func TestCopyCutHalfwayIsResumed(t *testing.T) {
	_, primary, secondary, proxy, from, to := setup(t, 10)
	var puts atomic.Int32
	proxy.SetFault(func(w http.ResponseWriter, r *http.Request) bool {
		if r.Method != http.MethodPut || puts.Add(1) <= 5 { // the container and 4 documents
			return false
		}
		panic(http.ErrAbortHandler) // the connection drops mid-copy
	})
	s := &Syncer{From: primary, To: secondary, Copy: true, Concurrency: 1}
	p, err := s.Sync(t.Context(), from, to, names(10))
	require.Error(t, err, "cut sync: %+v, %v", p, err)
	require.Equal(t, 4, p.Copied, "cut sync: %+v, %v", p, err)
	require.Equal(t, 6, p.Missing, "cut sync: %+v, %v", p, err)
	proxy.SetFault(nil)
	proxy.Take()
	p, err = s.Sync(t.Context(), from, to, names(10))
	require.NoError(t, err, "resumed sync: %+v, %v", p, err)
	require.Equal(t, 6, p.Copied, "resumed sync: %+v, %v", p, err)
	c := proxy.Take()
	require.Equal(t, 6, c[http.MethodPut], "resumed sync wrote blobs, want only the 6 missing")
	for _, n := range names(10) {
		got, _ := get(t, secondary, to, n)
		require.Equal(t, text(n), got, "%s holds %q", n, got)
	}
}

func TestTextsAreTheFirstDocumentsCut(t *testing.T) {
	_, primary, _, _, from, _ := setup(t, 3)
	put(t, primary, from, "a-notes.md", "not a document")
	put(t, primary, from, "aaa.txt", strings.Repeat("é", 10))
	ns, ts, err := primary.Texts(t.Context(), from, 2, 5)
	require.NoError(t, err)
	require.Equal(t, "aaa.txt,doc-000.txt", strings.Join(ns, ","), "names %v texts %q", ns, ts)
	require.Equal(t, "éé", ts[0], "names %v texts %q", ns, ts)
	require.Equal(t, "Conto", ts[1], "names %v texts %q", ns, ts)
}

func TestStoreURLs(t *testing.T) {
	for raw, want := range map[string]string{
		"https://acct.blob.core.windows.net":             "acct",
		"https://acct.blob.core.windows.net/?sv=1&sig=x": "acct",
		"http://127.0.0.1:10000/devstoreaccount1":        "devstoreaccount1",
		"http://localhost:10000/devstoreaccount1/":       "devstoreaccount1",
	} {
		u, _ := url.Parse(raw)
		got := accountName(u)
		assert.Equal(t, want, got, "%s: account %q, want %q", raw, got, want)
	}
	_, err := NewStore("not a url", Options{})
	assert.Error(t, err, "a bad URL was accepted")
	_, err = NewStore("https://acct.blob.core.windows.net", Options{Key: "not-base64!"})
	if assert.Error(t, err, "bad key") {
		assert.NotContains(t, err.Error(), "not-base64", "bad key")
	}
}

// BenchmarkSync10k syncs 10,000 documents of 2 KB between two Azurite
// containers, then syncs again with nothing to copy (docs/benchmarks.md,
// "Document sync"):
//
//	go test ./replication/docsync -run '^$' -bench Sync10k -benchtime 1x
//
// It reports the copy's wall time, the requests each sync sent (through
// counting proxies), and the process's peak RSS during the copy (reset
// after seeding).
func BenchmarkSync10k(b *testing.B) {
	const n, size = 10000, 2048
	for range b.N {
		az := azurite.Shared(b)
		from, to := azurite.Container("bench"), azurite.Container("bench-dr")
		seed := newStoreTB(b, az.URL)
		all := make([]string, n)
		for i := range all {
			all[i] = fmt.Sprintf("doc-%05d.txt", i)
		}
		body := strings.Repeat("Contoso signs the lease in Köln. ", size/34+1)[:size]
		g, ctx := errgroup.WithContext(context.Background())
		g.SetLimit(32)
		for _, name := range all {
			g.Go(func() error { return seed.WriteDocument(ctx, from, name, body) })
		}
		require.NoError(b, g.Wait())
		srcProxy, dstProxy := azurite.NewFaultProxy(b, az), azurite.NewFaultProxy(b, az)
		s := &Syncer{From: newStoreTB(b, srcProxy.AccountURL()), To: newStoreTB(b, dstProxy.AccountURL()), Copy: true}
		runtime.GC()
		resetPeakRSS(b)
		b.ResetTimer()
		start := time.Now()
		p, err := s.Sync(context.Background(), from, to, all)
		elapsed := time.Since(start)
		b.StopTimer()
		require.NoError(b, err, "sync: %+v, %v", p, err)
		require.Equal(b, n, p.Copied, "sync: %+v, %v", p, err)
		peak := peakRSS(b)
		copyReqs := requests(srcProxy.Take()) + requests(dstProxy.Take())

		start = time.Now()
		p, err = s.Sync(context.Background(), from, to, all)
		again := time.Since(start)
		require.NoError(b, err, "second sync: %+v, %v", p, err)
		require.Equal(b, 0, p.Copied, "second sync: %+v, %v", p, err)
		require.Equal(b, n, p.Checked, "second sync: %+v, %v", p, err)
		src, dst := srcProxy.Take(), dstProxy.Take()
		require.Len(b, src, 1, "the second sync sent more than list calls: primary, secondary")
		require.Len(b, dst, 1, "the second sync sent more than list calls: primary, secondary")
		require.Equal(b, n/listPageSize, src[http.MethodGet], "the second sync sent more than list calls: primary, secondary")
		require.Equal(b, n/listPageSize, dst[http.MethodGet], "the second sync sent more than list calls: primary, secondary")
		b.ReportMetric(elapsed.Seconds(), "copy-s")
		b.ReportMetric(float64(copyReqs), "copy-requests")
		b.ReportMetric(float64(peak)/(1<<20), "peak-RSS-MiB")
		b.ReportMetric(again.Seconds(), "nothing-to-copy-s")
		b.ReportMetric(float64(requests(src)+requests(dst)), "nothing-to-copy-requests")
	}
}

func newStoreTB(tb testing.TB, rawURL string) *Store {
	tb.Helper()
	s, err := NewStore(rawURL, Options{Key: secret.Secret(azurite.Key)})
	require.NoError(tb, err)
	return s
}

func requests(byMethod map[string]int) int {
	n := 0
	for _, c := range byMethod {
		n += c
	}
	return n
}

// resetPeakRSS resets the kernel's high-water mark of this process's RSS
// (Linux: writing 5 to /proc/self/clear_refs).
func resetPeakRSS(tb testing.TB) {
	if err := os.WriteFile("/proc/self/clear_refs", []byte("5"), 0); err != nil {
		tb.Logf("peak RSS not reset (%v): it includes the seeding", err)
	}
}

// peakRSS is VmHWM of /proc/self/status, in bytes.
func peakRSS(tb testing.TB) int64 {
	b, err := os.ReadFile("/proc/self/status")
	require.NoError(tb, err)
	for line := range strings.Lines(string(b)) {
		if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			require.NoError(tb, err)
			return kb << 10
		}
	}
	require.Fail(tb, "no VmHWM in /proc/self/status")
	return 0
}

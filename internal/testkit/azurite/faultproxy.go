package azurite

import (
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"sync"
	"testing"
)

// FaultProxy stands between a storage client and Azurite: it counts the
// requests by method and lets a test answer in Azurite's place (a 503 with
// Retry-After, a connection cut mid-copy).
type FaultProxy struct {
	*httptest.Server
	account string
	mu      sync.Mutex
	counts  map[string]int
	fault   func(w http.ResponseWriter, r *http.Request) bool
}

// NewFaultProxy starts a proxy to s on a loopback port; the test's cleanup
// closes it.
func NewFaultProxy(t testing.TB, s *Server) *FaultProxy {
	t.Helper()
	target, err := url.Parse(s.URL)
	if err != nil {
		t.Fatal(err)
	}
	target.Path = ""
	rp := httputil.NewSingleHostReverseProxy(target)
	fp := &FaultProxy{account: s.Account, counts: map[string]int{}}
	fp.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fp.mu.Lock()
		fp.counts[r.Method]++
		fault := fp.fault
		fp.mu.Unlock()
		if fault != nil && fault(w, r) {
			return
		}
		rp.ServeHTTP(w, r)
	}))
	t.Cleanup(fp.Close)
	return fp
}

// AccountURL is the blob service URL of the server's account through the
// proxy.
func (fp *FaultProxy) AccountURL() string { return fp.URL + "/" + fp.account }

// SetFault makes f see every request first; f answers in Azurite's place
// by returning true. Nil passes everything through.
func (fp *FaultProxy) SetFault(f func(w http.ResponseWriter, r *http.Request) bool) {
	fp.mu.Lock()
	defer fp.mu.Unlock()
	fp.fault = f
}

// Take returns the requests counted by method since the last Take.
func (fp *FaultProxy) Take() map[string]int {
	fp.mu.Lock()
	defer fp.mu.Unlock()
	c := fp.counts
	fp.counts = map[string]int{}
	return c
}

// Unavailable answers every request 503 with Retry-After: 0, as a throttled
// account does.
func Unavailable(w http.ResponseWriter, _ *http.Request) bool {
	w.Header().Set("Retry-After", "0")
	w.WriteHeader(http.StatusServiceUnavailable)
	return true
}

// Cut drops the connection of every request, as an unreachable account or
// a cut network does.
func Cut(http.ResponseWriter, *http.Request) bool { panic(http.ErrAbortHandler) }

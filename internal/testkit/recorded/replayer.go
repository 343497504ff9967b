package recorded

import (
	"bytes"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync"
)

// Replayer is a region that answers a conversation's requests, in the
// order they were recorded, with Azure's recorded answers: status,
// headers and body, the recording's host replaced by the Replayer's own
// (so links lead back to it as Azure's led back to Azure). The health
// probe's project list (GET .../projects, not part of any conversation) is
// answered apart with an empty list. A request that is not the next one
// recorded, or that lacks the key, is answered 500 and kept for Err.
type Replayer struct {
	conv    Conversation
	key     string
	origins []string // the recording's origins

	mu     sync.Mutex
	origin string
	next   int
	errs   []string
	paths  []string
}

// NewReplayer replays c to requests that carry key in
// Ocp-Apim-Subscription-Key.
func NewReplayer(c Conversation, key string) *Replayer {
	rp := &Replayer{conv: c, key: key}
	seen := map[string]bool{}
	for _, e := range c.Entries {
		if o := e.Origin(); o != "" && !seen[o] {
			seen[o] = true
			rp.origins = append(rp.origins, o)
		}
	}
	return rp
}

// SetOrigin tells the Replayer the scheme://host it is served at.
func (rp *Replayer) SetOrigin(origin string) {
	rp.mu.Lock()
	defer rp.mu.Unlock()
	rp.origin = strings.TrimSuffix(origin, "/")
}

// Served is how many recorded entries have been answered.
func (rp *Replayer) Served() int {
	rp.mu.Lock()
	defer rp.mu.Unlock()
	return rp.next
}

// Paths are the escaped paths (with queries) of the recorded requests
// answered, as they arrived.
func (rp *Replayer) Paths() []string {
	rp.mu.Lock()
	defer rp.mu.Unlock()
	return append([]string(nil), rp.paths...)
}

// Err describes every request that was not the one recorded next.
func (rp *Replayer) Err() error {
	rp.mu.Lock()
	defer rp.mu.Unlock()
	if len(rp.errs) == 0 {
		return nil
	}
	return errors.New(strings.Join(rp.errs, "\n"))
}

// ServeHTTP answers r with the next recorded entry.
func (rp *Replayer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method == http.MethodGet && strings.HasSuffix(r.URL.Path, "/language/authoring/analyze-text/projects") {
		w.Header().Set("Content-Type", "application/json; charset=utf-8")
		_, _ = w.Write([]byte(`{"value":[],"nextLink":null}`))
		return
	}
	rp.mu.Lock()
	defer rp.mu.Unlock()
	if rp.next >= len(rp.conv.Entries) {
		rp.fail(w, "%s %s: after the last entry of %s", r.Method, r.URL.RequestURI(), rp.conv.Name)
		return
	}
	e := rp.conv.Entries[rp.next]
	if r.Header.Get("Ocp-Apim-Subscription-Key") != rp.key {
		rp.fail(w, "%s %s: not the region's key", r.Method, r.URL.RequestURI())
		return
	}
	if why := matches(e, r); why != "" {
		rp.fail(w, "entry %d of %s: %s", rp.next, rp.conv.Name, why)
		return
	}
	rp.next++
	rp.paths = append(rp.paths, r.URL.RequestURI())
	h := w.Header()
	for k, v := range e.ResponseHeaders {
		switch strings.ToLower(k) {
		case "content-length", "transfer-encoding", "date", "connection":
			continue
		}
		h.Set(k, rp.local(v))
	}
	w.WriteHeader(e.StatusCode)
	if body := e.ResponseBodyBytes(); body != nil {
		_, _ = w.Write([]byte(rp.local(string(body))))
	}
}

// local replaces the recording's origins in s with the Replayer's.
func (rp *Replayer) local(s string) string {
	for _, o := range rp.origins {
		s = strings.ReplaceAll(s, o, rp.origin)
	}
	return s
}

func (rp *Replayer) fail(w http.ResponseWriter, format string, args ...any) {
	rp.errs = append(rp.errs, fmt.Sprintf(format, args...))
	http.Error(w, "not the recorded request", http.StatusInternalServerError)
}

// matches says why r is not e's request ("" when it is): the method, the
// path (its leading slashes made one, as Azure serves it), the query
// (in any order) and the body (as JSON) must be the recorded ones.
func matches(e Entry, r *http.Request) string {
	if r.Method != e.RequestMethod {
		return fmt.Sprintf("method %s, recorded %s", r.Method, e.RequestMethod)
	}
	want, err := url.Parse(e.RequestURI)
	if err != nil {
		return err.Error()
	}
	if got, rec := oneSlash(r.URL.EscapedPath()), oneSlash(want.EscapedPath()); got != rec {
		return fmt.Sprintf("path %s, recorded %s", got, rec)
	}
	if got, rec := r.URL.Query(), want.Query(); !sameValues(got, rec) {
		return fmt.Sprintf("query %s, recorded %s", r.URL.RawQuery, want.RawQuery)
	}
	if e.HasRequestBody() {
		var got bytes.Buffer
		if _, err := got.ReadFrom(r.Body); err != nil {
			return "reading the body: " + err.Error()
		}
		var c bytes.Buffer
		if err := compactInto(&c, got.Bytes()); err != nil || !bytes.Equal(c.Bytes(), e.RequestBodyBytes()) {
			return fmt.Sprintf("body %s, recorded %s", got.Bytes(), e.RequestBodyBytes())
		}
	}
	return ""
}

func oneSlash(p string) string { return "/" + strings.TrimLeft(p, "/") }

func sameValues(a, b url.Values) bool {
	if len(a) != len(b) {
		return false
	}
	for k, av := range a {
		bv := b[k]
		if strings.Join(av, "\x00") != strings.Join(bv, "\x00") {
			return false
		}
	}
	return true
}

// SubstituteIDs replaces, in a recorded path, each of Azure's job ids (the
// keys of ids) with the id the server under test handed out instead, so a
// replay can follow a job the recording followed.
func SubstituteIDs(path string, ids map[string]string) string {
	for from, to := range ids {
		path = strings.ReplaceAll(path, from, to)
	}
	return path
}

// LastSegment is the last path segment of a URL or path, its query left
// out: the job id of an operation-location.
func LastSegment(u string) string {
	p, _, _ := strings.Cut(u, "?")
	return p[strings.LastIndex(p, "/")+1:]
}

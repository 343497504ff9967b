package proxy

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"nergateway/api"
	"nergateway/internal/region"
	"nergateway/internal/route"
)

// Rewriting between the client's view (the gateway's URL, tokens, primary
// names) and a region's (its endpoint, its job ids, its names). The hot
// path is byte search and copy: a body is parsed only when a name mapping
// applies to it, and even then only the mapped values change.

// regionURL is how one region's URLs look in what it returns.
type regionURL struct {
	// prefix is scheme://host[:port][/path] of the endpoint, without a
	// trailing slash: what region URLs in bodies start with.
	prefix string
	// Needles for bodies: prefix, prefix as a JSON encoder that escapes
	// '/' writes it, and the bare host.
	prefixBytes, prefixEscaped, hostBytes []byte
	// path is the endpoint's path without a trailing slash ("" usually).
	path string
	// host is the endpoint's host[:port], lowercased, for spotting header
	// values and bodies that carry it.
	host string
}

func newRegionURL(u *url.URL) regionURL {
	p := strings.TrimSuffix(u.EscapedPath(), "/")
	prefix := u.Scheme + "://" + u.Host + p
	host := strings.ToLower(u.Host)
	return regionURL{
		prefix:        prefix,
		prefixBytes:   []byte(prefix),
		prefixEscaped: []byte(strings.ReplaceAll(prefix, "/", `\/`)),
		hostBytes:     []byte(host),
		path:          p,
		host:          host,
	}
}

// replacement is one needle to replace in a body. hostBoundary requires the
// byte after a match not to continue a host name or port, so the prefix
// "http://10.0.0.1:80" does not match inside "http://10.0.0.1:8080".
type replacement struct {
	old          []byte
	new          string
	hostBoundary bool
}

// maxReplacements bounds the needles of one rewrite, so their positions fit
// a fixed array and cost no allocation.
const maxReplacements = 3*maxRegions + 1

// replaceAll returns src with every occurrence of each needle replaced,
// leftmost first, appended to dst. When nothing matches it returns src
// itself and changed=false: no copy on the hot path.
func replaceAll(dst, src []byte, reps []replacement) (out []byte, changed bool) {
	var next [maxReplacements]int
	reps = reps[:min(len(reps), maxReplacements)]
	found := false
	for i := range reps {
		next[i] = findNeedle(src, 0, reps[i])
		found = found || next[i] >= 0
	}
	if !found {
		return src, false
	}
	if dst == nil {
		// One array that fits the usual rewrite (ids and URLs of about
		// the same length as what they replace), not a doubling per append.
		grow := 0
		for i := range reps {
			grow = max(grow, len(reps[i].new)-len(reps[i].old))
		}
		dst = make([]byte, 0, len(src)+4*grow+64)
	}
	pos := 0
	for {
		best := -1
		for i := range reps {
			if next[i] >= 0 && (best < 0 || next[i] < next[best]) {
				best = i
			}
		}
		if best < 0 {
			break
		}
		at := next[best]
		dst = append(dst, src[pos:at]...)
		dst = append(dst, reps[best].new...)
		pos = at + len(reps[best].old)
		for i := range reps {
			if next[i] >= 0 && next[i] < pos {
				next[i] = findNeedle(src, pos, reps[i])
			}
		}
	}
	return append(dst, src[pos:]...), true
}

func findNeedle(src []byte, from int, r replacement) int {
	if len(r.old) == 0 {
		return -1
	}
	for from <= len(src) {
		i := bytes.Index(src[from:], r.old)
		if i < 0 {
			return -1
		}
		at := from + i
		end := at + len(r.old)
		if !r.hostBoundary || end == len(src) || !continues(r.old, src[end]) {
			return at
		}
		from = at + 1
	}
	return -1
}

// continues reports whether c, right after needle, would make the match
// part of a longer host or port: after a port only a digit can, after a
// host name any host character or a port can.
func continues(needle []byte, c byte) bool {
	if i := bytes.LastIndexByte(needle, ':'); i >= 0 && bytes.IndexByte(needle[i:], '/') < 0 {
		return '0' <= c && c <= '9'
	}
	return continuesHost(c)
}

// continuesHost reports whether c could extend a host or port.
func continuesHost(c byte) bool {
	return c == '.' || c == '-' || c == ':' || c == '_' ||
		('0' <= c && c <= '9') || ('a' <= c && c <= 'z') || ('A' <= c && c <= 'Z')
}

// hopHeaders are the hop-by-hop headers of RFC 9110 section 7.6.1 (the
// list httputil.ReverseProxy strips), never forwarded either way.
var hopHeaders = []string{
	"Connection",
	"Proxy-Connection",
	"Keep-Alive",
	"Proxy-Authenticate",
	"Proxy-Authorization",
	"Te",
	"Trailer",
	"Transfer-Encoding",
	"Upgrade",
}

// removeHopHeaders deletes hop-by-hop headers, including those Connection
// names.
func removeHopHeaders(h http.Header) {
	for _, f := range h["Connection"] {
		for sf := range strings.SplitSeq(f, ",") {
			if sf = strings.TrimSpace(sf); sf != "" {
				h.Del(sf)
			}
		}
	}
	for _, k := range hopHeaders {
		delete(h, k) // canonical already: no key to build
	}
}

// forwardedHeaders are the only client headers a region receives: what
// Azure's Language API reads (content type, accept, client request id,
// user agent) and the trace context. Everything else (cookies, method
// overrides, look-alike key headers such as Ocp_Apim_Subscription_Key,
// X-Forwarded-For, the client's own credentials) stays at the gateway; an
// allowlist cannot be outflanked by a header nobody thought of.
var forwardedHeaders = []string{
	"Accept",
	"Accept-Language",
	"Content-Type",
	"User-Agent",
	"X-Ms-Useragent",
	"X-Ms-Client-Request-Id",
	"X-Ms-Return-Client-Request-Id",
	"Traceparent",
	"Tracestate",
}

// upstreamHeader builds a fresh map of the allowed client headers for one
// attempt, so what an attempt sets (the region's credentials, the trace
// context) never reaches the next. The values are the client's own slices:
// nothing appends to them (Header.Set replaces a slice, the transport only
// reads), and copying them cost an allocation per header per attempt.
// Accept-Encoding is not among them, so the transport negotiates
// compression itself and hands the gateway plain bytes to rewrite.
func upstreamHeader(client http.Header) http.Header {
	// Eight fit the map's first group: what clients send of the allowlist,
	// plus the key and the trace context, without a second allocation.
	h := make(http.Header, 8)
	for _, k := range forwardedHeaders {
		if vv := client[k]; len(vv) > 0 {
			h[k] = vv
		}
	}
	return h
}

// nameMap maps project or deployment names one way: primary to secondary
// for requests, secondary to primary for results.
type nameMap struct {
	to     map[string][]byte // name -> JSON-encoded replacement
	needle [][]byte          // `"name"` for each key: the parse-or-not test
}

func newNameMap(m map[string]string) nameMap {
	nm := nameMap{to: make(map[string][]byte, len(m))}
	for from, to := range m {
		enc, _ := json.Marshal(to) // a string always encodes
		nm.to[from] = enc
		q, _ := json.Marshal(from)
		nm.needle = append(nm.needle, q)
	}
	return nm
}

func (m nameMap) empty() bool { return len(m.to) == 0 }

// mentioned reports whether body may hold a mapped name as a JSON string:
// the name quoted (names are letters, digits and _.- so their JSON form is
// literal), or any \u escape, behind which a name could hide. When it
// does not, no value at any path can need mapping and the body is not
// parsed.
func (m nameMap) mentioned(body []byte) bool {
	if len(m.needle) > 0 && bytes.Contains(body, []byte(`\u`)) {
		return true // a name could hide behind an escape
	}
	for _, n := range m.needle {
		if bytes.Contains(body, n) {
			return true
		}
	}
	return false
}

// Paths of the names to map. Each list is (projectName paths...,
// deploymentName paths...) split at the index given.
var (
	// Requests: the async submit's tasks, and a sync call's parameters.
	requestNamePaths = []jsonPath{
		{"tasks", "[]", "parameters", "projectName"},
		{"parameters", "projectName"},
		{"tasks", "[]", "parameters", "deploymentName"},
		{"parameters", "deploymentName"},
	}
	// Results: the async job's task items, and a sync call's results.
	resultNamePaths = []jsonPath{
		{"tasks", "items", "[]", "results", "projectName"},
		{"results", "projectName"},
		{"tasks", "items", "[]", "results", "deploymentName"},
		{"results", "deploymentName"},
	}
)

// namePathsSplit is where deploymentName paths start in the lists above.
const namePathsSplit = 2

// mapNames rewrites projectName/deploymentName values at paths through the
// two maps. It returns body itself when nothing applies or body is not
// JSON (the region answers a malformed request with its own 400).
func mapNames(body []byte, paths []jsonPath, projects, deployments nameMap) []byte {
	if !projects.mentioned(body) && !deployments.mentioned(body) {
		return body
	}
	out, _, err := rewriteJSONStrings(body, paths, func(path int, v []byte) ([]byte, bool) {
		m := projects
		if path >= namePathsSplit {
			m = deployments
		}
		repl, ok := m.to[string(v)]
		return repl, ok
	})
	if err != nil {
		return body
	}
	return out
}

// invert reverses a primary->secondary map. New rejects maps that are not
// one-to-one, since a result could not be mapped back.
func invert(m map[string]string) (map[string]string, error) {
	inv := make(map[string]string, len(m))
	for from, to := range m {
		if prev, dup := inv[to]; dup {
			return nil, fmt.Errorf("names %q and %q both map to %q", prev, from, to)
		}
		inv[to] = from
	}
	return inv, nil
}

// responseBody rewrites an answer's body into dst, or returns src when it
// needs no change (the usual case for all but job bodies).
func (p *Proxy) responseBody(dst []byte, c *call, idx int, src []byte) []byte {
	if len(src) == 0 {
		return src
	}
	var reps [maxReplacements]replacement
	n := 0
	for i := range p.urls {
		if n+3 > maxReplacements-1 {
			break
		}
		// Leftmost match wins, so a URL is rewritten whole before its host
		// alone could match; a bare host (in an error message, say) becomes
		// the gateway's.
		reps[n] = replacement{old: p.urls[i].prefixBytes, new: c.public, hostBoundary: true}
		reps[n+1] = replacement{old: p.urls[i].prefixEscaped, new: c.public, hostBoundary: true}
		reps[n+2] = replacement{old: p.urls[i].hostBytes, new: c.publicHost, hostBoundary: true}
		n += 3
	}
	if c.upstreamID != "" && c.upstreamID != c.clientID {
		reps[n] = replacement{old: []byte(c.upstreamID), new: c.clientID}
		n++
	}
	out, _ := replaceAll(dst, src, reps[:n])
	if p.regions[idx].Role() == region.RoleSecondary && (c.route.Name == route.Job.Name || c.route.Name == route.Analyze.Name) &&
		(!p.fromSecondary[0].empty() || !p.fromSecondary[1].empty()) {
		out = mapNames(out, resultNamePaths, p.fromSecondary[0], p.fromSecondary[1])
	}
	return out
}

// rewriteLocation points an operation URL at the gateway: the public base,
// the path after the region's endpoint path, a token for a runtime job id,
// the query as the region wrote it. ok=false drops the value (a URL that
// names a region host but is no Language path).
func (p *Proxy) rewriteLocation(v string, c *call, idx int) (string, bool) {
	var path, query string
	if rest, ok := strings.CutPrefix(v, p.urls[idx].prefix); ok && strings.HasPrefix(rest, "/") {
		// The usual case: the region's own URL; no parsing needed.
		path, query, _ = strings.Cut(rest, "?")
		path, _, _ = strings.Cut(path, "#")
	} else {
		u, err := url.Parse(v)
		if err != nil || (u.Scheme == "" && u.Host == "") {
			return v, !p.mentionsRegion([]string{v})
		}
		path, query = u.EscapedPath(), u.RawQuery
		if rp := p.urls[idx].path; rp != "" && strings.HasPrefix(path, rp+"/") {
			path = path[len(rp):]
		}
	}
	if !strings.HasPrefix(path, "/language/") {
		return v, !p.mentionsRegion([]string{v})
	}
	if rest, ok := strings.CutPrefix(path, api.JobsPath+"/"); ok {
		id, cancel := strings.CutSuffix(rest, api.CancelSuffix)
		if isUUIDShape(id) {
			path = api.JobsPath + "/" + p.clientJobID(c, id, idx)
			if cancel {
				path += api.CancelSuffix
			}
		}
	}
	if p.mentionsRegion([]string{path}) {
		return v, false // a region host in the path: drop the header, never leak it
	}
	if query = p.scrubQuery(query); query != "" {
		return c.public + path + "?" + query, true
	}
	return c.public + path, true
}

// scrubQuery drops the parameters of a raw query that name a region's host
// (a region echoing its own URL), keeping the rest as they were.
func (p *Proxy) scrubQuery(query string) string {
	if query == "" || !p.mentionsRegion([]string{query}) {
		return query
	}
	kept := make([]string, 0, 4)
	for param := range strings.SplitSeq(query, "&") {
		if decoded, err := url.QueryUnescape(param); err == nil && !p.mentionsRegion([]string{param, decoded}) {
			kept = append(kept, param)
		}
	}
	return strings.Join(kept, "&")
}

// clientJobID is the id a client sees for the runtime job id that region
// idx issued: the token, or, for an id that does not fit one, the id itself
// with its owner remembered.
func (p *Proxy) clientJobID(c *call, id string, idx int) string {
	if c.upstreamID != "" && id == c.upstreamID {
		return c.clientID
	}
	client := id
	if tok, ok := encodeToken(id, idx); ok {
		client = tok
	} else {
		p.owners.put(id, idx, time.Now())
	}
	c.setJobID(client)
	c.issuedID = client
	return client
}

// mentionsRegion reports whether any value names a region's host.
func (p *Proxy) mentionsRegion(vv []string) bool {
	for _, v := range vv {
		for i := range p.urls {
			if containsFold(v, p.urls[i].host) {
				return true
			}
		}
	}
	return false
}

// containsFold is strings.Contains ignoring ASCII case, without
// allocating (hosts are ASCII).
func containsFold(s, sub string) bool {
	if sub == "" {
		return false
	}
	for i := 0; i+len(sub) <= len(s); i++ {
		if asciiEqualFold([]byte(s[i:i+len(sub)]), sub) {
			return true
		}
	}
	return false
}

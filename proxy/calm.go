package proxy

import (
	"net/http"
	"strconv"
	"strings"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"

	"nergateway/api"
	"nergateway/internal/region"
	"nergateway/internal/reqrecord"
	"nergateway/internal/route"
)

// Calm polls. While the region that owns an unfinished job cannot answer
// for it (refused, timed out, 5xx, its breaker open, its runtime quota
// parked by a 429), a poll of the job is answered 200 in Azure's job shape,
// status running (notStarted when nothing more is known), with the dates
// and task counts the gateway last saw and a Retry-After: a running job is
// exactly what a client must keep polling, so an SDK poller and a
// hand-written loop alike wait instead of giving up on a job that is fine.
// A job the gateway saw finish is never answered so: its result is in the
// owner alone, and the poll gets 503 as before.

// Job memory bounds: what calm answers need about a job (its dates, last
// status and task counts) for the jobs seen most recently. An entry takes
// about 190 bytes with its id (measured: 3.9 MB for all 20,000); a job it
// has forgotten is answered notStarted, without dates.
const (
	jobMemorySize = 20_000
	jobMemoryTTL  = 24 * time.Hour // a job result's life
)

// jobSeen is what the gateway last saw of a job, from its submit's 202
// and its polls' answers.
type jobSeen struct {
	created, updated, expires time.Time
	// status is the last status a poll read (an api constant), or
	// notStarted after the submit; "" when unknown.
	status string
	// final: the job was seen finished (or its owner said 404): it never
	// gets a calm answer.
	final                    bool
	completed, failed, total int
	counted                  bool // the counts above were read
}

// jobMemo is a jobSeen as the job memory keeps it: no pointer in it (dates
// as Unix nanoseconds, the status as its place in jobStatuses), so the
// garbage collector, which scans every pointer the heap holds on every
// cycle, has one word to look at per job (its id) instead of five.
type jobMemo struct {
	created, updated, expires int64 // 0: unknown
	completed, failed, total  int32
	status                    uint8 // jobStatuses[status-1]; 0: unknown
	final, counted            bool
}

func memoOf(s jobSeen) jobMemo {
	m := jobMemo{created: unixNano(s.created), updated: unixNano(s.updated), expires: unixNano(s.expires),
		completed: int32(s.completed), failed: int32(s.failed), total: int32(s.total), final: s.final, counted: s.counted}
	m.status = statusPlace[s.status]
	return m
}

func (m jobMemo) seen() jobSeen {
	s := jobSeen{created: fromUnixNano(m.created), updated: fromUnixNano(m.updated), expires: fromUnixNano(m.expires),
		completed: int(m.completed), failed: int(m.failed), total: int(m.total), final: m.final, counted: m.counted}
	if m.status > 0 {
		s.status = jobStatuses[m.status-1]
	}
	return s
}

func unixNano(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixNano()
}

func fromUnixNano(n int64) time.Time {
	if n == 0 {
		return time.Time{}
	}
	return time.Unix(0, n).UTC()
}

// jobKey is a job id as the job memory keys it: its 36 bytes in an array,
// not a string, so that the memory holds no pointer at all (lruCache).
// Only an id of a UUID's length is kept: no other can be polled (newCall
// answers 404 to an id that is not UUID-shaped).
type jobKey [uuidLen]byte

func jobKeyOf(id string) (k jobKey, ok bool) {
	if len(id) != uuidLen {
		return k, false
	}
	copy(k[:], id)
	return k, true
}

// seenJob returns what the job memory holds of job id.
func (p *Proxy) seenJob(id string, now time.Time) (jobSeen, bool) {
	k, ok := jobKeyOf(id)
	if !ok {
		return jobSeen{}, false
	}
	m, ok := p.jobs.get(k, now)
	return m.seen(), ok
}

// noteSeen updates what the job memory holds of job id with f, which gets
// the current record (the zero one when there is none) and whether there
// is one, and returns whether to keep what it made.
func (p *Proxy) noteSeen(id string, now time.Time, f func(m jobMemo, known bool) (jobMemo, bool)) {
	if k, ok := jobKeyOf(id); ok {
		p.jobs.update(k, now, f)
	}
}

// calmReasons are the owner's outcomes that get a calm answer: the owner
// cannot answer now, and the job may well still finish. Failures the
// gateway or the client caused (its credentials refused, an answer it
// will not relay, no room for it) keep their errors.
var calmReasons = []region.Outcome{
	region.OutcomeConnectionError, region.OutcomeTimeout, region.OutcomeStatus5xx, region.OutcomeStatus429,
	region.OutcomeBreakerOpen, region.OutcomeParked,
}

func isCalmReason(o region.Outcome) bool {
	for _, r := range calmReasons {
		if o == r {
			return true
		}
	}
	return false
}

// noteJob keeps what a region's relayed answer says about the client's
// job, for calm answers later: a submit's 202 starts the job's memory, a
// poll's 200 updates it with head (its body's head, read once for rescue
// and this, ok=false when the body is not a JSON object), a 404 marks it
// over.
func (p *Proxy) noteJob(c *call, res *upstreamResponse, head jobHead, headOK bool, now time.Time) {
	switch {
	case c.route.Name == route.Submit.Name && res.status == http.StatusAccepted && c.issuedID != "":
		p.noteSeen(c.issuedID, now, func(m jobMemo, known bool) (jobMemo, bool) {
			if known {
				return m, false
			}
			// Azure's dates are whole seconds.
			return memoOf(jobSeen{created: now.UTC().Truncate(time.Second), status: api.StatusNotStarted}), true
		})
	case c.route.Name == route.Job.Name && res.status == http.StatusOK && headOK:
		p.noteSeen(c.clientID, now, func(m jobMemo, _ bool) (jobMemo, bool) {
			return memoOf(head.merge(m.seen())), true
		})
	case c.route.Name == route.Job.Name && res.status == http.StatusNotFound:
		p.noteSeen(c.clientID, now, func(m jobMemo, _ bool) (jobMemo, bool) {
			m.final = true
			return m, true
		})
	}
}

// pollHead reads the head of a poll's 200 answer, once for rescue
// (finished) and the job memory (noteJob); ok=false for any other answer.
func pollHead(c *call, res *upstreamResponse) (jobHead, bool) {
	if c.route.Name != route.Job.Name || res.status != http.StatusOK {
		return jobHead{}, false
	}
	return readJobHead(res.body.Bytes())
}

// calm answers a poll whose owner could not answer for reason, when the
// job may still finish, and reports whether it did. retryAfter is when a
// poll may next be useful (the park's end, the breaker's next trial, the
// rescue's due time).
func (p *Proxy) calm(w http.ResponseWriter, c *call, reason region.Outcome, retryAfter time.Duration, result *reqrecord.Result) bool {
	if c.route.Name != route.Job.Name || c.owner == noOwner || c.resolve || c.finished || !isCalmReason(reason) ||
		strings.Contains(c.r.URL.RawQuery, "skip=") { // a nextLink: a page of a finished job
		return false
	}
	now := time.Now()
	seen, _ := p.seenJob(c.clientID, now)
	if seen.final {
		return false
	}
	ctx := c.r.Context()
	owner := p.regions[c.owner].Name()
	retryAfter = roundRetryAfter(retryAfter)
	p.finish(ctx, c, owner, reason, result)
	if result != nil {
		result.Calm = string(reason)
	}
	p.m.calm(owner, reason)
	if span := trace.SpanFromContext(ctx); span.IsRecording() {
		span.AddEvent("calm_poll", trace.WithAttributes(
			attribute.String("gateway.calm.region", owner),
			attribute.String("gateway.calm.reason", string(reason)),
			attribute.Int("gateway.calm.retry_after_s", int(retryAfter/time.Second))))
	}
	body := calmBody(c.clientID, seen, c.r.URL.Query().Get("api-version"))
	h := w.Header()
	h.Set("Content-Type", "application/json; charset=utf-8")
	h.Set("Retry-After", strconv.Itoa(int(retryAfter/time.Second)))
	h.Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(http.StatusOK)
	if c.r.Method != http.MethodHead {
		_, _ = w.Write(body)
	}
	return true
}

// calmBody is the job in Azure's shape as far as the gateway knows it, in
// the order of Azure's recorded running jobs (internal/testkit/recorded): the
// client's job id, the dates it saw, running (or notStarted), no errors,
// the task counts with no items. The last update's date is spelled as the
// api-version's answers spell it: lastUpdateDateTime in the 2022 versions,
// lastUpdatedDateTime since 2023-04-01.
func calmBody(id string, seen jobSeen, apiVersion string) []byte {
	status := seen.status
	if status == "" || api.Terminal(status) {
		status = api.StatusNotStarted
	}
	b := make([]byte, 0, 400)
	b = append(b, `{"jobId":"`...)
	b = append(b, id...) // UUID-shaped: nothing to escape
	b = append(b, '"')
	updated := "lastUpdatedDateTime"
	if strings.HasPrefix(apiVersion, "2022-") {
		updated = "lastUpdateDateTime"
	}
	b = appendDate(b, updated, seen.updated)
	b = appendDate(b, "createdDateTime", seen.created)
	b = appendDate(b, "expirationDateTime", seen.expires)
	b = append(b, `,"status":"`...)
	b = append(b, status...)
	b = append(b, `","errors":[],"tasks":{"completed":`...)
	b = strconv.AppendInt(b, int64(seen.completed), 10)
	b = append(b, `,"failed":`...)
	b = strconv.AppendInt(b, int64(seen.failed), 10)
	b = append(b, `,"inProgress":`...)
	b = strconv.AppendInt(b, int64(max(seen.total-seen.completed-seen.failed, 0)), 10)
	b = append(b, `,"total":`...)
	b = strconv.AppendInt(b, int64(seen.total), 10)
	return append(b, `,"items":[]}}`...)
}

func appendDate(b []byte, name string, t time.Time) []byte {
	if t.IsZero() {
		return b
	}
	b = append(b, `,"`...)
	b = append(b, name...)
	b = append(b, `":"`...)
	b = t.AppendFormat(b, time.RFC3339Nano)
	return append(b, '"')
}

// jobStatuses are the statuses a job body may carry, so the memory holds
// the package's constants and not a copy per poll.
var jobStatuses = []string{
	api.StatusNotStarted, api.StatusRunning, api.StatusCancelling, api.StatusSucceeded,
	api.StatusPartiallyCompleted, api.StatusPartiallySucceeded, api.StatusFailed, api.StatusCancelled,
}

// jobHead is what a job body's top level says, as read: its status,
// the raw text of its dates, its task counts. merge turns it into what
// the gateway knows of the job.
type jobHead struct {
	// status is the body's status (an api constant; "" when it names none
	// the package knows); hasStatus: the body has one.
	status    string
	hasStatus bool
	// final: the status is final; nothing after it was read.
	final                    bool
	created, updated, expi   []byte // nil when absent
	completed, failed, total int
	counted                  bool // the counts above were read
}

// statusPlace is each of jobStatuses' place in it, plus one (0: none).
var statusPlace = func() map[string]uint8 {
	m := make(map[string]uint8, len(jobStatuses))
	for i, st := range jobStatuses {
		m[st] = uint8(i + 1)
	}
	return m
}()

// readJobHead reads a job body's top level: its status, dates and task
// counts. It reads no further than the status of a finished job (nothing
// else of it is needed), and keeps the dates as raw text for merge to
// parse only when needed, so polling a running job costs a scan of its
// small body and no allocation. ok=false: not a JSON object.
func readJobHead(src []byte) (h jobHead, ok bool) {
	s := jsonScanner{src: src}
	s.ws()
	if s.i >= len(src) || src[s.i] != '{' {
		return jobHead{}, false
	}
	s.i++
	for first := true; ; first = false {
		name, more, err := s.memberName(first)
		if err != nil {
			return jobHead{}, false
		}
		if !more {
			return h, true
		}
		switch {
		case memberIs(name, "status"):
			raw, ok := s.plainString()
			if !ok {
				return jobHead{}, false
			}
			h.status, h.hasStatus = "", true
			if i := statusPlace[string(raw)]; i > 0 {
				h.status = jobStatuses[i-1]
			}
			if api.Terminal(h.status) {
				h.final = true
				return h, true
			}
			continue
		case memberIs(name, "createdDateTime"):
			h.created, ok = s.plainString()
		case memberIs(name, "lastUpdatedDateTime"), memberIs(name, "lastUpdateDateTime"):
			h.updated, ok = s.plainString()
		case memberIs(name, "expirationDateTime"):
			h.expi, ok = s.plainString()
		case memberIs(name, "tasks"):
			ok = s.taskCounts(&h)
		default:
			ok = s.value(1) == nil
		}
		if !ok {
			return jobHead{}, false
		}
	}
}

// merge is prev, what the gateway knew of the job, updated with what h
// says: a final status marks the job final and keeps the dates known; a
// date is parsed only when prev lacks it or the status changed.
func (h jobHead) merge(prev jobSeen) jobSeen {
	seen := prev
	if h.counted {
		seen.completed, seen.failed, seen.total, seen.counted = h.completed, h.failed, h.total, true
	}
	if h.final {
		seen.status, seen.final = h.status, true
		return seen
	}
	if h.hasStatus {
		seen.status = h.status
	}
	changed := seen.status != prev.status
	if h.created != nil && (prev.created.IsZero() || changed) {
		seen.created = parseDate(h.created, prev.created)
	}
	if h.expi != nil && (prev.expires.IsZero() || changed) {
		seen.expires = parseDate(h.expi, prev.expires)
	}
	if h.updated != nil && (prev.updated.IsZero() || changed) {
		seen.updated = parseDate(h.updated, prev.updated)
	}
	return seen
}

func parseDate(raw []byte, old time.Time) time.Time {
	t, err := time.Parse(time.RFC3339Nano, string(raw))
	if err != nil {
		return old
	}
	return t
}

// memberIs reports whether member name is want, ignoring ASCII case as
// Azure's deserializer does; the usual exact spelling is compared first, a
// word at a time.
func memberIs(name []byte, want string) bool {
	return string(name) == want || asciiEqualFold(name, want)
}

// memberName reads the next member's name and colon in an object whose
// '{' is consumed; more=false at its '}'. A name with escapes reads as
// nil: none the proxy looks for has any.
func (s *jsonScanner) memberName(first bool) (name []byte, more bool, err error) {
	s.ws()
	if s.i >= len(s.src) {
		return nil, false, errBadJSON
	}
	if s.src[s.i] == '}' {
		s.i++
		return nil, false, nil
	}
	if !first {
		if s.src[s.i] != ',' {
			return nil, false, errBadJSON
		}
		s.i++
		s.ws()
	}
	if s.i >= len(s.src) || s.src[s.i] != '"' {
		return nil, false, errBadJSON
	}
	name, escaped, err := s.str()
	if err != nil {
		return nil, false, err
	}
	if escaped {
		name = nil
	}
	s.ws()
	if s.i >= len(s.src) || s.src[s.i] != ':' {
		return nil, false, errBadJSON
	}
	s.i++
	return name, true, nil
}

// plainString reads a string value without escapes (dates and statuses
// have none); any other value is skipped and reads as nil.
func (s *jsonScanner) plainString() ([]byte, bool) {
	s.ws()
	if s.i < len(s.src) && s.src[s.i] == '"' {
		raw, escaped, err := s.str()
		if err != nil {
			return nil, false
		}
		if escaped {
			return nil, true
		}
		return raw, true
	}
	return nil, s.value(1) == nil
}

// taskCounts reads the counts of a job's tasks object into h.
func (s *jsonScanner) taskCounts(h *jobHead) bool {
	s.ws()
	if s.i >= len(s.src) || s.src[s.i] != '{' {
		return s.value(1) == nil
	}
	s.i++
	var n [3]int
	counted := 0
	for first := true; ; first = false {
		name, more, err := s.memberName(first)
		if err != nil {
			return false
		}
		if !more {
			break
		}
		slot := -1
		switch {
		case memberIs(name, "completed"):
			slot = 0
		case memberIs(name, "failed"):
			slot = 1
		case memberIs(name, "total"):
			slot = 2
		}
		s.ws()
		start := s.i
		if s.value(2) != nil {
			return false
		}
		if v, ok := smallInt(s.src[start:s.i]); ok && slot >= 0 {
			n[slot] = v
			counted++
		}
	}
	if counted == len(n) {
		h.completed, h.failed, h.total, h.counted = n[0], n[1], n[2], true
	}
	return true
}

// smallInt parses a non-negative JSON integer of up to 9 digits.
func smallInt(b []byte) (int, bool) {
	if len(b) == 0 || len(b) > 9 {
		return 0, false
	}
	v := 0
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
		v = v*10 + int(c-'0')
	}
	return v, true
}

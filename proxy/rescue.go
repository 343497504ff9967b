package proxy

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"nergateway/api"
	"nergateway/internal/reqrecord"
	"nergateway/internal/route"
	"nergateway/rescue"
)

// Job rescue (Config.Rescue): an accepted submit is remembered; a poll or
// cancel of a job whose owner region has been down for the store's After
// resubmits it, once across all replicas, to the next region that can take
// it; from then on the client's job id reads the rescued job. Every store
// call here is bounded and skipped while the store is down, and none is
// made when rescue is off.

// rescueBusyRetryAfter is the Retry-After while another replica holds the
// job's claim: its resubmit takes about one round trip.
const rescueBusyRetryAfter = time.Second

// remember keeps an accepted submit for rescue (one store write). A store
// that fails only means this job cannot be rescued; the client is answered
// as usual.
func (p *Proxy) remember(ctx context.Context, c *call, idx int, res *upstreamResponse) {
	upstream, ok := p.jobIDIn(res.header.Get("Operation-Location"), idx)
	if !ok {
		return
	}
	id, ok := encodeToken(upstream, idx)
	if !ok {
		return // a passthrough id: polls of it are not rescued
	}
	job := rescue.Job{Query: c.r.URL.RawQuery, ContentType: c.r.Header.Get("Content-Type"), Body: c.bodyBytes(), Accepted: time.Now()}
	if err := p.rescue.Put(ctx, id, job); err != nil && !errors.Is(err, rescue.ErrUnavailable) {
		p.log.WarnContext(ctx, "job not kept for rescue", "cause", err.Error())
	}
}

// jobIDIn is the runtime job id in region idx's operation-location.
func (p *Proxy) jobIDIn(loc string, idx int) (string, bool) {
	u, err := url.Parse(loc)
	if err != nil {
		return "", false
	}
	path := strings.TrimPrefix(u.EscapedPath(), p.urls[idx].path)
	id, ok := strings.CutPrefix(path, api.JobsPath+"/")
	if !ok || !isUUIDShape(id) {
		return "", false
	}
	return id, true
}

// followRescue points a poll or cancel of a rescued job at the rescued
// copy (one store read per poll, or none: a replica remembers the rescues
// it saw).
func (p *Proxy) followRescue(ctx context.Context, c *call) {
	st, err := p.rescue.State(ctx, c.clientID)
	switch {
	case err != nil:
	case st.Phase == rescue.PhaseRescued:
		p.pointAtRescued(c, st)
	case st.Phase == rescue.PhaseFinished:
		c.finished = true
	}
}

func (p *Proxy) pointAtRescued(c *call, st rescue.State) bool {
	for i, r := range p.regions {
		if r.Name() == st.Region {
			c.rescuedFrom, c.rescuedFromID = c.owner, c.upstreamID
			c.owner, c.upstreamID, c.rescued = i, st.UpstreamID, true
			c.path = api.JobsPath + "/" + st.UpstreamID
			if c.route.Name == route.Cancel.Name {
				c.path += api.CancelSuffix
			}
			return true
		}
	}
	return false // rescued to a region no longer configured
}

// rescuable says whether c is a poll or cancel whose job could be rescued.
func (p *Proxy) rescuable(c *call) bool {
	return p.rescue != nil && (c.route.Name == route.Job.Name || c.route.Name == route.Cancel.Name) &&
		c.owner != noOwner && !c.resolve && !c.rescued
}

// tryRescue runs when c's owner cannot answer. It serves c from a rescued
// copy and returns true, or returns false with the Retry-After the client
// should get instead (zero: the caller's own). When this replica's view of
// the owner is stale (the job was accepted after it saw the owner go
// down) it sets c.trial instead of rescuing, unless the owner has just
// failed this very call.
func (p *Proxy) tryRescue(w http.ResponseWriter, c *call, result *reqrecord.Result) (served bool, retryAfter time.Duration) {
	ctx := c.r.Context()
	owner := p.regions[c.owner]
	from := owner.Name()
	wait, down := p.rescue.DueIn(owner, time.Now())
	if !down {
		return false, 0
	}
	if wait > 0 {
		// Come back when the rescue is due, not later.
		return false, max(wait, time.Second)
	}
	claim, st, err := p.rescue.Claim(ctx, c.clientID)
	switch {
	case err != nil:
		return false, 0 // the store is down: answer as without rescue
	case claim == nil && st.Phase == rescue.PhaseRescued:
		if p.pointAtRescued(c, st) {
			p.serve(w, c, result)
			return true, 0
		}
		return false, 0
	case claim == nil && st.Phase == rescue.PhaseClaimed:
		return false, rescueBusyRetryAfter
	case claim == nil && st.Phase == rescue.PhaseFinished:
		c.finished = true
		return false, 0
	case claim == nil:
		return false, 0 // gone: finished before the outage, or expired
	}
	if wait, stale := p.rescue.JobDueIn(owner, claim.Job.Accepted, time.Now()); stale || wait > 0 {
		_ = claim.Release(ctx)
		if !stale {
			return false, max(wait, time.Second)
		}
		// The owner accepted this job after this replica saw it go down:
		// it came back. Try it for the job, as a half-open trial would,
		// before any rescue can be due; a failure starts a new outage.
		owner.Up(claim.Job.Accepted)
		if c.attempts == 0 {
			c.trial = true
			return false, 0
		}
		now := time.Now()
		owner.Down(now) // the owner failed this call just now
		wait, _ := p.rescue.JobDueIn(owner, claim.Job.Accepted, now)
		return false, max(wait, time.Second)
	}
	to, upstream, err := p.resubmit(ctx, c, claim.Job)
	if err != nil {
		_ = claim.Release(ctx)
		p.log.WarnContext(ctx, "job rescue failed; a later poll tries again", "from", from, "cause", causeOf(err))
		return false, 0
	}
	st = rescue.State{Phase: rescue.PhaseRescued, Region: p.regions[to].Name(), UpstreamID: upstream}
	original := rescue.Original{Region: from, UpstreamID: c.upstreamID, APIVersion: apiVersionOf(claim.Job.Query)}
	if err := claim.Rescued(ctx, original, st.Region, upstream); err != nil {
		p.log.WarnContext(ctx, "rescued job not recorded in the store; this replica serves it", "cause", err.Error())
	}
	p.pointAtRescued(c, st)
	p.serve(w, c, result)
	return true, 0
}

// resubmit sends a kept submit to the regions other than c's owner, in
// priority order, and returns the region that accepted it and its job id.
func (p *Proxy) resubmit(ctx context.Context, c *call, job rescue.Job) (int, string, error) {
	r := (&http.Request{
		Method: http.MethodPost,
		URL:    &url.URL{Path: api.JobsPath, RawQuery: job.Query},
		Header: http.Header{},
		Host:   c.r.Host,
	}).WithContext(ctx)
	if job.ContentType != "" {
		r.Header.Set("Content-Type", job.ContentType)
	}
	body := p.budget.NewBuffer(int64(len(job.Body)), int64(len(job.Body)))
	if _, err := body.ReadFrom(bytes.NewReader(job.Body)); err != nil {
		body.Free()
		return 0, "", fmt.Errorf("buffering the kept submit: %w", err)
	}
	defer body.Free()
	sc := &call{r: r, route: route.Submit, owner: noOwner, path: api.JobsPath, body: body,
		public: c.public, publicHost: c.publicHost}
	now := time.Now()
	order, _ := selectRegions(nil, p.views(nil, sc.scope), now, noOwner, p.openRetryAfter)
	order = deleteValue(order, c.owner)
	if len(order) == 0 {
		return 0, "", errors.New("no other region can take the job")
	}
	res, idx, err := p.try(ctx, sc, order, false)
	if err != nil {
		return 0, "", err
	}
	defer res.body.Free()
	if res.status != http.StatusAccepted {
		return 0, "", fmt.Errorf("region %s answered the resubmit %d", p.regions[idx].Name(), res.status)
	}
	id, ok := p.jobIDIn(res.header.Get("Operation-Location"), idx)
	if !ok {
		return 0, "", fmt.Errorf("region %s accepted the resubmit without a job id", p.regions[idx].Name())
	}
	return idx, id, nil
}

func deleteValue(s []int, v int) []int {
	out := s[:0]
	for _, x := range s {
		if x != v {
			out = append(out, x)
		}
	}
	return out
}

// rescueAfterAnswer does rescue's part once region idx answered c: the
// region is up; a submit it accepted is kept; a final state (head, the
// head of a poll's 200 answer: pollHead) forgets the job's body; a cancel of a rescued job cancels its first copy too.
func (p *Proxy) rescueAfterAnswer(ctx context.Context, c *call, idx int, res *upstreamResponse, head jobHead, headOK bool) {
	p.regions[idx].Up(time.Now())
	switch {
	case c.route.Name == route.Submit.Name && res.status == http.StatusAccepted:
		p.remember(ctx, c, idx, res)
	case c.route.Name == route.Job.Name && !c.resolve && headOK && head.final:
		_ = p.rescue.Forget(ctx, c.clientID)
	case c.route.Name == route.Cancel.Name && c.rescued && res.status < 300 && p.answers(c.rescuedFrom, time.Now()):
		// Otherwise the first copy is cancelled when its region answers
		// again (originals.go).
		p.cancelOriginal(ctx, c.rescuedFrom, c.clientID)
	}
}

// finished reports whether a job body's status is final: the job will
// never run again, so its kept body can go. The body is read as calm
// answers read it (readJobHead), one rule for both.
func finished(body []byte) bool {
	head, ok := readJobHead(body)
	return ok && head.final
}

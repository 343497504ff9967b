package proxy

import (
	"bytes"
	"container/list"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"sync"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/trace"

	"nergateway/internal/scrub"
)

// Orphaned submits. A submit attempt the gateway gives up on (its
// UpstreamTimeout passed, or the client went away) may still create a job
// in that region, billed beside the copy the next region runs for the
// client. So a submit's request is not tied to its attempt: the attempt's
// deadline only stops the waiting, and the request goes on, followed in
// the background for up to Config.OrphanWait (SUBMIT_ORPHAN_WAIT). If the
// region accepts the job, the gateway cancels it there. The same holds
// when the region accepted a submit (202) and the gateway then failed the
// request itself (the answer did not fit the byte budget, or came too
// slowly): the job is cancelled. The client's own job is never touched: it
// is the one the client was answered with, and an orphan is by definition
// one it never saw.
//
// Followers are bounded (maxFollowers): beyond it the oldest is dropped
// (its request cancelled, counted as dropped). They are owned by Run, which
// stops them all and waits when its context ends.

// DefaultOrphanWait is Config.OrphanWait's default: long enough for a
// region in a brownout to answer a submit it was slow to accept, short
// next to a job's run time.
const DefaultOrphanWait = time.Minute

// maxFollowers bounds the orphaned submits followed at once: 256 × one
// connection, a goroutine and a few KiB (their answers come out of the
// byte budget). Each is followed for at most UpstreamTimeout + OrphanWait
// (70 s by default), so a brownout at 3 submits a second stays under it.
const maxFollowers = 256

// orphans is the bounded set of followers, owned by Run.
type orphans struct {
	wait time.Duration
	max  int // maxFollowers; tests lower it

	mu   sync.Mutex
	ctx  context.Context // Run's; nil while Run is not running
	live list.List       // *exchange, adopted, oldest first
	// flight is every exchange started and not ended, linked through
	// exchange.fprev and fnext: Run's end stops them.
	flight *exchange
	wg     sync.WaitGroup // every goroutine started here

	// idle hands an exchange, or nil (stop), to one of the idlers, the
	// workers waiting for one; a sender first takes one from idlers, so
	// that every send has its receiver. idlers is guarded by mu.
	idle   chan *exchange
	idlers int
}

// workerIdle is how often the workers left idle are stopped. Every
// submit's round trip runs on a worker (sendSubmit), and a goroutine
// started per submit would grow its stack, small at first, to the depth of
// a round trip on every submit: a worker keeps the stack it grew, which the
// benchmark showed as the larger part of what following submits cost. A
// worker waits for its next exchange with no timer of its own (one reset
// per submit cost more than the rest of the hand-off, scripts/instructions):
// stopIdleWorkers stops the idle ones together.
const workerIdle = 10 * time.Second

// spawn runs x's round trip (p.exchange) on an idle worker, or on a new
// one; the worker is counted in wg (Run waits for it) and stops when
// stopIdleWorkers finds it idle or once Run's context ended.
func (o *orphans) spawn(p *Proxy, x *exchange) {
	o.mu.Lock()
	if o.idlers > 0 {
		o.idlers--
		o.mu.Unlock()
		o.idle <- x
		return
	}
	o.mu.Unlock()
	o.wg.Add(1) // x's own count is held, so Run is still waiting
	go func() {
		defer o.wg.Done()
		for x != nil {
			p.exchange(x)
			x = o.next()
		}
	}()
}

// next waits, idle, for a worker's next exchange; nil: stop (Run ended,
// or stopIdlers). One plain receive: a select here (with Run's end) cost
// more than the lock.
func (o *orphans) next() *exchange {
	o.mu.Lock()
	if o.ctx == nil {
		o.mu.Unlock()
		return nil
	}
	o.idlers++
	o.mu.Unlock()
	return <-o.idle
}

// stopIdlers stops the workers idle now.
func (o *orphans) stopIdlers() {
	o.mu.Lock()
	n := o.idlers
	o.idlers = 0
	o.mu.Unlock()
	for range n {
		o.idle <- nil
	}
}

// stopIdleWorkers stops the workers found idle every workerIdle, until
// ctx (Run's) ends: the goroutines and stacks of a burst do not outlive
// it by more than workerIdle.
func (o *orphans) stopIdleWorkers(ctx context.Context) {
	t := time.NewTicker(workerIdle)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			o.stopIdlers()
		}
	}
}

// Run owns the proxy's background work: the followers of orphaned submits
// and the cancel of rescued jobs' first copies. It returns when ctx is
// done, once every follower has stopped (each request is cancelled, so
// the wait is short). Without Run, submits are abandoned at their deadline
// as before and nothing is cancelled.
func (p *Proxy) Run(ctx context.Context) error {
	o := &p.orphans
	o.mu.Lock()
	if o.ctx != nil {
		o.mu.Unlock()
		return errors.New("proxy: Run is already running")
	}
	o.ctx = ctx
	o.wg.Add(1)
	o.mu.Unlock()
	go func() {
		defer o.wg.Done()
		o.stopIdleWorkers(ctx)
	}()
	p.runOriginals(ctx) // until ctx is done
	o.mu.Lock()
	o.ctx = nil // no worker goes idle from now on
	for x := o.flight; x != nil; x = x.fnext {
		x.stop()
	}
	o.mu.Unlock()
	o.stopIdlers()
	o.wg.Wait()
	return nil
}

// start reserves a goroutine while Run runs and returns Run's context;
// ok is false otherwise.
func (o *orphans) start() (run context.Context, ok bool) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.ctx == nil {
		return nil, false
	}
	o.wg.Add(1)
	return o.ctx, true
}

// exchange is one submit's request, sent and read by its own goroutine so
// that the attempt can stop waiting without stopping it.
type exchange struct {
	idx      int
	rawQuery string            // the submit's query (its api-version)
	parent   trace.SpanContext // the client request's span
	run      context.Context   // Run's: the cancel of an orphan runs under it
	// ctx is the request's. It is not derived from run (deriving one
	// context per submit from Run's cost more than the rest of following
	// it, scripts/instructions): Run's end stops every exchange in
	// orphans.flight, and an orphan's follow timer stops it at deadline.
	ctx      context.Context
	cancel   context.CancelCauseFunc
	deadline time.Time   // the attempt's timeout and the wait after the request's start
	follow   *time.Timer // once adopted: stops the request at deadline; guarded by orphans.mu
	body     followedBody
	req      *http.Request // the submit's request, sent by exchange
	limit    int64         // the most of its answer read

	state atomic.Int32 // exchangeWaiting, then answered or orphaned
	done  chan struct{}
	resp  *http.Response
	res   *upstreamResponse // the answer read whole; nil when it could not be
	err   error
	el    *list.Element // in orphans.live once adopted; guarded by orphans.mu
	// dropped: followers were full and this oldest one was stopped;
	// guarded by orphans.mu.
	dropped      bool
	why          string    // why the attempt gave up (its outcome)
	fprev, fnext *exchange // in orphans.flight; guarded by orphans.mu
}

// errFollowed ends an orphan's request once it was followed for the
// attempt's timeout and the wait.
var errFollowed = fmt.Errorf("followed for the attempt's timeout and SUBMIT_ORPHAN_WAIT: %w", context.DeadlineExceeded)

// stop ends x's request.
func (x *exchange) stop() { x.cancel(nil) }

const (
	exchangeWaiting int32 = iota
	exchangeAnswered
	exchangeOrphaned
)

// followedBody is a submit's body that says when the transport has read
// all of it: a region cannot have accepted a submit whose body it did not
// get whole, so an orphan whose body was not all sent is stopped at once.
type followedBody struct {
	r    bytes.Reader
	sent atomic.Bool
}

func (b *followedBody) Read(p []byte) (int, error) {
	n, err := b.r.Read(p)
	if b.r.Len() == 0 {
		b.sent.Store(true)
	}
	return n, err
}

func (b *followedBody) Close() error { return nil }

// newExchange prepares the request of submit c to region idx, or returns
// nil while Run does not run (the request is then the attempt's, as any
// other call's).
func (o *orphans) newExchange(c *call, idx int, timeout time.Duration) *exchange {
	x := &exchange{idx: idx, rawQuery: c.r.URL.RawQuery, done: make(chan struct{})}
	x.ctx, x.cancel = context.WithCancelCause(context.Background())
	x.deadline = time.Now().Add(timeout + o.wait)
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.ctx == nil {
		x.stop()
		return nil
	}
	x.run = o.ctx
	o.wg.Add(1)
	x.fnext = o.flight
	if o.flight != nil {
		o.flight.fprev = x
	}
	o.flight = x
	return x
}

// end ends x's request and takes it out of the flight; x's goroutine
// count is released last.
func (o *orphans) end(x *exchange) {
	o.mu.Lock()
	if x.fprev != nil {
		x.fprev.fnext = x.fnext
	} else {
		o.flight = x.fnext
	}
	if x.fnext != nil {
		x.fnext.fprev = x.fprev
	}
	x.fprev, x.fnext = nil, nil
	if x.follow != nil {
		x.follow.Stop()
	}
	o.mu.Unlock()
	x.stop()
	o.wg.Done()
}

// sends makes req, x's request, send body through x.body, which tells
// when all of it was sent.
func (x *exchange) sends(req *http.Request, body []byte) {
	if len(body) == 0 {
		x.body.sent.Store(true)
		req.Body, req.GetBody = http.NoBody, noBody
		return
	}
	x.body.r.Reset(body)
	req.ContentLength = int64(len(body))
	req.Body = &x.body
	req.GetBody = func() (io.ReadCloser, error) { // a retry on a fresh connection
		x.body.r.Reset(body)
		return &x.body, nil
	}
}

func noBody() (io.ReadCloser, error) { return http.NoBody, nil }

// unused gives x up before its request was sent.
func (p *Proxy) unused(x *exchange) {
	p.orphans.end(x)
}

// adopt makes x a follower, dropping the oldest when max follow already.
func (o *orphans) adopt(x *exchange) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.live.Len() >= o.max {
		oldest := o.live.Remove(o.live.Front()).(*exchange)
		oldest.el, oldest.dropped = nil, true
		oldest.stop()
	}
	x.el = o.live.PushBack(x)
	x.follow = time.AfterFunc(time.Until(x.deadline), func() { x.cancel(errFollowed) })
}

// release takes x out of the followers and says whether it was dropped.
func (o *orphans) release(x *exchange) (dropped bool) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if x.el != nil {
		o.live.Remove(x.el)
		x.el = nil
	}
	return x.dropped
}

// sendSubmit sends a submit attempt's request from its own goroutine and
// waits for the answer, read whole, until actx ends. When actx ends first
// the request goes on, followed (exchange), and the attempt ends with
// actx's error.
func (p *Proxy) sendSubmit(actx context.Context, x *exchange, req *http.Request, limit int64) (*http.Response, *upstreamResponse, error) {
	x.parent = trace.SpanContextFromContext(actx)
	x.req, x.limit = req, limit
	p.orphans.spawn(p, x)
	select {
	case <-x.done:
		return x.resp, x.res, x.err
	case <-actx.Done():
	}
	x.why = "timeout"
	if !errors.Is(actx.Err(), context.DeadlineExceeded) {
		x.why = "canceled"
	}
	p.orphans.adopt(x)
	if !x.state.CompareAndSwap(exchangeWaiting, exchangeOrphaned) {
		p.orphans.release(x) // the answer came as the wait ended: take it
		<-x.done
		return x.resp, x.res, x.err
	}
	if !x.body.sent.Load() {
		x.stop() // the region has not got the whole submit: it cannot create the job
	}
	trace.SpanFromContext(actx).AddEvent("orphan_followed", trace.WithAttributes(
		attribute.String("gateway.region", p.regions[x.idx].Name()), attribute.String("gateway.orphan.reason", x.why)))
	return nil, nil, fmt.Errorf("waiting for the submit's answer: %w", context.Cause(actx))
}

// exchange runs x's round trip and reads the answer; if the attempt gave
// up meanwhile, it cancels the job the region created.
func (p *Proxy) exchange(x *exchange) {
	defer p.orphans.end(x)
	x.resp, x.err = p.transport.RoundTrip(x.req)
	if x.err == nil {
		x.res, x.err = p.readResponse(x.resp, x.limit)
	}
	if x.state.CompareAndSwap(exchangeWaiting, exchangeAnswered) {
		close(x.done)
		return
	}
	if x.res != nil {
		x.res.body.Free()
	}
	outcome, id, err := p.settleOrphan(x)
	if p.orphans.release(x) && outcome != orphanCancelled && outcome != orphanNotCreated {
		outcome = orphanDropped
	}
	p.recordOrphan(x.run, x, id, outcome, err)
}

// settleOrphan reads what became of an orphaned submit and cancels the job
// the region created: the outcome, and the region's job id when known.
func (p *Proxy) settleOrphan(x *exchange) (outcome, upstreamID string, err error) {
	switch {
	case x.resp != nil && x.resp.StatusCode == http.StatusAccepted:
		return p.cancelOrphan(x.run, x, x.resp.Header.Get("Operation-Location"))
	case x.resp != nil:
		return orphanNotCreated, "", nil
	case !x.body.sent.Load():
		return orphanNotCreated, "", x.err // stopped before the region had the whole submit
	case x.run.Err() != nil:
		return orphanDropped, "", x.err // the gateway stopped
	}
	return orphanUnanswered, "", x.err
}

// cancelOrphan cancels the job named by loc, an operation-location of
// x's region that no client was given.
func (p *Proxy) cancelOrphan(ctx context.Context, x *exchange, loc string) (outcome, upstreamID string, err error) {
	id, ok := p.jobIDIn(loc, x.idx)
	if !ok {
		return orphanCancelFailed, "", errors.New("the region accepted the submit without a job id the gateway can read")
	}
	q, _ := url.ParseQuery(x.rawQuery)
	ctx, span := p.cancelSpan(ctx, x.parent, "proxy.cancel_orphan", x.idx)
	err = p.cancelJob(ctx, x.idx, id, q.Get("api-version"))
	outcome = orphanCancelled
	if err != nil {
		outcome = orphanCancelFailed
	}
	endCancelSpan(span, "orphan_job", outcome, err)
	return outcome, id, err
}

// acceptedNotRelayed runs when region idx accepted submit c (202 with
// loc) but the gateway does not answer the client with that job (the
// answer could not be read in time or held, or could not be relayed): the
// job is cancelled, as an orphan's is. There is nothing to follow, so it
// takes no follower's place: one cancel, bounded by UpstreamTimeout.
func (p *Proxy) acceptedNotRelayed(ctx context.Context, c *call, idx int, loc, why string) {
	run, ok := p.orphans.start()
	if !ok {
		return
	}
	x := &exchange{idx: idx, rawQuery: c.r.URL.RawQuery, parent: trace.SpanContextFromContext(ctx), run: run, why: why}
	trace.SpanFromContext(ctx).AddEvent("orphan_followed", trace.WithAttributes(
		attribute.String("gateway.region", p.regions[idx].Name()), attribute.String("gateway.orphan.reason", why)))
	go func() {
		defer p.orphans.wg.Done()
		outcome, id, err := p.cancelOrphan(run, x, loc)
		p.recordOrphan(run, x, id, outcome, err)
	}()
}

// recordOrphan counts an orphan's outcome and logs it: never a key, a
// region host or a document.
func (p *Proxy) recordOrphan(ctx context.Context, x *exchange, upstreamID, outcome string, err error) {
	name := p.regions[x.idx].Name()
	p.cm.orphans.Add(context.WithoutCancel(ctx), 1, metric.WithAttributes(attribute.String("region", name), attribute.String("outcome", outcome)))
	args := []any{"region", name, "outcome", outcome, "reason", x.why}
	if upstreamID != "" {
		if tok, ok := encodeToken(upstreamID, x.idx); ok {
			args = append(args, "job_id", tok)
		}
	}
	if err != nil {
		args = append(args, "cause", scrub.Cause(err))
	}
	ctx = trace.ContextWithSpanContext(context.WithoutCancel(ctx), x.parent)
	switch outcome {
	case orphanCancelled:
		p.log.InfoContext(ctx, "orphaned job cancelled: the region accepted a submit the gateway gave up on", args...)
	case orphanNotCreated:
		p.log.InfoContext(ctx, "orphaned submit created no job", args...)
	default:
		p.log.WarnContext(ctx, "orphaned submit: a job may be left running in the region", args...)
	}
}

package proxy

import (
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
// connection and a few KiB each. A brownout of 2 minutes at 2 submits a
// second stays under it.
const maxFollowers = 256

// orphans is the bounded set of followers, owned by Run.
type orphans struct {
	wait time.Duration
	max  int // maxFollowers; tests lower it

	mu   sync.Mutex
	ctx  context.Context // Run's; nil while Run is not running
	live list.List       // *exchange, adopted, oldest first
	wg   sync.WaitGroup  // every goroutine started here
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
	o.mu.Unlock()
	p.runOriginals(ctx) // until ctx is done
	o.mu.Lock()
	o.ctx = nil
	o.mu.Unlock()
	o.wg.Wait()
	return nil
}

// start reserves a goroutine while Run runs and returns the context it
// works under (cancelled by drop or by Run's end); ok is false otherwise.
func (o *orphans) start() (base context.Context, stop context.CancelFunc, ok bool) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.ctx == nil {
		return nil, nil, false
	}
	o.wg.Add(1)
	base, stop = context.WithCancel(o.ctx)
	return base, stop, true
}

// exchange is one submit's request, sent by its own goroutine so that the
// attempt can stop waiting without stopping it.
type exchange struct {
	idx      int
	rawQuery string            // the submit's query (its api-version)
	parent   trace.SpanContext // the client request's span
	stop     context.CancelFunc
	base     context.Context

	state   atomic.Int32 // exchangeWaiting, then answered or orphaned
	done    chan struct{}
	resp    *http.Response
	err     error
	el      *list.Element // in orphans.live once adopted; guarded by orphans.mu
	dropped bool          // guarded by orphans.mu
	why     string        // why the attempt gave up (its outcome)
}

const (
	exchangeWaiting int32 = iota
	exchangeAnswered
	exchangeOrphaned
)

// adopt makes x a follower, dropping the oldest when maxFollowers follow
// already.
func (o *orphans) adopt(x *exchange) (dropped *exchange) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.live.Len() >= o.max {
		dropped = o.live.Remove(o.live.Front()).(*exchange)
		dropped.el, dropped.dropped = nil, true
		dropped.stop()
	}
	x.el = o.live.PushBack(x)
	return dropped
}

// release takes x out of the followers.
func (o *orphans) release(x *exchange) (dropped bool) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if x.el != nil {
		o.live.Remove(x.el)
		x.el = nil
	}
	return x.dropped
}

// sendSubmit sends a submit attempt's request and waits for its answer
// until actx ends. When actx ends first, the request is handed to a
// follower (if Run runs) and the attempt ends with actx's error. An
// answer that arrives in time is read under actx, as any attempt's.
func (p *Proxy) sendSubmit(actx context.Context, c *call, idx int, req *http.Request) (*http.Response, error) {
	base, stop, ok := p.orphans.start()
	if !ok {
		return p.transport.RoundTrip(req)
	}
	x := &exchange{idx: idx, rawQuery: c.r.URL.RawQuery, parent: trace.SpanContextFromContext(actx),
		base: base, stop: stop, done: make(chan struct{})}
	rctx, rcancel := context.WithTimeout(base, p.timeout+p.orphans.wait)
	go p.exchange(x, req.WithContext(rctx), rcancel)
	select {
	case <-x.done:
	case <-actx.Done():
		x.why = "timeout"
		if !errors.Is(actx.Err(), context.DeadlineExceeded) {
			x.why = "canceled"
		}
		p.orphans.adopt(x)
		if x.state.CompareAndSwap(exchangeWaiting, exchangeOrphaned) {
			trace.SpanFromContext(actx).AddEvent("orphan_followed", trace.WithAttributes(
				attribute.String("gateway.region", p.regions[idx].Name()), attribute.String("gateway.orphan.reason", x.why)))
			return nil, fmt.Errorf("waiting for the submit's answer: %w", context.Cause(actx))
		}
		p.orphans.release(x) // the answer came as the wait ended: take it
		<-x.done
	}
	// The answer's body is read under the attempt's deadline.
	context.AfterFunc(actx, stop)
	return x.resp, x.err
}

// exchange runs x's round trip; if the attempt gave up meanwhile, it
// follows the request to its end and cancels the job it created.
func (p *Proxy) exchange(x *exchange, req *http.Request, rcancel context.CancelFunc) {
	defer p.orphans.wg.Done()
	x.resp, x.err = p.transport.RoundTrip(req)
	if x.state.CompareAndSwap(exchangeWaiting, exchangeAnswered) {
		close(x.done)
		return // rcancel: with stop, once the attempt has read the answer
	}
	defer x.stop()
	defer rcancel()
	outcome, id, err := p.settleOrphan(x)
	if p.orphans.release(x) && outcome != orphanCancelled && outcome != orphanNotCreated {
		outcome = orphanDropped
	}
	p.recordOrphan(x.base, x, id, outcome, err)
}

// settleOrphan reads what became of an orphaned submit and cancels the job
// the region created: the outcome, and the region's job id when known.
func (p *Proxy) settleOrphan(x *exchange) (outcome, upstreamID string, err error) {
	if x.err != nil {
		if x.base.Err() != nil {
			return orphanDropped, "", x.err
		}
		return orphanUnanswered, "", x.err
	}
	loc := x.resp.Header.Get("Operation-Location")
	_, _ = io.Copy(io.Discard, io.LimitReader(x.resp.Body, 1<<20))
	_ = x.resp.Body.Close()
	if x.resp.StatusCode != http.StatusAccepted {
		return orphanNotCreated, "", nil
	}
	return p.cancelOrphan(x.base, x, loc)
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
// answer could not be read or held, or came after the attempt's deadline):
// the job is cancelled by a follower, as an orphan is.
func (p *Proxy) acceptedNotRelayed(ctx context.Context, c *call, idx int, loc, why string) {
	base, stop, ok := p.orphans.start()
	if !ok {
		return
	}
	x := &exchange{idx: idx, rawQuery: c.r.URL.RawQuery, parent: trace.SpanContextFromContext(ctx),
		base: base, stop: stop, why: why}
	x.state.Store(exchangeOrphaned)
	p.orphans.adopt(x)
	trace.SpanFromContext(ctx).AddEvent("orphan_followed", trace.WithAttributes(
		attribute.String("gateway.region", p.regions[idx].Name()), attribute.String("gateway.orphan.reason", why)))
	go func() {
		defer p.orphans.wg.Done()
		defer stop()
		outcome, id, err := p.cancelOrphan(base, x, loc)
		if p.orphans.release(x) && outcome != orphanCancelled {
			outcome = orphanDropped
		}
		p.recordOrphan(base, x, id, outcome, err)
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

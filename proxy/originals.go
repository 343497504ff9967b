package proxy

import (
	"context"
	"errors"
	"net/url"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/trace"

	"nergateway/internal/region"
	"nergateway/internal/scrub"
	"nergateway/rescue"
)

// The first copy of a rescued job. The rescue leaves it running in the
// region that was down, where it is billed once that region comes back. So
// the rescue queues it in the store (rescue.Claim.Rescued), and once the
// region answers again on this replica (its breaker closed, no outage on
// record: a probe or a call succeeded) the replica takes each queued copy's
// cancel (rescue.Store.ClaimOriginal, which exactly one replica wins) and
// cancels it with the region's credentials, unless it already finished.
// The client's job id keeps reading the rescued copy.

const (
	// originalsTick is how often Run looks at the regions' state: a region
	// that answers again has its first copies cancelled within a tick.
	originalsTick = time.Second
	// originalsEvery is how often a region that stays up has its queue
	// read again (another replica's rescues, a claim this replica lost).
	originalsEvery = 10 * time.Second
	// originalsBatch bounds the ids read from the queue at once.
	originalsBatch = 64
)

// runOriginals cancels the first copies of rescued jobs until ctx is done.
func (p *Proxy) runOriginals(ctx context.Context) {
	if p.rescue == nil {
		<-ctx.Done()
		return
	}
	t := time.NewTicker(originalsTick)
	defer t.Stop()
	wasUp := make([]bool, len(p.regions))
	last := make([]time.Time, len(p.regions))
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-t.C:
			for i := range p.regions {
				up := p.answers(i, now)
				if up && (!wasUp[i] || now.Sub(last[i]) >= originalsEvery) {
					last[i] = now
					p.cancelOriginals(ctx, i)
				}
				wasUp[i] = up
			}
		}
	}
}

// answers says whether region idx answers again as this replica sees it:
// its breaker is closed and no outage is on record.
func (p *Proxy) answers(idx int, now time.Time) bool {
	if p.regions[idx].State() != region.StateClosed {
		return false
	}
	_, down := p.regions[idx].DownSince()
	return !down
}

// cancelOriginals cancels the first copies queued for region idx.
func (p *Proxy) cancelOriginals(ctx context.Context, idx int) {
	ids, err := p.rescue.Originals(ctx, p.regions[idx].Name(), originalsBatch)
	if err != nil {
		return // the store is down: the next pass reads again
	}
	for _, id := range ids {
		if ctx.Err() != nil {
			return
		}
		p.cancelOriginal(ctx, idx, id)
	}
}

// cancelOriginal cancels the first copy, in region idx, of the rescued job
// the client knows as id, if this replica wins its claim: a copy that
// finished (or expired) already is left alone, any other is cancelled.
func (p *Proxy) cancelOriginal(ctx context.Context, idx int, id string) {
	name := p.regions[idx].Name()
	won, err := p.rescue.ClaimOriginal(ctx, name, id)
	if err != nil || !won {
		return
	}
	ctx, span := p.cancelSpan(ctx, trace.SpanContext{}, "proxy.cancel_rescued_original", idx)
	outcome, err := p.settleOriginal(ctx, idx, id)
	endCancelSpan(span, "rescued_original", outcome, err)
	p.cm.originals.Add(context.WithoutCancel(ctx), 1, metric.WithAttributes(attribute.String("region", name), attribute.String("outcome", outcome)))
	args := []any{"region", name, "outcome", outcome, "job_id", id}
	if err != nil {
		args = append(args, "cause", scrub.Cause(err))
		p.log.WarnContext(ctx, "first copy of a rescued job not cancelled: it may run to its end in its region", args...)
		return
	}
	if outcome == originalCancelled {
		p.log.InfoContext(ctx, "first copy of a rescued job cancelled in its region", args...)
		return
	}
	p.log.InfoContext(ctx, "first copy of a rescued job had finished already", args...)
}

// settleOriginal cancels the first copy of job id in region idx unless it
// finished.
func (p *Proxy) settleOriginal(ctx context.Context, idx int, id string) (string, error) {
	st, err := p.rescue.State(ctx, id)
	switch {
	case err != nil:
		return originalCancelFailed, err
	case st.Phase != rescue.PhaseRescued || st.FromID == "":
		return originalCancelFailed, errors.New("the rescue record does not name the first copy")
	}
	done, err := p.jobFinished(ctx, idx, st.FromID, st.APIVersion)
	switch {
	case err != nil:
		return originalCancelFailed, err
	case done:
		return originalAlreadyFinished, nil
	}
	err = p.cancelJob(ctx, idx, st.FromID, st.APIVersion)
	switch {
	case errors.Is(err, errJobGone):
		return originalAlreadyFinished, nil
	case err != nil:
		return originalCancelFailed, err
	}
	return originalCancelled, nil
}

// apiVersionOf is the api-version in a raw query.
func apiVersionOf(rawQuery string) string {
	q, _ := url.ParseQuery(rawQuery)
	return q.Get("api-version")
}

package rescue

import (
	"context"
	"errors"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"
)

// A rescued job's first copy still runs in the region that was down, and
// is billed there once the region comes back. Rescued queues it, per
// region; once that region answers again a replica lists the queue
// (Originals) and takes each entry's cancel (ClaimOriginal): an atomic
// removal from the shared queue, so exactly one replica cancels each first
// copy, as exactly one resubmitted it.

// Original names the first copy of a rescued job.
type Original struct {
	// Region is the name of the region that was down (the job's owner).
	Region string
	// UpstreamID is that region's own job id; empty means there is no
	// copy to cancel (nothing is queued).
	UpstreamID string
	// APIVersion is the submit's api-version, for the cancel.
	APIVersion string
}

// maxOriginals bounds the queue of one region: beyond it the entries that
// expire first are dropped (their first copies are left running, as
// before there was a queue). A rescue is rare; 10,000 waiting first
// copies is a long outage of a busy region.
const maxOriginals = 10_000

// originalsBackend is the queue's part of backend.
type originalsBackend interface {
	// keepOriginal queues job id in region's queue until exp, keeping at
	// most max entries (those that expire last).
	keepOriginal(ctx context.Context, region, id string, exp time.Time, max int) error
	// originals lists up to n job ids queued in region, not expired at now.
	originals(ctx context.Context, region string, now time.Time, n int) ([]string, error)
	// claimOriginal removes id from region's queue, atomically: true for
	// the one caller that removed it.
	claimOriginal(ctx context.Context, region, id string) (bool, error)
}

// keepOriginal queues the first copy of job id (one write).
func (s *Store) keepOriginal(ctx context.Context, id string, o Original) error {
	if o.UpstreamID == "" {
		return nil
	}
	exp := s.now().Add(s.ttl)
	return s.do(ctx, "original", func(ctx context.Context) error {
		return s.b.keepOriginal(ctx, o.Region, id, exp, maxOriginals)
	})
}

// Originals lists up to n client job ids whose first copy in region waits
// for its cancel (one read). Their State says where the copy is.
func (s *Store) Originals(ctx context.Context, region string, n int) ([]string, error) {
	var ids []string
	err := s.do(ctx, "originals", func(ctx context.Context) (err error) {
		ids, err = s.b.originals(ctx, region, s.now(), n)
		return err
	})
	return ids, err
}

// ClaimOriginal takes the cancel of job id's first copy in region: true
// for exactly one caller across every replica; false when another took it
// or it is not queued (one atomic write). A replica that dies between its
// claim and its cancel leaves that copy running.
func (s *Store) ClaimOriginal(ctx context.Context, region, id string) (bool, error) {
	var won bool
	err := s.do(ctx, "original_claim", func(ctx context.Context) (err error) {
		won, err = s.b.claimOriginal(ctx, region, id)
		return err
	})
	return won, err
}

func (m *memoryBackend) keepOriginal(_ context.Context, region, id string, exp time.Time, max int) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.queues == nil {
		m.queues = map[string]map[string]time.Time{}
	}
	q := m.queues[region]
	if q == nil {
		q = map[string]time.Time{}
		m.queues[region] = q
	}
	q[id] = exp
	for len(q) > max {
		first := ""
		for k, e := range q {
			if first == "" || e.Before(q[first]) {
				first = k
			}
		}
		delete(q, first)
	}
	return nil
}

func (m *memoryBackend) originals(_ context.Context, region string, now time.Time, n int) ([]string, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var ids []string
	for id, exp := range m.queues[region] {
		if !now.Before(exp) {
			delete(m.queues[region], id)
			continue
		}
		if len(ids) < n {
			ids = append(ids, id)
		}
	}
	return ids, nil
}

func (m *memoryBackend) claimOriginal(_ context.Context, region, id string) (bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, ok := m.queues[region][id]; !ok {
		return false, nil
	}
	delete(m.queues[region], id)
	return true, nil
}

// originalsKey is a region's queue: a sorted set of client job ids scored
// by their expiry (Unix ms), in a slot of its own (no job id is
// "originals:…").
func originalsKey(region string) string { return keyPrefix + "originals:" + region + "}" }

// keepOriginalScript is backend.keepOriginal in one atomic step, with
// allow-oom as the other state scripts (redis.go): a Redis at maxmemory
// still queues the first copy of a job it rescued, or that copy would run on
// and be billed. KEYS: queue. ARGV: expiry (Unix ms), id, max.
var keepOriginalScript = redis.NewScript(`#!lua flags=allow-oom
redis.call('ZADD', KEYS[1], ARGV[1], ARGV[2])
redis.call('ZREMRANGEBYRANK', KEYS[1], 0, -tonumber(ARGV[3]) - 1)
redis.call('PEXPIREAT', KEYS[1], ARGV[1])
return 0
`)

func (r *redisBackend) keepOriginal(ctx context.Context, region, id string, exp time.Time, max int) error {
	return keepOriginalScript.Run(ctx, r.c, []string{originalsKey(region)}, exp.UnixMilli(), id, max).Err()
}

func (r *redisBackend) originals(ctx context.Context, region string, now time.Time, n int) ([]string, error) {
	ids, err := r.c.ZRangeByScore(ctx, originalsKey(region), &redis.ZRangeBy{
		Min: "(" + strconv.FormatInt(now.UnixMilli(), 10), Max: "+inf", Count: int64(n),
	}).Result()
	if errors.Is(err, redis.Nil) {
		return nil, nil
	}
	return ids, err
}

func (r *redisBackend) claimOriginal(ctx context.Context, region, id string) (bool, error) {
	n, err := r.c.ZRem(ctx, originalsKey(region), id).Result()
	return n == 1, err
}

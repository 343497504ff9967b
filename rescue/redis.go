package rescue

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
)

// keyPrefix starts every key the gateway writes, so an operator can tell
// them apart in a shared Redis. The job id sits in a hash tag, so a job's
// two keys land in one slot of a Redis Cluster and a script can touch both.
const keyPrefix = "nergateway:rescue:{"

func bodyKey(id string) string  { return keyPrefix + id + "}:body" }
func stateKey(id string) string { return keyPrefix + id + "}:state" }

// Scripts that record states carry allow-oom: a Redis at maxmemory under
// noeviction refuses new bodies (Put counts them as full), but the few
// small states of claims and rescues must still be written, or the jobs it
// holds could not be rescued when they are needed.

// claimScript is backend.claim in one atomic step.
// KEYS: state, body. ARGV: claimed, lease ms, gone, gone ttl ms.
var claimScript = redis.NewScript(`#!lua flags=allow-oom
local s = redis.call('GET', KEYS[1])
if s then return {0, s} end
local b = redis.call('GET', KEYS[2])
if not b then
  redis.call('SET', KEYS[1], ARGV[3], 'PX', ARGV[4])
  return {0, ARGV[3]}
end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
return {1, b}
`)

// setStateScript is backend.setState. KEYS: state. ARGV: state, ttl ms.
var setStateScript = redis.NewScript(`#!lua flags=allow-oom
return redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
`)

// releaseScript deletes the state only if it is still this holder's claim.
// KEYS: state. ARGV: claimed.
var releaseScript = redis.NewScript(`
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
`)

// forgetScript is backend.forget in one round trip: the body goes, and the
// job is marked finished unless it has a state (a rescued job keeps its).
// KEYS: state, body. ARGV: finished, ttl ms.
var forgetScript = redis.NewScript(`#!lua flags=allow-oom
redis.call('DEL', KEYS[2])
redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2])
return 0
`)

// redisBackend shares records between replicas through Redis 7 or Valkey.
type redisBackend struct {
	c *redis.Client
}

// newRedisBackend connects lazily (go-redis dials on first use), so a
// Redis that is down at start does not stop the gateway: the Store starts
// marked down and Run brings it up. opTimeout bounds every phase of a call
// and no call is retried: a failing store must fail fast.
func newRedisBackend(rawURL string, opTimeout time.Duration) (*redisBackend, error) {
	opts, err := redis.ParseURL(rawURL)
	if err != nil {
		return nil, parseError(err)
	}
	opts.DialTimeout = opTimeout
	opts.ReadTimeout = opTimeout
	opts.WriteTimeout = opTimeout
	opts.PoolTimeout = opTimeout
	opts.ContextTimeoutEnabled = true
	opts.MaxRetries = -1 // go-redis: -1 disables retries
	opts.DialerRetries = 1
	opts.DisableIdentity = true
	quietRedis.Do(func() { redis.SetLogger(discardLogger{}) })
	return &redisBackend{c: redis.NewClient(opts)}, nil
}

// quietRedis silences go-redis's own logger, once for the process (it is a
// package global of go-redis): it writes unstructured lines to stderr
// ("connection pool: failed to dial ..."), while the Store logs every
// outage itself, structured, once per transition.
var quietRedis sync.Once

type discardLogger struct{}

func (discardLogger) Printf(context.Context, string, ...any) {}

// parseError wraps a ParseURL error without the URL: url.Parse quotes the
// whole URL in its errors, password included.
func parseError(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return errors.New("rescue: JOB_RESCUE is not a valid redis:// or rediss:// URL")
	}
	return fmt.Errorf("rescue: JOB_RESCUE is not a valid redis:// or rediss:// URL: %w", err)
}

func (r *redisBackend) put(ctx context.Context, id string, sealed []byte, ttl time.Duration) (int, error) {
	return 0, r.c.Set(ctx, bodyKey(id), sealed, ttl).Err()
}

func (r *redisBackend) state(ctx context.Context, id string) (string, error) {
	s, err := r.c.Get(ctx, stateKey(id)).Result()
	if errors.Is(err, redis.Nil) {
		return "", nil
	}
	return s, err
}

func (r *redisBackend) claim(ctx context.Context, id, claimed string, lease time.Duration, gone string, goneTTL time.Duration) (bool, string, []byte, error) {
	v, err := claimScript.Run(ctx, r.c, []string{stateKey(id), bodyKey(id)},
		claimed, lease.Milliseconds(), gone, goneTTL.Milliseconds()).Slice()
	if err != nil {
		return false, "", nil, err
	}
	if len(v) != 2 {
		return false, "", nil, errors.New("rescue: unexpected claim reply")
	}
	won, _ := v[0].(int64)
	s, _ := v[1].(string)
	if won == 1 {
		return true, claimed, []byte(s), nil
	}
	return false, s, nil, nil
}

func (r *redisBackend) setState(ctx context.Context, id, state string, ttl time.Duration) error {
	return setStateScript.Run(ctx, r.c, []string{stateKey(id)}, state, ttl.Milliseconds()).Err()
}

// isFull reports whether err is Redis refusing a write at maxmemory
// ("OOM command not allowed when used memory > 'maxmemory'"): the store
// answers and works, it has no room for more.
func isFull(err error) bool {
	var re redis.Error
	return errors.As(err, &re) && strings.HasPrefix(re.Error(), "OOM ")
}

func (r *redisBackend) release(ctx context.Context, id, claimed string) error {
	return releaseScript.Run(ctx, r.c, []string{stateKey(id)}, claimed).Err()
}

func (r *redisBackend) forget(ctx context.Context, id, finished string, ttl time.Duration) error {
	return forgetScript.Run(ctx, r.c, []string{stateKey(id), bodyKey(id)}, finished, ttl.Milliseconds()).Err()
}

func (r *redisBackend) ping(ctx context.Context) error { return r.c.Ping(ctx).Err() }

func (r *redisBackend) sweep(time.Time) {} // Redis expires keys itself

func (r *redisBackend) close() error { return r.c.Close() }

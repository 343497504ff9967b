package proxy

import (
	"container/list"
	"sync"
	"time"
)

// Owner cache bounds. A runtime job's results live 24 h in Azure, so an
// owner learned now is useless after that; 10,000 entries of a few dozen
// bytes each is well under a megabyte.
const (
	ownerCacheSize = 10_000
	ownerCacheTTL  = 24 * time.Hour
)

// ownerCache remembers which region owns a job id that could not be turned
// into a token (the bounded fallback of the package doc).
type ownerCache = lruCache[int]

func newOwnerCache(size int, ttl time.Duration) *ownerCache {
	return newLRUCache[int](size, ttl)
}

// lruCache is a plain LRU keyed by job id with a TTL checked on read: no
// background goroutine, so a Proxy owns nothing that needs stopping.
// (hashicorp/golang-lru's expirable cache starts a goroutine that cannot
// be stopped, which is why this is not it.) The owner cache and the job
// memory (jobs.go) are both one.
type lruCache[V any] struct {
	mu    sync.Mutex
	size  int
	ttl   time.Duration
	order *list.List // front = most recently used; values are *lruEntry[V]
	items map[string]*list.Element
}

type lruEntry[V any] struct {
	id      string
	v       V
	expires time.Time
}

func newLRUCache[V any](size int, ttl time.Duration) *lruCache[V] {
	return &lruCache[V]{size: size, ttl: ttl, order: list.New(), items: make(map[string]*list.Element)}
}

// get returns the value of id, if known and not expired at now.
func (c *lruCache[V]) get(id string, now time.Time) (V, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e := c.live(id, now)
	if e == nil {
		var zero V
		return zero, false
	}
	return e.v, true
}

// live is id's unexpired entry, made the most recently used, or nil (an
// expired one is dropped). c.mu is held.
func (c *lruCache[V]) live(id string, now time.Time) *lruEntry[V] {
	el, ok := c.items[id]
	if !ok {
		return nil
	}
	e := el.Value.(*lruEntry[V])
	if !now.Before(e.expires) {
		c.order.Remove(el)
		delete(c.items, id)
		return nil
	}
	c.order.MoveToFront(el)
	return e
}

// put records v for id, refreshing its expiry, and evicts the least
// recently used entry when full. Replacing an entry costs no allocation.
func (c *lruCache[V]) put(id string, v V, now time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if el, ok := c.items[id]; ok {
		e := el.Value.(*lruEntry[V])
		e.v, e.expires = v, now.Add(c.ttl)
		c.order.MoveToFront(el)
		return
	}
	if c.order.Len() >= c.size {
		oldest := c.order.Back()
		c.order.Remove(oldest)
		delete(c.items, oldest.Value.(*lruEntry[V]).id)
	}
	c.items[id] = c.order.PushFront(&lruEntry[V]{id: id, v: v, expires: now.Add(c.ttl)})
}

// len is the number of entries, expired or not.
func (c *lruCache[V]) len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.order.Len()
}

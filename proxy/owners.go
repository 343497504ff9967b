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
// into a token (the bounded fallback of the package doc). It is a plain
// LRU with a TTL checked on read: no background goroutine, so a Proxy owns
// nothing that needs stopping. (hashicorp/golang-lru's expirable cache
// starts a goroutine that cannot be stopped, which is why this is not it.)
type ownerCache struct {
	mu    sync.Mutex
	size  int
	ttl   time.Duration
	order *list.List // front = most recently used; values are *ownerEntry
	items map[string]*list.Element
}

type ownerEntry struct {
	id      string
	region  int
	expires time.Time
}

func newOwnerCache(size int, ttl time.Duration) *ownerCache {
	return &ownerCache{size: size, ttl: ttl, order: list.New(), items: make(map[string]*list.Element)}
}

// get returns the owner of id, if known and not expired at now.
func (c *ownerCache) get(id string, now time.Time) (int, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	el, ok := c.items[id]
	if !ok {
		return 0, false
	}
	e := el.Value.(*ownerEntry)
	if !now.Before(e.expires) {
		c.order.Remove(el)
		delete(c.items, id)
		return 0, false
	}
	c.order.MoveToFront(el)
	return e.region, true
}

// put records that region owns id, evicting the least recently used entry
// when full.
func (c *ownerCache) put(id string, region int, now time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if el, ok := c.items[id]; ok {
		e := el.Value.(*ownerEntry)
		e.region, e.expires = region, now.Add(c.ttl)
		c.order.MoveToFront(el)
		return
	}
	if c.order.Len() >= c.size {
		oldest := c.order.Back()
		c.order.Remove(oldest)
		delete(c.items, oldest.Value.(*ownerEntry).id)
	}
	c.items[id] = c.order.PushFront(&ownerEntry{id: id, region: region, expires: now.Add(c.ttl)})
}

// len is the number of entries, expired or not.
func (c *ownerCache) len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.order.Len()
}

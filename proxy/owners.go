package proxy

import (
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
type ownerCache = lruCache[string, int]

func newOwnerCache(size int, ttl time.Duration) *ownerCache {
	return newLRUCache[string, int](size, ttl)
}

// lruCache is a plain LRU keyed by job id (K: a string, or the job
// memory's jobKey) with a TTL checked on read: no
// background goroutine, so a Proxy owns nothing that needs stopping.
// (hashicorp/golang-lru's expirable cache starts a goroutine that cannot
// be stopped, which is why this is not it.) The owner cache and the job
// memory (calm.go) are both one.
//
// Its entries live in one slice linked by index, not in a list of their
// own objects: the job memory holds an entry for every job of the last
// 24 h, and the garbage collector marks every object the heap holds on
// every cycle, so an entry is one slot of one object (and its id string)
// rather than three objects, which the benchmark showed as the larger part
// of what the job memory cost per request. With a key and a value that
// hold no pointer (the job memory's), the collector has nothing in it to
// look at.
type lruCache[K comparable, V any] struct {
	mu    sync.Mutex
	size  int
	ttl   time.Duration
	items map[K]int32 // id → its slot
	// slots grow up to size, lruChunk at a time, so that growing never
	// copies them (a slice grown by append leaves four times its size
	// behind for the collector); a freed slot is reused.
	slots [][]lruSlot[K, V]
	n     int32   // slots made
	free  []int32 // slots of dropped entries
	head  int32   // the most recently used; -1 when empty
	tail  int32   // the least recently used; -1 when empty
}

type lruSlot[K comparable, V any] struct {
	id         K
	v          V
	expires    int64 // Unix nanoseconds
	prev, next int32 // toward head and toward tail; -1 at the ends
}

func newLRUCache[K comparable, V any](size int, ttl time.Duration) *lruCache[K, V] {
	return &lruCache[K, V]{size: size, ttl: ttl, items: make(map[K]int32), head: -1, tail: -1}
}

// get returns the value of id, if known and not expired at now.
func (c *lruCache[K, V]) get(id K, now time.Time) (V, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	i, ok := c.items[id]
	if !ok {
		var zero V
		return zero, false
	}
	if now.UnixNano() >= c.slot(i).expires {
		c.drop(i)
		var zero V
		return zero, false
	}
	c.toFront(i)
	return c.slot(i).v, true
}

// put records v for id, refreshing its expiry, and evicts the least
// recently used entry when full. Replacing an entry costs no allocation.
func (c *lruCache[K, V]) put(id K, v V, now time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if i, ok := c.items[id]; ok {
		s := c.slot(i)
		s.v, s.expires = v, now.Add(c.ttl).UnixNano()
		c.toFront(i)
		return
	}
	c.add(id, v, now)
}

// add records v for id, not known yet, evicting the least recently used
// entry when full. c.mu is held.
func (c *lruCache[K, V]) add(id K, v V, now time.Time) {
	exp := now.Add(c.ttl).UnixNano()
	if len(c.items) >= c.size {
		c.drop(c.tail)
	}
	var i int32
	if n := len(c.free); n > 0 {
		i, c.free = c.free[n-1], c.free[:n-1]
	} else {
		i = c.n
		if i%lruChunk == 0 {
			c.slots = append(c.slots, make([]lruSlot[K, V], min(lruChunk, c.size)))
		}
		c.n++
	}
	*c.slot(i) = lruSlot[K, V]{id: id, v: v, expires: exp, prev: -1, next: -1}
	c.items[id] = i
	c.link(i)
}

// update replaces the value of id with what f makes of its current one
// (known=false: none, or expired at now), under one lock; f's write=false
// leaves the entry as it was, only made the most recently used. f must not
// use c.
func (c *lruCache[K, V]) update(id K, now time.Time, f func(cur V, known bool) (v V, write bool)) {
	c.mu.Lock()
	defer c.mu.Unlock()
	i, known := c.items[id]
	if known && now.UnixNano() >= c.slot(i).expires {
		c.drop(i)
		known = false
	}
	var cur V
	if known {
		cur = c.slot(i).v
	}
	v, write := f(cur, known)
	switch {
	case known && write:
		s := c.slot(i)
		s.v, s.expires = v, now.Add(c.ttl).UnixNano()
		c.toFront(i)
	case known:
		c.toFront(i)
	case write:
		c.add(id, v, now)
	}
}

// lruChunk is how many slots the cache makes at a time.
const lruChunk = 256

// slot is slot i.
func (c *lruCache[K, V]) slot(i int32) *lruSlot[K, V] {
	return &c.slots[i/lruChunk][i%lruChunk]
}

// len is the number of entries, expired or not.
func (c *lruCache[K, V]) len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.items)
}

// drop removes slot i and frees it. c.mu is held.
func (c *lruCache[K, V]) drop(i int32) {
	c.unlink(i)
	delete(c.items, c.slot(i).id)
	*c.slot(i) = lruSlot[K, V]{} // let its id and value go
	c.free = append(c.free, i)
}

// toFront makes slot i the most recently used. c.mu is held.
func (c *lruCache[K, V]) toFront(i int32) {
	if c.head == i {
		return
	}
	c.unlink(i)
	c.link(i)
}

// link puts unlinked slot i at the head. c.mu is held.
func (c *lruCache[K, V]) link(i int32) {
	s := c.slot(i)
	s.prev, s.next = -1, c.head
	if c.head >= 0 {
		c.slot(c.head).prev = i
	}
	c.head = i
	if c.tail < 0 {
		c.tail = i
	}
}

// unlink takes slot i out of the order. c.mu is held.
func (c *lruCache[K, V]) unlink(i int32) {
	s := c.slot(i)
	if s.prev >= 0 {
		c.slot(s.prev).next = s.next
	} else {
		c.head = s.next
	}
	if s.next >= 0 {
		c.slot(s.next).prev = s.prev
	} else {
		c.tail = s.prev
	}
	s.prev, s.next = -1, -1
}

package proxy

import (
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestOwnerCacheBoundsAndExpiry(t *testing.T) {
	now := time.Date(2026, 11, 29, 4, 0, 0, 0, time.UTC)
	c := newOwnerCache(3, time.Hour)
	for i := range 5 {
		c.put("job"+strconv.Itoa(i), i%2, now)
	}
	require.Equal(t, 3, c.len(), "len, want the bound 3")
	_, ok := c.get("job0", now)
	assert.False(t, ok, "least recently used entry kept")
	// Reading job2 makes job3 the oldest.
	r, ok := c.get("job2", now)
	require.True(t, ok, "job2")
	require.Equal(t, 0, r, "job2")
	c.put("job5", 1, now)
	_, ok = c.get("job3", now)
	assert.False(t, ok, "job3 should have been evicted")
	_, ok = c.get("job2", now)
	assert.True(t, ok, "recently read job2 evicted")
	// Entries expire after the TTL, and reading an expired one removes it.
	_, ok = c.get("job5", now.Add(time.Hour))
	assert.False(t, ok, "expired entry returned")
	assert.Equal(t, 2, c.len(), "len after expiry")
	// put refreshes an existing entry.
	c.put("job2", 1, now.Add(30*time.Minute))
	r, ok = c.get("job2", now.Add(80*time.Minute))
	if assert.True(t, ok, "refreshed job2: %d %v", r, ok) {
		assert.Equal(t, 1, r, "refreshed job2: %d %v", r, ok)
	}
}

func TestLRUCacheReusesItsSlotsAndKeepsTheMostRecent(t *testing.T) {
	now := time.Date(2026, 11, 29, 4, 0, 0, 0, time.UTC)
	c := newLRUCache[string, int](10, time.Hour)
	var model []string // most recent first, as the cache should hold it
	use := func(id string) {
		for j, m := range model {
			if m == id {
				model = append(model[:j], model[j+1:]...)
				break
			}
		}
		model = append([]string{id}, model...)
	}
	has := func(id string) bool {
		for _, m := range model {
			if m == id {
				return true
			}
		}
		return false
	}
	for i := range 1000 {
		id := "job" + strconv.Itoa(i)
		c.put(id, i, now)
		use(id)
		model = model[:min(len(model), 10)]
		if old := "job" + strconv.Itoa(i-5); i%3 == 0 {
			_, ok := c.get(old, now) // read back: the most recent again
			require.Equal(t, has(old), ok, "%s read back", old)
			if ok {
				use(old)
			}
		}
		if old := "job" + strconv.Itoa(i-1); i%7 == 0 {
			_, ok := c.get(old, now.Add(2*time.Hour)) // read after its expiry: dropped
			assert.False(t, ok)
			for j, m := range model {
				if m == old {
					model = append(model[:j], model[j+1:]...)
					break
				}
			}
		}
	}
	assert.LessOrEqual(t, int(c.n), 10, "slots grow to the bound and are reused")
	require.Equal(t, len(model), c.len())
	var order []string // the cache's own order, head to tail
	for i := c.head; i >= 0 && len(order) <= c.len(); i = c.slot(i).next {
		order = append(order, c.slot(i).id)
	}
	assert.Equal(t, model, order, "the order links every live entry once, most recent first")
	for _, id := range model {
		_, ok := c.get(id, now)
		assert.True(t, ok, id)
	}
}

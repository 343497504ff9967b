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

package proxy

import (
	"strconv"
	"testing"
	"time"
)

func TestOwnerCacheBoundsAndExpiry(t *testing.T) {
	now := time.Date(2026, 11, 29, 4, 0, 0, 0, time.UTC)
	c := newOwnerCache(3, time.Hour)
	for i := range 5 {
		c.put("job"+strconv.Itoa(i), i%2, now)
	}
	if c.len() != 3 {
		t.Fatalf("len %d, want the bound 3", c.len())
	}
	if _, ok := c.get("job0", now); ok {
		t.Error("least recently used entry kept")
	}
	// Reading job2 makes job3 the oldest.
	if r, ok := c.get("job2", now); !ok || r != 0 {
		t.Fatalf("job2: %d %v", r, ok)
	}
	c.put("job5", 1, now)
	if _, ok := c.get("job3", now); ok {
		t.Error("job3 should have been evicted")
	}
	if _, ok := c.get("job2", now); !ok {
		t.Error("recently read job2 evicted")
	}
	// Entries expire after the TTL, and reading an expired one removes it.
	if _, ok := c.get("job5", now.Add(time.Hour)); ok {
		t.Error("expired entry returned")
	}
	if c.len() != 2 {
		t.Errorf("len %d after expiry", c.len())
	}
	// put refreshes an existing entry.
	c.put("job2", 1, now.Add(30*time.Minute))
	if r, ok := c.get("job2", now.Add(80*time.Minute)); !ok || r != 1 {
		t.Errorf("refreshed job2: %d %v", r, ok)
	}
}

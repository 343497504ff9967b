package region

import (
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestBreakerKeepsTheOutageClock: the region is down from its breaker
// opening until it closes; a half-open trial does not end the outage, and
// a breaker that opens again starts a new one.
func TestBreakerKeepsTheOutageClock(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := newTestRegion(t, nil)
		_, down := r.DownSince()
		require.False(t, down, "a new region is down")
		fail(t, r, 3)
		require.Equal(t, StateOpen, r.State())
		since, down := r.DownSince()
		require.True(t, down, "the breaker opened")
		assert.Equal(t, r.OpenedAt(), since)

		time.Sleep(31 * time.Second)
		require.Equal(t, StateHalfOpen, r.State())
		since, down = r.DownSince()
		require.True(t, down, "a half-open breaker ended the outage")
		assert.Equal(t, r.OpenedAt(), since)

		trial, err := r.Begin()
		require.NoError(t, err)
		trial.Finish(Verdict{Outcome: OutcomeOK, Status: 200})
		require.Equal(t, StateClosed, r.State())
		_, down = r.DownSince()
		require.False(t, down, "the breaker closed")

		time.Sleep(time.Minute)
		fail(t, r, 3)
		since, down = r.DownSince()
		require.True(t, down)
		assert.Equal(t, time.Now(), since, "a new outage starts afresh")
	})
}

// TestOutageClock: trouble starts an outage that keeps its start; a sign
// of health ends an outage that began before it, and trouble older than
// the latest sign of health starts none.
func TestOutageClock(t *testing.T) {
	r := newTestRegion(t, nil)
	t0 := time.Unix(1_700_000_000, 0)
	r.Down(t0)
	r.Down(t0.Add(30 * time.Second))
	since, down := r.DownSince()
	require.True(t, down)
	assert.Equal(t, t0, since, "the outage keeps its start")

	r.Up(t0.Add(-time.Second))
	since, down = r.DownSince()
	require.True(t, down, "health seen before the outage began ended it")
	assert.Equal(t, t0, since)

	r.Up(t0.Add(10 * time.Second)) // say, a job it accepted then
	_, down = r.DownSince()
	require.False(t, down, "a sign of health after the start ended nothing")
	r.Down(t0.Add(5 * time.Second))
	_, down = r.DownSince()
	require.False(t, down, "trouble older than the latest sign of health started an outage")

	r.Down(t0.Add(20 * time.Second))
	since, down = r.DownSince()
	require.True(t, down)
	assert.Equal(t, t0.Add(20*time.Second), since, "trouble after the latest sign of health starts an outage")
}

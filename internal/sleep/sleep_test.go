package sleep

import (
	"context"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
)

func TestForWaitsTheWholeDuration(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		start := time.Now()
		assert.NoError(t, For(t.Context(), 3*time.Second))
		assert.Equal(t, 3*time.Second, time.Since(start))
	})
}

func TestForEndsWhenTheContextIsDone(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx, cancel := context.WithTimeout(t.Context(), time.Second)
		defer cancel()
		start := time.Now()
		assert.ErrorIs(t, For(ctx, time.Hour), context.DeadlineExceeded)
		assert.Equal(t, time.Second, time.Since(start))
	})
}

func TestForWithoutADurationOnlyReportsTheContext(t *testing.T) {
	assert.NoError(t, For(t.Context(), 0))
	assert.NoError(t, For(t.Context(), -time.Second))
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	assert.ErrorIs(t, For(ctx, 0), context.Canceled)
	assert.ErrorIs(t, For(ctx, time.Hour), context.Canceled, "a done context does not wait")
}

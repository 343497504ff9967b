package inflight

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"nergateway/api"
)

func TestSlotsNeverExceedMaxUnderLoad(t *testing.T) {
	const max, clients = 4, 64
	s := NewSlots(max)
	var now, peak, ok, refused atomic.Int64
	var wg sync.WaitGroup
	for range clients {
		wg.Go(func() {
			for range 50 {
				if !s.TryAcquire() {
					refused.Add(1)
					continue
				}
				n := now.Add(1)
				for m := peak.Load(); n > m && !peak.CompareAndSwap(m, n); m = peak.Load() {
				}
				now.Add(-1)
				s.Release()
				ok.Add(1)
			}
		})
	}
	wg.Wait()
	assert.LessOrEqual(t, peak.Load(), int64(max))
	assert.Equal(t, int64(clients*50), ok.Load()+refused.Load())
	for range max {
		require.True(t, s.TryAcquire(), "every slot came back")
	}
	assert.False(t, s.TryAcquire())
}

func TestSlotsZeroMeansUnlimited(t *testing.T) {
	for _, max := range []int{0, -1} {
		s := NewSlots(max)
		for range 1000 {
			require.True(t, s.TryAcquire())
		}
		s.Release()
	}
}

func TestWriteBusyIsAzureShaped503(t *testing.T) {
	rec := httptest.NewRecorder()
	WriteBusy(rec, "The gateway is full.")
	assert.Equal(t, http.StatusServiceUnavailable, rec.Code)
	assert.Equal(t, "1", rec.Header().Get("Retry-After"))
	var body api.ErrorResponse
	require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &body))
	assert.Equal(t, api.CodeServiceUnavailable, body.Error.Code)
	assert.Contains(t, body.Error.Message, "The gateway is full.")
}

// trickle hands out its bytes a few at a time, as a slow client does.
type trickle struct {
	data []byte
	step int
}

func (t *trickle) Read(p []byte) (int, error) {
	if len(t.data) == 0 {
		return 0, io.EOF
	}
	n := copy(p[:min(len(p), t.step)], t.data)
	t.data = t.data[n:]
	return n, nil
}

func TestBufferGrowsWithArrivedBytesNeverPastLimit(t *testing.T) {
	b := NewBudget(1 << 20)
	for _, tt := range []struct {
		size, limit int
		wantCap     int
	}{
		{0, 1 << 10, 0},             // nothing arrived: nothing allocated
		{10, 1 << 20, firstChunk},   // a few bytes: the first chunk
		{8 << 10, 1 << 20, 8 << 10}, // exactly full: no doubling for EOF
		{5000, 6000, 6000},          // doubling stops at the limit
		{100 << 10, 1 << 20, 128 << 10},
	} {
		x := b.NewBuffer(int64(tt.limit), -1)
		n, err := x.ReadFrom(&trickle{data: bytes.Repeat([]byte("a"), tt.size), step: 777})
		require.NoError(t, err)
		assert.Equal(t, int64(tt.size), n)
		assert.Equal(t, tt.size, x.Len())
		assert.Equal(t, tt.wantCap, cap(x.Bytes()), "size %d limit %d", tt.size, tt.limit)
		assert.Equal(t, int64(cap(x.Bytes())), b.Used(), "the reservation is the capacity")
		x.Free()
		assert.Zero(t, b.Used())
	}
}

func TestBufferSizedByAnnouncedLengthOnlyAsBytesArrive(t *testing.T) {
	b := NewBudget(1 << 20)
	for _, tt := range []struct {
		name           string
		size, announce int
		wantCap        int
	}{
		{"as announced: one array of its size", 300, 300, 300},
		{"announced exactly the first chunk", firstChunk, firstChunk, firstChunk},
		{"announced zero", 0, 0, 0},
		{"announced megabytes, sent nothing: nothing allocated", 0, 8 << 20, 0},
		{"announced megabytes, sent a few bytes: the first chunk", 10, 8 << 20, firstChunk},
		{"more than announced: grows past the hint", 5000, 300, 8192},
	} {
		t.Run(tt.name, func(t *testing.T) {
			x := b.NewBuffer(1<<20, int64(tt.announce))
			n, err := x.ReadFrom(&trickle{data: bytes.Repeat([]byte("a"), tt.size), step: 777})
			require.NoError(t, err)
			assert.Equal(t, int64(tt.size), n)
			assert.Equal(t, tt.wantCap, cap(x.Bytes()))
			assert.Equal(t, int64(cap(x.Bytes())), b.Used(), "the reservation is the capacity")
			x.Free()
			assert.Zero(t, b.Used())
		})
	}
}

func TestBufferRefusesPastLimitAndBudget(t *testing.T) {
	b := NewBudget(128 << 10)
	x := b.NewBuffer(10<<10, -1)
	_, err := x.ReadFrom(bytes.NewReader(make([]byte, 10<<10+1)))
	assert.ErrorIs(t, err, ErrTooLarge)
	x.Free()

	held := b.NewBuffer(1<<20, -1)
	_, err = held.ReadFrom(bytes.NewReader(make([]byte, 40<<10)))
	require.NoError(t, err)
	y := b.NewBuffer(1<<20, -1)
	_, err = y.ReadFrom(bytes.NewReader(make([]byte, 40<<10)))
	assert.ErrorIs(t, err, ErrOverBudget, "the second 40 KiB does not fit 128 KiB with the first (64 KiB held, growing to 64 KiB while 32 KiB are held)")
	assert.LessOrEqual(t, b.Used(), b.Max())
	y.Free()
	held.Free()
	assert.Zero(t, b.Used())

	// A body that could not fit even into an empty budget is too large,
	// not a matter of waiting.
	z := b.NewBuffer(1<<20, -1)
	_, err = z.ReadFrom(bytes.NewReader(make([]byte, 100<<10)))
	assert.ErrorIs(t, err, ErrTooLarge)
	z.Free()
	assert.Zero(t, b.Used())
}

func TestBudgetNeverExceededUnderLoad(t *testing.T) {
	b := NewBudget(256 << 10)
	var peak atomic.Int64
	var wg sync.WaitGroup
	var refused atomic.Int64
	for range 32 {
		wg.Go(func() {
			for range 20 {
				x := b.NewBuffer(64<<10, -1)
				_, err := x.ReadFrom(&trickle{data: make([]byte, 50<<10), step: 3000})
				if errors.Is(err, ErrOverBudget) {
					refused.Add(1)
				} else {
					assert.NoError(t, err)
				}
				u := b.Used()
				for m := peak.Load(); u > m && !peak.CompareAndSwap(m, u); m = peak.Load() {
				}
				x.Free()
			}
		})
	}
	wg.Wait()
	assert.LessOrEqual(t, peak.Load(), b.Max())
	assert.Zero(t, b.Used())
}

func TestNilBudgetHasNoBound(t *testing.T) {
	var b *Budget = NewBudget(0)
	x := b.NewBuffer(1<<20, -1)
	_, err := x.ReadFrom(bytes.NewReader(make([]byte, 100<<10)))
	require.NoError(t, err)
	assert.Zero(t, b.Used())
	x.Free()
}

package proxy

import (
	"slices"
	"testing"
	"time"

	"nergateway/internal/region"

	"github.com/stretchr/testify/assert"
)

func TestSelectRegions(t *testing.T) {
	now := time.Date(2026, 11, 29, 4, 0, 0, 0, time.UTC)
	closed := regionView{State: region.StateClosed}
	open := regionView{State: region.StateOpen}
	openKnown := regionView{State: region.StateOpen, OpenUntil: now.Add(12 * time.Second)}
	halfOpen := regionView{State: region.StateHalfOpen}
	parked := func(d time.Duration) regionView {
		return regionView{State: region.StateClosed, ParkedUntil: now.Add(d)}
	}
	parkedPast := regionView{State: region.StateClosed, ParkedUntil: now.Add(-time.Second)}
	const openDefault = 10 * time.Second

	tests := []struct {
		name  string
		views []regionView
		owner int
		order []int
		wait  time.Duration
	}{
		{"both healthy: priority order", []regionView{closed, closed}, noOwner, []int{0, 1}, 0},
		{"primary open", []regionView{open, closed}, noOwner, []int{1}, 0},
		{"primary parked", []regionView{parked(5 * time.Second), closed}, noOwner, []int{1}, 0},
		{"parking over", []regionView{parkedPast, closed}, noOwner, []int{0, 1}, 0},
		{"primary half-open is skipped while a closed region exists", []regionView{halfOpen, closed}, noOwner, []int{1}, 0},
		{"half-open as last resort", []regionView{halfOpen, open}, noOwner, []int{0}, 0},
		{"both half-open: priority order", []regionView{halfOpen, halfOpen}, noOwner, []int{0, 1}, 0},
		{"half-open but parked", []regionView{{State: region.StateHalfOpen, ParkedUntil: now.Add(time.Minute)}, open}, noOwner, nil, openDefault},
		{"both open: default wait", []regionView{open, open}, noOwner, nil, openDefault},
		{"both open, one knows when", []regionView{openKnown, open}, noOwner, nil, 10 * time.Second},
		{"open with known end", []regionView{openKnown}, noOwner, nil, 12 * time.Second},
		{"earliest parking wins", []regionView{parked(40 * time.Second), parked(2500 * time.Millisecond)}, noOwner, nil, 3 * time.Second},
		{"parking under a second rounds to 1", []regionView{parked(100 * time.Millisecond), open}, noOwner, nil, time.Second},
		{"open and parked: the later", []regionView{{State: region.StateOpen, ParkedUntil: now.Add(time.Minute)}}, noOwner, nil, time.Minute},
		{"sticky: owner primary", []regionView{closed, closed}, 0, []int{0}, 0},
		{"sticky: owner secondary", []regionView{closed, closed}, 1, []int{1}, 0},
		{"sticky: owner open, no failover", []regionView{open, closed}, 0, nil, openDefault},
		{"sticky: owner parked", []regionView{closed, parked(20 * time.Second)}, 1, nil, 20 * time.Second},
		{"sticky: owner half-open is tried", []regionView{halfOpen, closed}, 0, []int{0}, 0},
		{"sticky: owner out of range", []regionView{closed}, 3, nil, time.Second},
		{"three regions, middle open", []regionView{closed, open, closed}, noOwner, []int{0, 2}, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			order, wait := selectRegions(nil, tt.views, now, tt.owner, openDefault)
			assert.True(t, slices.Equal(order, tt.order), "got %v %v, want %v %v", order, wait, tt.order, tt.wait)
			assert.Equal(t, tt.wait, wait, "got %v %v, want %v %v", order, wait, tt.order, tt.wait)
		})
	}
}

package emulator

import "maps"

// count records that a request reached route, before any fault or check,
// so a test can prove a region received (or never received) some traffic.
func (e *Emulator) count(route string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.calls[route]++
}

// Calls returns how many requests reached route since the start or the
// last ResetCalls, faulted and unauthorized ones included. Route names are
// listed in the package documentation and by RouteNames.
func (e *Emulator) Calls(route string) int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.calls[route]
}

// AllCalls returns the count of every route that was called.
func (e *Emulator) AllCalls() map[string]int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return maps.Clone(e.calls)
}

// ResetCalls sets every count back to zero.
func (e *Emulator) ResetCalls() {
	e.mu.Lock()
	defer e.mu.Unlock()
	clear(e.calls)
}

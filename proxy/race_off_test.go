//go:build !race

package proxy

// raceEnabled tells tests the race detector is on.
const raceEnabled = false

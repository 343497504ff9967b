//go:build race

package gateway

// raceEnabled says the race detector is on; the reliability report states it.
const raceEnabled = true

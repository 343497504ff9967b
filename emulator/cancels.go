package emulator

import (
	"net/http"
)

// JobCancels returns every runtime job the region holds, by id, with the
// number of cancels it accepted for it (0 for a job never cancelled). Only
// a cancel that passed the key check and named a job it holds counts, so a
// test can prove that a job was cancelled, once, with the region's key,
// and that no other job was touched.
func (e *Emulator) JobCancels() map[string]int {
	e.mu.Lock()
	defer e.mu.Unlock()
	out := make(map[string]int, len(e.jobs))
	for id, j := range e.jobs {
		out[id] = j.cancels
	}
	return out
}

// adminJobCancels serves JobCancels: GET /_emulator/jobs/cancels.
func (e *Emulator) adminJobCancels(w http.ResponseWriter, _ *http.Request) {
	adminJSON(w, http.StatusOK, e.JobCancels())
}

package emulator

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"time"
)

// adminPrefix starts every path of the test-only admin API. Admin requests
// need no key, are never faulted and are not counted.
const adminPrefix = "/_emulator/"

// maxAdminBody caps what the admin API reads (a stored document, a seed).
const maxAdminBody = 16 << 20

// AdminHandler serves only the admin API; a Server also exposes it on its
// own listener (AdminURL), which stays up while the region refuses
// connections.
func (e *Emulator) AdminHandler() http.Handler { return e.admin }

func (e *Emulator) adminHandler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("PUT /_emulator/storage/{container}/{name}", e.adminPutDocument)
	mux.HandleFunc("GET /_emulator/storage/{container}/{name}", e.adminGetDocument)
	mux.HandleFunc("GET /_emulator/faults", e.adminListFaults)
	mux.HandleFunc("POST /_emulator/faults", e.adminSetFault)
	mux.HandleFunc("DELETE /_emulator/faults", e.adminClearFaults)
	mux.HandleFunc("GET /_emulator/calls", e.adminCalls)
	mux.HandleFunc("DELETE /_emulator/calls", e.adminResetCalls)
	mux.HandleFunc("GET /_emulator/jobs/cancels", e.adminJobCancels)
	mux.HandleFunc("POST /_emulator/clock/advance", e.adminAdvanceClock)
	mux.HandleFunc("POST /_emulator/seed", e.adminSeed)
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		adminError(w, http.StatusNotFound, "no such admin call: "+r.Method+" "+r.URL.Path)
	})
	return mux
}

func adminJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func adminError(w http.ResponseWriter, status int, msg string) {
	adminJSON(w, status, map[string]any{"error": map[string]string{"code": http.StatusText(status), "message": msg}})
}

func readAdminBody(w http.ResponseWriter, r *http.Request) ([]byte, bool) {
	b, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxAdminBody))
	if err != nil {
		adminError(w, http.StatusBadRequest, "reading body: "+err.Error())
		return nil, false
	}
	return b, true
}

func (e *Emulator) adminPutDocument(w http.ResponseWriter, r *http.Request) {
	b, ok := readAdminBody(w, r)
	if !ok {
		return
	}
	e.PutDocument(r.PathValue("container"), r.PathValue("name"), string(b))
	w.WriteHeader(http.StatusNoContent)
}

func (e *Emulator) adminGetDocument(w http.ResponseWriter, r *http.Request) {
	text, ok := e.Document(r.PathValue("container"), r.PathValue("name"))
	if !ok {
		adminError(w, http.StatusNotFound, "no such document")
		return
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	_, _ = io.WriteString(w, text)
}

func (e *Emulator) adminListFaults(w http.ResponseWriter, _ *http.Request) {
	adminJSON(w, http.StatusOK, e.Faults())
}

func (e *Emulator) adminSetFault(w http.ResponseWriter, r *http.Request) {
	b, ok := readAdminBody(w, r)
	if !ok {
		return
	}
	var f Fault
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&f); err != nil {
		adminError(w, http.StatusBadRequest, "fault: "+err.Error())
		return
	}
	if err := f.Validate(); err != nil {
		adminError(w, http.StatusBadRequest, err.Error())
		return
	}
	e.SetFault(f)
	adminJSON(w, http.StatusOK, e.Faults())
}

func (e *Emulator) adminClearFaults(w http.ResponseWriter, _ *http.Request) {
	e.ClearFaults()
	w.WriteHeader(http.StatusNoContent)
}

func (e *Emulator) adminCalls(w http.ResponseWriter, _ *http.Request) {
	adminJSON(w, http.StatusOK, e.AllCalls())
}

func (e *Emulator) adminResetCalls(w http.ResponseWriter, _ *http.Request) {
	e.ResetCalls()
	w.WriteHeader(http.StatusNoContent)
}

// adminAdvanceClock moves a ManualClock: POST /_emulator/clock/advance?d=5s.
func (e *Emulator) adminAdvanceClock(w http.ResponseWriter, r *http.Request) {
	mc, ok := e.clock.(*ManualClock)
	if !ok {
		adminError(w, http.StatusConflict, "the emulator runs on real time; start it with a ManualClock")
		return
	}
	d, err := time.ParseDuration(r.URL.Query().Get("d"))
	if err != nil || d < 0 {
		adminError(w, http.StatusBadRequest, "d must be a non-negative duration such as 5s")
		return
	}
	mc.Advance(d)
	adminJSON(w, http.StatusOK, map[string]time.Time{"now": mc.Now().UTC()})
}

// adminSeed is Seed over HTTP, for compose and manual testing.
func (e *Emulator) adminSeed(w http.ResponseWriter, r *http.Request) {
	b, ok := readAdminBody(w, r)
	if !ok {
		return
	}
	var sp SeedProject
	if err := json.Unmarshal(b, &sp); err != nil {
		adminError(w, http.StatusBadRequest, "seed: "+err.Error())
		return
	}
	if err := e.Seed(sp); err != nil {
		adminError(w, http.StatusBadRequest, err.Error())
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

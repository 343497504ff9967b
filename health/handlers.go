package health

import (
	"encoding/json"
	"net/http"
	"strings"
	"sync/atomic"
	"time"

	"nergateway/internal/region"
)

// RegionStatus is what the handlers need of a region.
type RegionStatus interface {
	Name() string
	State() region.State
	// CredentialUp reports whether the gateway can authorize calls to the
	// region now (always, with a key; while a valid token is held, with
	// Entra ID).
	CredentialUp() bool
	Status() region.Status
}

// Checker answers /healthz, /readyz and /status. R and J are the types of
// /status's replication and jobRescue sections, which the wiring defines
// (health knows neither part).
type Checker[R, J any] struct {
	regions     []RegionStatus
	build       Build
	replication func() R
	jobRescue   func() J
	draining    atomic.Bool
	started     time.Time
}

// Build is /status's "build": the version that runs, so an operator sees
// what runs where.
type Build struct {
	Version   string `json:"version"`
	Revision  string `json:"revision,omitempty"`
	GoVersion string `json:"goVersion"`
}

// NewChecker builds the handlers' state: regions for readiness and
// /status, build for /status's build (omitted when zero), and replication
// and jobRescue, which report those parts for /status (nil reports their
// zero value).
func NewChecker[R, J any](regions []RegionStatus, build Build, replication func() R, jobRescue func() J) *Checker[R, J] {
	return &Checker[R, J]{regions: regions, build: build, replication: replication, jobRescue: jobRescue, started: time.Now().UTC()}
}

// Drain makes /readyz answer 503 so load balancers stop sending new
// requests while in-flight ones finish.
func (c *Checker[R, J]) Drain() { c.draining.Store(true) }

// Draining reports whether Drain was called: the server then switches
// keep-alives off.
func (c *Checker[R, J]) Draining() bool { return c.draining.Load() }

// Ready reports whether the gateway should receive traffic: not draining,
// and at least one region with its breaker not open and a credential the
// gateway can authorize calls with. A region whose credential is missing
// (its token expired unrenewed) is the gateway's own failure, not the
// region's: readiness says so, steadily, and turns back the moment a token
// is held again, with no probe needed.
func (c *Checker[R, J]) Ready() (bool, string) {
	if c.draining.Load() {
		return false, "draining"
	}
	var noCredential []string
	for _, r := range c.regions {
		switch {
		case !r.CredentialUp():
			noCredential = append(noCredential, r.Name())
		case r.State() != region.StateOpen:
			return true, "ok"
		}
	}
	if len(noCredential) > 0 {
		return false, "no region can take traffic: the gateway holds no valid credential for " + strings.Join(noCredential, ", ")
	}
	return false, "no region can take traffic"
}

// HandleHealthz answers 200 while the process serves.
func (c *Checker[R, J]) HandleHealthz() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	})
}

// HandleReadyz answers 200 while at least one region can take traffic and
// the gateway is not draining, else 503.
func (c *Checker[R, J]) HandleReadyz() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ok, why := c.Ready()
		status := http.StatusOK
		if !ok {
			status = http.StatusServiceUnavailable
		}
		writeJSON(w, status, map[string]string{"status": why})
	})
}

// StatusReport is the body of /status. It holds no keys and no hostnames.
type StatusReport[R, J any] struct {
	Ready       bool            `json:"ready"`
	Draining    bool            `json:"draining"`
	StartedAt   time.Time       `json:"startedAt"`
	Build       Build           `json:"build,omitzero"`
	Regions     []region.Status `json:"regions"`
	Replication R               `json:"replication"`
	JobRescue   J               `json:"jobRescue"`
}

// Report assembles the current status.
func (c *Checker[R, J]) Report() StatusReport[R, J] {
	ready, _ := c.Ready()
	rep := StatusReport[R, J]{Ready: ready, Draining: c.draining.Load(), StartedAt: c.started, Build: c.build}
	for _, r := range c.regions {
		rep.Regions = append(rep.Regions, r.Status())
	}
	if c.replication != nil {
		rep.Replication = c.replication()
	}
	if c.jobRescue != nil {
		rep.JobRescue = c.jobRescue()
	}
	return rep
}

// HandleStatus serves the JSON status report.
func (c *Checker[R, J]) HandleStatus() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, c.Report())
	})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v)
}

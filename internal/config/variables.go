package config

import (
	"cmp"
	"slices"
	"sort"
	"strings"
)

// Feature is a part of the gateway that a process runs: which workload of
// a deployment needs a variable follows from it (deployments' kit test).
type Feature string

const (
	// FeatureCommon variables are read by every command: the regions, their
	// credentials, the transport, logging, telemetry.
	FeatureCommon Feature = "common"
	// FeatureServe variables are read by the serving gateway (`gateway`):
	// listeners, client keys, limits, breakers, probes, job rescue.
	FeatureServe Feature = "serve"
	// FeatureReplication variables are read by the replication worker:
	// `gateway replicate --once`, and `gateway` unless
	// REPLICATION_ENABLED=false.
	FeatureReplication Feature = "replication"
	// FeatureProcess variables tune the one process that sets them (the Go
	// runtime's): no other workload needs the same.
	FeatureProcess Feature = "process"
)

// Variable is one environment variable the gateway's process reads.
type Variable struct {
	// Name is the variable; with Prefix, every variable that starts with it
	// (a library's namespace, such as OTEL_).
	Name   string
	Prefix bool
	// Feature is the part of the gateway that needs it.
	Feature Feature
	// ReadBy is what reads it: internal/config (its environment struct's
	// tags), or the library or runtime that reads the process environment
	// itself.
	ReadBy string
}

// serveOnly and replicationOnly name the configuration's variables that
// one part of the gateway reads; every other one is FeatureCommon, so a new
// one is needed everywhere until it is listed here.
var (
	serveOnly = []string{
		"GATEWAY_ADDR", "GATEWAY_OPS_ADDR", "GATEWAY_ACCESS_LOG", "GATEWAY_ACCESS_LOG_SAMPLE", "GATEWAY_PPROF",
		"GATEWAY_AUTHORING_KEYS", "GATEWAY_AUTHORING_KEYS_FILE", "GATEWAY_ADMIN_KEY", "GATEWAY_ADMIN_KEY_FILE",
		"GATEWAY_PUBLIC_URL", "GATEWAY_TRUST_FORWARDED_HEADERS", "GATEWAY_DRAIN_TIMEOUT", "GATEWAY_DRAIN_DELAY",
		"GATEWAY_RATE_LIMIT_PER_MINUTE", "GATEWAY_MAX_INFLIGHT", "GATEWAY_MAX_BUFFERED_BYTES", "GATEWAY_BODY_TIMEOUT",
		"REGION_MAX_PARK", "BREAKER_CONSECUTIVE_FAILURES", "BREAKER_OPEN_TIMEOUT", "HEALTH_PROBE_INTERVAL",
		"MAX_REQUEST_BYTES", "REPLICATION_ENABLED", "SUBMIT_ORPHAN_WAIT",
		"JOB_RESCUE", "JOB_RESCUE_KEY", "JOB_RESCUE_AFTER", "JOB_RESCUE_TTL", "JOB_RESCUE_TIMEOUT", "JOB_RESCUE_MAX_BYTES",
	}
	replicationOnly = []string{
		"PROJECT_NAMES", "REPLICATION_INTERVAL", "REPLICATION_RETRY_MIN", "AUTHORING_POSTS_PER_MINUTE",
		"PRIMARY_CONTAINER_NAME", "SECONDARY_CONTAINER_NAME",
		"PRIMARY_STORAGE_URL", "SECONDARY_STORAGE_URL", "PRIMARY_STORAGE_KEY", "SECONDARY_STORAGE_KEY",
		"DOCUMENT_SYNC", "REPLICATION_CANARY_DOCS", "REPLICATION_CANARY_FILE", "REPLICATION_CANARY_MIN_AGREEMENT",
	}
)

const readByConfig = "internal/config"

// external are the variables read outside the configuration, by the libraries and the
// runtime the gateway runs on.
var external = slices.Concat(
	[]Variable{
		{Name: "OTEL_", Prefix: true, Feature: FeatureCommon, ReadBy: "internal/telemetry (OpenTelemetry's variables)"},
		{Name: "AZURE_", Prefix: true, Feature: FeatureCommon, ReadBy: "azidentity (PRIMARY_AUTH/SECONDARY_AUTH=entra, storage without key or SAS)"},
	},
	readBy("net/http", FeatureCommon, "HTTPS_PROXY", "HTTP_PROXY", "NO_PROXY", "https_proxy", "http_proxy", "no_proxy"),
	readBy("crypto/x509", FeatureCommon, "SSL_CERT_FILE", "SSL_CERT_DIR"),
	readBy("the Go runtime", FeatureProcess, "GOMEMLIMIT", "GOGC", "GOMAXPROCS", "GODEBUG", "GOTRACEBACK"),
)

// readBy lists variables that one library or the runtime reads for one
// feature.
func readBy(reader string, f Feature, names ...string) []Variable {
	out := make([]Variable, len(names))
	for i, n := range names {
		out[i] = Variable{Name: n, Feature: f, ReadBy: reader}
	}
	return out
}

// Known lists every variable the gateway's process reads: the
// configuration's (from environment's tags, so a new field is known the
// moment it exists) and those read
// by libraries and the runtime. It is the one list the unknown-variable
// warnings and the deployment kit's checks use.
func Known() []Variable {
	feature := map[string]Feature{}
	for _, n := range serveOnly {
		feature[n] = FeatureServe
	}
	for _, n := range replicationOnly {
		feature[n] = FeatureReplication
	}
	var out []Variable
	for _, n := range Variables() {
		out = append(out, Variable{Name: n, Feature: cmp.Or(feature[n], FeatureCommon), ReadBy: readByConfig})
	}
	return append(out, external...)
}

// Lookup returns the known variable name is, or the namespace it is in.
func Lookup(name string) (Variable, bool) {
	for _, v := range Known() {
		if v.Name == name || v.Prefix && strings.HasPrefix(name, v.Name) {
			return v, true
		}
	}
	return Variable{}, false
}

// ownPrefixes begin the gateway's own variables: a variable with one of
// them that is not known is misspelt or stale. LOG_, MAX_ and JOB_ are
// left out: other programs use them.
var ownPrefixes = []string{
	"GATEWAY_", "PRIMARY_", "SECONDARY_", "REPLICATION_", "JOB_RESCUE_", "PROJECT_", "DOCUMENT_",
	"UPSTREAM_", "BREAKER_", "AUTHORING_", "REGION_", "HEALTH_PROBE_",
}

// UnknownVariables returns, one line each, the names among names that look
// meant for the gateway but that nothing in it reads: those with one of
// its prefixes (GATEWAY_, PRIMARY_, SECONDARY_, REPLICATION_, JOB_RESCUE_,
// PROJECT_, DOCUMENT_, UPSTREAM_, BREAKER_, AUTHORING_, REGION_,
// HEALTH_PROBE_) and those within two edits of one of the configuration's variables
// or the Go runtime's (one for names of 4 to 7 letters, so GOOS is not
// taken for GOGC; case counts as no edit), with the nearest of those.
// Only names: a value may be a secret.
func UnknownVariables(names []string) []string {
	// Names near the proxy and TLS variables are left alone: GOPROXY is two
	// edits from NO_PROXY.
	var known []string
	for _, v := range Known() {
		if v.ReadBy == readByConfig || v.Feature == FeatureProcess {
			known = append(known, v.Name)
		}
	}
	var out []string
	for _, n := range names {
		if _, ok := Lookup(n); ok {
			continue
		}
		upper := strings.ToUpper(n)
		near := closest(upper, known)
		ours := slices.ContainsFunc(ownPrefixes, func(p string) bool { return strings.HasPrefix(upper, p) })
		if !ours && near == "" {
			continue
		}
		line := n + ": not a variable the gateway reads"
		if near != "" {
			line += " (did you mean " + near + "?)"
		}
		out = append(out, line)
	}
	sort.Strings(out)
	return out
}

// closest is the known name nearest to n, if one is within its edit
// budget: two edits, one for a name of 4 to 7 letters, none below.
func closest(n string, known []string) string {
	best, bestDist := "", -1
	for _, k := range known {
		d := editDistance(n, k)
		if d <= min(2, len(k)/4) && (bestDist < 0 || d < bestDist) {
			best, bestDist = k, d
		}
	}
	return best
}

// editDistance is the Levenshtein distance of a and b, in bytes (variable
// names are ASCII).
func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

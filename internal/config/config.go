// Package config reads the gateway's environment variables (docs/DESIGN.md,
// "Configuration") into one validated Config. Bad configuration is reported
// as one clear line per problem, so an operator fixes everything in one go.
package config

import (
	"encoding/base64"
	"errors"
	"fmt"
	"net"
	"net/url"
	"reflect"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/caarlos0/env/v11"

	"nergateway/api"
	"nergateway/internal/auth"
	"nergateway/internal/sealkey"
	"nergateway/internal/secret"
)

// Config is every setting of the gateway, validated by Load. A tagged field
// holds its variable's value as read (tags name the variables and their
// defaults; docs/DESIGN.md's table is the contract); the others are derived
// from variables that only environment holds.
type Config struct {
	Addr string `env:"GATEWAY_ADDR" envDefault:":8080"`
	// OpsAddr is the operations listener (/metrics, /status, /admin/...,
	// /debug/pprof/): a port apart from the clients' so a network policy
	// can keep applications off it.
	OpsAddr string `env:"GATEWAY_OPS_ADDR" envDefault:":9090"`
	// AccessLog writes one line per client request (internal/accesslog);
	// AccessLogSample is the fraction of successful ones kept (failures and
	// failovers are always logged).
	AccessLog       bool    `env:"GATEWAY_ACCESS_LOG" envDefault:"true"`
	AccessLogSample float64 `env:"GATEWAY_ACCESS_LOG_SAMPLE" envDefault:"1"`
	// Pprof serves /debug/pprof/ on the ops listener.
	Pprof bool `env:"GATEWAY_PPROF" envDefault:"false"`
	// Key files, each line "name:key" or a bare key (internal/auth), which
	// the gateway re-reads while it serves; a scope comes from its file or
	// from its variable (APIKeys, AuthoringKeys, AdminKeys), not both.
	APIKeysFile       string        `env:"GATEWAY_API_KEYS_FILE"`
	AuthoringKeysFile string        `env:"GATEWAY_AUTHORING_KEYS_FILE"`
	AdminKeyFile      string        `env:"GATEWAY_ADMIN_KEY_FILE"`
	TrustForwarded    bool          `env:"GATEWAY_TRUST_FORWARDED_HEADERS" envDefault:"false"`
	DrainTimeout      time.Duration `env:"GATEWAY_DRAIN_TIMEOUT" envDefault:"25s"`
	LogFormat         string        `env:"LOG_FORMAT" envDefault:"json"`
	LogLevel          string        `env:"LOG_LEVEL" envDefault:"info"`
	UpstreamCAFile    string        `env:"UPSTREAM_CA_FILE"`
	RateLimitPerKey   int           `env:"GATEWAY_RATE_LIMIT_PER_MINUTE" envDefault:"0"`

	// DrainDelay keeps accepting after SIGTERM, with /readyz answering
	// 503, so load balancers stop sending before the listener closes.
	DrainDelay time.Duration `env:"GATEWAY_DRAIN_DELAY" envDefault:"0s"`
	// MaxInflight bounds concurrent /language/ requests (each buffers its
	// body and its region's answer): 503 with Retry-After beyond it.
	MaxInflight int `env:"GATEWAY_MAX_INFLIGHT" envDefault:"1024"`
	// MaxBufferedBytes bounds every buffered request and response body
	// together: 503 with Retry-After beyond it, never an OOM. The soft
	// memory limit (MemoryLimit) and the Kubernetes memory limit follow it.
	MaxBufferedBytes ByteSize `env:"GATEWAY_MAX_BUFFERED_BYTES" envDefault:"128MiB"`
	// BodyTimeout bounds the arrival of a request body (408 after it); the
	// in-flight slot is taken only once the body is in.
	BodyTimeout time.Duration `env:"GATEWAY_BODY_TIMEOUT" envDefault:"10s"`
	// RegionMaxPark caps how long a 429 parks a region's quota scope,
	// whatever its Retry-After says.
	RegionMaxPark time.Duration `env:"REGION_MAX_PARK" envDefault:"60s"`

	PrimaryName string        `env:"PRIMARY_NAME" envDefault:"primary"`
	PrimaryKey  secret.Secret `env:"PRIMARY_RESOURCE_KEY"`
	// PrimaryAuth is how the gateway authenticates to the primary: AuthKey
	// (PRIMARY_RESOURCE_KEY) or AuthEntra (Microsoft Entra ID tokens).
	PrimaryAuth        string        `env:"PRIMARY_AUTH" envDefault:"key"`
	PrimaryContainer   string        `env:"PRIMARY_CONTAINER_NAME"`
	SecondaryName      string        `env:"SECONDARY_NAME" envDefault:"secondary"`
	SecondaryKey       secret.Secret `env:"SECONDARY_RESOURCE_KEY"`
	SecondaryAuth      string        `env:"SECONDARY_AUTH" envDefault:"key"`
	SecondaryContainer string        `env:"SECONDARY_CONTAINER_NAME"`

	// Projects are the projects replication keeps in the secondary, blanks
	// dropped.
	Projects []string `env:"PROJECT_NAMES" envSeparator:","`

	ReplicationInterval  time.Duration `env:"REPLICATION_INTERVAL" envDefault:"24h"`
	ReplicationRetryMin  time.Duration `env:"REPLICATION_RETRY_MIN" envDefault:"1m"`
	ReplicationEnabled   bool          `env:"REPLICATION_ENABLED" envDefault:"true"`
	AuthoringAPIVersion  string        `env:"AUTHORING_API_VERSION" envDefault:"2022-05-01"`
	AuthoringPostsPerMin int           `env:"AUTHORING_POSTS_PER_MINUTE" envDefault:"10"`

	UpstreamTimeout     time.Duration `env:"UPSTREAM_TIMEOUT" envDefault:"10s"`
	BreakerFailures     uint32        `env:"BREAKER_CONSECUTIVE_FAILURES" envDefault:"5"`
	BreakerOpenTimeout  time.Duration `env:"BREAKER_OPEN_TIMEOUT" envDefault:"30s"`
	HealthProbeInterval time.Duration `env:"HEALTH_PROBE_INTERVAL" envDefault:"10s"`
	MaxRequestBytes     ByteSize      `env:"MAX_REQUEST_BYTES" envDefault:"8MiB"`

	// SubmitOrphanWait is how long a submit attempt given up on is still
	// followed, so that a job the region creates anyway is cancelled.
	SubmitOrphanWait time.Duration `env:"SUBMIT_ORPHAN_WAIT" envDefault:"60s"`

	// Training documents and the canary of replication. A storage URL may
	// carry a SAS, so it is kept like a key.
	PrimaryStorageURL   secret.Secret `env:"PRIMARY_STORAGE_URL"`
	SecondaryStorageURL secret.Secret `env:"SECONDARY_STORAGE_URL"`
	PrimaryStorageKey   secret.Secret `env:"PRIMARY_STORAGE_KEY"`
	SecondaryStorageKey secret.Secret `env:"SECONDARY_STORAGE_KEY"`
	// DocumentSync is off, verify or copy; empty means copy when both
	// storage URLs are set, else off.
	DocumentSync       string  `env:"DOCUMENT_SYNC"`
	CanaryDocs         int     `env:"REPLICATION_CANARY_DOCS" envDefault:"5"`
	CanaryFile         string  `env:"REPLICATION_CANARY_FILE"`
	CanaryMinAgreement float64 `env:"REPLICATION_CANARY_MIN_AGREEMENT" envDefault:"0.9"`

	// JobRescue keeps accepted jobs so that one whose region died runs
	// again elsewhere: off, memory, or a redis:// / rediss:// URL (a
	// Secret: the URL may hold a password).
	JobRescue      secret.Secret `env:"JOB_RESCUE" envDefault:"off"`
	JobRescueAfter time.Duration `env:"JOB_RESCUE_AFTER" envDefault:"60s"`
	JobRescueTTL   time.Duration `env:"JOB_RESCUE_TTL" envDefault:"24h"`
	// JobRescueTimeout bounds one store call: what a slow store can add to
	// a submit or a poll.
	JobRescueTimeout time.Duration `env:"JOB_RESCUE_TIMEOUT" envDefault:"100ms"`
	// JobRescueMaxBytes bounds the sealed bodies the store keeps: all of
	// them in memory (the oldest go first), each one in Redis.
	JobRescueMaxBytes ByteSize `env:"JOB_RESCUE_MAX_BYTES" envDefault:"64MiB"`

	// Derived by Load from environment's variables (named in comments).

	// APIKeys may call the runtime routes (GATEWAY_API_KEYS).
	APIKeys []auth.Key `env:"-"`
	// AuthoringKeys may call the runtime and authoring routes
	// (GATEWAY_AUTHORING_KEYS); none: authoring off.
	AuthoringKeys []auth.Key `env:"-"`
	// AdminKeys may call /admin/... (GATEWAY_ADMIN_KEY); none: admin API off.
	AdminKeys []auth.Key `env:"-"`
	// KeyScopes is the three scopes above, runtime first, each with its
	// variables and key file: the one list the wiring builds (and
	// watches) the scopes' key sets from.
	KeyScopes []KeyScope `env:"-"`
	// PublicURL is the gateway's base URL as clients reach it
	// (GATEWAY_PUBLIC_URL); nil: the request's scheme and host.
	PublicURL *url.URL `env:"-"`
	// PrimaryEndpoint and SecondaryEndpoint are the regions'
	// (PRIMARY_ENDPOINT, SECONDARY_ENDPOINT), without a trailing slash.
	PrimaryEndpoint   *url.URL `env:"-"`
	SecondaryEndpoint *url.URL `env:"-"`
	// ProjectNames and DeploymentNames map a primary's names to the
	// secondary's (SECONDARY_PROJECT_NAMES, SECONDARY_DEPLOYMENT_NAMES).
	ProjectNames    map[string]string `env:"-"`
	DeploymentNames map[string]string `env:"-"`
	// JobRescueKeys are JOB_RESCUE_KEY decoded (first seals, all open);
	// nil when rescue is off.
	JobRescueKeys [][]byte `env:"-"`
}

// environment is every variable the gateway reads, as the env library
// parses it: Config's own, and the raw forms of the settings Load derives,
// which only Load sees. Its tags are the one list of variable names
// (Variables, Known, the docs' tables).
type environment struct {
	Config

	// Gateway keys, each "name:key" or a bare key (internal/auth).
	APIKeys       []secret.Secret `env:"GATEWAY_API_KEYS" envSeparator:","`
	AuthoringKeys []secret.Secret `env:"GATEWAY_AUTHORING_KEYS" envSeparator:","`
	AdminKey      secret.Secret   `env:"GATEWAY_ADMIN_KEY"`

	PublicURL         string `env:"GATEWAY_PUBLIC_URL"`
	PrimaryEndpoint   string `env:"PRIMARY_ENDPOINT,required"`
	SecondaryEndpoint string `env:"SECONDARY_ENDPOINT,required"`
	ProjectNames      string `env:"SECONDARY_PROJECT_NAMES"`
	DeploymentNames   string `env:"SECONDARY_DEPLOYMENT_NAMES"`

	JobRescueKey secret.Secret `env:"JOB_RESCUE_KEY"`
}

// JOB_RESCUE's plain values: rescue off (the default), or kept in this
// process's memory. Any other value is a Redis URL.
const (
	rescueOff    = "off"
	rescueMemory = "memory"
)

// checkRescueBackend checks a JOB_RESCUE value that turns rescue on:
// "memory", or a redis:// or rediss:// URL with a numeric database, as
// rescue.Open (the store, which config does not link) accepts them. Errors
// never quote the URL (it may hold a password).
func checkRescueBackend(raw secret.Secret) error {
	v := raw.Reveal()
	if v == rescueMemory {
		return nil
	}
	if !strings.HasPrefix(v, "redis://") && !strings.HasPrefix(v, "rediss://") {
		return errors.New("must be off, memory, or a redis:// or rediss:// URL")
	}
	u, err := url.Parse(v)
	if err != nil {
		return errors.New("is not a valid redis:// or rediss:// URL")
	}
	if db := strings.Trim(u.Path, "/"); db != "" {
		if _, err := strconv.Atoi(db); err != nil {
			return errors.New("is not a valid redis:// or rediss:// URL: the path is not a database number")
		}
	}
	return nil
}

// RescueOn reports whether JOB_RESCUE turns job rescue on.
func (c *Config) RescueOn() bool { return c.JobRescue.Reveal() != rescueOff }

// MemoryAllowance is what the soft memory limit leaves for everything but
// buffered bodies and kept jobs: the runtime, goroutine stacks,
// connections, telemetry and the collector's slack. Peak RSS under the
// attacks of docs/reliability.md stays within the budget plus 96 MiB with it.
const MemoryAllowance = 64 << 20

// MemoryLimit is the soft memory limit the gateway gives the Go runtime
// when GOMEMLIMIT is not set: the byte budget (GATEWAY_MAX_BUFFERED_BYTES),
// the bodies job rescue keeps in this process (JOB_RESCUE_MAX_BYTES, with
// JOB_RESCUE=memory only) and MemoryAllowance. It is the one rule that
// sizes memory; the Kubernetes memory limit is set above it.
func (c *Config) MemoryLimit() int64 {
	limit := int64(c.MaxBufferedBytes) + MemoryAllowance
	if c.JobRescue.Reveal() == rescueMemory {
		limit += int64(c.JobRescueMaxBytes)
	}
	return limit
}

// Variables lists every variable name the configuration reads, from
// environment's tags; Known adds those that libraries and the runtime read
// (OTEL_*, AZURE_*, ...).
func Variables() []string {
	params, err := env.GetFieldParams(&environment{})
	if err != nil {
		panic(fmt.Sprintf("config: bad struct tags: %v", err)) // a programming error, caught by tests
	}
	names := make([]string, 0, len(params))
	for _, p := range params {
		names = append(names, p.Key)
	}
	sort.Strings(names)
	return names
}

// Load reads the configuration through getenv. Variables set to the empty
// string count as unset. The error, if any, has one line per problem.
func Load(getenv func(string) string) (*Config, error) {
	environ := map[string]string{}
	for _, name := range Variables() {
		if v := strings.TrimSpace(getenv(name)); v != "" {
			environ[name] = v
		}
	}
	var e environment
	ck := &checks{failed: map[string]bool{}}
	if err := env.ParseWithOptions(&e, env.Options{Environment: environ}); err != nil {
		var agg env.AggregateError
		if !errors.As(err, &agg) {
			return nil, fmt.Errorf("invalid configuration: %w", err)
		}
		for _, err := range agg.Errors {
			name, msg := describe(err)
			ck.failed[name] = true
			ck.problems = append(ck.problems, errors.New(msg))
		}
	}
	e.derive(ck)
	if len(ck.problems) > 0 {
		return nil, fmt.Errorf("invalid configuration:\n%w", errors.Join(ck.problems...))
	}
	return &e.Config, nil
}

// describe turns one error of the env library into a line that names the
// variable (not the Go field) and never repeats the value of a key.
func describe(err error) (variable, line string) {
	var unset env.EnvVarIsNotSetError
	var parse env.ParseError
	switch {
	case errors.As(err, &unset):
		return unset.Key, unset.Key + ": required but not set"
	case errors.As(err, &parse):
		name := parse.Name
		if f, ok := reflect.TypeOf(environment{}).FieldByName(parse.Name); ok {
			name, _, _ = strings.Cut(f.Tag.Get("env"), ",")
		}
		return name, fmt.Sprintf("%s: %v", name, parse.Err)
	}
	return "", strings.TrimPrefix(err.Error(), "env: ")
}

// checks collects Load's problems, one line each. A line starts with the
// variable it is about; a variable the env library could not parse
// (failed) is not reported again.
type checks struct {
	failed   map[string]bool
	problems []error
}

func (ck *checks) add(format string, a ...any) {
	line := fmt.Sprintf(format, a...)
	if name, _, _ := strings.Cut(line, ":"); !ck.failed[name] {
		ck.problems = append(ck.problems, errors.New(line))
	}
}

// derive checks what the env library parsed and fills Config's derived
// fields, a step for each part of the gateway.
func (e *environment) derive(ck *checks) {
	e.deriveURLs(ck)
	e.deriveKeys(ck)
	e.checkRegions(ck)
	e.checkListeners(ck)
	e.checkDurations(ck)
	e.deriveDocuments(ck)
	e.deriveRescue(ck)
	e.checkLimits(ck)
	e.checkLogging(ck)
}

// deriveURLs parses the regions' endpoints, the gateway's public URL and
// the maps of the secondary's project and deployment names.
func (e *environment) deriveURLs(ck *checks) {
	var err error
	for _, u := range []struct {
		name string
		raw  string
		dst  **url.URL
	}{
		{"PRIMARY_ENDPOINT", e.PrimaryEndpoint, &e.Config.PrimaryEndpoint},
		{"SECONDARY_ENDPOINT", e.SecondaryEndpoint, &e.Config.SecondaryEndpoint},
		{"GATEWAY_PUBLIC_URL", e.PublicURL, &e.Config.PublicURL},
	} {
		if u.raw == "" {
			continue
		}
		if *u.dst, err = api.ParseEndpoint(u.raw); err != nil {
			ck.add("%s: %v", u.name, err)
		}
	}
	if e.Config.ProjectNames, err = parseNameMap(e.ProjectNames); err != nil {
		ck.add("SECONDARY_PROJECT_NAMES: %v", err)
	}
	if e.Config.DeploymentNames, err = parseNameMap(e.DeploymentNames); err != nil {
		ck.add("SECONDARY_DEPLOYMENT_NAMES: %v", err)
	}
}

// The gateway's key scopes, as logs and KeyScope name them.
const (
	ScopeRuntime   = "runtime"
	ScopeAuthoring = "authoring"
	ScopeAdmin     = "admin"
)

// KeyScope is one scope of gateway keys as configured: the keys set in its
// variable, or the file the gateway reads them from (never both).
type KeyScope struct {
	// Name is ScopeRuntime, ScopeAuthoring or ScopeAdmin.
	Name string
	// Variable and FileVariable are the scope's two variables, for
	// messages.
	Variable, FileVariable string
	// Keys are Variable's keys; File is FileVariable's path.
	Keys []auth.Key
	File string
}

// deriveKeys parses the gateway keys of each scope: from its variable or
// from its file (read by the gateway), not both; the runtime scope needs one.
func (e *environment) deriveKeys(ck *checks) {
	if len(e.APIKeys) == 0 && e.APIKeysFile == "" {
		ck.add("GATEWAY_API_KEYS: required but not set (or GATEWAY_API_KEYS_FILE)")
	}
	for _, s := range []struct {
		scope   KeyScope
		entries []secret.Secret
		keys    *[]auth.Key
	}{
		{KeyScope{Name: ScopeRuntime, Variable: "GATEWAY_API_KEYS", FileVariable: "GATEWAY_API_KEYS_FILE", File: e.APIKeysFile},
			e.APIKeys, &e.Config.APIKeys},
		{KeyScope{Name: ScopeAuthoring, Variable: "GATEWAY_AUTHORING_KEYS", FileVariable: "GATEWAY_AUTHORING_KEYS_FILE", File: e.AuthoringKeysFile},
			e.AuthoringKeys, &e.Config.AuthoringKeys},
		{KeyScope{Name: ScopeAdmin, Variable: "GATEWAY_ADMIN_KEY", FileVariable: "GATEWAY_ADMIN_KEY_FILE", File: e.AdminKeyFile},
			nonEmpty(e.AdminKey), &e.Config.AdminKeys},
	} {
		if len(s.entries) > 0 && s.scope.File != "" {
			ck.add("%s: set it or %s, not both", s.scope.Variable, s.scope.FileVariable)
		}
		var err error
		if *s.keys, err = auth.ParseKeys(s.entries); err != nil {
			ck.add("%s: %v", s.scope.Variable, strings.ReplaceAll(err.Error(), "\n", "; "))
		}
		s.scope.Keys = *s.keys
		e.Config.KeyScopes = append(e.Config.KeyScopes, s.scope)
	}
}

// checkRegions checks the projects, how the gateway authenticates to each
// region, and that the two regions have names of their own.
func (e *environment) checkRegions(ck *checks) {
	projects := e.Projects[:0]
	for _, p := range e.Projects {
		if p = strings.TrimSpace(p); p != "" {
			if !validName(p) {
				ck.add("PROJECT_NAMES: %q is not a valid project name (letters, digits, _ . -, at most 50)", p)
			}
			projects = append(projects, p)
		}
	}
	e.Projects = projects
	for _, r := range []struct {
		authVar, keyVar, auth string
		key                   secret.Secret
	}{
		{"PRIMARY_AUTH", "PRIMARY_RESOURCE_KEY", e.PrimaryAuth, e.PrimaryKey},
		{"SECONDARY_AUTH", "SECONDARY_RESOURCE_KEY", e.SecondaryAuth, e.SecondaryKey},
	} {
		switch r.auth {
		case AuthKey:
			if r.key.Reveal() == "" {
				ck.add("%s: required but not set (or %s=entra)", r.keyVar, r.authVar)
			}
		case AuthEntra:
		default:
			ck.add("%s: %q is neither key nor entra", r.authVar, r.auth)
		}
	}
	if e.PrimaryName == e.SecondaryName {
		ck.add("PRIMARY_NAME and SECONDARY_NAME must differ (both %q)", e.PrimaryName)
	}
}

// checkListeners checks the two listeners and the access log's sampling.
func (e *environment) checkListeners(ck *checks) {
	if e.AccessLogSample < 0 || e.AccessLogSample > 1 || e.AccessLogSample != e.AccessLogSample {
		ck.add("GATEWAY_ACCESS_LOG_SAMPLE: must be between 0 and 1, got %v", e.AccessLogSample)
	}
	if e.OpsAddr == e.Addr {
		ck.add("GATEWAY_OPS_ADDR: must differ from GATEWAY_ADDR (both %q)", e.Addr)
	}
}

// checkDurations checks that every timeout and interval is positive.
func (e *environment) checkDurations(ck *checks) {
	positive := map[string]time.Duration{
		"UPSTREAM_TIMEOUT":      e.UpstreamTimeout,
		"SUBMIT_ORPHAN_WAIT":    e.SubmitOrphanWait,
		"BREAKER_OPEN_TIMEOUT":  e.BreakerOpenTimeout,
		"HEALTH_PROBE_INTERVAL": e.HealthProbeInterval,
		"REPLICATION_INTERVAL":  e.ReplicationInterval,
		"REPLICATION_RETRY_MIN": e.ReplicationRetryMin,
		"GATEWAY_DRAIN_TIMEOUT": e.DrainTimeout,
		"GATEWAY_BODY_TIMEOUT":  e.BodyTimeout,
		"REGION_MAX_PARK":       e.RegionMaxPark,
		"JOB_RESCUE_AFTER":      e.JobRescueAfter,
		"JOB_RESCUE_TTL":        e.JobRescueTTL,
		"JOB_RESCUE_TIMEOUT":    e.JobRescueTimeout,
	}
	for _, name := range sortedKeys(positive) {
		if positive[name] <= 0 {
			ck.add("%s: must be a positive duration, got %s", name, positive[name])
		}
	}
}

// deriveRescue checks job rescue's store and decodes its sealing keys,
// when rescue is on.
func (e *environment) deriveRescue(ck *checks) {
	if !e.RescueOn() {
		return
	}
	if err := checkRescueBackend(e.JobRescue); err != nil {
		ck.add("JOB_RESCUE: %v", err)
	}
	var err error
	if e.JobRescueKey == "" {
		ck.add("JOB_RESCUE_KEY: required when JOB_RESCUE is on (32 random bytes, base64: openssl rand -base64 32)")
	} else if e.JobRescueKeys, err = sealkey.Parse(e.JobRescueKey); err != nil {
		ck.add("JOB_RESCUE_KEY: %v", err)
	}
}

// checkLimits checks the bounds on failures, bytes, rates and requests in
// flight.
func (e *environment) checkLimits(ck *checks) {
	if e.BreakerFailures == 0 {
		ck.add("BREAKER_CONSECUTIVE_FAILURES: must be at least 1")
	}
	if e.MaxRequestBytes <= 0 {
		ck.add("MAX_REQUEST_BYTES: must be positive")
	}
	if e.JobRescueMaxBytes <= 0 {
		ck.add("JOB_RESCUE_MAX_BYTES: must be positive")
	}
	if e.MaxBufferedBytes <= 0 {
		ck.add("GATEWAY_MAX_BUFFERED_BYTES: must be positive")
	} else if e.MaxRequestBytes > 0 && e.MaxBufferedBytes < 2*e.MaxRequestBytes {
		// A buffer holds its old array while it grows into the new one.
		ck.add("GATEWAY_MAX_BUFFERED_BYTES: %d is below twice MAX_REQUEST_BYTES (%d): a largest request could never be buffered",
			int64(e.MaxBufferedBytes), int64(e.MaxRequestBytes))
	}
	if e.AuthoringPostsPerMin < 1 {
		ck.add("AUTHORING_POSTS_PER_MINUTE: must be at least 1")
	}
	if e.RateLimitPerKey < 0 {
		ck.add("GATEWAY_RATE_LIMIT_PER_MINUTE: must not be negative")
	}
	if e.DrainDelay < 0 {
		ck.add("GATEWAY_DRAIN_DELAY: must not be negative")
	}
	if e.MaxInflight < 1 {
		ck.add("GATEWAY_MAX_INFLIGHT: must be at least 1")
	}
}

// checkLogging checks the log's format and level.
func (e *environment) checkLogging(ck *checks) {
	switch e.LogFormat {
	case "json", "text":
	default:
		ck.add("LOG_FORMAT: %q is neither json nor text", e.LogFormat)
	}
	switch strings.ToLower(e.LogLevel) {
	case "debug", "info", "warn", "error":
	default:
		ck.add("LOG_LEVEL: %q is not one of debug, info, warn, error", e.LogLevel)
	}
}

// How the gateway authenticates to a region (PRIMARY_AUTH, SECONDARY_AUTH).
const (
	AuthKey   = "key"   // the resource key in Ocp-Apim-Subscription-Key
	AuthEntra = "entra" // a Microsoft Entra ID token (azidentity's default chain)
)

// nonEmpty is s as a list of at most one entry.
func nonEmpty(s secret.Secret) []secret.Secret {
	if s.Reveal() == "" {
		return nil
	}
	return []secret.Secret{s}
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// parseNameMap reads "primaryName:secondaryName,..." into a map.
func parseNameMap(raw string) (map[string]string, error) {
	m := map[string]string{}
	if strings.TrimSpace(raw) == "" {
		return m, nil
	}
	for _, pair := range strings.Split(raw, ",") {
		from, to, ok := strings.Cut(strings.TrimSpace(pair), ":")
		from, to = strings.TrimSpace(from), strings.TrimSpace(to)
		switch {
		case !ok || from == "" || to == "":
			return nil, fmt.Errorf("%q is not primaryName:secondaryName", pair)
		case !validName(from) || !validName(to):
			return nil, fmt.Errorf("%q holds a name that is not letters, digits, _ . - (at most 50)", pair)
		case m[from] != "":
			return nil, fmt.Errorf("%q maps %q a second time", pair, from)
		}
		m[from] = to
	}
	return m, nil
}

// validName follows Azure's rule for project and deployment names.
func validName(s string) bool {
	if s == "" || len(s) > 50 {
		return false
	}
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '_' || r == '.' || r == '-') {
			return false
		}
	}
	return true
}

// ByteSize is a size in bytes written as "8MiB", "512KiB", "1GB" or "1048576".
type ByteSize int64

// UnmarshalText parses the size.
func (b *ByteSize) UnmarshalText(text []byte) error {
	s := strings.TrimSpace(string(text))
	units := []struct {
		suffix string
		mult   int64
	}{
		{"KiB", 1 << 10}, {"MiB", 1 << 20}, {"GiB", 1 << 30},
		{"KB", 1000}, {"MB", 1000 * 1000}, {"GB", 1000 * 1000 * 1000},
		{"B", 1}, {"", 1},
	}
	for _, u := range units {
		num, ok := strings.CutSuffix(s, u.suffix)
		if !ok {
			continue
		}
		n, err := strconv.ParseInt(strings.TrimSpace(num), 10, 64)
		if err != nil || n < 0 || n > (1<<62)/u.mult {
			return fmt.Errorf("%q is not a size such as 8MiB or 1048576", s)
		}
		*b = ByteSize(n * u.mult)
		return nil
	}
	return fmt.Errorf("%q is not a size such as 8MiB or 1048576", s)
}

// String prints the size in bytes.
func (b ByteSize) String() string { return strconv.FormatInt(int64(b), 10) }

// Lint reports settings that load but are almost certainly mistakes; the
// gateway logs them at start and check-config fails on them. Plain http to
// another machine is one (a Load error would stop a deliberate setup);
// to a loopback address, as the demo's and the tests' regions are, it is
// not.
func (c *Config) Lint() []string {
	var out []string
	if c.PrimaryEndpoint != nil && c.SecondaryEndpoint != nil &&
		strings.EqualFold(c.PrimaryEndpoint.Host, c.SecondaryEndpoint.Host) && c.PrimaryEndpoint.Path == c.SecondaryEndpoint.Path {
		out = append(out, "SECONDARY_ENDPOINT: the same resource as PRIMARY_ENDPOINT: there is nowhere to fail over to")
	}
	if c.PrimaryAuth == AuthEntra && c.PrimaryKey.Reveal() != "" {
		out = append(out, "PRIMARY_RESOURCE_KEY: set but unused with PRIMARY_AUTH=entra (remove it from the environment)")
	}
	if c.SecondaryAuth == AuthEntra && c.SecondaryKey.Reveal() != "" {
		out = append(out, "SECONDARY_RESOURCE_KEY: set but unused with SECONDARY_AUTH=entra (remove it from the environment)")
	}
	for name, u := range map[string]*url.URL{"PRIMARY_ENDPOINT": c.PrimaryEndpoint, "SECONDARY_ENDPOINT": c.SecondaryEndpoint} {
		if u != nil && u.Scheme == "http" && !loopback(u) {
			out = append(out, name+": plain http: the region key and every document would cross the network unencrypted (use https; http is for loopback addresses)")
		}
	}
	for name, raw := range map[string]string{"PRIMARY_STORAGE_URL": c.PrimaryStorageURL.Reveal(), "SECONDARY_STORAGE_URL": c.SecondaryStorageURL.Reveal()} {
		if u, err := url.Parse(raw); err == nil && u.Scheme == "http" && !loopback(u) {
			out = append(out, name+": plain http: every training document would cross the network unencrypted (use https; http is for loopback addresses)")
		}
	}
	sort.Strings(out)
	return out
}

// loopback reports whether u's host is this machine (127.0.0.0/8, ::1,
// localhost): plain http to it crosses no network.
func loopback(u *url.URL) bool {
	host := u.Hostname()
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// Values of DOCUMENT_SYNC.
const (
	DocumentSyncOff    = "off"
	DocumentSyncVerify = "verify"
	DocumentSyncCopy   = "copy"
)

// maxCanaryDocs is how many documents one analyze-text job may carry.
const maxCanaryDocs = 25

// deriveDocuments checks the storage and canary variables and settles
// DOCUMENT_SYNC's default. Storage URLs are never quoted: a SAS may be in
// them.
func (c *Config) deriveDocuments(ck *checks) {
	first := len(ck.problems)
	add := func(name, msg string) { ck.add("%s: %s", name, msg) }
	for name, raw := range map[string]string{
		"PRIMARY_STORAGE_URL": c.PrimaryStorageURL.Reveal(), "SECONDARY_STORAGE_URL": c.SecondaryStorageURL.Reveal(),
	} {
		if raw == "" {
			continue
		}
		if u, err := url.Parse(raw); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			add(name, "is not an absolute http(s) blob service URL")
		}
	}
	both := c.PrimaryStorageURL.Reveal() != "" && c.SecondaryStorageURL.Reveal() != ""
	c.DocumentSync = strings.ToLower(c.DocumentSync)
	switch c.DocumentSync {
	case "":
		c.DocumentSync = DocumentSyncOff
		if both {
			c.DocumentSync = DocumentSyncCopy
		}
	case DocumentSyncOff:
	case DocumentSyncVerify, DocumentSyncCopy:
		if !both {
			add("DOCUMENT_SYNC", c.DocumentSync+" needs PRIMARY_STORAGE_URL and SECONDARY_STORAGE_URL")
		}
	default:
		add("DOCUMENT_SYNC", fmt.Sprintf("%q is not one of off, verify, copy", c.DocumentSync))
	}
	for name, key := range map[string]string{"PRIMARY_STORAGE_KEY": c.PrimaryStorageKey.Reveal(), "SECONDARY_STORAGE_KEY": c.SecondaryStorageKey.Reveal()} {
		if _, err := base64.StdEncoding.DecodeString(key); err != nil {
			add(name, "is not valid base64 (an account's shared key is: Access keys in the portal)")
		}
	}
	if c.CanaryDocs < 0 || c.CanaryDocs > maxCanaryDocs {
		add("REPLICATION_CANARY_DOCS", fmt.Sprintf("must be between 0 (canary off) and %d, got %d", maxCanaryDocs, c.CanaryDocs))
	}
	if c.CanaryMinAgreement < 0 || c.CanaryMinAgreement > 1 {
		add("REPLICATION_CANARY_MIN_AGREEMENT", fmt.Sprintf("must be between 0 and 1, got %v", c.CanaryMinAgreement))
	}
	// Maps are walked in any order; the lines are not.
	problems := ck.problems[first:]
	sort.Slice(problems, func(i, j int) bool { return problems[i].Error() < problems[j].Error() })
}

// CanaryOff says why the replication canary does not run, naming the
// variables to change, or "" when it runs. It follows how the gateway package
// gives the worker its documents: the primary's storage when
// PRIMARY_STORAGE_URL is set, else REPLICATION_CANARY_FILE.
func (c *Config) CanaryOff() string {
	switch {
	case c.CanaryDocs == 0:
		return "REPLICATION_CANARY_DOCS=0"
	case c.PrimaryStorageURL.Reveal() == "" && c.CanaryFile == "":
		return "no documents: neither PRIMARY_STORAGE_URL nor REPLICATION_CANARY_FILE is set"
	}
	return ""
}

package deployments

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/url"
	"os"
	"path"
	"regexp"
	"slices"
	"strings"
	"testing"
	"testing/fstest"
	"time"
	"unicode/utf16"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.yaml.in/yaml/v3"

	"nergateway/emulator"
	"nergateway/internal/config"
)

// servedPaths are the operational paths the gateway serves (docs/DESIGN.md,
// "Operational endpoints"); a probe, health check or scrape aimed anywhere
// else would fail in production.
var servedPaths = append(slices.Clone(clientPaths), opsPaths...)

// clientPaths are served on the client port (GATEWAY_ADDR, 8080): probes
// go there. opsPaths are served on the ops port (GATEWAY_OPS_ADDR, 9090):
// scrapes go there.
var (
	clientPaths = []string{"/healthz", "/readyz"}
	opsPaths    = []string{"/status", "/metrics"}
)

// opsPort is GATEWAY_OPS_ADDR's default port.
const opsPort = "9090"

// knownMetrics are the Prometheus series the gateway exports (the
// OpenTelemetry-to-Prometheus names of the instruments in proxy, region and
// replication; internal/telemetry's TestMetricsHandlerNames pins the
// translation). Every dashboard query must use them.
var knownMetrics = []string{
	"gateway_requests_total",
	"gateway_failovers_total",
	"gateway_upstream_duration_seconds_bucket",
	"gateway_breaker_state",
	"gateway_inflight_requests",
	"replication_lag_seconds",
	"replication_runs_total",
	"gateway_jobs_rescued_total",
	"gateway_rescue_store_up",
	"gateway_credential_up",
}

// secretName matches variable names whose values are credentials: they must
// come from a Secret in Kubernetes and be placeholders in this repository.
var secretName = regexp.MustCompile(`(?i)(KEY|SECRET|TOKEN|PASSWORD|HEADERS)`)

// defaultDrainTimeout is GATEWAY_DRAIN_TIMEOUT's default in internal/config.
const defaultDrainTimeout = 25 * time.Second

func TestDeploymentKit(t *testing.T) {
	fsys := kitFS(t)
	for _, p := range check(fsys) {
		assert.Fail(t, p)
	}
}

// TestChecksCatchMistakes breaks the real files one way at a time and
// expects the checker to say so: a checker that passes everything proves
// nothing.
func TestChecksCatchMistakes(t *testing.T) {
	tests := []struct {
		name, file, old, new, want string
	}{
		{"malformed YAML", "deployments/k8s/service.yaml", "  type: ClusterIP", "  type: [ClusterIP", "malformed"},
		{"malformed JSON", "deployments/grafana/dashboards/gateway.json", `"uid": "nergateway"`, `"uid": nergateway`, "malformed"},
		{"duplicate YAML key", "deployments/k8s/pdb.yaml", "  maxUnavailable: 1", "  maxUnavailable: 1\n  maxUnavailable: 2", "malformed"},
		{"readiness path not served", "deployments/k8s/deployment.yaml", "path: /readyz", "path: /ready", `"/ready" is not served`},
		{"liveness on readyz", "deployments/k8s/deployment.yaml", "              path: /healthz\n              port: http\n            periodSeconds: 10", "              path: /readyz\n              port: http\n            periodSeconds: 10", "liveness probe"},
		{"unknown variable in compose", "deployments/docker-compose.yml", "LOG_LEVEL: info", "LOG_LEVL: info", "LOG_LEVL"},
		{"unknown variable in ConfigMap", "deployments/k8s/configmap.yaml", "  UPSTREAM_TIMEOUT: 10s", "  UPSTREAM_TIMEOUTS: 10s", "UPSTREAM_TIMEOUTS"},
		{"concurrent replication", "deployments/k8s/cronjob.yaml", "concurrencyPolicy: Forbid", "concurrencyPolicy: Allow", "concurrencyPolicy"},
		{"cronjob without --once", "deployments/k8s/cronjob.yaml", `args: ["replicate", "--once"]`, `args: ["replicate"]`, "replicate --once"},
		{"serving pods replicate", "deployments/k8s/deployment.yaml", "              value: \"false\"", "              value: \"true\"", "REPLICATION_ENABLED"},
		{"literal key", "deployments/k8s/deployment.yaml", "            - name: PRIMARY_RESOURCE_KEY\n              valueFrom:\n                secretKeyRef:\n                  name: nergateway-keys\n                  key: PRIMARY_RESOURCE_KEY", "            - name: PRIMARY_RESOURCE_KEY\n              value: change-me", "secretKeyRef"},
		{"root container", "deployments/k8s/cronjob.yaml", "                runAsNonRoot: true\n                allowPrivilegeEscalation", "                runAsNonRoot: false\n                allowPrivilegeEscalation", "non-root"},
		{"capabilities kept", "deployments/k8s/deployment.yaml", `drop: ["ALL"]`, `drop: ["NET_RAW"]`, "drop ALL"},
		{"short grace period", "deployments/k8s/deployment.yaml", "terminationGracePeriodSeconds: 45", "terminationGracePeriodSeconds: 20", "terminationGracePeriodSeconds"},
		{"hard-coded dashboard data source", "deployments/grafana/dashboards/gateway.json", `"uid": "${datasource}"`, `"uid": "prometheus"`, "not the ${datasource} variable"},
		{"no data source variable", "deployments/grafana/dashboards/gateway.json", `"name": "datasource"`, `"name": "ds"`, "no \"datasource\" variable"},
		{"unknown dashboard metric", "deployments/grafana/dashboards/gateway.json", "gateway_failovers_total", "gateway_failover_total", "gateway_failover_total"},
		{"scrape path not served", "deployments/prometheus.yml", "    metrics_path: /metrics\n    static_configs:\n      - targets: [\"gateway:9090\"]", "    metrics_path: /stats\n    static_configs:\n      - targets: [\"gateway:9090\"]", `"/stats" is not served`},
		{"scrape on the client port", "deployments/prometheus.yml", `targets: ["gateway:9090"]`, `targets: ["gateway:8080"]`, "ops port"},
		{"scrape annotation on the client port", "deployments/k8s/deployment.yaml", `prometheus.io/port: "9090"`, `prometheus.io/port: "8080"`, "ops port"},
		{"probe on an ops path", "deployments/k8s/deployment.yaml", "path: /readyz", "path: /status", "not served on the client port"},
		{"key file not mounted", "deployments/k8s/deployment.yaml", "value: /etc/nergateway/keys/api-keys", "value: /etc/keys/api-keys", "no item of a Secret volume"},
		{"key file item not in the Secret", "deployments/k8s/deployment.yaml", "              - key: api-keys", "              - key: api-key", "has no item api-key"},
		{"key file under subPath", "deployments/k8s/deployment.yaml", "              mountPath: /etc/nergateway/keys\n", "              mountPath: /etc/nergateway/keys\n              subPath: api-keys\n", "subPath"},
		{"emulator in the gateway image", "Dockerfile", "COPY --from=build /out/gateway /gateway\n", "COPY --from=build /out/gateway /gateway\nCOPY --from=build /out/emulator /emulator\n", "holds the emulator"},
		{"emulator run from the gateway image", "deployments/docker-compose.yml", "  primary:\n    <<: *emulator-image\n", "  primary:\n    <<: *nergateway-image\n    entrypoint: [\"/emulator\"]\n", "has no emulator"},
		{"Jaeger v1", "deployments/docker-compose.yml", "image: jaegertracing/jaeger:2.12.0", "image: jaegertracing/all-in-one:1.63.0", "end of life"},
		{"fixed replicas under an HPA", "deployments/k8s/deployment.yaml", "  revisionHistoryLimit: 5", "  replicas: 3\n  revisionHistoryLimit: 5", "fights the HorizontalPodAutoscaler"},
		{"HPA floor too low", "deployments/k8s/hpa.yaml", "  minReplicas: 3", "  minReplicas: 1", "minReplicas"},
		{"Dockerfile health check path", "Dockerfile", `CMD ["/gateway", "healthcheck"]`, `CMD ["/busybox", "wget", "-q", "http://127.0.0.1:8080/health"]`, `"/health" is not served`},
		{"real-looking key", "deployments/k8s/secret.template.yaml", "  PRIMARY_RESOURCE_KEY: change-me", "  PRIMARY_RESOURCE_KEY: 0f1e2d3c4b5a69788796a5b4c3d2e1f0", "placeholder"},
		{"compose key mismatch", "deployments/docker-compose.yml", "      - -key=change-me-secondary", "      - -key=change-me-other", "SECONDARY_RESOURCE_KEY"},
		{"secret template in kustomization", "deployments/k8s/kustomization.yaml", "  - cronjob.yaml\n", "  - cronjob.yaml\n  - secret.template.yaml\n", "secret.template.yaml"},
		{"storage only in the Secret", "deployments/k8s/cronjob.yaml", "                - name: SECONDARY_STORAGE_URL\n", "                - name: SECONDARY_STORAGE_URL_UNUSED\n", "CronJob nergateway-replicate container replicate does not receive SECONDARY_STORAGE_URL"},
		{"Entra settings for one workload", "deployments/k8s/deployment.yaml", "            - name: GODEBUG\n", "            - name: AZURE_CLIENT_ID\n              value: 00000000-0000-0000-0000-000000000000\n            - name: GODEBUG\n", "CronJob nergateway-replicate container replicate does not receive AZURE_CLIENT_ID"},
		{"rescue setting only for the job", "deployments/k8s/cronjob.yaml", "                - name: OTEL_SERVICE_NAME\n", "                - name: JOB_RESCUE_TIMEOUT\n                  value: 200ms\n                - name: OTEL_SERVICE_NAME\n", "Deployment nergateway container gateway does not receive JOB_RESCUE_TIMEOUT"},
		{"serving pods that replicate", "deployments/k8s/deployment.yaml", "              value: \"false\"", "              value: \"true\"", "Deployment nergateway container gateway does not receive PRIMARY_STORAGE_URL"},
		{"seed label outside text", "deployments/emulator/primary-seed.json", `"length": 7`, `"length": 700`, "label"},
	}
	base := kitFS(t)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fsys := fstest.MapFS{}
			for name, f := range base {
				fsys[name] = &fstest.MapFile{Data: f.Data}
			}
			f, ok := fsys[tt.file]
			require.True(t, ok, "no file %s", tt.file)
			require.True(t, bytes.Contains(f.Data, []byte(tt.old)), "%s does not contain %q: update the test", tt.file, tt.old)
			f.Data = bytes.Replace(f.Data, []byte(tt.old), []byte(tt.new), 1)
			problems := check(fsys)
			assert.True(t, slices.ContainsFunc(problems, func(p string) bool { return strings.Contains(p, tt.want) }),
				"no problem mentions %q; got:\n%s", tt.want, strings.Join(problems, "\n"))
		})
	}
}

// kitFS copies the deployment kit (deployments/ and the Dockerfile) into
// memory, so the checks read real files and mutated copies the same way.
func kitFS(t *testing.T) fstest.MapFS {
	t.Helper()
	root := os.DirFS("..")
	out := fstest.MapFS{}
	add := func(name string) {
		b, err := fs.ReadFile(root, name)
		require.NoError(t, err)
		out[name] = &fstest.MapFile{Data: b}
	}
	add("Dockerfile")
	err := fs.WalkDir(root, "deployments", func(name string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() {
			add(name)
		}
		return nil
	})
	require.NoError(t, err)
	return out
}

// checker collects problems, one line each, naming the file.
type checker struct {
	fsys     fs.FS
	problems []string
}

func (c *checker) addf(file, format string, a ...any) {
	c.problems = append(c.problems, file+": "+fmt.Sprintf(format, a...))
}

// check runs every check over the kit in fsys and returns the problems.
func check(fsys fs.FS) []string {
	c := &checker{fsys: fsys}

	// Every YAML and JSON file must parse, whatever it is for.
	docs := map[string][]*yaml.Node{}
	_ = fs.WalkDir(fsys, "deployments", func(name string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := fs.ReadFile(fsys, name)
		if err != nil {
			c.addf(name, "unreadable: %v", err)
			return nil
		}
		switch path.Ext(name) {
		case ".yaml", ".yml":
			nodes, err := parseYAML(b)
			if err != nil {
				c.addf(name, "malformed YAML: %v", err)
				return nil
			}
			docs[name] = nodes
		case ".json":
			var v any
			if err := json.Unmarshal(b, &v); err != nil {
				c.addf(name, "malformed JSON: %v", err)
			}
		}
		return nil
	})

	c.checkDockerfile()
	c.checkKubernetes(docs)
	compose := c.checkCompose(docs)
	c.checkPrometheus(docs, compose)
	c.checkCollector(docs)
	uids := c.checkGrafana(docs, compose)
	c.checkDashboard(uids)
	c.checkSeeds(compose)
	return c.problems
}

// parseYAML decodes every document of a multi-document stream. yaml.v3
// rejects duplicate keys and syntax errors while decoding into nodes and
// then into generic values.
func parseYAML(b []byte) ([]*yaml.Node, error) {
	dec := yaml.NewDecoder(bytes.NewReader(b))
	var out []*yaml.Node
	for {
		var n yaml.Node
		err := dec.Decode(&n)
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			return nil, err
		}
		var v any
		if err := n.Decode(&v); err != nil {
			return nil, err
		}
		out = append(out, &n)
	}
}

func (c *checker) servedPath(file, what, p string) {
	u, err := url.Parse(p)
	if err == nil {
		p = u.Path
	}
	if !slices.Contains(servedPaths, p) {
		c.addf(file, "%s: %q is not served by the gateway (served: %s)", what, p, strings.Join(servedPaths, ", "))
	}
}

// checkVariable reports a variable a gateway container sets that the gateway
// does not read.
func (c *checker) checkVariable(file, where, name string) {
	if _, ok := config.Lookup(name); ok {
		return
	}
	c.addf(file, "%s: %s is not a variable the gateway reads (internal/config.Known)", where, name)
}

// placeholder reports whether a credential in this repository is obviously
// fake.
func placeholder(v string) bool {
	return v == "" || strings.Contains(v, "change-me")
}

// ---- Dockerfile ----

var healthcheckCmd = regexp.MustCompile(`(?m)^HEALTHCHECK\b.*?(?:\\\n.*?)*\bCMD\s+(.*)$`)

func (c *checker) checkDockerfile() {
	const file = "Dockerfile"
	b, err := fs.ReadFile(c.fsys, file)
	if err != nil {
		c.addf(file, "missing: %v", err)
		return
	}
	s := string(b)
	for _, want := range []string{
		"FROM gcr.io/distroless/static-debian12:nonroot",
		"USER nonroot",
		"EXPOSE 8080 9090",
		`ENTRYPOINT ["/gateway"]`,
		"CGO_ENABLED=0",
		"./cmd/gateway",
		"./cmd/emulator",
		"AS emulator",
		"AS gateway",
	} {
		if !strings.Contains(s, want) {
			c.addf(file, "missing %q", want)
		}
	}
	// The last stage is what a plain `docker build` ships: the gateway,
	// without the emulator and its unauthenticated fault API.
	if i := strings.LastIndex(s, "\nFROM "); i >= 0 {
		last := s[i:]
		if !strings.Contains(last, " AS gateway") {
			c.addf(file, "the last stage must be the gateway's (AS gateway)")
		}
		if strings.Contains(last, "/emulator") {
			c.addf(file, "the gateway's stage holds the emulator: it belongs in its own target")
		}
	}
	m := healthcheckCmd.FindStringSubmatch(s)
	if m == nil {
		c.addf(file, "no HEALTHCHECK ... CMD")
		return
	}
	var argv []string
	if err := json.Unmarshal([]byte(m[1]), &argv); err != nil {
		c.addf(file, "HEALTHCHECK CMD is not an exec-form JSON array (distroless has no shell): %v", err)
		return
	}
	c.checkHealthCommand(file, "HEALTHCHECK", argv)
}

// checkHealthCommand accepts the gateway's own healthcheck subcommand (which
// GETs /healthz) or any command whose URLs use served paths.
func (c *checker) checkHealthCommand(file, what string, argv []string) {
	if slices.Equal(argv, []string{"/gateway", "healthcheck"}) {
		return
	}
	found := false
	for _, a := range argv {
		if i := strings.Index(a, "http://"); i >= 0 {
			found = true
			c.servedPath(file, what, strings.Fields(a[i:])[0])
		}
	}
	if !found {
		c.addf(file, "%s: %q neither runs `/gateway healthcheck` nor names a URL", what, argv)
	}
}

// ---- Kubernetes ----

type k8sObject struct {
	File       string `yaml:"-"`
	APIVersion string `yaml:"apiVersion"`
	Kind       string `yaml:"kind"`
	Metadata   struct {
		Name        string            `yaml:"name"`
		Labels      map[string]string `yaml:"labels"`
		Annotations map[string]string `yaml:"annotations"`
	} `yaml:"metadata"`
	Data       map[string]string `yaml:"data"`
	StringData map[string]string `yaml:"stringData"`
	Resources  []string          `yaml:"resources"` // Kustomization
	Spec       struct {
		Replicas    *int           `yaml:"replicas"`
		Selector    map[string]any `yaml:"selector"`
		Template    *podTemplate   `yaml:"template"`
		JobTemplate *struct {
			Spec struct {
				Template podTemplate `yaml:"template"`
			} `yaml:"spec"`
		} `yaml:"jobTemplate"`
		ConcurrencyPolicy string `yaml:"concurrencyPolicy"`
		Ports             []struct {
			Name       string `yaml:"name"`
			Port       int    `yaml:"port"`
			TargetPort any    `yaml:"targetPort"`
		} `yaml:"ports"`
		ScaleTargetRef *struct {
			Kind string `yaml:"kind"`
			Name string `yaml:"name"`
		} `yaml:"scaleTargetRef"`
		MinReplicas *int `yaml:"minReplicas"`
		MaxReplicas int  `yaml:"maxReplicas"`
		// A bare Pod's spec is a pod spec.
		podSpec `yaml:",inline"`
	} `yaml:"spec"`
}

type podTemplate struct {
	Metadata struct {
		Labels      map[string]string `yaml:"labels"`
		Annotations map[string]string `yaml:"annotations"`
	} `yaml:"metadata"`
	Spec podSpec `yaml:"spec"`
}

type podSpec struct {
	TerminationGracePeriodSeconds *int            `yaml:"terminationGracePeriodSeconds"`
	SecurityContext               securityContext `yaml:"securityContext"`
	Containers                    []container     `yaml:"containers"`
	InitContainers                []container     `yaml:"initContainers"`
	Volumes                       []struct {
		Name   string `yaml:"name"`
		Secret *struct {
			SecretName string `yaml:"secretName"`
			Items      []struct {
				Key  string `yaml:"key"`
				Path string `yaml:"path"`
			} `yaml:"items"`
		} `yaml:"secret"`
	} `yaml:"volumes"`
}

type securityContext struct {
	RunAsNonRoot             *bool  `yaml:"runAsNonRoot"`
	RunAsUser                *int64 `yaml:"runAsUser"`
	Privileged               *bool  `yaml:"privileged"`
	AllowPrivilegeEscalation *bool  `yaml:"allowPrivilegeEscalation"`
	ReadOnlyRootFilesystem   *bool  `yaml:"readOnlyRootFilesystem"`
	Capabilities             *struct {
		Drop []string `yaml:"drop"`
	} `yaml:"capabilities"`
}

type container struct {
	Name    string   `yaml:"name"`
	Image   string   `yaml:"image"`
	Command []string `yaml:"command"`
	Args    []string `yaml:"args"`
	Env     []struct {
		Name      string  `yaml:"name"`
		Value     *string `yaml:"value"`
		ValueFrom *struct {
			SecretKeyRef *struct {
				Name string `yaml:"name"`
				Key  string `yaml:"key"`
			} `yaml:"secretKeyRef"`
			ConfigMapKeyRef  any `yaml:"configMapKeyRef"`
			FieldRef         any `yaml:"fieldRef"`
			ResourceFieldRef any `yaml:"resourceFieldRef"`
		} `yaml:"valueFrom"`
	} `yaml:"env"`
	EnvFrom []struct {
		Prefix       string `yaml:"prefix"`
		ConfigMapRef *struct {
			Name string `yaml:"name"`
		} `yaml:"configMapRef"`
		SecretRef *struct {
			Name string `yaml:"name"`
		} `yaml:"secretRef"`
	} `yaml:"envFrom"`
	Ports []struct {
		Name          string `yaml:"name"`
		ContainerPort int    `yaml:"containerPort"`
	} `yaml:"ports"`
	ReadinessProbe *probe `yaml:"readinessProbe"`
	LivenessProbe  *probe `yaml:"livenessProbe"`
	StartupProbe   *probe `yaml:"startupProbe"`
	Lifecycle      *struct {
		PreStop *struct {
			Sleep *struct {
				Seconds int `yaml:"seconds"`
			} `yaml:"sleep"`
			HTTPGet *httpGet `yaml:"httpGet"`
			Exec    any      `yaml:"exec"`
		} `yaml:"preStop"`
	} `yaml:"lifecycle"`
	Resources struct {
		Requests map[string]string `yaml:"requests"`
		Limits   map[string]string `yaml:"limits"`
	} `yaml:"resources"`
	SecurityContext securityContext `yaml:"securityContext"`
	VolumeMounts    []struct {
		Name      string `yaml:"name"`
		MountPath string `yaml:"mountPath"`
		SubPath   string `yaml:"subPath"`
	} `yaml:"volumeMounts"`
}

type probe struct {
	HTTPGet *httpGet `yaml:"httpGet"`
	Exec    *struct {
		Command []string `yaml:"command"`
	} `yaml:"exec"`
	TCPSocket any `yaml:"tcpSocket"`
	GRPC      any `yaml:"grpc"`
}

type httpGet struct {
	Path string `yaml:"path"`
	Port any    `yaml:"port"`
}

// buildTarget is the Dockerfile target of a compose build (a string or a
// map); "" when it names none.
func buildTarget(build any) string {
	if m, ok := build.(map[string]any); ok {
		t, _ := m["target"].(string)
		return t
	}
	return ""
}

// isEmulatorImage reports whether an image reference is the emulator's
// image (the Dockerfile's emulator target).
func isEmulatorImage(image string) bool {
	name := image
	if i := strings.LastIndex(name, "/"); i >= 0 {
		name = name[i+1:]
	}
	name, _, _ = strings.Cut(name, ":")
	return name == "nergateway-emulator"
}

// isGatewayImage reports whether an image reference is this project's image
// (before kustomize rewrites the name).
func isGatewayImage(image string) bool {
	name := image
	if i := strings.LastIndex(name, "/"); i >= 0 {
		name = name[i+1:]
	}
	name, _, _ = strings.Cut(name, ":")
	return name == "nergateway"
}

func (c *checker) checkKubernetes(docs map[string][]*yaml.Node) {
	var objs []k8sObject
	for file, nodes := range docs {
		if !strings.HasPrefix(file, "deployments/k8s/") {
			continue
		}
		for _, n := range nodes {
			var o k8sObject
			if err := n.Decode(&o); err != nil {
				c.addf(file, "not a Kubernetes object: %v", err)
				continue
			}
			o.File = file
			if o.Kind == "" || o.APIVersion == "" {
				c.addf(file, "a document without kind or apiVersion")
				continue
			}
			objs = append(objs, o)
		}
	}
	slices.SortFunc(objs, func(a, b k8sObject) int { return strings.Compare(a.File+a.Kind, b.File+b.Kind) })

	byKind := func(kind string) []k8sObject {
		var out []k8sObject
		for _, o := range objs {
			if o.Kind == kind {
				out = append(out, o)
			}
		}
		return out
	}
	configMaps := map[string]k8sObject{}
	for _, o := range byKind("ConfigMap") {
		configMaps[o.Metadata.Name] = o
		for k, v := range o.Data {
			c.checkVariable(o.File, "ConfigMap "+o.Metadata.Name, k)
			if secretName.MatchString(k) && v != "" {
				c.addf(o.File, "ConfigMap %s holds %s: credentials belong in a Secret", o.Metadata.Name, k)
			}
		}
	}
	secrets := map[string]k8sObject{}
	for _, o := range byKind("Secret") {
		secrets[o.Metadata.Name] = o
		if len(o.Data) > 0 {
			c.addf(o.File, "Secret %s: use stringData placeholders, never encoded data", o.Metadata.Name)
		}
		for k, v := range o.StringData {
			if !fileItem.MatchString(k) { // items mounted as files are checked with the pods
				c.checkVariable(o.File, "Secret "+o.Metadata.Name, k)
			}
			if !placeholder(v) {
				c.addf(o.File, "Secret %s: %s is not an obvious placeholder (use change-me)", o.Metadata.Name, k)
			}
		}
	}

	kustomized := map[string]bool{}
	for _, o := range byKind("Kustomization") {
		for _, r := range o.Resources {
			kustomized[path.Join(path.Dir(o.File), r)] = true
			if _, err := fs.Stat(c.fsys, path.Join(path.Dir(o.File), r)); err != nil {
				c.addf(o.File, "resource %s does not exist", r)
			}
		}
	}
	for file := range docs {
		if !strings.HasPrefix(file, "deployments/k8s/") || path.Base(file) == "kustomization.yaml" {
			continue
		}
		template := strings.HasSuffix(file, ".template.yaml")
		if template && kustomized[file] {
			c.addf(file, "a template must not be in kustomization.yaml: apply -k would overwrite real keys with placeholders")
		}
		if !template && !kustomized[file] {
			c.addf(file, "not listed in kustomization.yaml")
		}
	}

	var deployments, workloads []k8sObject // workloads: what a Service may select
	for _, o := range objs {
		var spec *podSpec
		var podMeta map[string]string
		switch o.Kind {
		case "Pod":
			spec, podMeta = &o.Spec.podSpec, o.Metadata.Annotations
		case "Deployment", "StatefulSet", "DaemonSet", "Job":
			if o.Spec.Template == nil {
				c.addf(o.File, "%s %s has no pod template", o.Kind, o.Metadata.Name)
				continue
			}
			spec, podMeta = &o.Spec.Template.Spec, o.Spec.Template.Metadata.Annotations
		case "CronJob":
			if o.Spec.JobTemplate == nil {
				c.addf(o.File, "CronJob %s has no job template", o.Metadata.Name)
				continue
			}
			spec, podMeta = &o.Spec.JobTemplate.Spec.Template.Spec, o.Spec.JobTemplate.Spec.Template.Metadata.Annotations
		default:
			continue
		}
		if p, ok := podMeta["prometheus.io/path"]; ok {
			c.servedPath(o.File, o.Kind+" prometheus.io/path", p)
			if !slices.Contains(opsPaths, p) {
				c.addf(o.File, "%s prometheus.io/path: %q is not served on the ops port", o.Kind, p)
			}
			if port := podMeta["prometheus.io/port"]; port != opsPort {
				c.addf(o.File, "%s prometheus.io/port: %q, the gateway serves %s on the ops port %s (GATEWAY_OPS_ADDR)", o.Kind, port, p, opsPort)
			}
		}
		c.checkPod(o, spec, configMaps, secrets)
		switch o.Kind {
		case "Deployment":
			deployments = append(deployments, o)
			workloads = append(workloads, o)
			c.checkServingDeployment(o, spec, configMaps)
		case "StatefulSet":
			workloads = append(workloads, o)
		case "CronJob":
			c.checkReplicationCronJob(o, spec)
		}
	}
	c.checkFeatureVariables(objs, kustomized, configMaps, secrets)
	if len(deployments) == 0 {
		c.addf("deployments/k8s", "no Deployment")
	}
	if len(byKind("CronJob")) == 0 {
		c.addf("deployments/k8s", "no replication CronJob")
	}

	for _, o := range byKind("Service") {
		if !selects(o.Spec.Selector, workloads) {
			c.addf(o.File, "Service %s selects no Deployment's or StatefulSet's pods", o.Metadata.Name)
		}
		for _, p := range o.Spec.Ports {
			if name, ok := p.TargetPort.(string); ok && !hasPortName(workloads, name) {
				c.addf(o.File, "Service %s targets port %q, which no container names", o.Metadata.Name, name)
			}
		}
	}
	for _, o := range byKind("PodDisruptionBudget") {
		labels, _ := o.Spec.Selector["matchLabels"].(map[string]any)
		if !selects(labels, deployments) {
			c.addf(o.File, "PodDisruptionBudget %s selects no Deployment's pods", o.Metadata.Name)
		}
	}
	hpas := byKind("HorizontalPodAutoscaler")
	if len(hpas) == 0 {
		c.addf("deployments/k8s", "no HorizontalPodAutoscaler")
	}
	for _, o := range hpas {
		if o.APIVersion != "autoscaling/v2" {
			c.addf(o.File, "HorizontalPodAutoscaler %s: apiVersion %s, want autoscaling/v2", o.Metadata.Name, o.APIVersion)
		}
		ref := o.Spec.ScaleTargetRef
		if ref == nil || !slices.ContainsFunc(deployments, func(d k8sObject) bool { return d.Metadata.Name == ref.Name }) {
			c.addf(o.File, "HorizontalPodAutoscaler %s scales no Deployment of the kit", o.Metadata.Name)
		}
		if o.Spec.MinReplicas == nil || *o.Spec.MinReplicas < 3 {
			c.addf(o.File, "HorizontalPodAutoscaler %s: want minReplicas of at least 3 (one per zone)", o.Metadata.Name)
		}
	}
	if len(byKind("PodDisruptionBudget")) == 0 {
		c.addf("deployments/k8s", "no PodDisruptionBudget")
	}
}

// selects reports whether every selector label is on some workload's pods.
func selects(selector map[string]any, deployments []k8sObject) bool {
	if len(selector) == 0 {
		return false
	}
	for _, d := range deployments {
		ok := true
		for k, v := range selector {
			if d.Spec.Template.Metadata.Labels[k] != fmt.Sprint(v) {
				ok = false
			}
		}
		if ok {
			return true
		}
	}
	return false
}

func hasPortName(deployments []k8sObject, name string) bool {
	for _, d := range deployments {
		for _, ct := range d.Spec.Template.Spec.Containers {
			for _, p := range ct.Ports {
				if p.Name == name {
					return true
				}
			}
		}
	}
	return false
}

// checkPod applies to every pod that runs the gateway image: variables it
// sets, where credentials come from, probes, security context, resources.
func (c *checker) checkPod(o k8sObject, spec *podSpec, configMaps, secrets map[string]k8sObject) {
	where := o.Kind + " " + o.Metadata.Name
	podNonRoot := spec.SecurityContext.RunAsNonRoot != nil && *spec.SecurityContext.RunAsNonRoot
	for _, ct := range append(slices.Clone(spec.Containers), spec.InitContainers...) {
		cw := where + " container " + ct.Name
		nonRoot := podNonRoot
		if ct.SecurityContext.RunAsNonRoot != nil {
			nonRoot = *ct.SecurityContext.RunAsNonRoot
		}
		uid := spec.SecurityContext.RunAsUser
		if ct.SecurityContext.RunAsUser != nil {
			uid = ct.SecurityContext.RunAsUser
		}
		if !nonRoot || (uid != nil && *uid == 0) {
			c.addf(o.File, "%s: must run as non-root (runAsNonRoot: true, runAsUser not 0)", cw)
		}
		sc := ct.SecurityContext
		if sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation {
			c.addf(o.File, "%s: allowPrivilegeEscalation must be false", cw)
		}
		if sc.Privileged != nil && *sc.Privileged {
			c.addf(o.File, "%s: privileged", cw)
		}
		if sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem {
			c.addf(o.File, "%s: readOnlyRootFilesystem must be true", cw)
		}
		if sc.Capabilities == nil || !slices.Contains(sc.Capabilities.Drop, "ALL") {
			c.addf(o.File, "%s: capabilities must drop ALL", cw)
		}
		for _, r := range []string{"cpu", "memory"} {
			if ct.Resources.Requests[r] == "" {
				c.addf(o.File, "%s: no %s request", cw, r)
			}
		}
		if ct.Resources.Limits["memory"] == "" {
			c.addf(o.File, "%s: no memory limit", cw)
		}
		for name, p := range map[string]*probe{"readiness": ct.ReadinessProbe, "liveness": ct.LivenessProbe, "startup": ct.StartupProbe} {
			if p == nil {
				continue
			}
			if p.HTTPGet != nil {
				c.servedPath(o.File, cw+" "+name+" probe", p.HTTPGet.Path)
				if !slices.Contains(clientPaths, p.HTTPGet.Path) {
					c.addf(o.File, "%s %s probe: %q is not served on the client port", cw, name, p.HTTPGet.Path)
				}
				c.checkProbePort(o.File, cw+" "+name+" probe", ct, p.HTTPGet.Port)
			}
			if p.Exec != nil {
				c.checkHealthCommand(o.File, cw+" "+name+" probe", p.Exec.Command)
			}
		}
		if ct.Lifecycle != nil && ct.Lifecycle.PreStop != nil && ct.Lifecycle.PreStop.HTTPGet != nil {
			c.servedPath(o.File, cw+" preStop", ct.Lifecycle.PreStop.HTTPGet.Path)
		}

		if !isGatewayImage(ct.Image) {
			continue
		}
		for _, e := range ct.Env {
			c.checkVariable(o.File, cw, e.Name)
			if strings.HasSuffix(e.Name, "_FILE") && e.Value != nil {
				c.checkSecretFile(o.File, cw+" "+e.Name, spec, ct, *e.Value, secrets)
			}
			if !secretName.MatchString(e.Name) || strings.HasSuffix(e.Name, "_FILE") { // a path, not a secret
				continue
			}
			if e.Value != nil || e.ValueFrom == nil || e.ValueFrom.SecretKeyRef == nil {
				c.addf(o.File, "%s: %s must come from a secretKeyRef, never a literal", cw, e.Name)
				continue
			}
			ref := e.ValueFrom.SecretKeyRef
			if s, ok := secrets[ref.Name]; ok {
				if _, ok := s.StringData[ref.Key]; !ok {
					c.addf(o.File, "%s: %s refers to key %s, which Secret %s (template) lacks", cw, e.Name, ref.Key, ref.Name)
				}
			} else {
				c.addf(o.File, "%s: %s refers to Secret %s, which has no template in the kit", cw, e.Name, ref.Name)
			}
		}
		for _, ef := range ct.EnvFrom {
			if ef.ConfigMapRef != nil {
				if _, ok := configMaps[ef.ConfigMapRef.Name]; !ok {
					c.addf(o.File, "%s: envFrom ConfigMap %s is not in the kit", cw, ef.ConfigMapRef.Name)
				}
			}
			if ef.SecretRef != nil {
				if _, ok := secrets[ef.SecretRef.Name]; !ok {
					c.addf(o.File, "%s: envFrom Secret %s has no template in the kit", cw, ef.SecretRef.Name)
				}
			}
		}
	}
}

// fileItem matches Secret keys meant to be mounted as files (key files),
// as opposed to variables.
var fileItem = regexp.MustCompile(`^[a-z0-9][a-z0-9.-]*$`)

// checkSecretFile checks that a *_FILE variable names a file the container
// has: an item of a Secret volume mounted whole (the kubelet updates a
// subPath mount never, so a rotated key would not arrive), and an item
// the Secret's template holds.
func (c *checker) checkSecretFile(file, what string, spec *podSpec, ct container, p string, secrets map[string]k8sObject) {
	for _, m := range ct.VolumeMounts {
		rel, ok := strings.CutPrefix(p, strings.TrimSuffix(m.MountPath, "/")+"/")
		if !ok {
			continue
		}
		if m.SubPath != "" {
			c.addf(file, "%s: volume %s is mounted with subPath, so Secret updates never reach %s", what, m.Name, p)
			return
		}
		for _, v := range spec.Volumes {
			if v.Name != m.Name || v.Secret == nil {
				continue
			}
			for _, it := range v.Secret.Items {
				if it.Path == rel {
					if s, ok := secrets[v.Secret.SecretName]; ok {
						if _, ok := s.StringData[it.Key]; !ok {
							c.addf(file, "%s: Secret %s (template) has no item %s", what, v.Secret.SecretName, it.Key)
						}
					}
					return
				}
			}
		}
	}
	c.addf(file, "%s: %s is no item of a Secret volume the container mounts", what, p)
}

func (c *checker) checkProbePort(file, what string, ct container, port any) {
	switch p := port.(type) {
	case string:
		if !slices.ContainsFunc(ct.Ports, func(cp struct {
			Name          string `yaml:"name"`
			ContainerPort int    `yaml:"containerPort"`
		}) bool {
			return cp.Name == p
		}) {
			c.addf(file, "%s: port %q is not a named port of the container", what, p)
		}
	case int:
		if p != 8080 {
			c.addf(file, "%s: port %d, the gateway listens on 8080 (GATEWAY_ADDR)", what, p)
		}
	}
}

// containerEnv returns the literal value a container gives a variable, looking at
// env first (it wins over envFrom) and then at the ConfigMaps it imports.
func containerEnv(ct container, configMaps map[string]k8sObject, name string) (string, bool) {
	for _, e := range ct.Env {
		if e.Name == name && e.Value != nil {
			return *e.Value, true
		}
	}
	for _, ef := range ct.EnvFrom {
		if ef.ConfigMapRef != nil {
			if v, ok := configMaps[ef.ConfigMapRef.Name].Data[name]; ok {
				return v, true
			}
		}
	}
	return "", false
}

func (c *checker) checkServingDeployment(o k8sObject, spec *podSpec, configMaps map[string]k8sObject) {
	where := "Deployment " + o.Metadata.Name
	if o.Spec.Replicas != nil {
		c.addf(o.File, "%s: sets replicas, which fights the HorizontalPodAutoscaler on every apply (the HPA's minReplicas is the floor)", where)
	}
	gateways := 0
	for _, ct := range spec.Containers {
		if !isGatewayImage(ct.Image) {
			continue
		}
		gateways++
		if v, _ := containerEnv(ct, configMaps, "REPLICATION_ENABLED"); v != "false" {
			c.addf(o.File, "%s: serving pods must set REPLICATION_ENABLED=false (the CronJob replicates), got %q", where, v)
		}
		if ct.ReadinessProbe == nil || ct.ReadinessProbe.HTTPGet == nil || ct.ReadinessProbe.HTTPGet.Path != "/readyz" {
			c.addf(o.File, "%s: readiness probe must GET /readyz", where)
		}
		if ct.LivenessProbe == nil || ct.LivenessProbe.HTTPGet == nil || ct.LivenessProbe.HTTPGet.Path != "/healthz" {
			c.addf(o.File, "%s: liveness probe must GET /healthz (never /readyz: a region outage must not restart the fleet)", where)
		}
		sleep := 0
		if ct.Lifecycle == nil || ct.Lifecycle.PreStop == nil || ct.Lifecycle.PreStop.Sleep == nil {
			c.addf(o.File, "%s: no preStop sleep to let load balancers stop routing before the drain", where)
		} else {
			sleep = ct.Lifecycle.PreStop.Sleep.Seconds
		}
		drain := defaultDrainTimeout
		if v, ok := containerEnv(ct, configMaps, "GATEWAY_DRAIN_TIMEOUT"); ok {
			d, err := time.ParseDuration(v)
			if err != nil {
				c.addf(o.File, "%s: GATEWAY_DRAIN_TIMEOUT %q: %v", where, v, err)
			}
			drain = d
		}
		bound := time.Duration(sleep)*time.Second + drain
		if spec.TerminationGracePeriodSeconds == nil || time.Duration(*spec.TerminationGracePeriodSeconds)*time.Second <= bound {
			c.addf(o.File, "%s: terminationGracePeriodSeconds must exceed preStop sleep + GATEWAY_DRAIN_TIMEOUT (%s)", where, bound)
		}
	}
	if gateways == 0 {
		c.addf(o.File, "%s runs no nergateway container", where)
	}
}

func (c *checker) checkReplicationCronJob(o k8sObject, spec *podSpec) {
	where := "CronJob " + o.Metadata.Name
	if o.Spec.ConcurrencyPolicy != "Forbid" {
		c.addf(o.File, "%s: concurrencyPolicy %q, want Forbid (two passes must never overlap)", where, o.Spec.ConcurrencyPolicy)
	}
	for _, ct := range spec.Containers {
		if !isGatewayImage(ct.Image) {
			continue
		}
		if !slices.Equal(ct.Args, []string{"replicate", "--once"}) || len(ct.Command) > 0 {
			c.addf(o.File, "%s: container %s must run `gateway replicate --once` (args), got command %q args %q", where, ct.Name, ct.Command, ct.Args)
		}
	}
}

// ---- docker compose ----

type composeService struct {
	Image       string   `yaml:"image"`
	Build       any      `yaml:"build"`
	Entrypoint  any      `yaml:"entrypoint"`
	Command     any      `yaml:"command"`
	Environment any      `yaml:"environment"`
	Volumes     []string `yaml:"volumes"`
	Healthcheck *struct {
		Test    any  `yaml:"test"`
		Disable bool `yaml:"disable"`
	} `yaml:"healthcheck"`
}

type composeFile struct {
	Services map[string]composeService `yaml:"services"`
}

// words turns a compose string-or-list field into its words.
func words(v any) []string {
	switch v := v.(type) {
	case string:
		return strings.Fields(v)
	case []any:
		out := make([]string, 0, len(v))
		for _, w := range v {
			out = append(out, fmt.Sprint(w))
		}
		return out
	}
	return nil
}

// environment turns a compose map-or-list environment into a map.
func environment(v any) map[string]string {
	out := map[string]string{}
	switch v := v.(type) {
	case map[string]any:
		for k, val := range v {
			if val == nil {
				out[k] = ""
			} else {
				out[k] = fmt.Sprint(val)
			}
		}
	case []any:
		for _, item := range v {
			k, val, _ := strings.Cut(fmt.Sprint(item), "=")
			out[k] = val
		}
	}
	return out
}

// flag returns the value of -name=value or -name value in args.
func flagValue(args []string, name string) string {
	for i, a := range args {
		a = strings.TrimPrefix(strings.TrimPrefix(a, "-"), "-")
		if v, ok := strings.CutPrefix(a, name+"="); ok {
			return v
		}
		if a == name && i+1 < len(args) {
			return args[i+1]
		}
	}
	return ""
}

func (c *checker) checkCompose(docs map[string][]*yaml.Node) composeFile {
	const file = "deployments/docker-compose.yml"
	var cf composeFile
	nodes, ok := docs[file]
	if !ok || len(nodes) != 1 {
		c.addf(file, "missing or not a single document")
		return cf
	}
	if err := nodes[0].Decode(&cf); err != nil {
		c.addf(file, "not a compose file: %v", err)
		return cf
	}
	for _, want := range []string{"gateway", "otel-collector", "jaeger", "prometheus", "grafana"} {
		if _, ok := cf.Services[want]; !ok {
			c.addf(file, "no %s service", want)
		}
	}
	emulators := 0
	for name, s := range cf.Services {
		env := environment(s.Environment)
		for k, v := range env {
			if secretName.MatchString(k) && !placeholder(v) {
				c.addf(file, "service %s: %s is not an obvious placeholder (use change-me)", name, k)
			}
		}
		for _, w := range words(s.Command) {
			if k := flagValue([]string{w}, "key"); k != "" && !placeholder(k) {
				c.addf(file, "service %s: -key is not an obvious placeholder", name)
			}
		}
		for _, v := range s.Volumes {
			src, _, _ := strings.Cut(v, ":")
			if strings.HasPrefix(src, "./") {
				if _, err := fs.Stat(c.fsys, path.Join("deployments", src)); err != nil {
					c.addf(file, "service %s mounts %s, which does not exist", name, src)
				}
			}
		}
		if s.Healthcheck != nil && !s.Healthcheck.Disable {
			argv := words(s.Healthcheck.Test)
			if len(argv) > 0 && (argv[0] == "CMD" || argv[0] == "CMD-SHELL") {
				argv = argv[1:]
			}
			if isGatewayImage(s.Image) {
				c.checkHealthCommand(file, "service "+name+" healthcheck", argv)
			}
		}
		if isEmulatorImage(s.Image) {
			emulators++
			if buildTarget(s.Build) != "emulator" {
				c.addf(file, "service %s: the emulator image builds the Dockerfile's emulator target", name)
			}
			continue
		}
		if !isGatewayImage(s.Image) {
			if strings.Contains(s.Image, "jaegertracing/all-in-one") {
				c.addf(file, "service %s: Jaeger v1 (all-in-one) reached end of life: use jaegertracing/jaeger (v2)", name)
			}
			continue
		}
		if s.Build != nil && buildTarget(s.Build) != "gateway" {
			c.addf(file, "service %s: the gateway image builds the Dockerfile's gateway target", name)
		}
		entry := words(s.Entrypoint)
		switch {
		case len(entry) > 0 && entry[0] == "/emulator":
			c.addf(file, "service %s: the gateway image has no emulator: use the emulator image", name)
		case len(entry) == 0 || entry[0] == "/gateway":
			for k := range env {
				c.checkVariable(file, "service "+name, k)
			}
			c.checkComposeGateway(file, cf, name, env)
		default:
			c.addf(file, "service %s: unknown entrypoint %q", name, entry)
		}
	}
	if emulators < 2 {
		c.addf(file, "want two emulated regions, found %d", emulators)
	}
	return cf
}

// checkComposeGateway follows the gateway's endpoints to the services they
// name: the region's port and key must match what the emulator serves.
func (c *checker) checkComposeGateway(file string, cf composeFile, name string, env map[string]string) {
	for _, region := range []string{"PRIMARY", "SECONDARY"} {
		u, err := url.Parse(env[region+"_ENDPOINT"])
		if err != nil || u.Host == "" {
			c.addf(file, "service %s: %s_ENDPOINT %q is not a URL", name, region, env[region+"_ENDPOINT"])
			continue
		}
		em, ok := cf.Services[u.Hostname()]
		if !ok {
			c.addf(file, "service %s: %s_ENDPOINT names host %s, which is no service", name, region, u.Hostname())
			continue
		}
		args := words(em.Command)
		if _, port, _ := net.SplitHostPort(flagValue(args, "addr")); port != u.Port() {
			c.addf(file, "service %s: %s_ENDPOINT port %s, but %s listens on %q", name, region, u.Port(), u.Hostname(), flagValue(args, "addr"))
		}
		if key := flagValue(args, "key"); key != env[region+"_RESOURCE_KEY"] {
			c.addf(file, "service %s: %s_RESOURCE_KEY differs from %s's -key", name, region, u.Hostname())
		}
	}
	if ep := env["OTEL_EXPORTER_OTLP_ENDPOINT"]; ep != "" {
		u, err := url.Parse(ep)
		if err != nil {
			c.addf(file, "service %s: OTEL_EXPORTER_OTLP_ENDPOINT: %v", name, err)
		} else if _, ok := cf.Services[u.Hostname()]; !ok {
			c.addf(file, "service %s: OTEL_EXPORTER_OTLP_ENDPOINT names host %s, which is no service", name, u.Hostname())
		}
	}
}

// ---- Prometheus, collector, Grafana ----

func (c *checker) checkPrometheus(docs map[string][]*yaml.Node, cf composeFile) {
	const file = "deployments/prometheus.yml"
	var cfg struct {
		ScrapeConfigs []struct {
			JobName       string `yaml:"job_name"`
			MetricsPath   string `yaml:"metrics_path"`
			StaticConfigs []struct {
				Targets []string `yaml:"targets"`
			} `yaml:"static_configs"`
		} `yaml:"scrape_configs"`
	}
	nodes := docs[file]
	if len(nodes) != 1 {
		c.addf(file, "missing or not a single document")
		return
	}
	if err := nodes[0].Decode(&cfg); err != nil {
		c.addf(file, "not a Prometheus configuration: %v", err)
		return
	}
	scrapesGateway := false
	for _, sc := range cfg.ScrapeConfigs {
		mp := sc.MetricsPath
		if mp == "" {
			mp = "/metrics"
		}
		for _, st := range sc.StaticConfigs {
			for _, target := range st.Targets {
				host, port, err := net.SplitHostPort(target)
				if err != nil {
					c.addf(file, "job %s: target %q is not host:port", sc.JobName, target)
					continue
				}
				s, ok := cf.Services[host]
				if !ok {
					c.addf(file, "job %s: target host %s is no compose service", sc.JobName, host)
					continue
				}
				if isGatewayImage(s.Image) {
					scrapesGateway = true
					c.servedPath(file, "job "+sc.JobName+" metrics_path", mp)
					if port != opsPort || !slices.Contains(opsPaths, mp) {
						c.addf(file, "job %s: the gateway serves %s on its ops port %s (GATEWAY_OPS_ADDR), not %s", sc.JobName, mp, opsPort, target)
					}
				}
			}
		}
	}
	if !scrapesGateway {
		c.addf(file, "no job scrapes the gateway")
	}
}

func (c *checker) checkCollector(docs map[string][]*yaml.Node) {
	const file = "deployments/otel-collector.yaml"
	var cfg struct {
		Receivers  map[string]any `yaml:"receivers"`
		Processors map[string]any `yaml:"processors"`
		Exporters  map[string]any `yaml:"exporters"`
		Extensions map[string]any `yaml:"extensions"`
		Service    struct {
			Extensions []string `yaml:"extensions"`
			Pipelines  map[string]struct {
				Receivers  []string `yaml:"receivers"`
				Processors []string `yaml:"processors"`
				Exporters  []string `yaml:"exporters"`
			} `yaml:"pipelines"`
		} `yaml:"service"`
	}
	nodes := docs[file]
	if len(nodes) != 1 {
		c.addf(file, "missing or not a single document")
		return
	}
	if err := nodes[0].Decode(&cfg); err != nil {
		c.addf(file, "not a collector configuration: %v", err)
		return
	}
	for _, e := range cfg.Service.Extensions {
		if _, ok := cfg.Extensions[e]; !ok {
			c.addf(file, "service uses undefined extension %s", e)
		}
	}
	for _, want := range []string{"traces", "metrics"} {
		if _, ok := cfg.Service.Pipelines[want]; !ok {
			c.addf(file, "no %s pipeline", want)
		}
	}
	for name, p := range cfg.Service.Pipelines {
		for kind, list := range map[string][]string{"receiver": p.Receivers, "processor": p.Processors, "exporter": p.Exporters} {
			defined := map[string]map[string]any{"receiver": cfg.Receivers, "processor": cfg.Processors, "exporter": cfg.Exporters}[kind]
			for _, id := range list {
				if _, ok := defined[id]; !ok {
					c.addf(file, "pipeline %s uses undefined %s %s", name, kind, id)
				}
			}
		}
	}
}

// checkGrafana returns the provisioned data source uids.
func (c *checker) checkGrafana(docs map[string][]*yaml.Node, cf composeFile) map[string]bool {
	uids := map[string]bool{}
	grafana := cf.Services["grafana"]
	mounts := map[string]string{} // container path -> repository path
	for _, v := range grafana.Volumes {
		parts := strings.Split(v, ":")
		if len(parts) >= 2 {
			mounts[parts[1]] = path.Join("deployments", parts[0])
		}
	}
	for file, nodes := range docs {
		switch {
		case strings.HasPrefix(file, "deployments/grafana/provisioning/datasources/"):
			var cfg struct {
				Datasources []struct {
					Name string `yaml:"name"`
					UID  string `yaml:"uid"`
					Type string `yaml:"type"`
					URL  string `yaml:"url"`
				} `yaml:"datasources"`
			}
			for _, n := range nodes {
				if err := n.Decode(&cfg); err != nil {
					c.addf(file, "not a data source provisioning file: %v", err)
					continue
				}
				for _, ds := range cfg.Datasources {
					uids[ds.UID] = true
					u, err := url.Parse(ds.URL)
					if err != nil || u.Host == "" {
						c.addf(file, "data source %s: URL %q", ds.Name, ds.URL)
					} else if _, ok := cf.Services[u.Hostname()]; !ok {
						c.addf(file, "data source %s: host %s is no compose service", ds.Name, u.Hostname())
					}
				}
			}
		case strings.HasPrefix(file, "deployments/grafana/provisioning/dashboards/"):
			var cfg struct {
				Providers []struct {
					Name    string `yaml:"name"`
					Options struct {
						Path string `yaml:"path"`
					} `yaml:"options"`
				} `yaml:"providers"`
			}
			for _, n := range nodes {
				if err := n.Decode(&cfg); err != nil {
					c.addf(file, "not a dashboard provider file: %v", err)
					continue
				}
				for _, p := range cfg.Providers {
					src, ok := mounts[p.Options.Path]
					if !ok {
						c.addf(file, "provider %s reads %s, which the grafana service does not mount", p.Name, p.Options.Path)
						continue
					}
					if _, err := fs.Stat(c.fsys, path.Join(src, "gateway.json")); err != nil {
						c.addf(file, "provider %s: %s has no gateway.json", p.Name, src)
					}
				}
			}
		}
	}
	if len(uids) == 0 {
		c.addf("deployments/grafana/provisioning/datasources", "no data sources")
	}
	return uids
}

type dsRef struct {
	Type string `json:"type"`
	UID  string `json:"uid"`
}

type panel struct {
	Title      string `json:"title"`
	Type       string `json:"type"`
	Datasource *dsRef `json:"datasource"`
	Targets    []struct {
		Expr       string `json:"expr"`
		Datasource *dsRef `json:"datasource"`
	} `json:"targets"`
	Panels []panel `json:"panels"`
}

var metricToken = regexp.MustCompile(`\b(?:gateway|replication)_[a-z0-9_]+`)

// dashboardDatasource is the dashboard's data source variable.
const dashboardDatasource = "datasource"

func (c *checker) checkDashboard(uids map[string]bool) {
	const file = "deployments/grafana/dashboards/gateway.json"
	b, err := fs.ReadFile(c.fsys, file)
	if err != nil {
		c.addf(file, "missing: %v", err)
		return
	}
	var d struct {
		UID        string  `json:"uid"`
		Panels     []panel `json:"panels"`
		Templating struct {
			List []struct {
				Name       string `json:"name"`
				Type       string `json:"type"`
				Query      any    `json:"query"` // a string or an object, by type
				Datasource *dsRef `json:"datasource"`
			} `json:"list"`
		} `json:"templating"`
	}
	if err := json.Unmarshal(b, &d); err != nil {
		return // reported as malformed already
	}
	// The data source is a variable, so an operator whose Prometheus has
	// another uid picks it instead of editing every panel.
	hasVar := false
	for _, v := range d.Templating.List {
		switch {
		case v.Name == dashboardDatasource && v.Type == "datasource" && v.Query == "prometheus":
			hasVar = true
		case v.Datasource != nil && v.Datasource.UID != "${"+dashboardDatasource+"}":
			c.addf(file, "variable %q uses data source %q, not the ${%s} variable", v.Name, v.Datasource.UID, dashboardDatasource)
		}
	}
	if !hasVar {
		c.addf(file, "no %q variable of type datasource (query prometheus): the data source is hard-coded", dashboardDatasource)
	}
	uids = map[string]bool{"${" + dashboardDatasource + "}": true}
	used := map[string]bool{}
	var walk func(ps []panel)
	walk = func(ps []panel) {
		for _, p := range ps {
			walk(p.Panels)
			if p.Type == "row" {
				continue
			}
			if p.Title == "" {
				c.addf(file, "a panel without a title")
			}
			if len(p.Targets) == 0 {
				c.addf(file, "panel %q has no query", p.Title)
			}
			for _, ds := range []*dsRef{p.Datasource} {
				if ds != nil && !uids[ds.UID] {
					c.addf(file, "panel %q uses data source %q, not the ${%s} variable", p.Title, ds.UID, dashboardDatasource)
				}
			}
			for _, t := range p.Targets {
				if t.Datasource != nil && !uids[t.Datasource.UID] {
					c.addf(file, "panel %q uses data source %q, not the ${%s} variable", p.Title, t.Datasource.UID, dashboardDatasource)
				}
				tokens := metricToken.FindAllString(t.Expr, -1)
				if len(tokens) == 0 {
					c.addf(file, "panel %q: query %q uses none of the gateway's metrics", p.Title, t.Expr)
				}
				for _, tok := range tokens {
					if !slices.Contains(knownMetrics, tok) {
						c.addf(file, "panel %q: %s is not a metric the gateway exports", p.Title, tok)
					}
					used[tok] = true
				}
			}
		}
	}
	walk(d.Panels)
	for _, m := range knownMetrics {
		if !used[m] {
			c.addf(file, "no panel shows %s", m)
		}
	}
}

// ---- emulator seeds ----

// checkSeeds decodes the emulator seed files the compose stack mounts, the
// way cmd/emulator does, and checks every label lies inside its text.
func (c *checker) checkSeeds(cf composeFile) {
	for name, s := range cf.Services {
		for _, v := range s.Volumes {
			src, _, _ := strings.Cut(v, ":")
			if !strings.HasSuffix(src, ".json") {
				continue
			}
			file := path.Join("deployments", src)
			b, err := fs.ReadFile(c.fsys, file)
			if err != nil {
				continue // reported by checkCompose
			}
			dec := json.NewDecoder(bytes.NewReader(b))
			dec.DisallowUnknownFields()
			var sp emulator.SeedProject
			if err := dec.Decode(&sp); err != nil {
				c.addf(file, "service %s: not an emulator seed project: %v", name, err)
				continue
			}
			for _, d := range sp.Documents {
				n := len(utf16.Encode([]rune(d.Text)))
				for _, l := range d.Labels {
					if l.Offset < 0 || l.Length <= 0 || l.Offset+l.Length > n {
						c.addf(file, "document %s: label %s at %d+%d is outside its %d-unit text", d.Name, l.Category, l.Offset, l.Length, n)
					}
				}
			}
		}
	}
}

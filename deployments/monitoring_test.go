package deployments

import (
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.yaml.in/yaml/v3"

	"nergateway/internal/config"
	"nergateway/internal/testkit/testtool"
)

// readYAML decodes one repository file.
func readYAML(t *testing.T, name string, v any) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", name))
	require.NoError(t, err)
	require.NoError(t, yaml.Unmarshal(b, v), name)
}

type rulesFile struct {
	Groups []struct {
		Name  string `yaml:"name"`
		Rules []struct {
			Alert string `yaml:"alert"`
			Expr  string `yaml:"expr"`
		} `yaml:"rules"`
	} `yaml:"groups"`
}

// The alert rules live in one plain rules file; the Prometheus Operator's
// PrometheusRule is generated from it.
const (
	ruleFile           = "deployments/alerts.yaml"
	prometheusRuleFile = "deployments/k8s/monitoring/prometheusrule.yaml"
)

// TestAlertRules runs the promtool commands README.md documents, exactly
// as written, from the repository's root (promtool ships in Debian's
// prometheus package; scripts/provision installs it): the rules file is
// valid, and each alert fires on the series that should fire it and stays
// quiet otherwise (deployments/alerts.test.yaml).
func TestAlertRules(t *testing.T) {
	promtool := testtool.Need(t, "promtool")
	readme, err := os.ReadFile(filepath.Join("..", "README.md"))
	require.NoError(t, err)
	var cmds []string
	for line := range strings.SplitSeq(string(readme), "\n") {
		if strings.HasPrefix(line, "promtool ") {
			cmds = append(cmds, strings.TrimSpace(line))
		}
	}
	require.Equal(t, []string{"promtool check rules " + ruleFile, "promtool test rules deployments/alerts.test.yaml"}, cmds,
		"README.md documents how to check and test the alert rules")
	for _, c := range cmds {
		cmd := exec.Command(promtool, strings.Fields(c)[1:]...)
		cmd.Dir = ".."
		out, err := cmd.CombinedOutput()
		require.NoError(t, err, "%s:\n%s", c, out)
	}
}

var update = flag.Bool("update", false, "rewrite generated files (the PrometheusRule) instead of comparing them")

// TestPrometheusRuleIsTheRulesFile keeps the Prometheus Operator's
// PrometheusRule equal to the rules file promtool tests: its spec is the
// rules file's groups, comments included. -update writes it.
func TestPrometheusRuleIsTheRulesFile(t *testing.T) {
	rules, err := os.ReadFile(filepath.Join("..", ruleFile))
	require.NoError(t, err)
	_, groups, ok := strings.Cut(string(rules), "\ngroups:\n")
	require.True(t, ok, "%s: no top-level groups", ruleFile)
	var b strings.Builder
	b.WriteString(`# Generated from deployments/alerts.yaml (the alert rules, tested with
# promtool) by go test ./deployments -run TestPrometheusRuleIsTheRulesFile
# -update: edit that file, not this one. For the Prometheus Operator
# (monitoring.coreos.com/v1). Series: README.md, "Traces, metrics and logs".
apiVersion: monitoring.coreos.com/v1
kind: PrometheusRule
metadata:
  name: nergateway
  labels:
    app.kubernetes.io/name: nergateway
spec:
  groups:
`)
	for line := range strings.SplitSeq(strings.TrimSuffix(groups, "\n"), "\n") {
		if line != "" {
			line = "  " + line
		}
		b.WriteString(line + "\n")
	}
	path := filepath.Join("..", prometheusRuleFile)
	if *update {
		require.NoError(t, os.WriteFile(path, []byte(b.String()), 0o644))
	}
	got, err := os.ReadFile(path)
	require.NoError(t, err)
	assert.Equal(t, b.String(), string(got), "%s is generated from %s: run go test ./deployments -run TestPrometheusRuleIsTheRulesFile -update", prometheusRuleFile, ruleFile)

	// What the operator reads is what promtool tested.
	var pr struct {
		Kind string `yaml:"kind"`
		Spec any    `yaml:"spec"`
	}
	var plain any
	require.NoError(t, yaml.Unmarshal(got, &pr))
	require.NoError(t, yaml.Unmarshal(rules, &plain))
	assert.Equal(t, "PrometheusRule", pr.Kind)
	assert.Equal(t, plain, pr.Spec)
}

// TestAlertRulesMatchTheGateway checks that the alerts the issue asks for
// exist, query series the gateway exports, and use the thresholds of the
// configuration's defaults.
func TestAlertRulesMatchTheGateway(t *testing.T) {
	var rf rulesFile
	readYAML(t, ruleFile, &rf)
	exprs := map[string]string{}
	for _, g := range rf.Groups {
		for _, r := range g.Rules {
			exprs[r.Alert] = r.Expr
		}
	}
	for _, want := range []string{"NergatewayRegionBreakerOpen", "NergatewayNoRegionReady", "NergatewayReplicationFailed",
		"NergatewayReplicationLagging", "NergatewayCanaryBelowThreshold"} {
		assert.NotEmpty(t, exprs[want], "%s: no alert %s", ruleFile, want)
	}
	known := append(slices.Clone(knownMetrics), "replication_canary_agreement", "gateway_breaker_transitions_total")
	for alert, expr := range exprs {
		for _, tok := range metricToken.FindAllString(expr, -1) {
			assert.Contains(t, known, tok, "%s: alert %s queries %s, which the gateway does not export", ruleFile, alert, tok)
		}
	}
	cfg, err := config.Load(func(k string) string {
		return map[string]string{"GATEWAY_API_KEYS": "k", "PRIMARY_ENDPOINT": "https://a.example", "PRIMARY_RESOURCE_KEY": "k",
			"SECONDARY_ENDPOINT": "https://b.example", "SECONDARY_RESOURCE_KEY": "k"}[k]
	})
	require.NoError(t, err)
	lag := fmt.Sprintf("> 1.5 * %d", int(cfg.ReplicationInterval.Seconds()))
	assert.Contains(t, exprs["NergatewayReplicationLagging"], lag, "%s: the lag alert must fire past 1.5 x REPLICATION_INTERVAL (%s)", ruleFile, cfg.ReplicationInterval)
	canary := "< " + strconv.FormatFloat(cfg.CanaryMinAgreement, 'g', -1, 64)
	assert.Contains(t, exprs["NergatewayCanaryBelowThreshold"], canary, "%s: the canary alert must use REPLICATION_CANARY_MIN_AGREEMENT's default", ruleFile)
	var cron struct {
		Spec struct {
			Schedule string `yaml:"schedule"`
		} `yaml:"spec"`
	}
	readYAML(t, "deployments/k8s/cronjob.yaml", &cron)
	assert.Regexp(t, `^\d+ \d+ \* \* \*$`, cron.Spec.Schedule, "the lag threshold assumes a daily CronJob (%q) and REPLICATION_INTERVAL 24h", cron.Spec.Schedule)
	assert.Equal(t, 24.0, cfg.ReplicationInterval.Hours(), "the lag threshold assumes a daily CronJob (%q) and REPLICATION_INTERVAL 24h", cron.Spec.Schedule)
}

// TestScrapeAndNetworkPolicy checks the ServiceMonitor scrapes the ops port
// through a Service that exposes it, and the NetworkPolicy keeps the ops
// port to the monitoring namespace while clients reach the client port.
func TestScrapeAndNetworkPolicy(t *testing.T) {
	var sm struct {
		Spec struct {
			Selector struct {
				MatchLabels map[string]string `yaml:"matchLabels"`
			} `yaml:"selector"`
			Endpoints []struct {
				Port string `yaml:"port"`
				Path string `yaml:"path"`
			} `yaml:"endpoints"`
		} `yaml:"spec"`
	}
	readYAML(t, "deployments/k8s/monitoring/servicemonitor.yaml", &sm)
	var svc struct {
		Metadata struct {
			Labels map[string]string `yaml:"labels"`
		} `yaml:"metadata"`
		Spec struct {
			Ports []struct {
				Name       string `yaml:"name"`
				TargetPort string `yaml:"targetPort"`
			} `yaml:"ports"`
		} `yaml:"spec"`
	}
	readYAML(t, "deployments/k8s/service-ops.yaml", &svc)
	for k, v := range sm.Spec.Selector.MatchLabels {
		assert.Equal(t, v, svc.Metadata.Labels[k], "the ServiceMonitor selects %s=%s, which the ops Service lacks", k, v)
	}
	assert.True(t, len(sm.Spec.Endpoints) == 1 && sm.Spec.Endpoints[0].Port == "ops" && slices.Contains(opsPaths, sm.Spec.Endpoints[0].Path),
		"the ServiceMonitor must scrape the ops port's /metrics: %+v", sm.Spec.Endpoints)
	assert.True(t, len(svc.Spec.Ports) == 1 && svc.Spec.Ports[0].Name == "ops" && svc.Spec.Ports[0].TargetPort == "ops",
		"the ops Service must expose the container's ops port only: %+v", svc.Spec.Ports)

	var np struct {
		Kind string `yaml:"kind"`
		Spec struct {
			PolicyTypes []string `yaml:"policyTypes"`
			Ingress     []struct {
				From  []any `yaml:"from"`
				Ports []struct {
					Port any `yaml:"port"`
				} `yaml:"ports"`
			} `yaml:"ingress"`
			Egress []struct {
				Ports []struct {
					Port any `yaml:"port"`
				} `yaml:"ports"`
			} `yaml:"egress"`
		} `yaml:"spec"`
	}
	readYAML(t, "deployments/k8s/networkpolicy.yaml", &np)
	require.Equal(t, "NetworkPolicy", np.Kind, "networkpolicy.yaml: want a NetworkPolicy for Ingress and Egress")
	require.Subset(t, np.Spec.PolicyTypes, []string{"Ingress", "Egress"}, "networkpolicy.yaml: want a NetworkPolicy for Ingress and Egress")
	for _, in := range np.Spec.Ingress {
		for _, p := range in.Ports {
			if fmt.Sprint(p.Port) == "ops" {
				assert.NotEmpty(t, in.From, "networkpolicy.yaml: the ops port is open to every pod; allow only the monitoring namespace")
			}
		}
	}
	var egress []string
	for _, e := range np.Spec.Egress {
		for _, p := range e.Ports {
			egress = append(egress, fmt.Sprint(p.Port))
		}
	}
	for _, want := range []string{"53", "443"} {
		assert.Contains(t, egress, want, "networkpolicy.yaml: no egress to port %s (DNS, the regions over HTTPS)", want)
	}
}

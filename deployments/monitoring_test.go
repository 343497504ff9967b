package deployments

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"

	"nergateway/internal/config"
	"nergateway/internal/promtest"
)

// readYAML decodes one repository file.
func readYAML(t *testing.T, name string, v any) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", name))
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.Unmarshal(b, v); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
}

type prometheusRule struct {
	Kind string `yaml:"kind"`
	Spec struct {
		Groups []struct {
			Name  string `yaml:"name"`
			Rules []struct {
				Alert string `yaml:"alert"`
				Expr  string `yaml:"expr"`
			} `yaml:"rules"`
		} `yaml:"groups"`
	} `yaml:"spec"`
}

const ruleFile = "deployments/k8s/monitoring/prometheusrule.yaml"

// TestAlertRules runs the kit's alert rules under `promtool test rules`
// (Debian's prometheus package; .ci/run installs it): each alert fires on
// the series that should fire it and stays quiet otherwise.
func TestAlertRules(t *testing.T) {
	promtool := promtest.Binary(t, "promtool")
	var pr struct {
		Spec struct {
			Groups any `yaml:"groups"`
		} `yaml:"spec"`
	}
	readYAML(t, ruleFile, &pr)
	dir := t.TempDir()
	rules, err := yaml.Marshal(map[string]any{"groups": pr.Spec.Groups})
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "rules.yaml"), rules, 0o600); err != nil {
		t.Fatal(err)
	}
	tests, err := os.ReadFile(filepath.Join("..", "deployments", "alerts.test.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "alerts.test.yaml"), tests, 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(promtool, "check", "rules", "rules.yaml")
	cmd.Dir = dir
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("promtool check rules: %v\n%s", err, out)
	}
	cmd = exec.Command(promtool, "test", "rules", "alerts.test.yaml")
	cmd.Dir = dir
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("promtool test rules: %v\n%s", err, out)
	}
}

// TestAlertRulesMatchTheGateway checks that the alerts the issue asks for
// exist, query series the gateway exports, and use the thresholds of the
// configuration's defaults.
func TestAlertRulesMatchTheGateway(t *testing.T) {
	var pr prometheusRule
	readYAML(t, ruleFile, &pr)
	exprs := map[string]string{}
	for _, g := range pr.Spec.Groups {
		for _, r := range g.Rules {
			exprs[r.Alert] = r.Expr
		}
	}
	for _, want := range []string{"NergatewayRegionBreakerOpen", "NergatewayNoRegionReady", "NergatewayReplicationFailed",
		"NergatewayReplicationLagging", "NergatewayCanaryBelowThreshold"} {
		if exprs[want] == "" {
			t.Errorf("%s: no alert %s", ruleFile, want)
		}
	}
	known := append(slices.Clone(knownMetrics), "replication_canary_agreement", "gateway_breaker_transitions_total")
	for alert, expr := range exprs {
		for _, tok := range metricToken.FindAllString(expr, -1) {
			if !slices.Contains(known, tok) {
				t.Errorf("%s: alert %s queries %s, which the gateway does not export", ruleFile, alert, tok)
			}
		}
	}
	cfg, err := config.Load(func(k string) string {
		return map[string]string{"GATEWAY_API_KEYS": "k", "PRIMARY_ENDPOINT": "https://a.example", "PRIMARY_RESOURCE_KEY": "k",
			"SECONDARY_ENDPOINT": "https://b.example", "SECONDARY_RESOURCE_KEY": "k"}[k]
	})
	if err != nil {
		t.Fatal(err)
	}
	lag := fmt.Sprintf("> 1.5 * %d", int(cfg.ReplicationInterval.Seconds()))
	if !strings.Contains(exprs["NergatewayReplicationLagging"], lag) {
		t.Errorf("%s: the lag alert must fire past 1.5 x REPLICATION_INTERVAL (%s): want %q in %q", ruleFile, cfg.ReplicationInterval, lag, exprs["NergatewayReplicationLagging"])
	}
	canary := "< " + strconv.FormatFloat(cfg.CanaryMinAgreement, 'g', -1, 64)
	if !strings.Contains(exprs["NergatewayCanaryBelowThreshold"], canary) {
		t.Errorf("%s: the canary alert must use REPLICATION_CANARY_MIN_AGREEMENT's default: want %q in %q", ruleFile, canary, exprs["NergatewayCanaryBelowThreshold"])
	}
	var cron struct {
		Spec struct {
			Schedule string `yaml:"schedule"`
		} `yaml:"spec"`
	}
	readYAML(t, "deployments/k8s/cronjob.yaml", &cron)
	if !regexp.MustCompile(`^\d+ \d+ \* \* \*$`).MatchString(cron.Spec.Schedule) || cfg.ReplicationInterval.Hours() != 24 {
		t.Errorf("the lag threshold assumes a daily CronJob (%q) and REPLICATION_INTERVAL 24h", cron.Spec.Schedule)
	}
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
		if svc.Metadata.Labels[k] != v {
			t.Errorf("the ServiceMonitor selects %s=%s, which the ops Service lacks", k, v)
		}
	}
	if len(sm.Spec.Endpoints) != 1 || sm.Spec.Endpoints[0].Port != "ops" || !slices.Contains(opsPaths, sm.Spec.Endpoints[0].Path) {
		t.Errorf("the ServiceMonitor must scrape the ops port's /metrics: %+v", sm.Spec.Endpoints)
	}
	if len(svc.Spec.Ports) != 1 || svc.Spec.Ports[0].Name != "ops" || svc.Spec.Ports[0].TargetPort != "ops" {
		t.Errorf("the ops Service must expose the container's ops port only: %+v", svc.Spec.Ports)
	}

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
	if np.Kind != "NetworkPolicy" || !slices.Contains(np.Spec.PolicyTypes, "Ingress") || !slices.Contains(np.Spec.PolicyTypes, "Egress") {
		t.Fatalf("networkpolicy.yaml: want a NetworkPolicy for Ingress and Egress")
	}
	for _, in := range np.Spec.Ingress {
		for _, p := range in.Ports {
			if fmt.Sprint(p.Port) == "ops" && len(in.From) == 0 {
				t.Error("networkpolicy.yaml: the ops port is open to every pod; allow only the monitoring namespace")
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
		if !slices.Contains(egress, want) {
			t.Errorf("networkpolicy.yaml: no egress to port %s (DNS, the regions over HTTPS)", want)
		}
	}
}

// Package deployments holds the deployment kit (docker-compose, the
// OpenTelemetry Collector, Prometheus and Grafana configuration, Kubernetes
// manifests) and no code. Its test parses every file and checks it against
// what the gateway serves and reads (docs/DESIGN.md), so a manifest cannot drift
// from the binary unnoticed.
package deployments

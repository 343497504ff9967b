// Command demo serves the gateway (package gateway, as cmd/gateway does)
// in front of two emulated regions in process, so it needs no Azure
// account: README.md's first command. It is a command of its own so that
// the gateway's binary links neither the emulator, with its
// unauthenticated fault API, nor its blob service.
package main

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"time"

	"nergateway/cmd/internal/cli"
	"nergateway/emulator"
	"nergateway/gateway"
	"nergateway/internal/auth"
	"nergateway/internal/blobemu"
	"nergateway/internal/config"
	"nergateway/internal/secret"
	"nergateway/replication/docsync"
	"nergateway/rescue"
)

func main() { cli.Main("demo", run) }

// run is the whole demo; main only supplies the process's context,
// arguments, environment and streams, so tests start the demo in process.
func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	if len(args) > 0 {
		fmt.Fprint(stderr, "usage: go run ./cmd/demo (README.md: the variables it honours)\n")
		return fmt.Errorf("unexpected argument %q", args[0])
	}
	return runDemo(ctx, getenv, stdout, stderr)
}

// Demo names: docs/DESIGN.md's "Commands" section.
const (
	demoProject    = "demo"
	demoDeployment = "production"
	demoKey        = "demo-key"
	// demoAuthoringKey may also call the authoring API (the primary's).
	demoAuthoringKey = "demo-authoring-key"
	demoModel        = "model1"
	demoPrimaryBox   = "ner-docs-primary"
	demoSecondBox    = "ner-docs-secondary"
)

// demoTexts are the labelled training documents of the demo project; each
// label is the exact text to mark and its category.
var demoTexts = []struct {
	name, text string
	labels     [][2]string
}{
	{"01.txt", "Contoso hired Zoë Müller in Köln last spring.", [][2]string{{"Contoso", "Company"}, {"Zoë Müller", "Person"}, {"Köln", "City"}}},
	{"02.txt", "Fabrikam opened an office in São Paulo, led by Anil Kumar.", [][2]string{{"Fabrikam", "Company"}, {"São Paulo", "City"}, {"Anil Kumar", "Person"}}},
	{"03.txt", "Zoë Müller met the Fabrikam team in Seattle.", [][2]string{{"Zoë Müller", "Person"}, {"Fabrikam", "Company"}, {"Seattle", "City"}}},
	{"04.txt", "Northwind Traders signed with Contoso in Zürich.", [][2]string{{"Northwind Traders", "Company"}, {"Contoso", "Company"}, {"Zürich", "City"}}},
}

// randomRescueKey is a JOB_RESCUE_KEY for one demo run.
func randomRescueKey() string {
	b := make([]byte, rescue.KeySize)
	_, _ = rand.Read(b)
	return base64.StdEncoding.EncodeToString(b)
}

func randomKey() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// runDemo starts two emulated regions in process, fills the primary with
// the demo project, and serves the gateway in front of them; replication
// copies the project to the secondary within seconds.
func runDemo(ctx context.Context, getenv func(string) string, stdout, stderr io.Writer) error {
	primaryKey, secondaryKey := randomKey(), randomKey()
	// One storage account for both regions' containers, in process: the
	// worker copies the training documents into the secondary's.
	storageURL, stopStorage, err := startDemoStorage()
	if err != nil {
		return err
	}
	defer stopStorage()
	storageKey := base64.StdEncoding.EncodeToString([]byte(randomKey()))
	documents, err := docsync.NewStore(storageURL, docsync.Options{Key: secret.Secret(storageKey)})
	if err != nil {
		return fmt.Errorf("demo: storage: %w", err)
	}
	primary, err := emulator.NewServer(emulator.Options{Name: "primary", Key: primaryKey,
		JobDuration: 2 * time.Second, AuthoringJobDuration: time.Second, Documents: documents})
	if err != nil {
		return fmt.Errorf("demo: start primary emulator: %w", err)
	}
	defer primary.Close()
	secondary, err := emulator.NewServer(emulator.Options{Name: "secondary", Key: secondaryKey,
		JobDuration: 2 * time.Second, AuthoringJobDuration: time.Second, Documents: documents})
	if err != nil {
		return fmt.Errorf("demo: start secondary emulator: %w", err)
	}
	defer secondary.Close()

	seed := emulator.SeedProject{Name: demoProject, Language: "en", Container: demoPrimaryBox,
		Entities: []string{"Company", "Person", "City"}, ModelLabel: demoModel, DeploymentName: demoDeployment}
	for _, d := range demoTexts {
		doc := emulator.SeedDocument{Name: d.name, Text: d.text}
		for _, l := range d.labels {
			doc.Labels = append(doc.Labels, emulator.MustLabel(d.text, l[0], l[1]))
		}
		seed.Documents = append(seed.Documents, doc)
	}
	if err := primary.Seed(seed); err != nil {
		return fmt.Errorf("demo: seed primary: %w", err)
	}

	// The user's environment wins, except for what only the demo knows.
	fixed := map[string]string{
		"PRIMARY_ENDPOINT": primary.URL, "PRIMARY_RESOURCE_KEY": primaryKey,
		"SECONDARY_ENDPOINT": secondary.URL, "SECONDARY_RESOURCE_KEY": secondaryKey,
		"PRIMARY_CONTAINER_NAME": demoPrimaryBox, "SECONDARY_CONTAINER_NAME": demoSecondBox,
		"PRIMARY_STORAGE_URL": storageURL, "SECONDARY_STORAGE_URL": storageURL,
		"PRIMARY_STORAGE_KEY": storageKey, "SECONDARY_STORAGE_KEY": storageKey,
	}
	defaults := map[string]string{
		"GATEWAY_API_KEYS": "demo-app:" + demoKey, "GATEWAY_AUTHORING_KEYS": "demo-authoring:" + demoAuthoringKey, "PROJECT_NAMES": demoProject, "REPLICATION_INTERVAL": "1m",
		"HEALTH_PROBE_INTERVAL": "2s", "BREAKER_CONSECUTIVE_FAILURES": "3", "BREAKER_OPEN_TIMEOUT": "5s",
		"UPSTREAM_TIMEOUT": "5s", "GATEWAY_DRAIN_TIMEOUT": "5s", "AUTHORING_POSTS_PER_MINUTE": "120",
		// Job rescue in this process's memory, under a key made for this run.
		"JOB_RESCUE": "memory", "JOB_RESCUE_KEY": randomRescueKey(), "JOB_RESCUE_AFTER": "5s",
	}
	demoEnv := func(name string) string {
		if v, ok := fixed[name]; ok {
			return v
		}
		if v := getenv(name); v != "" {
			return v
		}
		return defaults[name]
	}
	cfg, err := config.Load(demoEnv)
	if err != nil {
		return err
	}
	g, err := gateway.New(ctx, cfg, gateway.Deps{
		Getenv: demoEnv, Stderr: stderr, LogFormat: "text", Environ: gateway.EnvironNames(os.Environ()),
		Ready: func(addr, opsAddr string) {
			printDemoHelp(stdout, addr, opsAddr, firstKey(cfg.APIKeys, "GATEWAY_API_KEYS_FILE"),
				firstKey(cfg.AuthoringKeys, "GATEWAY_AUTHORING_KEYS_FILE"), primary.AdminURL, cfg.JobRescueAfter.String())
		},
	})
	if err != nil {
		return err
	}
	return g.Serve(ctx)
}

// startDemoStorage serves an in-memory blob service (internal/blobemu) on
// a loopback port and returns its account URL and the function that stops
// it.
func startDemoStorage() (string, func(), error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", nil, fmt.Errorf("demo: storage: %w", err)
	}
	srv := &http.Server{Handler: blobemu.New("demostorage"), ReadHeaderTimeout: 10 * time.Second}
	done := make(chan struct{})
	go func() { // stopped by the returned function
		defer close(done)
		_ = srv.Serve(ln)
	}()
	return "http://" + ln.Addr().String() + "/demostorage", func() { _ = srv.Close(); <-done }, nil
}

// firstKey is the key the demo's curls show: the first of keys, or a
// placeholder when the keys come from a file.
func firstKey(keys []auth.Key, fileVariable string) string {
	if len(keys) == 0 {
		return "<a key from " + fileVariable + ">"
	}
	return keys[0].Secret.Reveal()
}

func printDemoHelp(w io.Writer, addr, opsAddr, key, authoringKey, primaryAdminURL, rescueAfter string) {
	gw, ops := localURL(addr), localURL(opsAddr)
	fmt.Fprintf(w, `
nergateway demo: gateway on %[1]s (clients), operations on %[6]s, two emulated regions in process.
Project %[3]q (deployment %[4]q) lives in the primary; the replication worker copies its training
documents and the project to the secondary now, then runs the canary (watch "replication" in
%[6]s/status: "documents" and "canary").

1. Submit a custom NER job; the gateway answers 202 with an operation-location on itself:

   LOC=$(curl -si -X POST '%[1]s/language/analyze-text/jobs?api-version=2023-04-01' \
     -H 'Ocp-Apim-Subscription-Key: %[2]s' -H 'Content-Type: application/json' \
     -d '{"displayName":"demo","analysisInput":{"documents":[{"id":"1","language":"en","text":"Zoë Müller of Contoso flew from Köln to Seattle."}]},"tasks":[{"kind":"CustomEntityRecognition","parameters":{"projectName":"%[3]s","deploymentName":"%[4]s"}}]}' \
     | tr -d '\r' | awk 'tolower($1) == "operation-location:" {print $2}'); echo "$LOC"

2. Poll it (a job takes about two seconds here):

   curl -s "$LOC" -H 'Ocp-Apim-Subscription-Key: %[2]s'

3. Take the primary down (connections refused), then submit again: the secondary answers.

   curl -s -X POST '%[5]s/_emulator/faults' -d '{"down":"refuse"}'

4. Bring the primary back; within a few probes the gateway fails back to it.

   curl -s -X DELETE '%[5]s/_emulator/faults'

5. Authoring calls go to the primary only, and need an authoring key (runtime keys get 401):

   curl -s '%[1]s/language/authoring/analyze-text/projects?api-version=2022-05-01' -H 'Ocp-Apim-Subscription-Key: %[7]s'

6. Job rescue: a job the primary accepted is not lost when the primary dies. Run step 1's LOC=...
   line and at once take the primary down; poll: 503 for JOB_RESCUE_AFTER (%[8]s here), then the
   job runs again in the secondary and the same $LOC answers "succeeded" (/status: jobRescue):

   curl -s -X POST '%[5]s/_emulator/faults' -d '{"down":"refuse"}'
   for i in 1 2 3 4 5; do curl -s -o /dev/null -w '%%{http_code}\n' "$LOC" -H 'Ocp-Apim-Subscription-Key: %[2]s'; sleep 2; done
   curl -s "$LOC" -H 'Ocp-Apim-Subscription-Key: %[2]s'
   curl -s -X DELETE '%[5]s/_emulator/faults'

Region state: curl -s %[6]s/status    Metrics: curl -s %[6]s/metrics    Stop: Ctrl-C
`, gw, key, demoProject, demoDeployment, primaryAdminURL, ops, authoringKey, rescueAfter)
}

// localURL is an http URL for a listener's address that a user can paste.
func localURL(addr string) string {
	host, port, _ := net.SplitHostPort(addr)
	if host == "" || host == "::" || host == "0.0.0.0" {
		host = "localhost"
	}
	return "http://" + net.JoinHostPort(host, port)
}

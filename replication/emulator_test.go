package replication

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf16"

	"go.opentelemetry.io/otel/codes"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"nergateway/api"
	"nergateway/emulator"
	"nergateway/internal/secret"
)

const (
	primaryKey   = "primary-key-0123456789"
	secondaryKey = "secondary-key-9876543210"

	projectName  = "support"
	deployment   = "production"
	modelLabel   = "model-v1"
	primaryDocs  = "support-docs"
	drProject    = "support-dr"
	drDeployment = "prod-dr"
	drDocs       = "dr-docs"
)

// regionPair is two emulated regions, a client for each, and a worker
// config that replicates the primary's "support" project into the
// secondary under other project, deployment and container names.
type regionPair struct {
	primary, secondary *emulator.Server
	pc, sc             *api.Client
	cfg                Config
}

type pairOptions struct {
	secondary       emulator.Options // Name and Key are filled in
	maxPollInterval time.Duration    // zero: 2s, so a Retry-After of 1s is honoured uncapped
}

func newRegionPair(t *testing.T, o pairOptions) *regionPair {
	t.Helper()
	return newRegionPairWith(t, o, emulator.Options{}, primaryDocs, drDocs, true)
}

// newRegionPairWith is newRegionPair with the primary's options, both
// containers, and whether the operator's storage replication put the
// documents into the secondary's.
func newRegionPairWith(t *testing.T, o pairOptions, po emulator.Options, pDocs, sDocs string, copyDocs bool) *regionPair {
	t.Helper()
	po.Name, po.Key = "westus2", primaryKey
	primary, err := emulator.NewServer(po)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(primary.Close)
	so := o.secondary
	so.Name, so.Key = "eastus", secondaryKey
	secondary, err := emulator.NewServer(so)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(secondary.Close)

	// One transport per test whose idle connections are closed at the end,
	// so goleak sees no connection goroutines.
	tr := &http.Transport{}
	t.Cleanup(tr.CloseIdleConnections)
	copts := api.ClientOptions{
		HTTPClient:      &http.Client{Transport: tr},
		PollInterval:    2 * time.Millisecond,
		MaxPollInterval: o.maxPollInterval,
	}
	if copts.MaxPollInterval == 0 {
		copts.MaxPollInterval = 2 * time.Second
	}
	pc, err := api.NewClient(primary.URL, secret.Secret(primaryKey), copts)
	if err != nil {
		t.Fatal(err)
	}
	sc, err := api.NewClient(secondary.URL, secret.Secret(secondaryKey), copts)
	if err != nil {
		t.Fatal(err)
	}
	rp := &regionPair{primary: primary, secondary: secondary, pc: pc, sc: sc}
	rp.cfg = Config{
		Primary: pc, Secondary: sc, PrimaryName: "westus2", SecondaryName: "eastus",
		Projects:                []string{projectName},
		ProjectNames:            map[string]string{projectName: drProject},
		DeploymentNames:         map[string]string{deployment: drDeployment},
		SecondaryContainer:      sDocs,
		AuthoringPostsPerMinute: 600000,
	}
	seed := seedProject()
	seed.Container = pDocs
	if err := primary.Seed(seed); err != nil {
		t.Fatal(err)
	}
	if copyDocs {
		// The operator's storage replication: the secondary container
		// holds the same documents.
		for _, d := range seed.Documents {
			secondary.PutDocument(sDocs, d.Name, d.Text)
		}
	}
	return rp
}

// Training texts: non-ASCII names, and an emoji (two UTF-16 code units,
// one code point, one text element) before entities, so offsets differ by
// string index type.
var seedTexts = map[string]string{
	"01.txt": "📦 Ship the order to Zürich before Friday.",
	"02.txt": "Our office in Łódź called about the invoice.",
	"03.txt": "Customer in São Paulo wants delivery to Zürich.",
}

var seedLabels = map[string][][2]string{ // document -> (category, text)
	"01.txt": {{"City", "Zürich"}, {"Day", "Friday"}},
	"02.txt": {{"City", "Łódź"}},
	"03.txt": {{"City", "São Paulo"}, {"City", "Zürich"}},
}

func seedProject() emulator.SeedProject {
	sp := emulator.SeedProject{Name: projectName, Language: "en", Container: primaryDocs,
		ModelLabel: modelLabel, DeploymentName: deployment}
	for _, name := range []string{"01.txt", "02.txt", "03.txt"} {
		doc := emulator.SeedDocument{Name: name, Text: seedTexts[name]}
		for _, l := range seedLabels[name] {
			doc.Labels = append(doc.Labels, utf16Label(doc.Text, l[0], l[1]))
		}
		sp.Documents = append(sp.Documents, doc)
	}
	return sp
}

// utf16Label labels the first occurrence of span in text, in UTF-16 code
// units as projects store them.
func utf16Label(text, category, span string) api.Label {
	i := strings.Index(text, span)
	if i < 0 {
		panic("span not in text: " + span)
	}
	return api.Label{Category: category,
		Offset: len(utf16.Encode([]rune(text[:i]))), Length: len(utf16.Encode([]rune(span)))}
}

// queryText is what the runtime jobs analyse: entities after multi-unit
// characters.
const queryText = "🚚📦 Zürich, then Łódź; São Paulo on Friday, Zürich again."

// recognise runs a custom NER job in a region and returns the entities
// found, as "category:text@offset+length".
func recognise(t *testing.T, c *api.Client, project, deploymentName, indexType string) []string {
	t.Helper()
	ctx := context.Background()
	op, err := c.SubmitJob(ctx, api.SubmitRequest{
		AnalysisInput: api.AnalysisInput{Documents: []api.Document{{ID: "1", Language: "en", Text: queryText}}},
		Tasks: []api.Task{{Kind: api.KindCustomEntityRecognition, Parameters: api.TaskParameters{
			ProjectName: project, DeploymentName: deploymentName, StringIndexType: indexType}}},
	})
	if err != nil {
		t.Fatalf("submit to %s/%s: %v", project, deploymentName, err)
	}
	job, err := c.WaitJob(ctx, op)
	if err != nil {
		t.Fatalf("job in %s/%s: %v", project, deploymentName, err)
	}
	if len(job.Tasks.Items) != 1 {
		t.Fatalf("job has %d task items", len(job.Tasks.Items))
	}
	var res api.CustomEntitiesResult
	if err := json.Unmarshal(job.Tasks.Items[0].Results, &res); err != nil {
		t.Fatal(err)
	}
	if len(res.Errors) > 0 || len(res.Documents) != 1 {
		t.Fatalf("results: %+v", res)
	}
	var out []string
	for _, e := range res.Documents[0].Entities {
		out = append(out, e.Category+":"+e.Text+"@"+itoa(e.Offset)+"+"+itoa(e.Length))
	}
	return out
}

func itoa(i int) string { return strconv.Itoa(i) }

// sameAnswers asserts that the secondary answers every string index type
// exactly as the primary, and that the answers contain want.
func (rp *regionPair) sameAnswers(t *testing.T, want ...string) {
	t.Helper()
	for _, it := range []string{api.StringIndexUTF16, api.StringIndexCodePoint, api.StringIndexTextElements} {
		p := recognise(t, rp.pc, projectName, deployment, it)
		s := recognise(t, rp.sc, drProject, drDeployment, it)
		if strings.Join(p, " | ") != strings.Join(s, " | ") {
			t.Fatalf("%s: secondary answers\n  %v\nprimary answers\n  %v", it, s, p)
		}
		joined := strings.Join(p, " | ")
		for _, w := range want {
			if !strings.Contains(joined, w) {
				t.Fatalf("%s: answers %v lack %q", it, p, w)
			}
		}
	}
}

func (rp *regionPair) writes() map[string]int {
	return map[string]int{
		"export": rp.primary.Calls("export"),
		"import": rp.secondary.Calls("import"),
		"train":  rp.secondary.Calls("train") + rp.primary.Calls("train"),
		"deploy": rp.secondary.Calls("deploy") + rp.primary.Calls("deploy"),
	}
}

func TestEmulatorFreshSecondaryAnswersLikePrimary(t *testing.T) {
	rp := newRegionPair(t, pairOptions{})
	w := mustNew(t, rp.cfg)
	ctx := context.Background()

	if err := w.SyncOnce(ctx); err != nil {
		t.Fatalf("SyncOnce: %v", err)
	}
	rp.sameAnswers(t, "City:Zürich@", "City:Łódź@", "City:São Paulo@", "Day:Friday@")
	// UTF-16: two emoji of two code units each and a space, then "Zürich".
	if got := recognise(t, rp.sc, drProject, drDeployment, api.StringIndexUTF16)[0]; got != "City:Zürich@5+6" {
		t.Fatalf("first entity %q, want City:Zürich@5+6", got)
	}

	sp, err := rp.sc.GetProject(ctx, drProject)
	if err != nil {
		t.Fatal(err)
	}
	if sp.StorageInputContainerName != drDocs {
		t.Errorf("secondary container %q, want %q", sp.StorageInputContainerName, drDocs)
	}
	if _, err := rp.sc.GetProject(ctx, projectName); !api.IsNotFound(err) {
		t.Errorf("the primary's project name exists in the secondary: %v", err)
	}
	m, err := rp.sc.GetModel(ctx, drProject, modelLabel)
	if err != nil {
		t.Fatalf("secondary model under the primary's label: %v", err)
	}
	if m.ModelTrainingConfigVersion != "2022-05-01" {
		t.Errorf("training config %q", m.ModelTrainingConfigVersion)
	}
	st := statusOf(t, w, projectName)
	if st.State != StateInSync || st.SecondaryProject != drProject || st.LastSuccess == nil ||
		st.LagSeconds != 0 || st.PrimaryLastModified == nil || st.SecondaryLastModified == nil {
		t.Fatalf("status %+v", st)
	}

	// In sync: a check costs nothing.
	rp.primary.ResetCalls()
	rp.secondary.ResetCalls()
	if err := w.SyncOnce(ctx); err != nil {
		t.Fatal(err)
	}
	for route, n := range rp.writes() {
		if n != 0 {
			t.Errorf("in sync, yet %d %s calls", n, route)
		}
	}
	if rp.primary.Calls("getProject") == 0 || rp.secondary.Calls("listDeployments") == 0 {
		t.Error("the check did not read both regions")
	}
	if st := statusOf(t, w, projectName); st.State != StateInSync {
		t.Fatalf("status %+v", st)
	}
}

// relabel changes the primary project as a user would: export, edit the
// labels, import, retrain, redeploy.
func relabel(t *testing.T, rp *regionPair, edit func(*api.ExportedProject)) {
	t.Helper()
	ctx := context.Background()
	c := rp.pc
	wait := func(op *api.Operation, err error) *api.AuthoringJob {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		job, err := c.Wait(ctx, op, nil)
		if err != nil {
			t.Fatal(err)
		}
		return job
	}
	job := wait(c.Export(ctx, projectName))
	ep, err := c.ExportResult(ctx, job.ResultURL)
	if err != nil {
		t.Fatal(err)
	}
	edit(ep)
	wait(c.Import(ctx, projectName, *ep))
	wait(c.Train(ctx, projectName, api.TrainRequest{ModelLabel: modelLabel, TrainingConfigVersion: "latest"}))
	wait(c.Deploy(ctx, projectName, deployment, api.DeployRequest{TrainedModelLabel: modelLabel}))
}

func TestEmulatorLabelChangeIsReplicated(t *testing.T) {
	rp := newRegionPair(t, pairOptions{})
	w := mustNew(t, rp.cfg)
	ctx := context.Background()
	if err := w.SyncOnce(ctx); err != nil {
		t.Fatal(err)
	}

	// The primary learns a new category from a new document, which the
	// secondary container does not hold yet.
	const newDoc = "04.txt"
	newText := "Parcel for Paulo's café in Saint-Étienne."
	rp.primary.PutDocument(primaryDocs, newDoc, newText)
	relabel(t, rp, func(ep *api.ExportedProject) {
		l := utf16Label(newText, "Place", "Saint-Étienne")
		ep.Assets.Entities = append(ep.Assets.Entities, api.EntityType{Category: "Place"})
		ep.Assets.Documents = append(ep.Assets.Documents, api.LabeledDocument{Location: newDoc, Language: "en",
			Dataset: api.DatasetTrain, Entities: []api.LabeledRegion{{RegionLength: len(utf16.Encode([]rune(newText))),
				Labels: []api.Label{l}}}})
	})
	before := rp.writes()

	// A check alone sees the drift and writes nothing.
	if err := w.Check(ctx); err != nil {
		t.Fatal(err)
	}
	st := statusOf(t, w, projectName)
	if st.State != StateOutOfSync || st.LagSeconds <= 0 || !st.PrimaryLastModified.After(*st.SecondaryLastModified) {
		t.Fatalf("after the change, before a run: %+v", st)
	}
	if got := rp.writes(); got["import"] != before["import"] || got["export"] != before["export"] {
		t.Fatalf("Check wrote: %v then %v", before, got)
	}

	// The run imports, then training fails: the document is missing in the
	// secondary container. The old deployment keeps serving.
	err := w.SyncOnce(ctx)
	var ae *api.Error
	if !errors.As(err, &ae) || ae.Code != api.CodeInvalidRequest {
		t.Fatalf("SyncOnce: %v, want Azure's InvalidRequest", err)
	}
	st = statusOf(t, w, projectName)
	if st.State != StateFailed || st.Stage != StageTrain || st.LastError == nil ||
		st.LastError.Code != api.CodeInvalidRequest || !strings.Contains(st.LastError.Message, newDoc) {
		t.Fatalf("status after a failed training: %+v %+v", st, st.LastError)
	}
	if got := recognise(t, rp.sc, drProject, drDeployment, api.StringIndexUTF16); strings.Contains(strings.Join(got, ","), "Place:") ||
		len(got) == 0 {
		t.Fatalf("secondary stopped serving its previous model: %v", got)
	}

	// The operator's storage replication catches up; the next check
	// retrains even though the import already happened.
	rp.secondary.PutDocument(drDocs, newDoc, newText)
	if err := w.SyncOnce(ctx); err != nil {
		t.Fatalf("retry: %v", err)
	}
	p := recognise(t, rp.pc, projectName, deployment, api.StringIndexUTF16)
	s := recognise(t, rp.sc, drProject, drDeployment, api.StringIndexUTF16)
	if strings.Join(p, ",") != strings.Join(s, ",") {
		t.Fatalf("secondary %v, primary %v", s, p)
	}
	// The query has no Saint-Étienne; ask for it directly.
	if st := statusOf(t, w, projectName); st.State != StateInSync || st.LastError != nil {
		t.Fatalf("after the retry: %+v", st)
	}
	m, err := rp.sc.GetModel(ctx, drProject, modelLabel)
	if err != nil {
		t.Fatal(err)
	}
	d, err := rp.sc.GetDeployment(ctx, drProject, drDeployment)
	if err != nil || d.ModelID != m.ModelID {
		t.Fatalf("secondary deployment %+v serves %v, want the retrained %s", d, err, m.ModelID)
	}
}

func TestEmulatorRetrainIsReplicatedWithoutImport(t *testing.T) {
	rp := newRegionPair(t, pairOptions{})
	w := mustNew(t, rp.cfg)
	ctx := context.Background()
	if err := w.SyncOnce(ctx); err != nil {
		t.Fatal(err)
	}
	before := rp.writes()

	// Retrain and redeploy in the primary, labels unchanged.
	for _, start := range []func() (*api.Operation, error){
		func() (*api.Operation, error) {
			return rp.pc.Train(ctx, projectName, api.TrainRequest{ModelLabel: modelLabel, TrainingConfigVersion: "latest"})
		},
		func() (*api.Operation, error) {
			return rp.pc.Deploy(ctx, projectName, deployment, api.DeployRequest{TrainedModelLabel: modelLabel})
		},
	} {
		op, err := start()
		if err != nil {
			t.Fatal(err)
		}
		if _, err := rp.pc.Wait(ctx, op, nil); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.SyncOnce(ctx); err != nil {
		t.Fatal(err)
	}
	after := rp.writes()
	if after["import"] != before["import"] || after["export"] != before["export"] {
		t.Fatalf("a retrain re-imported: %v then %v", before, after)
	}
	// One training and one deployment in the primary (ours), and the same
	// in the secondary (the worker's).
	if after["train"] != before["train"]+2 || after["deploy"] != before["deploy"]+2 {
		t.Fatalf("calls %v then %v; want one more train and deploy in each region", before, after)
	}
	pd, err := rp.pc.GetDeployment(ctx, projectName, deployment)
	if err != nil {
		t.Fatal(err)
	}
	sd, err := rp.sc.GetDeployment(ctx, drProject, drDeployment)
	if err != nil {
		t.Fatal(err)
	}
	if !sd.LastTrainedDateTime.After(pd.LastTrainedDateTime) {
		t.Fatalf("secondary trained %v, primary %v", sd.LastTrainedDateTime, pd.LastTrainedDateTime)
	}
	rp.sameAnswers(t, "City:Zürich@")
}

func TestEmulatorFailedStepsRecordAzureCode(t *testing.T) {
	tests := []struct {
		route     string
		secondary bool
	}{
		{"export", false},
		{"exportResult", false},
		{"import", true},
		{"train", true},
		{"deploy", true},
		{"importJob", true}, // a poll that keeps failing
	}
	for _, tt := range tests {
		t.Run(tt.route, func(t *testing.T) {
			rp := newRegionPair(t, pairOptions{})
			region := rp.primary
			if tt.secondary {
				region = rp.secondary
			}
			region.SetFault(emulator.Fault{Status: http.StatusInternalServerError, Routes: []string{tt.route}})
			w := mustNew(t, rp.cfg)
			ctx := context.Background()

			err := w.SyncOnce(ctx)
			var ae *api.Error
			if !errors.As(err, &ae) || ae.Code != api.CodeInternalServerError {
				t.Fatalf("SyncOnce: %v, want Azure's InternalServerError", err)
			}
			st := statusOf(t, w, projectName)
			if st.State != StateFailed || st.LastError == nil || st.LastError.Code != api.CodeInternalServerError || st.Stage == "" {
				t.Fatalf("status %+v %+v", st, st.LastError)
			}
			if !tt.secondary && rp.secondary.Calls("import") != 0 {
				t.Fatal("imported although the export failed")
			}

			region.ClearFaults()
			if err := w.SyncOnce(ctx); err != nil {
				t.Fatalf("after the fault cleared: %v", err)
			}
			if st := statusOf(t, w, projectName); st.State != StateInSync || st.LastError != nil {
				t.Fatalf("after the fault cleared: %+v", st)
			}
			rp.sameAnswers(t, "City:Zürich@")
		})
	}
}

func TestEmulatorPrimaryOutagePauses(t *testing.T) {
	for _, down := range []string{emulator.DownReset, emulator.DownRefuse} {
		t.Run(down, func(t *testing.T) {
			rp := newRegionPair(t, pairOptions{})
			var logs bytes.Buffer
			rp.cfg.Logger = slog.New(slog.NewJSONHandler(&logs, nil))
			rp.primary.SetFault(emulator.Fault{Down: down})
			w := mustNew(t, rp.cfg)
			err := w.SyncOnce(context.Background())
			if err == nil {
				t.Fatal("SyncOnce succeeded with the primary down")
			}
			for route, n := range rp.writes() {
				if n != 0 {
					t.Errorf("%d %s calls with the primary down", n, route)
				}
			}
			st := statusOf(t, w, projectName)
			if st.State != StateFailed || st.LastError == nil {
				t.Fatalf("status %+v", st)
			}
			// Go's HTTP errors name the host; none of it may leak.
			status, _ := json.Marshal(w.Status())
			for _, text := range []string{err.Error(), string(status), logs.String()} {
				if host := hostOf(t, rp.primary.URL); strings.Contains(text, host) || strings.Contains(text, "127.0.0.1") {
					t.Errorf("region address in %q", text)
				}
			}

			// The region comes back: the next pass catches up.
			rp.primary.ClearFaults()
			if err := w.SyncOnce(context.Background()); err != nil {
				t.Fatal(err)
			}
			rp.sameAnswers(t, "City:Zürich@")
		})
	}
}

// scriptedRand answers FailureRate draws from a list, then 0.99 (no fault).
type scriptedRand struct {
	mu   sync.Mutex
	next []float64
}

func (r *scriptedRand) draw() float64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.next) == 0 {
		return 0.99
	}
	v := r.next[0]
	r.next = r.next[1:]
	return v
}

func TestEmulatorRetryAfterIsHonoured(t *testing.T) {
	// The first import is throttled with Retry-After: 1, the second goes
	// through.
	rnd := &scriptedRand{next: []float64{0}}
	rp := newRegionPair(t, pairOptions{secondary: emulator.Options{Rand: rnd.draw}})
	rp.secondary.SetFault(emulator.Fault{Status: http.StatusTooManyRequests, RetryAfter: 1,
		FailureRate: 0.5, Routes: []string{"import"}})
	w := mustNew(t, rp.cfg)
	start := time.Now()
	if err := w.SyncOnce(context.Background()); err != nil {
		t.Fatalf("a 429 failed the run: %v", err)
	}
	if took := time.Since(start); took < time.Second {
		t.Fatalf("run took %v; Retry-After asked for 1s", took)
	}
	if n := rp.secondary.Calls("import"); n != 2 {
		t.Fatalf("%d imports, want 2 (throttled, then accepted)", n)
	}
	if st := statusOf(t, w, projectName); st.State != StateInSync {
		t.Fatalf("status %+v", st)
	}
}

func TestEmulatorAuthoringRateLimit(t *testing.T) {
	// The worker paces its POSTs below the region's limit, so the region
	// never has to throttle it.
	rp := newRegionPair(t, pairOptions{secondary: emulator.Options{AuthoringPostsPerMinute: 3}})
	rp.cfg.AuthoringPostsPerMinute = 3 * 60 // one every 20ms in this test's minute
	w := mustNew(t, rp.cfg)
	if err := w.SyncOnce(context.Background()); err != nil {
		t.Fatal(err)
	}
	if st := statusOf(t, w, projectName); st.State != StateInSync {
		t.Fatalf("status %+v", st)
	}
}

func TestEmulatorStatusWhileReplicating(t *testing.T) {
	clock := emulator.NewManualClock(time.Now())
	const jobTakes = time.Hour
	rp := newRegionPair(t, pairOptions{
		secondary:       emulator.Options{Clock: clock, AuthoringJobDuration: jobTakes},
		maxPollInterval: 5 * time.Millisecond,
	})
	w := mustNew(t, rp.cfg)
	ctx := context.Background()
	done := make(chan error, 1)
	go func() { done <- w.SyncOnce(ctx) }()

	// Each secondary job runs until the test moves the secondary's clock.
	for _, stage := range []string{StageImport, StageTrain, StageDeploy} {
		st := waitStatus(t, w, projectName, func(s ProjectStatus) bool { return s.Stage == stage && s.JobID != "" })
		if st.State != StateReplicating || st.LagSeconds <= 0 {
			t.Fatalf("during %s: %+v", stage, st)
		}
		clock.Advance(jobTakes)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if st := statusOf(t, w, projectName); st.State != StateInSync || st.Stage != "" || st.JobID != "" {
		t.Fatalf("after the run: %+v", st)
	}
}

func TestEmulatorCancelMidStepStopsRun(t *testing.T) {
	rp := newRegionPair(t, pairOptions{
		secondary:       emulator.Options{AuthoringJobDuration: time.Hour},
		maxPollInterval: 20 * time.Millisecond,
	})
	w := mustNew(t, rp.cfg)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- w.Run(ctx) }()
	waitStatus(t, w, projectName, func(s ProjectStatus) bool { return s.Stage == StageImport && s.JobID != "" })
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Run: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Run still busy 5s after cancel")
	}
	if st := statusOf(t, w, projectName); st.State != StateOutOfSync || st.LastError != nil {
		t.Fatalf("after shutdown: %+v", st)
	}
	// Nothing was deleted or undeployed in the secondary.
	if n := rp.secondary.Calls("deleteProject") + rp.secondary.Calls("deleteDeployment"); n != 0 {
		t.Fatalf("%d deletions in the secondary", n)
	}
}

func TestEmulatorRunAndTrigger(t *testing.T) {
	rp := newRegionPair(t, pairOptions{})
	w := mustNew(t, rp.cfg)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- w.Run(ctx) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	}()
	// Run checks at start.
	waitStatus(t, w, projectName, func(s ProjectStatus) bool { return s.State == StateInSync })
	rp.sameAnswers(t)

	// A retrain in the primary is picked up on Trigger, not after 24h.
	op, err := rp.pc.Train(ctx, projectName, api.TrainRequest{ModelLabel: modelLabel, TrainingConfigVersion: "latest"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := rp.pc.Wait(ctx, op, nil); err != nil {
		t.Fatal(err)
	}
	if op, err = rp.pc.Deploy(ctx, projectName, deployment, api.DeployRequest{TrainedModelLabel: modelLabel}); err != nil {
		t.Fatal(err)
	}
	if _, err := rp.pc.Wait(ctx, op, nil); err != nil {
		t.Fatal(err)
	}
	trainsBefore := rp.secondary.Calls("train")
	w.Trigger()
	waitFor(t, func() bool {
		return rp.secondary.Calls("deploy") == 2 && statusOf(t, w, projectName).State == StateInSync
	})
	if rp.secondary.Calls("train") != trainsBefore+1 {
		t.Fatalf("trains %d, want %d", rp.secondary.Calls("train"), trainsBefore+1)
	}
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition never held")
		}
		time.Sleep(time.Millisecond)
	}
}

func TestEmulatorTelemetryNamesNoSecrets(t *testing.T) {
	rp := newRegionPair(t, pairOptions{})
	spans := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(spans))
	reader := sdkmetric.NewManualReader()
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	var logs bytes.Buffer
	rp.cfg.TracerProvider = tp
	rp.cfg.MeterProvider = mp
	rp.cfg.Logger = slog.New(slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	ctx := context.Background()
	defer func() {
		_ = tp.Shutdown(ctx)
		_ = mp.Shutdown(ctx)
	}()

	// One failed run (a 500 on deploy) and one good one.
	rp.secondary.SetFault(emulator.Fault{Status: http.StatusInternalServerError, Routes: []string{"deploy"}})
	w := mustNew(t, rp.cfg)
	if err := w.SyncOnce(ctx); err == nil {
		t.Fatal("want a failed run")
	}
	rp.secondary.ClearFaults()
	if err := w.SyncOnce(ctx); err != nil {
		t.Fatal(err)
	}

	// Spans: a run with a child per step, each carrying the Azure job id.
	byName := map[string]int{}
	var dump strings.Builder
	for _, s := range spans.Ended() {
		byName[s.Name()]++
		fmtSpan(&dump, s)
		if s.Name() == "replication.run" {
			continue
		}
		if s.Status().Code != codes.Error && !hasAttr(s, "azure.job_id") {
			t.Errorf("span %s lacks azure.job_id", s.Name())
		}
		if !s.Parent().IsValid() {
			t.Errorf("span %s has no parent", s.Name())
		}
	}
	for name, want := range map[string]int{"replication.run": 2, "replication.export": 1, "replication.import": 1,
		"replication.train": 2, "replication.deploy": 2} {
		if byName[name] != want {
			t.Errorf("%d %s spans, want %d (all: %v)", byName[name], name, want, byName)
		}
	}

	// Metrics: runs by outcome, and the lag gauge.
	var rm metricdata.ResourceMetrics
	if err := reader.Collect(ctx, &rm); err != nil {
		t.Fatal(err)
	}
	outcomes := map[string]int64{}
	sawLag := false
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			switch data := m.Data.(type) {
			case metricdata.Sum[int64]:
				if m.Name == "replication.runs" {
					for _, dp := range data.DataPoints {
						o, _ := dp.Attributes.Value("outcome")
						outcomes[o.AsString()] += dp.Value
					}
				}
			case metricdata.Gauge[float64]:
				if m.Name == "replication.lag" && m.Unit == "s" && len(data.DataPoints) == 1 {
					sawLag = data.DataPoints[0].Value == 0
				}
			}
		}
	}
	if outcomes["failed"] != 1 || outcomes["replicated"] != 1 {
		t.Errorf("runs by outcome %v, want failed 1 replicated 1", outcomes)
	}
	if !sawLag {
		t.Error("no replication.lag of 0 for the project")
	}

	// No key or region host anywhere.
	status, _ := json.Marshal(w.Status())
	for _, leak := range []string{primaryKey, secondaryKey, hostOf(t, rp.primary.URL), hostOf(t, rp.secondary.URL)} {
		for what, text := range map[string]string{"logs": logs.String(), "spans": dump.String(), "status": string(status)} {
			if strings.Contains(text, leak) {
				t.Errorf("%s contain %q", what, leak)
			}
		}
	}
	if !strings.Contains(logs.String(), `"job_id"`) || !strings.Contains(logs.String(), `"stage":"deploy"`) {
		t.Errorf("logs lack job ids or stages:\n%s", logs.String())
	}
}

func hostOf(t *testing.T, raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	return u.Host
}

func hasAttr(s sdktrace.ReadOnlySpan, key string) bool {
	for _, a := range s.Attributes() {
		if string(a.Key) == key && a.Value.Emit() != "" {
			return true
		}
	}
	return false
}

// fmtSpan writes everything a span exports: name, attributes, events and
// status.
func fmtSpan(b *strings.Builder, s sdktrace.ReadOnlySpan) {
	b.WriteString(s.Name() + " " + s.Status().Description)
	for _, a := range s.Attributes() {
		b.WriteString(" " + string(a.Key) + "=" + a.Value.Emit())
	}
	for _, e := range s.Events() {
		b.WriteString(" event " + e.Name)
		for _, a := range e.Attributes {
			b.WriteString(" " + string(a.Key) + "=" + a.Value.Emit())
		}
	}
	b.WriteString("\n")
}

package replication

import (
	"bytes"
	"context"
	"encoding/json"
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
	"nergateway/internal/testkit/wait"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
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
	require.NoError(t, err)
	t.Cleanup(primary.Close)
	so := o.secondary
	so.Name, so.Key = "eastus", secondaryKey
	secondary, err := emulator.NewServer(so)
	require.NoError(t, err)
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
	require.NoError(t, err)
	sc, err := api.NewClient(secondary.URL, secret.Secret(secondaryKey), copts)
	require.NoError(t, err)
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
	require.NoError(t, primary.Seed(seed))
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
	require.NoError(t, err, "submit to %s/%s: %v", project, deploymentName, err)
	job, err := c.WaitJob(ctx, op)
	require.NoError(t, err, "job in %s/%s: %v", project, deploymentName, err)
	require.Len(t, job.Tasks.Items, 1, "job has task items")
	var res api.CustomEntitiesResult
	require.NoError(t, json.Unmarshal(job.Tasks.Items[0].Results, &res))
	require.LessOrEqual(t, len(res.Errors), 0, "results: %+v", res)
	require.Len(t, res.Documents, 1, "results: %+v", res)
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
		require.Equal(t, strings.Join(s, " | "), strings.Join(p, " | "), "%s: secondary answers\n  %v\nprimary answers\n  %v", it, s, p)
		joined := strings.Join(p, " | ")
		for _, w := range want {
			require.Contains(t, joined, w, "%s: answers %v lack %q", it, p, w)
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

	require.NoError(t, w.SyncOnce(ctx), "SyncOnce")
	rp.sameAnswers(t, "City:Zürich@", "City:Łódź@", "City:São Paulo@", "Day:Friday@")
	// UTF-16: two emoji of two code units each and a space, then "Zürich".
	got := recognise(t, rp.sc, drProject, drDeployment, api.StringIndexUTF16)[0]
	require.Equal(t, "City:Zürich@5+6", got, "first entity, want City:Zürich@5+6")

	sp, err := rp.sc.GetProject(ctx, drProject)
	require.NoError(t, err)
	assert.Equal(t, drDocs, sp.StorageInputContainerName, "secondary container")
	_, err = rp.sc.GetProject(ctx, projectName)
	assert.True(t, api.IsNotFound(err), "the primary's project name exists in the secondary: %v", err)
	m, err := rp.sc.GetModel(ctx, drProject, modelLabel)
	require.NoError(t, err, "secondary model under the primary's label")
	assert.Equal(t, "2022-05-01", m.ModelTrainingConfigVersion, "training config")
	st := statusOf(t, w, projectName)
	require.Equal(t, StateInSync, st.State, "status %+v", st)
	require.Equal(t, drProject, st.SecondaryProject, "status %+v", st)
	require.NotNil(t, st.LastSuccess, "status %+v", st)
	require.EqualValues(t, 0, st.LagSeconds, "status %+v", st)
	require.NotNil(t, st.PrimaryLastModified, "status %+v", st)
	require.NotNil(t, st.SecondaryLastModified, "status %+v", st)

	// In sync: a check costs nothing.
	rp.primary.ResetCalls()
	rp.secondary.ResetCalls()
	require.NoError(t, w.SyncOnce(ctx))
	for route, n := range rp.writes() {
		assert.Equal(t, 0, n, "in sync, yet %d %s calls", n, route)
	}
	assert.NotEqual(t, 0, rp.primary.Calls("getProject"), "the check did not read both regions")
	assert.NotEqual(t, 0, rp.secondary.Calls("listDeployments"), "the check did not read both regions")
	st = statusOf(t, w, projectName)
	require.Equal(t, StateInSync, st.State, "status %+v", st)
}

// relabel changes the primary project as a user would: export, edit the
// labels, import, retrain, redeploy.
func relabel(t *testing.T, rp *regionPair, edit func(*api.ExportedProject)) {
	t.Helper()
	ctx := context.Background()
	c := rp.pc
	wait := func(op *api.Operation, err error) *api.AuthoringJob {
		t.Helper()
		require.NoError(t, err)
		job, err := c.Wait(ctx, op, nil)
		require.NoError(t, err)
		return job
	}
	job := wait(c.Export(ctx, projectName))
	ep, err := c.ExportResult(ctx, job.ResultURL)
	require.NoError(t, err)
	edit(ep)
	wait(c.Import(ctx, projectName, *ep))
	wait(c.Train(ctx, projectName, api.TrainRequest{ModelLabel: modelLabel, TrainingConfigVersion: "latest"}))
	wait(c.Deploy(ctx, projectName, deployment, api.DeployRequest{TrainedModelLabel: modelLabel}))
}

func TestEmulatorLabelChangeIsReplicated(t *testing.T) {
	rp := newRegionPair(t, pairOptions{})
	w := mustNew(t, rp.cfg)
	ctx := context.Background()
	require.NoError(t, w.SyncOnce(ctx))

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
	require.NoError(t, w.Check(ctx))
	st := statusOf(t, w, projectName)
	require.Equal(t, StateOutOfSync, st.State, "after the change, before a run: %+v", st)
	require.Greater(t, st.LagSeconds, 0.0, "after the change, before a run: %+v", st)
	require.True(t, st.PrimaryLastModified.After(*st.SecondaryLastModified), "after the change, before a run: %+v", st)
	got := rp.writes()
	require.Equal(t, before["import"], got["import"], "Check wrote: %v then %v", before, got)
	require.Equal(t, before["export"], got["export"], "Check wrote: %v then %v", before, got)

	// The run imports, then training fails: the document is missing in the
	// secondary container. The old deployment keeps serving.
	err := w.SyncOnce(ctx)
	var ae *api.Error
	require.ErrorAs(t, err, &ae, "SyncOnce, want Azure's InvalidRequest")
	require.Equal(t, api.CodeInvalidRequest, ae.Code, "SyncOnce, want Azure's InvalidRequest")
	st = statusOf(t, w, projectName)
	require.Equal(t, StateFailed, st.State, "status after a failed training: %+v %+v", st, st.LastError)
	require.Equal(t, StageTrain, st.Stage, "status after a failed training: %+v %+v", st, st.LastError)
	require.NotNil(t, st.LastError, "status after a failed training: %+v %+v", st, st.LastError)
	require.Equal(t, api.CodeInvalidRequest, st.LastError.Code, "status after a failed training: %+v %+v", st, st.LastError)
	require.Contains(t, st.LastError.Message, newDoc, "status after a failed training: %+v %+v", st, st.LastError)
	entities := recognise(t, rp.sc, drProject, drDeployment, api.StringIndexUTF16)
	require.NotContains(t, strings.Join(entities, ","), "Place:", "secondary stopped serving its previous model")
	require.NotEmpty(t, entities, "secondary stopped serving its previous model")

	// The operator's storage replication catches up; the next check
	// retrains even though the import already happened.
	rp.secondary.PutDocument(drDocs, newDoc, newText)
	require.NoError(t, w.SyncOnce(ctx), "retry")
	p := recognise(t, rp.pc, projectName, deployment, api.StringIndexUTF16)
	s := recognise(t, rp.sc, drProject, drDeployment, api.StringIndexUTF16)
	require.Equal(t, strings.Join(s, ","), strings.Join(p, ","), "secondary %v, primary %v", s, p)
	// The query has no Saint-Étienne; ask for it directly.
	st = statusOf(t, w, projectName)
	require.Equal(t, StateInSync, st.State, "after the retry: %+v", st)
	require.Nil(t, st.LastError, "after the retry: %+v", st)
	m, err := rp.sc.GetModel(ctx, drProject, modelLabel)
	require.NoError(t, err)
	d, err := rp.sc.GetDeployment(ctx, drProject, drDeployment)
	require.NoError(t, err, "secondary deployment %+v serves %v, want the retrained %s", d, err, m.ModelID)
	require.Equal(t, m.ModelID, d.ModelID, "secondary deployment %+v serves %v, want the retrained %s", d, err, m.ModelID)
}

func TestEmulatorRetrainIsReplicatedWithoutImport(t *testing.T) {
	rp := newRegionPair(t, pairOptions{})
	w := mustNew(t, rp.cfg)
	ctx := context.Background()
	require.NoError(t, w.SyncOnce(ctx))
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
		require.NoError(t, err)
		_, err = rp.pc.Wait(ctx, op, nil)
		require.NoError(t, err)
	}
	require.NoError(t, w.SyncOnce(ctx))
	after := rp.writes()
	require.Equal(t, before["import"], after["import"], "a retrain re-imported: %v then %v", before, after)
	require.Equal(t, before["export"], after["export"], "a retrain re-imported: %v then %v", before, after)
	// One training and one deployment in the primary (ours), and the same
	// in the secondary (the worker's).
	require.Equal(t, before["train"]+2, after["train"], "calls %v then %v; want one more train and deploy in each region", before, after)
	require.Equal(t, before["deploy"]+2, after["deploy"], "calls %v then %v; want one more train and deploy in each region", before, after)
	pd, err := rp.pc.GetDeployment(ctx, projectName, deployment)
	require.NoError(t, err)
	sd, err := rp.sc.GetDeployment(ctx, drProject, drDeployment)
	require.NoError(t, err)
	require.True(t, sd.LastTrainedDateTime.After(pd.LastTrainedDateTime), "secondary trained %v, primary %v", sd.LastTrainedDateTime, pd.LastTrainedDateTime)
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
			require.ErrorAs(t, err, &ae, "SyncOnce, want Azure's InternalServerError")
			require.Equal(t, api.CodeInternalServerError, ae.Code, "SyncOnce, want Azure's InternalServerError")
			st := statusOf(t, w, projectName)
			require.Equal(t, StateFailed, st.State, "status %+v %+v", st, st.LastError)
			require.NotNil(t, st.LastError, "status %+v %+v", st, st.LastError)
			require.Equal(t, api.CodeInternalServerError, st.LastError.Code, "status %+v %+v", st, st.LastError)
			require.NotEqual(t, "", st.Stage, "status %+v %+v", st, st.LastError)
			require.False(t, !tt.secondary && rp.secondary.Calls("import") != 0, "imported although the export failed")

			region.ClearFaults()
			require.NoError(t, w.SyncOnce(ctx), "after the fault cleared")
			st = statusOf(t, w, projectName)
			require.Equal(t, StateInSync, st.State, "after the fault cleared: %+v", st)
			require.Nil(t, st.LastError, "after the fault cleared: %+v", st)
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
			require.Error(t, err, "SyncOnce succeeded with the primary down")
			for route, n := range rp.writes() {
				assert.Equal(t, 0, n, "%d %s calls with the primary down", n, route)
			}
			st := statusOf(t, w, projectName)
			require.Equal(t, StateFailed, st.State, "status %+v", st)
			require.NotNil(t, st.LastError, "status %+v", st)
			// Go's HTTP errors name the host; none of it may leak.
			status, _ := json.Marshal(w.Status())
			for _, text := range []string{err.Error(), string(status), logs.String()} {
				host := hostOf(t, rp.primary.URL)
				assert.NotContains(t, text, host, "region address in")
				assert.NotContains(t, text, "127.0.0.1", "region address in")
			}

			// The region comes back: the next pass catches up.
			rp.primary.ClearFaults()
			require.NoError(t, w.SyncOnce(context.Background()))
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
	require.NoError(t, w.SyncOnce(context.Background()), "a 429 failed the run")
	took := time.Since(start)
	require.GreaterOrEqual(t, took, time.Second, "run took; Retry-After asked for 1s")
	n := rp.secondary.Calls("import")
	require.Equal(t, 2, n, "imports, want 2 (throttled, then accepted)")
	st := statusOf(t, w, projectName)
	require.Equal(t, StateInSync, st.State, "status %+v", st)
}

func TestEmulatorAuthoringRateLimit(t *testing.T) {
	// The worker paces its POSTs below the region's limit, so the region
	// never has to throttle it.
	rp := newRegionPair(t, pairOptions{secondary: emulator.Options{AuthoringPostsPerMinute: 3}})
	rp.cfg.AuthoringPostsPerMinute = 3 * 60 // one every 20ms in this test's minute
	w := mustNew(t, rp.cfg)
	require.NoError(t, w.SyncOnce(context.Background()))
	st := statusOf(t, w, projectName)
	require.Equal(t, StateInSync, st.State, "status %+v", st)
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
		require.Equal(t, StateReplicating, st.State, "during %s: %+v", stage, st)
		require.Greater(t, st.LagSeconds, 0.0, "during %s: %+v", stage, st)
		clock.Advance(jobTakes)
	}
	require.NoError(t, <-done)
	st := statusOf(t, w, projectName)
	require.Equal(t, StateInSync, st.State, "after the run: %+v", st)
	require.Equal(t, "", st.Stage, "after the run: %+v", st)
	require.Equal(t, "", st.JobID, "after the run: %+v", st)
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
		require.NoError(t, err, "Run")
	case <-time.After(5 * time.Second):
		require.Fail(t, "Run still busy 5s after cancel")
	}
	st := statusOf(t, w, projectName)
	require.Equal(t, StateOutOfSync, st.State, "after shutdown: %+v", st)
	require.Nil(t, st.LastError, "after shutdown: %+v", st)
	// Nothing was deleted or undeployed in the secondary.
	n := rp.secondary.Calls("deleteProject") + rp.secondary.Calls("deleteDeployment")
	require.Equal(t, 0, n, "deletions in the secondary")
}

func TestEmulatorRunAndTrigger(t *testing.T) {
	rp := newRegionPair(t, pairOptions{})
	w := mustNew(t, rp.cfg)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- w.Run(ctx) }()
	defer func() {
		cancel()
		assert.NoError(t, <-done, "Run")
	}()
	// Run checks at start.
	waitStatus(t, w, projectName, func(s ProjectStatus) bool { return s.State == StateInSync })
	rp.sameAnswers(t)

	// A retrain in the primary is picked up on Trigger, not after 24h.
	op, err := rp.pc.Train(ctx, projectName, api.TrainRequest{ModelLabel: modelLabel, TrainingConfigVersion: "latest"})
	require.NoError(t, err)
	_, err = rp.pc.Wait(ctx, op, nil)
	require.NoError(t, err)
	op, err = rp.pc.Deploy(ctx, projectName, deployment, api.DeployRequest{TrainedModelLabel: modelLabel})
	require.NoError(t, err)
	_, err = rp.pc.Wait(ctx, op, nil)
	require.NoError(t, err)
	trainsBefore := rp.secondary.Calls("train")
	w.Trigger()
	waitFor(t, func() bool {
		return rp.secondary.Calls("deploy") == 2 && statusOf(t, w, projectName).State == StateInSync
	})
	require.Equal(t, trainsBefore+1, rp.secondary.Calls("train"), "trains")
}

// waitFor waits for cond, which the worker makes true; it asserts nothing
// about how long that takes.
func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	wait.Until(t, "the condition to hold", 10*time.Second, time.Millisecond, cond)
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
	require.Error(t, w.SyncOnce(ctx), "want a failed run")
	rp.secondary.ClearFaults()
	require.NoError(t, w.SyncOnce(ctx))

	// Spans: a run with a child per step, each carrying the Azure job id.
	byName := map[string]int{}
	var dump strings.Builder
	for _, s := range spans.Ended() {
		byName[s.Name()]++
		fmtSpan(&dump, s)
		if s.Name() == "replication.run" {
			continue
		}
		assert.False(t, s.Status().Code != codes.Error && !hasAttr(s, "azure.job_id"), "span %s lacks azure.job_id", s.Name())
		assert.True(t, s.Parent().IsValid(), "span %s has no parent", s.Name())
	}
	for name, want := range map[string]int{"replication.run": 2, "replication.export": 1, "replication.import": 1,
		"replication.train": 2, "replication.deploy": 2} {
		assert.Equal(t, want, byName[name], "%d %s spans, want %d (all: %v)", byName[name], name, want, byName)
	}

	// Metrics: runs by outcome, and the lag gauge.
	var rm metricdata.ResourceMetrics
	require.NoError(t, reader.Collect(ctx, &rm))
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
	assert.EqualValues(t, 1, outcomes["failed"], "runs by outcome %v, want failed 1 replicated 1", outcomes)
	assert.EqualValues(t, 1, outcomes["replicated"], "runs by outcome %v, want failed 1 replicated 1", outcomes)
	assert.True(t, sawLag, "no replication.lag of 0 for the project")

	// No key or region host anywhere.
	status, _ := json.Marshal(w.Status())
	for _, leak := range []string{primaryKey, secondaryKey, hostOf(t, rp.primary.URL), hostOf(t, rp.secondary.URL)} {
		for what, text := range map[string]string{"logs": logs.String(), "spans": dump.String(), "status": string(status)} {
			assert.NotContains(t, text, leak, "%s contain %q", what, leak)
		}
	}
	assert.Contains(t, logs.String(), `"job_id"`, "logs lack job ids or stages:\n")
	assert.Contains(t, logs.String(), `"stage":"deploy"`, "logs lack job ids or stages:\n")
}

func hostOf(t *testing.T, raw string) string {
	u, err := url.Parse(raw)
	require.NoError(t, err)
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

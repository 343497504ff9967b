package replication

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"

	"nergateway/api"
)

// Analyzer is what the canary needs from one region's runtime API;
// *api.Client satisfies it.
type Analyzer interface {
	SubmitJob(ctx context.Context, req api.SubmitRequest) (*api.Operation, error)
	WaitJob(ctx context.Context, op *api.Operation) (*api.JobState, error)
}

var _ Analyzer = (*api.Client)(nil)

const (
	// canaryTimeout bounds one canary (both jobs); each call inside is
	// bounded by the clients' own timeout.
	canaryTimeout = 5 * time.Minute
	// canaryMaxBytes cuts each canary document, well below Azure's 5,120
	// characters per document of a synchronous-size job.
	canaryMaxBytes = 5000
	// maxDifferences is how many differences a canary describes.
	maxDifferences = 10
)

// CanaryStatus is the last canary of one replicated deployment: the same
// documents analysed by the primary and the secondary deployment, their
// entities compared by category, offset and length.
type CanaryStatus struct {
	Deployment          string `json:"deployment"`
	SecondaryDeployment string `json:"secondaryDeployment"`
	// Agreement is the share of entities both regions found (matched over
	// the union; 1 when neither found any).
	Agreement float64 `json:"agreement"`
	// Documents is how many documents were analysed.
	Documents int `json:"documents"`
	// Differences name each disagreement by document id, category and
	// offsets, never by text.
	Differences []string  `json:"differences,omitempty"`
	At          time.Time `json:"at"`
}

// canaryTexts returns the documents of a project's canary when storage is
// configured: the first CanaryDocs labelled documents of the last export,
// read from the primary container, or, before this process exported the
// project, the container's first CanaryDocs .txt blobs. Without storage
// they are CanaryTexts.
func (w *Worker) canaryTexts(ctx context.Context, p *project, pp *api.Project) ([]string, error) {
	if w.cfg.CanaryStore != nil && pp.StorageInputContainerName != "" {
		ctx, cancel := context.WithTimeout(ctx, w.cfg.CallTimeout)
		defer cancel()
		names := p.labelled.Load()
		if names == nil || len(*names) == 0 {
			_, texts, err := w.cfg.CanaryStore.Texts(ctx, pp.StorageInputContainerName, w.cfg.CanaryDocs, canaryMaxBytes)
			return texts, err
		}
		var texts []string
		for _, name := range *names {
			text, found, err := w.cfg.CanaryStore.ReadDocument(ctx, pp.StorageInputContainerName, name)
			if err != nil {
				return nil, err
			}
			if found {
				texts = append(texts, cutUTF8(text, canaryMaxBytes))
			}
		}
		return texts, nil
	}
	texts := make([]string, 0, w.cfg.CanaryDocs)
	for _, t := range w.cfg.CanaryTexts[:min(len(w.cfg.CanaryTexts), w.cfg.CanaryDocs)] {
		texts = append(texts, cutUTF8(t, canaryMaxBytes))
	}
	return texts, nil
}

// canaryOn reports whether the worker runs canaries.
func (w *Worker) canaryOn() bool {
	return w.cfg.PrimaryRuntime != nil && w.cfg.SecondaryRuntime != nil && w.cfg.CanaryDocs > 0 &&
		(w.cfg.CanaryStore != nil || len(w.cfg.CanaryTexts) > 0)
}

// canary runs the canary of every primary deployment in pds. It returns
// nil (and leaves the last results) when it cannot tell: no documents, or
// the primary could not answer; a secondary that answers with an error
// agrees on nothing.
func (w *Worker) canary(ctx context.Context, p *project, pp *api.Project, pds []api.Deployment) []CanaryStatus {
	// The canary compares entities: a classification project has none
	// to compare, so it goes without.
	if !w.canaryOn() || len(pds) == 0 || pp.ProjectKind != api.ProjectKindCustomNER {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, canaryTimeout)
	defer cancel()
	ctx, span := w.tracer.Start(ctx, "replication.canary", trace.WithAttributes(w.projectAttrs(p)...))
	defer span.End()
	log := w.cfg.Logger.With("project", p.name)
	texts, err := w.canaryTexts(ctx, p, pp)
	if err != nil || len(texts) == 0 {
		log.Warn("replication canary skipped: no documents", "error", scrub(err))
		return nil
	}
	docs := make([]api.Document, len(texts))
	for i, t := range texts {
		docs[i] = api.Document{ID: strconv.Itoa(i + 1), Language: pp.Language, Text: t}
	}
	var out []CanaryStatus
	for _, pd := range pds {
		to := secondaryName(w.cfg.DeploymentNames, pd.DeploymentName)
		primary, err := analyse(ctx, w.cfg.PrimaryRuntime, p.name, pd.DeploymentName, docs)
		if err != nil {
			log.Warn("replication canary inconclusive: the primary did not answer", "deployment", pd.DeploymentName, "error", scrub(err))
			return nil
		}
		cs := CanaryStatus{Deployment: pd.DeploymentName, SecondaryDeployment: to, Documents: len(docs), At: w.cfg.Now().UTC()}
		secondary, err := analyse(ctx, w.cfg.SecondaryRuntime, p.secondary, to, docs)
		var ae *api.Error
		switch {
		case errors.As(err, &ae):
			// The secondary's own answer: its deployment is missing or
			// broken, so it agrees on nothing.
			cs.Differences = []string{"secondary answered " + scrubCode(ae.Code)}
		case err != nil:
			log.Warn("replication canary inconclusive: the secondary did not answer", "deployment", to, "error", scrub(err))
			return nil
		default:
			cs.Agreement, cs.Differences = compareEntities(primary, secondary)
		}
		span.SetAttributes(attribute.Float64("replication.canary.agreement."+pd.DeploymentName, cs.Agreement))
		log.Info("replication canary", "deployment", pd.DeploymentName, "agreement", cs.Agreement, "differences", len(cs.Differences))
		out = append(out, cs)
	}
	return out
}

// scrubCode keeps an error code from carrying anything but a code.
func scrubCode(code string) string {
	if code == "" {
		return "an error"
	}
	return strings.Map(func(r rune) rune {
		if r < 0x80 && (r >= 'A' && r <= 'Z' || r >= 'a' && r <= 'z' || r >= '0' && r <= '9') {
			return r
		}
		return -1
	}, code)
}

// entitiesByDoc maps a document id to its entities as
// "category@offset+length", sorted.
type entitiesByDoc map[string][]string

// analyse runs one custom NER job on docs and returns its entities, in
// UTF-16 code units so both regions count alike.
func analyse(ctx context.Context, r Analyzer, project, deployment string, docs []api.Document) (entitiesByDoc, error) {
	op, err := r.SubmitJob(ctx, api.SubmitRequest{
		DisplayName:   "nergateway replication canary",
		AnalysisInput: api.AnalysisInput{Documents: docs},
		Tasks: []api.Task{{Kind: api.KindCustomEntityRecognition, Parameters: api.TaskParameters{
			ProjectName: project, DeploymentName: deployment, StringIndexType: api.StringIndexUTF16}}},
	})
	if err != nil {
		return nil, err
	}
	job, err := r.WaitJob(ctx, op)
	if err != nil {
		return nil, err
	}
	if len(job.Tasks.Items) != 1 {
		return nil, fmt.Errorf("canary job has %d task results, want 1", len(job.Tasks.Items))
	}
	var res api.CustomEntitiesResult
	if err := json.Unmarshal(job.Tasks.Items[0].Results, &res); err != nil {
		return nil, fmt.Errorf("canary job results: %w", err)
	}
	if len(res.Errors) > 0 {
		e := res.Errors[0].Error
		return nil, &e
	}
	out := entitiesByDoc{}
	for _, d := range res.Documents {
		var es []string
		for _, e := range d.Entities {
			es = append(es, fmt.Sprintf("%s@%d+%d", e.Category, e.Offset, e.Length))
		}
		slices.Sort(es)
		out[d.ID] = es
	}
	return out, nil
}

// compareEntities returns the share of entities both found (matched over
// union, as multisets) and the differences, by document id.
func compareEntities(primary, secondary entitiesByDoc) (float64, []string) {
	ids := make([]string, 0, len(primary)+len(secondary))
	for id := range primary {
		ids = append(ids, id)
	}
	for id := range secondary {
		if _, ok := primary[id]; !ok {
			ids = append(ids, id)
		}
	}
	slices.SortFunc(ids, func(a, b string) int {
		na, _ := strconv.Atoi(a)
		nb, _ := strconv.Atoi(b)
		return na - nb
	})
	var matched, union int
	var diffs []string
	note := func(id, e, where string) {
		if len(diffs) < maxDifferences {
			diffs = append(diffs, fmt.Sprintf("document %s: %s only in the %s", id, e, where))
		}
	}
	for _, id := range ids {
		left := map[string]int{}
		for _, e := range primary[id] {
			left[e]++
		}
		union += len(primary[id])
		for _, e := range secondary[id] {
			if left[e] > 0 {
				left[e]--
				matched++
				continue
			}
			union++
			note(id, e, "secondary")
		}
		for _, e := range primary[id] {
			if left[e] > 0 {
				left[e]--
				note(id, e, "primary")
			}
		}
	}
	if union == 0 {
		return 1, nil
	}
	return float64(matched) / float64(union), diffs
}

// cutUTF8 cuts s to at most n bytes at a rune boundary.
func cutUTF8(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}

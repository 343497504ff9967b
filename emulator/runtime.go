package emulator

import (
	"encoding/json"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"time"

	"nergateway/api"
)

// Runtime limits of custom NER (reference section 0).
const (
	maxDocumentsPerJob  = 25
	maxCharactersPerJob = 125000
	runtimeJobLifetime  = 24 * time.Hour
)

// runtimeJob is an analyze-text job. Its results are computed when it is
// submitted, against the deployment serving then; the clock only decides
// when the client may see them.
type runtimeJob struct {
	id          string
	displayName string
	created     time.Time
	cancelAt    time.Time
	cancels     int // cancels received (cancels.go)
	tasks       []*taskRun
	docChars    []int // text elements per input document, for statistics
}

// taskRun is one task of a job and its outcome per input document.
type taskRun struct {
	kind       string // result kind, e.g. CustomEntityRecognitionLROResults
	name       string
	err        *api.Error // the whole task failed
	project    string     // custom tasks
	deployment string
	docs       []docOutcome // one per input document, in input order
}

type docOutcome struct {
	id       string
	entities []api.Entity   // custom NER
	prebuilt map[string]any // prebuilt kinds: the document result
	err      *api.Error
	chars    int
}

func (j *runtimeJob) finalStatus() string {
	for _, t := range j.tasks {
		if t.err != nil {
			return api.StatusFailed
		}
	}
	return api.StatusSucceeded
}

func (e *Emulator) runtimePhase(j *runtimeJob, now time.Time) phase {
	return lifecycle(now, j.created, e.opts.JobDuration, j.cancelAt, j.finalStatus())
}

// checkBatch refuses a batch of n documents that is empty or larger than
// maxDocumentsPerJob, as Azure does for jobs and synchronous calls alike.
func checkBatch(n int) (reply, bool) {
	switch {
	case n == 0:
		return failureInner(http.StatusBadRequest, api.CodeInvalidArgument, "Invalid document in request.",
			api.InnerMissingInputDocuments, "Missing input documents."), true
	case n > maxDocumentsPerJob:
		return failureInner(http.StatusBadRequest, api.CodeInvalidRequest, "Invalid document in request.",
			api.InnerInvalidDocumentBatch, "Batch request contains too many records. Max "+strconv.Itoa(maxDocumentsPerJob)+" records are permitted."), true
	}
	return reply{}, false
}

func (e *Emulator) handleSubmit(c *call) reply {
	var req api.SubmitRequest
	if err := c.decode(&req); err != nil {
		return badJSON(err)
	}
	docs := req.AnalysisInput.Documents
	if rep, bad := checkBatch(len(docs)); bad {
		return rep
	}
	seen := map[string]bool{}
	total := 0
	chars := make([]int, len(docs))
	for i, d := range docs {
		if d.ID == "" {
			return missing("analysisInput.documents[" + strconv.Itoa(i) + "].id")
		}
		if seen[d.ID] {
			return failureInner(http.StatusBadRequest, api.CodeInvalidArgument, "Invalid document in request.",
				"InvalidDocument", "Request contains duplicated Ids. Make sure each document has a unique Id.")
		}
		seen[d.ID] = true
		chars[i] = textLength(d.Text, api.StringIndexTextElements)
		total += chars[i]
	}
	if total > maxCharactersPerJob {
		return failureInner(http.StatusBadRequest, api.CodeInvalidRequest, "Invalid document in request.",
			api.InnerInvalidDocumentBatch, "Request Payload sent is too large to be processed. Limit request size to: "+strconv.Itoa(maxCharactersPerJob)+" text elements.")
	}
	if len(req.Tasks) == 0 {
		return missing("tasks")
	}
	j := &runtimeJob{id: newUUID(), displayName: req.DisplayName, created: c.now, docChars: chars}
	for i, t := range req.Tasks {
		run, rep, bad := e.runTask(t, i, docs, chars)
		if bad {
			return rep
		}
		j.tasks = append(j.tasks, run)
	}
	e.jobs[j.id] = j
	e.jobOrder = append(e.jobOrder, j)
	return accepted(c.url(api.JobPath(j.id), nil))
}

// runTask validates task t and computes its results; bad is true when the
// whole submit must be refused with rep.
func (e *Emulator) runTask(t api.Task, i int, docs []api.Document, chars []int) (run *taskRun, rep reply, bad bool) {
	field := "tasks[" + strconv.Itoa(i) + "]"
	if t.Kind == "" {
		return nil, missing(field + ".kind"), true
	}
	indexType := t.Parameters.StringIndexType
	if indexType == "" {
		indexType = api.StringIndexTextElements
	}
	if !validIndexType(indexType) {
		return nil, failureInner(http.StatusBadRequest, api.CodeInvalidArgument,
			"Invalid parameter in request: stringIndexType '"+indexType+"' is not supported.",
			api.InnerInvalidParameterValue, "Valid values: TextElements_v8, UnicodeCodePoint, Utf16CodeUnit."), true
	}
	// Azure echoes the taskName the request gave and invents none.
	name := t.TaskName
	if t.Kind != api.KindCustomEntityRecognition {
		if !prebuiltKinds[t.Kind] {
			return nil, failure(http.StatusBadRequest, api.CodeInvalidArgument,
				"Task kind '"+t.Kind+"' is not supported (this emulator serves CustomEntityRecognition and the prebuilt kinds of the synchronous API)."), true
		}
		if rep, bad := checkModelVersion(t, i); bad {
			return nil, rep, true
		}
		run = &taskRun{kind: t.Kind + "LROResults", name: name}
		for k, d := range docs {
			res, err := prebuilt(t.Kind, d, indexType)
			run.docs = append(run.docs, docOutcome{id: d.ID, prebuilt: res, err: err, chars: chars[k]})
		}
		return run, reply{}, false
	}

	p := t.Parameters
	if p.ProjectName == "" {
		return nil, missing(field + ".parameters.projectName"), true
	}
	if p.DeploymentName == "" {
		return nil, missing(field + ".parameters.deploymentName"), true
	}
	run = &taskRun{kind: api.KindCustomEntityRecognitionResult, name: name, project: p.ProjectName, deployment: p.DeploymentName}
	dict, err := e.servingModel(p.ProjectName, p.DeploymentName)
	if err != nil {
		run.err = err
		return run, reply{}, false
	}
	for k, d := range docs {
		out := docOutcome{id: d.ID, chars: chars[k]}
		if strings.TrimSpace(d.Text) == "" {
			out.err = &api.Error{Code: api.CodeInvalidArgument, Message: "Invalid document in request.",
				InnerError: &api.InnerError{Code: "InvalidDocument", Message: "Document text is empty."}}
		} else {
			out.entities = dict.find(d.Text, indexType)
		}
		run.docs = append(run.docs, out)
	}
	return run, reply{}, false
}

// modelVersionPattern is the shape of a prebuilt model version
// ("2023-09-01", "2022-10-01-preview").
var modelVersionPattern = regexp.MustCompile(`^\d{4}-\d{2}-\d{2}(-preview)?$`)

// serviceTaskNames are the names Azure's errors give task kinds.
var serviceTaskNames = map[string]string{"PiiEntityRecognition": "PersonallyIdentifiableInformation"}

// checkModelVersion refuses the submit of a prebuilt task whose
// parameters.modelVersion no model has (neither "latest" nor a version
// date), in the shape Azure answers it (runtime-400-model-version-2022-10-01-preview):
// 400 InvalidRequest, innererror InvalidParameterValue, the failing task in
// details. Azure names one of the bad tasks; the emulator names the first.
func checkModelVersion(t api.Task, i int) (reply, bool) {
	raw, ok := t.Parameters.Extra["modelVersion"]
	if !ok {
		return reply{}, false
	}
	var v string
	if err := json.Unmarshal(raw, &v); err == nil && (v == "latest" || modelVersionPattern.MatchString(v)) {
		return reply{}, false
	}
	kind := t.Kind
	if n, ok := serviceTaskNames[kind]; ok {
		kind = n
	}
	shown := strings.Trim(string(raw), `"`)
	rep := failure(http.StatusBadRequest, api.CodeInvalidRequest, "Invalid Request.")
	rep.err.Details = []api.Error{{Code: api.CodeInvalidRequest, Message: "Invalid Request.", InnerError: &api.InnerError{
		Code: api.InnerInvalidParameterValue,
		Message: "Job task parameter value '" + shown + "' is not supported for model-version parameter for job task type " + kind +
			". Supported values latest, " + prebuiltModelVersion + "."}}}
	rep.err.InnerError = &api.InnerError{Code: api.InnerInvalidParameterValue,
		Message: "Job task: '" + kind + "-" + strconv.Itoa(i) + "' failed with validation errors: ['Invalid parameter in request']"}
	return rep, true
}

// servingModel returns the model behind a deployment, or the error the job
// fails with. Azure accepts the submit and fails the job (the reference
// lists no 404 for submit), so the emulator does the same.
func (e *Emulator) servingModel(projectName, deploymentName string) (*dictionary, *api.Error) {
	p, ok := e.projects[projectName]
	if !ok {
		return nil, errProjectNotFound(projectName)
	}
	d, ok := p.deployments[deploymentName]
	if !ok {
		return nil, &api.Error{Code: api.CodeNotFound,
			Message: "The deployment '" + deploymentName + "' of project '" + projectName + "' could not be found."}
	}
	return d.model.dict, nil
}

func (e *Emulator) lookupJob(c *call) (*runtimeJob, reply, bool) {
	j, ok := e.jobs[strings.ToLower(c.vars["jobId"])]
	if !ok || !c.now.Before(j.created.Add(runtimeJobLifetime)) {
		return nil, failure(http.StatusNotFound, api.CodeNotFound, "The specified job '"+c.vars["jobId"]+"' was not found."), false
	}
	return j, reply{}, true
}

func (e *Emulator) handleCancel(c *call) reply {
	j, rep, found := e.lookupJob(c)
	if !found {
		return rep
	}
	j.cancels++
	if ph := e.runtimePhase(j, c.now); !api.Terminal(ph.status) && j.cancelAt.IsZero() {
		j.cancelAt = c.now
	}
	return accepted(c.url(api.JobPath(j.id), nil))
}

func (e *Emulator) handleJob(c *call) reply {
	j, rep, found := e.lookupJob(c)
	if !found {
		return rep
	}
	q := c.r.URL.Query()
	pg, rep, valid := pagingParams(q, e.opts.PageSize)
	if !valid {
		return rep
	}
	showStats := strings.EqualFold(q.Get("showStats"), "true")
	ph := e.runtimePhase(j, c.now)
	st := api.JobState{
		JobID:              j.id,
		DisplayName:        j.displayName,
		CreatedDateTime:    wholeSeconds(j.created),
		ExpirationDateTime: wholeSeconds(j.created.Add(runtimeJobLifetime)),
		Status:             ph.status,
		Errors:             []api.Error{},
		Tasks:              api.TaskSummary{Total: len(j.tasks), Items: []api.TaskItem{}},
	}
	updated := ph.updated
	var stats *api.BatchStatistics
	if showStats {
		stats = j.statistics()
	}

	// A page holds top documents, at most PageSize; its nextLink asks for
	// as many again, at most the documents left (recorded with 25
	// documents: pages of 20 then top=5, or with top=10 top=10&skip=10
	// then top=5&skip=20; runtime-paging-2023-04-01).
	size := min(pg.top, e.opts.PageSize)
	end := min(pg.skip+size, len(j.docChars))
	start := min(pg.skip, end)
	for i, t := range j.tasks {
		done, cancelled := e.taskEnd(j, i, ph, c.now)
		if cancelled {
			st.Tasks.Items = append(st.Tasks.Items, t.cancelledItem(done))
			continue
		}
		if done.IsZero() {
			st.Tasks.InProgress++
			continue
		}
		updated = later(updated, done)
		item := api.TaskItem{Kind: t.kind, TaskName: t.name, LastUpdateDateTime: api.TicksTime{Time: done}, Status: api.StatusSucceeded}
		if t.err != nil {
			item.Status = api.StatusFailed
			st.Tasks.Failed++
			st.Errors = append(st.Errors, *t.err)
		} else {
			st.Tasks.Completed++
			raw, err := json.Marshal(t.page(start, end, stats))
			if err != nil {
				return failure(http.StatusInternalServerError, api.CodeInternalServerError, "Internal Server Error.")
			}
			item.Results = raw
		}
		st.Tasks.Items = append(st.Tasks.Items, item)
	}
	setUpdated(&st, c.apiVersion, wholeSeconds(updated))
	if end < len(j.docChars) && st.Tasks.Completed > 0 {
		st.NextLink = nextLink(c, j.id, showStats, min(size, len(j.docChars)-end), end)
	}
	return respond(st)
}

// taskEnd says when task i of j finished, as seen at now: zero while it
// runs. A job's tasks finish one after another across its running phase,
// the last as the job ends, so a job with several tasks shows finished
// tasks (and their pages, with a nextLink) while it still runs, as Azure's
// do (internal/testkit/recorded, runtime-paging-2023-04-01). A task not finished
// when the job was cancelled is reported cancelled, at the cancel.
func (e *Emulator) taskEnd(j *runtimeJob, i int, ph phase, now time.Time) (done time.Time, cancelled bool) {
	d := e.opts.JobDuration
	running := j.created.Add(d / 3)
	finish := running.Add(time.Duration(int64(j.created.Add(d).Sub(running)) * int64(i+1) / int64(len(j.tasks))))
	if !j.cancelAt.IsZero() && !finish.Before(j.cancelAt) && j.cancelAt.Before(j.created.Add(d)) {
		if ph.status == api.StatusCancelled {
			return ph.updated, true
		}
		return time.Time{}, false
	}
	if now.Before(finish) {
		return time.Time{}, false
	}
	return finish, false
}

// cancelledItem is the task item of a task the cancel stopped: Azure lists
// it with empty results (recorded for prebuilt tasks; a custom task names
// its project and deployment instead of a model version).
func (t *taskRun) cancelledItem(at time.Time) api.TaskItem {
	var res any = map[string]any{"documents": []any{}, "errors": []any{}, "modelVersion": "latest"}
	if t.kind == api.KindCustomEntityRecognitionResult {
		res = api.CustomEntitiesResult{ProjectName: t.project, DeploymentName: t.deployment,
			Errors: []api.DocumentError{}, Documents: []api.DocumentEntities{}}
	}
	raw, _ := json.Marshal(res) // maps and slices of strings: cannot fail
	return api.TaskItem{Kind: t.kind, TaskName: t.name, LastUpdateDateTime: api.TicksTime{Time: at},
		Status: api.StatusCancelled, Results: raw}
}

func later(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}

// setUpdated writes the job's last-update date under the one name the
// api-version defines: lastUpdateDateTime on 2022-10-01-preview,
// lastUpdatedDateTime on the others (both recorded, internal/testkit/recorded).
func setUpdated(st *api.JobState, apiVersion string, t time.Time) {
	if apiVersion == "2022-10-01-preview" {
		st.LastUpdateDateTime = t
		return
	}
	st.LastUpdatedDateTime = t
}

// nextLink is the link to the top documents from skip, in Azure's shape:
// showStats first, then top, skip and the api-version (recorded:
// ?showStats=False&top=5&skip=20&api-version=2023-04-01).
func nextLink(c *call, jobID string, showStats bool, top, skip int) string {
	stats := "False"
	if showStats {
		stats = "True"
	}
	return c.base + api.JobPath(jobID) + "?showStats=" + stats + "&top=" + strconv.Itoa(top) +
		"&skip=" + strconv.Itoa(skip) + "&api-version=" + url.QueryEscape(c.apiVersion)
}

// page renders the results of input documents [start, end). With
// showStats the batch statistics sit in the task's results, where Azure
// puts them (runtime-custom-partial-error-2022-10-01-preview), not at the
// job's level.
func (t *taskRun) page(start, end int, stats *api.BatchStatistics) any {
	errs := []api.DocumentError{}
	showStats := stats != nil
	if t.kind == api.KindCustomEntityRecognitionResult {
		res := api.CustomEntitiesResult{ProjectName: t.project, DeploymentName: t.deployment, Errors: errs,
			Statistics: stats, Documents: []api.DocumentEntities{}}
		for _, d := range t.docs[start:end] {
			if d.err != nil {
				res.Errors = append(res.Errors, api.DocumentError{ID: d.id, Error: *d.err})
				continue
			}
			de := api.DocumentEntities{ID: d.id, Warnings: []api.Warning{}, Entities: d.entities}
			if showStats {
				de.Statistics = &api.DocumentStatistics{CharactersCount: d.chars, TransactionsCount: transactions(d.chars)}
			}
			res.Documents = append(res.Documents, de)
		}
		return res
	}
	docs := []map[string]any{}
	for _, d := range t.docs[start:end] {
		if d.err != nil {
			errs = append(errs, api.DocumentError{ID: d.id, Error: *d.err})
			continue
		}
		doc := map[string]any{}
		for k, v := range d.prebuilt {
			doc[k] = v
		}
		if showStats {
			doc["statistics"] = api.DocumentStatistics{CharactersCount: d.chars, TransactionsCount: transactions(d.chars)}
		}
		docs = append(docs, doc)
	}
	res := map[string]any{"documents": docs, "errors": errs, "modelVersion": prebuiltModelVersion}
	if stats != nil {
		res["statistics"] = stats
	}
	return res
}

func (j *runtimeJob) statistics() *api.BatchStatistics {
	s := &api.BatchStatistics{DocumentsCount: len(j.docChars)}
	bad := map[string]bool{}
	for _, t := range j.tasks {
		for _, d := range t.docs {
			if d.err != nil {
				bad[d.id] = true
			}
		}
	}
	for _, n := range j.docChars {
		s.TransactionsCount += transactions(n)
	}
	s.ErroneousDocumentsCount = len(bad)
	s.ValidDocumentsCount = s.DocumentsCount - len(bad)
	return s
}

// transactions is Azure's billing unit: one per started 1,000 characters.
func transactions(chars int) int { return max(1, (chars+999)/1000) }

// paging is a validated top/skip pair.
type paging struct{ top, skip int }

// pagingParams reads top and skip, also in their v3 spellings $top and
// $skip; top defaults to def.
func pagingParams(q url.Values, def int) (paging, reply, bool) {
	pg := paging{top: def}
	for _, p := range []struct {
		names []string
		dst   *int
	}{{[]string{"top", "$top"}, &pg.top}, {[]string{"skip", "$skip"}, &pg.skip}} {
		for _, name := range p.names {
			v := q.Get(name)
			if v == "" {
				continue
			}
			n, err := strconv.Atoi(v)
			if err != nil || n < 0 || (p.dst == &pg.top && n == 0) {
				return pg, failureInner(http.StatusBadRequest, api.CodeInvalidArgument,
					"Invalid parameter in request: "+name+" = '"+v+"'.", api.InnerInvalidParameterValue,
					name+" must be a non-negative integer."), false
			}
			*p.dst = n
		}
	}
	return pg, reply{}, true
}

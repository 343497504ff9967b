package emulator

import (
	"encoding/json"
	"net/http"
	"net/url"
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

func (e *Emulator) handleSubmit(c *call) reply {
	var req api.SubmitRequest
	if err := c.decode(&req); err != nil {
		return badJSON(err)
	}
	docs := req.AnalysisInput.Documents
	if len(docs) == 0 {
		return failureInner(http.StatusBadRequest, api.CodeInvalidArgument, "Invalid document in request.",
			api.InnerMissingInputDocuments, "Missing input documents.")
	}
	if len(docs) > maxDocumentsPerJob {
		return failureInner(http.StatusBadRequest, api.CodeInvalidRequest, "Invalid document in request.",
			api.InnerInvalidDocumentBatch, "Batch request contains too many records. Max "+strconv.Itoa(maxDocumentsPerJob)+" records are permitted.")
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
	name := t.TaskName
	if name == "" {
		name = t.Kind + "-" + strconv.Itoa(i)
	}
	if t.Kind != api.KindCustomEntityRecognition {
		if !prebuiltKinds[t.Kind] {
			return nil, failure(http.StatusBadRequest, api.CodeInvalidArgument,
				"Task kind '"+t.Kind+"' is not supported (this emulator serves CustomEntityRecognition and the prebuilt kinds of the synchronous API)."), true
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

// servingModel returns the model behind a deployment, or the error the job
// fails with. Azure accepts the submit and fails the job (the reference
// lists no 404 for submit), so the emulator does the same.
func (e *Emulator) servingModel(projectName, deploymentName string) (*dictionary, *api.Error) {
	p, ok := e.projects[projectName]
	if !ok {
		return nil, &api.Error{Code: api.CodeProjectNotFound,
			Message: "The project '" + projectName + "' could not be found."}
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
		JobID:               j.id,
		DisplayName:         j.displayName,
		CreatedDateTime:     j.created,
		ExpirationDateTime:  j.created.Add(runtimeJobLifetime),
		LastUpdatedDateTime: ph.updated,
		LastUpdateDateTime:  ph.updated,
		Status:              ph.status,
		Errors:              []api.Error{},
		Tasks:               api.TaskSummary{Total: len(j.tasks)},
	}
	switch ph.status {
	case api.StatusNotStarted, api.StatusRunning, api.StatusCancelling:
		st.Tasks.InProgress = len(j.tasks)
		return respond(st)
	case api.StatusCancelled:
		return respond(st)
	}

	end := min(pg.skip+pg.top, len(j.docChars))
	start := min(pg.skip, end)
	for _, t := range j.tasks {
		item := api.TaskItem{Kind: t.kind, TaskName: t.name, LastUpdateDateTime: ph.updated, Status: api.StatusSucceeded}
		if t.err != nil {
			item.Status = api.StatusFailed
			st.Tasks.Failed++
			st.Errors = append(st.Errors, *t.err)
		} else {
			st.Tasks.Completed++
			raw, err := json.Marshal(t.page(start, end, showStats))
			if err != nil {
				return failure(http.StatusInternalServerError, api.CodeInternalServerError, "Internal Server Error.")
			}
			item.Results = raw
		}
		st.Tasks.Items = append(st.Tasks.Items, item)
	}
	if showStats {
		st.Statistics = j.statistics()
	}
	if end < len(j.docChars) {
		next := url.Values{"top": {strconv.Itoa(pg.top)}, "skip": {strconv.Itoa(end)}}
		if showStats {
			next.Set("showStats", "true")
		}
		st.NextLink = c.url(api.JobPath(j.id), next)
	}
	return respond(st)
}

// page renders the results of input documents [start, end).
func (t *taskRun) page(start, end int, showStats bool) any {
	errs := []api.DocumentError{}
	if t.kind == api.KindCustomEntityRecognitionResult {
		res := api.CustomEntitiesResult{ProjectName: t.project, DeploymentName: t.deployment, Errors: errs, Documents: []api.DocumentEntities{}}
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
	return map[string]any{"documents": docs, "errors": errs, "modelVersion": prebuiltModelVersion}
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

package emulator

import (
	"maps"
	"net/http"
	"slices"
	"sort"
	"time"

	"nergateway/api"
)

// handleTrain starts a training job. The model appears (and the project's
// lastTrainedDateTime moves) when the job succeeds; training fails when a
// labelled document is missing from the project's storage container.
func (e *Emulator) handleTrain(c *call) reply {
	if _, rep, found := e.lookupProject(c); !found {
		return rep
	}
	var req api.TrainRequest
	if err := c.decode(&req); err != nil {
		return badJSON(err)
	}
	switch {
	case req.ModelLabel == "":
		return missing("modelLabel")
	case req.TrainingConfigVersion == "":
		return missing("trainingConfigVersion")
	case req.TrainingConfigVersion != "latest" && !slices.Contains(trainingConfigVersions, req.TrainingConfigVersion):
		return invalidArgument("The trainingConfigVersion '" + req.TrainingConfigVersion + "' is not supported.")
	}
	if err := validName("model", req.ModelLabel); err != nil {
		return invalidArgument(err.Error())
	}
	if o := req.EvaluationOptions; o != nil {
		switch {
		case o.Kind != "" && o.Kind != "percentage" && o.Kind != "manual":
			return invalidArgument("The evaluation kind '" + o.Kind + "' is not supported; use percentage or manual.")
		case o.Kind != "manual" && (o.TrainingSplitPercentage != 0 || o.TestingSplitPercentage != 0) &&
			o.TrainingSplitPercentage+o.TestingSplitPercentage != 100:
			return invalidArgument("trainingSplitPercentage and testingSplitPercentage must add up to 100.")
		}
	}
	version := req.TrainingConfigVersion
	if version == "latest" {
		version = latestTrainingConfigVersion
	}
	j, rep := e.startJob(c, jobTrain, c.vars["project"], "", e.onProject(func(j *authJob, p *project, at time.Time) *api.Error {
		m, err := train(p, e.storage, j.train.ModelLabel, version, at, e.opts.AuthoringJobDuration)
		if err != nil {
			return err
		}
		p.models[m.label] = m
		p.trained = at
		return nil
	}))
	j.train = &req
	return rep
}

func (e *Emulator) handleListTrainJobs(c *call) reply {
	if _, rep, found := e.lookupProject(c); !found {
		return rep
	}
	var js []*authJob
	for _, j := range e.authJobs {
		if j.kind == jobTrain && j.project == c.vars["project"] {
			js = append(js, j)
		}
	}
	sort.Slice(js, func(a, b int) bool {
		if !js[a].created.Equal(js[b].created) {
			return js[a].created.Before(js[b].created)
		}
		return js[a].id < js[b].id
	})
	items := make([]api.AuthoringJob, 0, len(js))
	for _, j := range js {
		items = append(items, e.jobState(c, j))
	}
	return listPage(c, items, e.opts.ListPageSize)
}

// handleCancelTrainJob asks a training job to stop: 202 pointing at the job,
// which then shows cancelling and cancelled (a job that ended stays as it is).
func (e *Emulator) handleCancelTrainJob(c *call) reply {
	j, rep, found := e.lookupAuthJob(c, jobTrain)
	if !found {
		return rep
	}
	e.cancelJob(c, j)
	return accepted(c.url(e.jobPath(j), nil))
}

func (e *Emulator) lookupModel(c *call) (*project, *model, reply, bool) {
	p, rep, found := e.lookupProject(c)
	if !found {
		return nil, nil, rep, false
	}
	m, ok := p.models[c.vars["model"]]
	if !ok {
		return nil, nil, modelNotFound(c.vars["model"]), false
	}
	return p, m, reply{}, true
}

func (e *Emulator) handleListModels(c *call) reply {
	p, rep, found := e.lookupProject(c)
	if !found {
		return rep
	}
	labels := slices.Sorted(maps.Keys(p.models))
	items := make([]api.TrainedModel, 0, len(labels))
	for _, l := range labels {
		items = append(items, p.models[l].body())
	}
	return listPage(c, items, e.opts.ListPageSize)
}

func (e *Emulator) handleGetModel(c *call) reply {
	_, m, rep, found := e.lookupModel(c)
	if !found {
		return rep
	}
	return respond(m.body())
}

// handleDeleteModel deletes a trained model: 204. Deployments of it keep
// serving, as the emulator does not know what Azure does there.
func (e *Emulator) handleDeleteModel(c *call) reply {
	p, m, rep, found := e.lookupModel(c)
	if !found {
		return rep
	}
	delete(p.models, m.label)
	return reply{status: http.StatusNoContent}
}

// entityEvaluation is one category of an evaluation summary. A dictionary
// recognises every span it was trained on, so the scores are perfect.
type entityEvaluation struct {
	F1                 float64 `json:"f1"`
	Precision          float64 `json:"precision"`
	Recall             float64 `json:"recall"`
	TruePositiveCount  int     `json:"truePositiveCount"`
	TrueNegativeCount  int     `json:"trueNegativeCount"`
	FalsePositiveCount int     `json:"falsePositiveCount"`
	FalseNegativeCount int     `json:"falseNegativeCount"`
}

func (e *Emulator) handleEvaluationSummary(c *call) reply {
	_, m, rep, found := e.lookupModel(c)
	if !found {
		return rep
	}
	ents := map[string]entityEvaluation{}
	confusion := map[string]map[string]map[string]float64{}
	for cat, n := range m.categories {
		ents[cat] = entityEvaluation{F1: 1, Precision: 1, Recall: 1, TruePositiveCount: n}
		confusion[cat] = map[string]map[string]float64{cat: {"normalizedValue": 100, "rawValue": float64(n)}}
	}
	return respond(map[string]any{
		"projectKind": api.ProjectKindCustomNER,
		"customEntityRecognitionEvaluation": map[string]any{
			"confusionMatrix": confusion,
			"entities":        ents,
			"microF1":         1.0, "microPrecision": 1.0, "microRecall": 1.0,
			"macroF1": 1.0, "macroPrecision": 1.0, "macroRecall": 1.0,
		},
		"evaluationOptions": map[string]any{"kind": "percentage", "trainingSplitPercentage": 80, "testingSplitPercentage": 20},
	})
}

// handleEvaluationResult lists per-document evaluation results; the
// emulator keeps no per-document detail, so the list is empty.
func (e *Emulator) handleEvaluationResult(c *call) reply {
	if _, _, rep, found := e.lookupModel(c); !found {
		return rep
	}
	return listPage(c, []map[string]any{}, e.opts.ListPageSize)
}

func (e *Emulator) handleLoadSnapshot(c *call) reply {
	if _, _, rep, found := e.lookupModel(c); !found {
		return rep
	}
	_, rep := e.startJob(c, jobLoadSnapshot, c.vars["project"], c.vars["model"], e.onProject(func(j *authJob, p *project, at time.Time) *api.Error {
		m, ok := p.models[j.target]
		if !ok {
			return errModelNotFound(j.target)
		}
		m.hasSnapshot = true
		return nil
	}))
	return rep
}

package emulator

import (
	"maps"
	"slices"
	"time"

	"nergateway/api"
)

func (e *Emulator) handleListDeployments(c *call) reply {
	p, rep, found := e.lookupProject(c)
	if !found {
		return rep
	}
	names := slices.Sorted(maps.Keys(p.deployments))
	items := make([]deploymentBody, 0, len(names))
	for _, n := range names {
		items = append(items, p.deployments[n].body())
	}
	return listPage(c, items, e.opts.ListPageSize)
}

// handleGetDeployment answers modelId and no trainedModelLabel, as the
// spec says Azure does.
func (e *Emulator) handleGetDeployment(c *call) reply {
	p, rep, found := e.lookupProject(c)
	if !found {
		return rep
	}
	d, ok := p.deployments[c.vars["deployment"]]
	if !ok {
		return deploymentNotFound(c.vars["deployment"])
	}
	return respond(d.body())
}

// handleDeploy deploys an existing trained model (404 otherwise); the
// deployment serves it once the job succeeds.
func (e *Emulator) handleDeploy(c *call) reply {
	p, rep, found := e.lookupProject(c)
	if !found {
		return rep
	}
	name := c.vars["deployment"]
	if err := validName("deployment", name); err != nil {
		return invalidArgument(err.Error())
	}
	var req api.DeployRequest
	if err := c.decode(&req); err != nil {
		return badJSON(err)
	}
	if req.TrainedModelLabel == "" {
		return missing("trainedModelLabel")
	}
	if _, ok := p.models[req.TrainedModelLabel]; !ok {
		return modelNotFound(req.TrainedModelLabel)
	}
	_, rep = e.startJob(c, jobDeploy, c.vars["project"], name, e.onProject(func(j *authJob, p *project, at time.Time) *api.Error {
		m, ok := p.models[req.TrainedModelLabel]
		if !ok {
			return errModelNotFound(req.TrainedModelLabel)
		}
		p.deploy(j.target, m, at)
		e.modifyLater(p, at)
		return nil
	}))
	return rep
}

func (e *Emulator) handleDeleteDeployment(c *call) reply {
	p, rep, found := e.lookupProject(c)
	if !found {
		return rep
	}
	if _, ok := p.deployments[c.vars["deployment"]]; !ok {
		return deploymentNotFound(c.vars["deployment"])
	}
	_, rep = e.startJob(c, jobDeploy, c.vars["project"], c.vars["deployment"], func(j *authJob, at time.Time) *api.Error {
		if p, ok := e.projects[j.project]; ok {
			delete(p.deployments, j.target)
		}
		return nil
	})
	return rep
}

// swapRequest is the body of POST {p}/deployments/:swap.
type swapRequest struct {
	FirstDeploymentName  string `json:"firstDeploymentName"`
	SecondDeploymentName string `json:"secondDeploymentName"`
}

func (e *Emulator) handleSwap(c *call) reply {
	p, rep, found := e.lookupProject(c)
	if !found {
		return rep
	}
	var req swapRequest
	if err := c.decode(&req); err != nil {
		return badJSON(err)
	}
	switch {
	case req.FirstDeploymentName == "":
		return missing("firstDeploymentName")
	case req.SecondDeploymentName == "":
		return missing("secondDeploymentName")
	}
	for _, n := range []string{req.FirstDeploymentName, req.SecondDeploymentName} {
		if _, ok := p.deployments[n]; !ok {
			return deploymentNotFound(n)
		}
	}
	_, rep = e.startJob(c, jobSwap, c.vars["project"], "", e.onProject(func(j *authJob, p *project, at time.Time) *api.Error {
		a, b := p.deployments[req.FirstDeploymentName], p.deployments[req.SecondDeploymentName]
		if a == nil || b == nil {
			return &api.Error{Code: api.CodeNotFound, Message: "A deployment to swap could not be found."}
		}
		a.model, b.model = b.model, a.model
		a.deployed, b.deployed = at, at
		p.deployed = at
		return nil
	}))
	return rep
}

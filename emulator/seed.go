package emulator

import (
	"fmt"
	"slices"

	"nergateway/api"
)

// SeedProject describes a project to create synchronously with Seed.
type SeedProject struct {
	Name string `json:"name"`
	// Language defaults to "en".
	Language string `json:"language,omitempty"`
	// Container is the storage container the documents go to; it defaults
	// to Name.
	Container string `json:"container,omitempty"`
	// Entities are the categories; empty means those the labels use.
	Entities  []string       `json:"entities,omitempty"`
	Documents []SeedDocument `json:"documents"`
	// ModelLabel is the trained model's label; empty means "model".
	ModelLabel string `json:"modelLabel,omitempty"`
	// DeploymentName, when set, trains the project and deploys the model
	// under this name; empty leaves the project untrained.
	DeploymentName string `json:"deploymentName,omitempty"`
}

// SeedDocument is a labelled training document.
type SeedDocument struct {
	Name string `json:"name"`
	Text string `json:"text"`
	// Labels have offsets and lengths in UTF-16 code units.
	Labels []api.Label `json:"labels,omitempty"`
}

// Seed puts the documents into the region's storage and creates (or
// replaces) the project, then trains and deploys it, all at once with no
// job clock, so tests and the demo start from a serving region.
func (e *Emulator) Seed(sp SeedProject) error {
	if err := validName("project", sp.Name); err != nil {
		return fmt.Errorf("seed: %w", err)
	}
	if sp.DeploymentName != "" {
		if err := validName("deployment", sp.DeploymentName); err != nil {
			return fmt.Errorf("seed: %w", err)
		}
	}
	if sp.ModelLabel != "" {
		if err := validName("model", sp.ModelLabel); err != nil {
			return fmt.Errorf("seed: %w", err)
		}
	}
	if sp.Language == "" {
		sp.Language = "en"
	}
	if sp.Container == "" {
		sp.Container = sp.Name
	}
	if sp.ModelLabel == "" {
		sp.ModelLabel = "model"
	}
	file := sp.exported()

	e.mu.Lock()
	defer e.mu.Unlock()
	now := e.now()
	e.settle(now)
	for _, d := range sp.Documents {
		if err := e.storage.put(sp.Container, d.Name, d.Text); err != nil {
			return fmt.Errorf("seed %s: %w", sp.Name, err)
		}
	}
	p := newProject(file, now)
	if old, ok := e.projects[sp.Name]; ok {
		p.created = old.created
	}
	if sp.DeploymentName != "" {
		m, aerr := train(p, e.storage, sp.ModelLabel, latestTrainingConfigVersion, now, 0)
		if aerr != nil {
			return fmt.Errorf("seed %s: %w", sp.Name, aerr)
		}
		p.models[m.label] = m
		p.trained = now
		p.deploy(sp.DeploymentName, m, now)
	}
	e.projects[sp.Name] = p
	return nil
}

// exported is the project file of sp, as an import would have received it.
func (sp SeedProject) exported() api.ExportedProject {
	cats := slices.Clone(sp.Entities)
	assets := &api.ProjectAssets{ProjectKind: api.ProjectKindCustomNER, Entities: []api.EntityType{}, Documents: []api.LabeledDocument{}}
	for _, d := range sp.Documents {
		doc := api.LabeledDocument{Location: d.Name, Language: sp.Language, Dataset: api.DatasetTrain, Entities: []api.LabeledRegion{}}
		if len(d.Labels) > 0 {
			doc.Entities = append(doc.Entities, api.LabeledRegion{
				RegionOffset: 0, RegionLength: textLength(d.Text, api.StringIndexUTF16), Labels: d.Labels,
			})
		}
		for _, l := range d.Labels {
			if len(sp.Entities) == 0 && !slices.Contains(cats, l.Category) {
				cats = append(cats, l.Category)
			}
		}
		assets.Documents = append(assets.Documents, doc)
	}
	for _, c := range cats {
		assets.Entities = append(assets.Entities, api.EntityType{Category: c})
	}
	return api.ExportedProject{
		ProjectFileVersion: "2022-05-01",
		StringIndexType:    api.StringIndexUTF16,
		Metadata: api.ProjectMetadata{
			ProjectKind:               api.ProjectKindCustomNER,
			ProjectName:               sp.Name,
			StorageInputContainerName: sp.Container,
			Language:                  sp.Language,
			Settings:                  &api.ProjectSettings{},
		},
		Assets: assets,
	}
}

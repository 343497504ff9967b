package api

import "time"

// ProjectKindCustomNER is the projectKind of custom NER projects.
const ProjectKindCustomNER = "CustomEntityRecognition"

// Dataset names of an exported document.
const (
	DatasetTrain = "Train"
	DatasetTest  = "Test"
)

// Project is the body of GET {authoring}/projects/{p} and a list item.
type Project struct {
	ProjectName               string           `json:"projectName"`
	ProjectKind               string           `json:"projectKind"`
	StorageInputContainerName string           `json:"storageInputContainerName"`
	Language                  string           `json:"language"`
	Multilingual              bool             `json:"multilingual"`
	Description               string           `json:"description,omitempty"`
	Settings                  *ProjectSettings `json:"settings,omitempty"`
	CreatedDateTime           time.Time        `json:"createdDateTime,omitzero"`
	LastModifiedDateTime      time.Time        `json:"lastModifiedDateTime,omitzero"`
	LastTrainedDateTime       time.Time        `json:"lastTrainedDateTime,omitzero"`
	LastDeployedDateTime      time.Time        `json:"lastDeployedDateTime,omitzero"`
	Extra                     Extra            `json:"-"`
}

// ProjectSettings are a project's tunables.
type ProjectSettings struct {
	ConfidenceThreshold *float64 `json:"confidenceThreshold,omitempty"`
	Extra               Extra    `json:"-"`
}

// ExportedProject is the export result and the import body. The
// replication worker rewrites two names in it and must keep the rest, so
// every level keeps unknown members.
type ExportedProject struct {
	ProjectFileVersion string          `json:"projectFileVersion"`
	StringIndexType    string          `json:"stringIndexType"`
	Metadata           ProjectMetadata `json:"metadata"`
	Assets             *ProjectAssets  `json:"assets,omitempty"`
	Extra              Extra           `json:"-"`
}

// ProjectMetadata is the metadata member of an exported project.
type ProjectMetadata struct {
	ProjectKind               string           `json:"projectKind"`
	ProjectName               string           `json:"projectName"`
	StorageInputContainerName string           `json:"storageInputContainerName"`
	Language                  string           `json:"language"`
	Multilingual              bool             `json:"multilingual"`
	Description               string           `json:"description,omitempty"`
	Settings                  *ProjectSettings `json:"settings,omitempty"`
	Extra                     Extra            `json:"-"`
}

// ProjectAssets are the entity types and labelled documents of a project.
type ProjectAssets struct {
	ProjectKind string            `json:"projectKind"`
	Entities    []EntityType      `json:"entities"`
	Documents   []LabeledDocument `json:"documents"`
	Extra       Extra             `json:"-"`
}

// EntityType declares one category.
type EntityType struct {
	Category string `json:"category"`
	Extra    Extra  `json:"-"`
}

// LabeledDocument refers to a .txt blob at the container root and holds its
// labels.
type LabeledDocument struct {
	Location string          `json:"location"`
	Language string          `json:"language,omitempty"`
	Dataset  string          `json:"dataset,omitempty"`
	Entities []LabeledRegion `json:"entities"`
	Extra    Extra           `json:"-"`
}

// LabeledRegion is a region of a document and the labels inside it.
type LabeledRegion struct {
	RegionOffset int     `json:"regionOffset"`
	RegionLength int     `json:"regionLength"`
	Labels       []Label `json:"labels"`
	Extra        Extra   `json:"-"`
}

// Label is one labelled span, in UTF-16 code units.
type Label struct {
	Category string `json:"category"`
	Offset   int    `json:"offset"`
	Length   int    `json:"length"`
	Extra    Extra  `json:"-"`
}

// AuthoringJob is the state of any authoring long-running operation:
// export, import, train, deploy, delete.
type AuthoringJob struct {
	JobID               string    `json:"jobId"`
	CreatedDateTime     time.Time `json:"createdDateTime"`
	LastUpdatedDateTime time.Time `json:"lastUpdatedDateTime"`
	ExpirationDateTime  time.Time `json:"expirationDateTime,omitzero"`
	Status              string    `json:"status"`
	// Warnings and Errors are left out when nil and written when empty:
	// Azure sends warnings: [] on a finished training job only.
	Warnings  []Warning    `json:"warnings,omitzero"`
	Errors    []Error      `json:"errors,omitzero"`
	ResultURL string       `json:"resultUrl,omitempty"`
	Result    *TrainResult `json:"result,omitempty"`
	Extra     Extra        `json:"-"`
}

// TrainResult is the result member of a training job.
type TrainResult struct {
	ModelLabel            string         `json:"modelLabel"`
	TrainingConfigVersion string         `json:"trainingConfigVersion"`
	EstimatedEndDateTime  TicksTime      `json:"estimatedEndDateTime,omitzero"`
	TrainingStatus        *SubTaskStatus `json:"trainingStatus,omitempty"`
	EvaluationStatus      *SubTaskStatus `json:"evaluationStatus,omitempty"`
}

// SubTaskStatus is the progress of training or evaluation.
type SubTaskStatus struct {
	PercentComplete int       `json:"percentComplete"`
	StartDateTime   TicksTime `json:"startDateTime,omitzero"`
	EndDateTime     TicksTime `json:"endDateTime,omitzero"`
	Status          string    `json:"status"`
}

// TrainRequest is the body of POST {p}/:train.
type TrainRequest struct {
	ModelLabel            string             `json:"modelLabel"`
	TrainingConfigVersion string             `json:"trainingConfigVersion"`
	EvaluationOptions     *EvaluationOptions `json:"evaluationOptions,omitempty"`
}

// EvaluationOptions choose how training splits the data.
type EvaluationOptions struct {
	Kind                    string `json:"kind,omitempty"`
	TrainingSplitPercentage int    `json:"trainingSplitPercentage,omitempty"`
	TestingSplitPercentage  int    `json:"testingSplitPercentage,omitempty"`
}

// DeployRequest is the body of PUT {p}/deployments/{d}.
type DeployRequest struct {
	TrainedModelLabel string `json:"trainedModelLabel"`
}

// Deployment is a deployment's GET body and list item. Azure gives the
// modelId but not the trained model label; find the label through the
// project's models.
type Deployment struct {
	DeploymentName             string    `json:"deploymentName"`
	ModelID                    string    `json:"modelId"`
	LastTrainedDateTime        time.Time `json:"lastTrainedDateTime,omitzero"`
	LastDeployedDateTime       time.Time `json:"lastDeployedDateTime,omitzero"`
	DeploymentExpirationDate   string    `json:"deploymentExpirationDate,omitempty"`
	ModelTrainingConfigVersion string    `json:"modelTrainingConfigVersion,omitempty"`
}

// TrainedModel is a model's GET body and list item.
type TrainedModel struct {
	Label                         string    `json:"label"`
	ModelID                       string    `json:"modelId"`
	LastTrainedDateTime           time.Time `json:"lastTrainedDateTime,omitzero"`
	LastTrainingDurationInSeconds int       `json:"lastTrainingDurationInSeconds"`
	ModelExpirationDate           string    `json:"modelExpirationDate,omitempty"`
	ModelTrainingConfigVersion    string    `json:"modelTrainingConfigVersion,omitempty"`
	HasSnapshot                   *bool     `json:"hasSnapshot,omitempty"`
}

// Page is one page of an Azure list; NextLink is absolute or empty.
type Page[T any] struct {
	Value    []T    `json:"value"`
	NextLink string `json:"nextLink,omitempty"`
}

func (v *Project) UnmarshalJSON(b []byte) error {
	type plain Project
	return unmarshalKeeping(b, (*plain)(v), &v.Extra)
}
func (v Project) MarshalJSON() ([]byte, error) {
	type plain Project
	return marshalKeeping(plain(v), v.Extra)
}
func (v *ProjectSettings) UnmarshalJSON(b []byte) error {
	type plain ProjectSettings
	return unmarshalKeeping(b, (*plain)(v), &v.Extra)
}
func (v ProjectSettings) MarshalJSON() ([]byte, error) {
	type plain ProjectSettings
	return marshalKeeping(plain(v), v.Extra)
}
func (v *ExportedProject) UnmarshalJSON(b []byte) error {
	type plain ExportedProject
	return unmarshalKeeping(b, (*plain)(v), &v.Extra)
}
func (v ExportedProject) MarshalJSON() ([]byte, error) {
	type plain ExportedProject
	return marshalKeeping(plain(v), v.Extra)
}
func (v *ProjectMetadata) UnmarshalJSON(b []byte) error {
	type plain ProjectMetadata
	return unmarshalKeeping(b, (*plain)(v), &v.Extra)
}
func (v ProjectMetadata) MarshalJSON() ([]byte, error) {
	type plain ProjectMetadata
	return marshalKeeping(plain(v), v.Extra)
}
func (v *ProjectAssets) UnmarshalJSON(b []byte) error {
	type plain ProjectAssets
	return unmarshalKeeping(b, (*plain)(v), &v.Extra)
}
func (v ProjectAssets) MarshalJSON() ([]byte, error) {
	type plain ProjectAssets
	return marshalKeeping(plain(v), v.Extra)
}
func (v *EntityType) UnmarshalJSON(b []byte) error {
	type plain EntityType
	return unmarshalKeeping(b, (*plain)(v), &v.Extra)
}
func (v EntityType) MarshalJSON() ([]byte, error) {
	type plain EntityType
	return marshalKeeping(plain(v), v.Extra)
}
func (v *LabeledDocument) UnmarshalJSON(b []byte) error {
	type plain LabeledDocument
	return unmarshalKeeping(b, (*plain)(v), &v.Extra)
}
func (v LabeledDocument) MarshalJSON() ([]byte, error) {
	type plain LabeledDocument
	return marshalKeeping(plain(v), v.Extra)
}
func (v *LabeledRegion) UnmarshalJSON(b []byte) error {
	type plain LabeledRegion
	return unmarshalKeeping(b, (*plain)(v), &v.Extra)
}
func (v LabeledRegion) MarshalJSON() ([]byte, error) {
	type plain LabeledRegion
	return marshalKeeping(plain(v), v.Extra)
}
func (v *Label) UnmarshalJSON(b []byte) error {
	type plain Label
	return unmarshalKeeping(b, (*plain)(v), &v.Extra)
}
func (v Label) MarshalJSON() ([]byte, error) {
	type plain Label
	return marshalKeeping(plain(v), v.Extra)
}
func (v *AuthoringJob) UnmarshalJSON(b []byte) error {
	type plain AuthoringJob
	return unmarshalKeeping(b, (*plain)(v), &v.Extra)
}
func (v AuthoringJob) MarshalJSON() ([]byte, error) {
	type plain AuthoringJob
	return marshalKeeping(plain(v), v.Extra)
}

package api

import (
	"encoding/json"
	"time"
)

// Job statuses shared by runtime and authoring jobs.
const (
	StatusNotStarted         = "notStarted"
	StatusRunning            = "running"
	StatusSucceeded          = "succeeded"
	StatusPartiallyCompleted = "partiallyCompleted"
	StatusFailed             = "failed"
	StatusCancelled          = "cancelled"
	StatusCancelling         = "cancelling"
	// StatusPartiallySucceeded is 2022-10-01-preview's spelling of
	// partiallyCompleted; Azure's JS SDK treats it as final.
	StatusPartiallySucceeded = "partiallySucceeded"
)

// Terminal reports whether a job in status s will not change again. It is
// the gateway's one rule for "finished": the poller here, rescue's cleanup
// and eligibility (proxy) and the emulator's lifecycle all ask it, so a
// job one of them sees as over is over for all.
func Terminal(status string) bool {
	switch status {
	case StatusSucceeded, StatusPartiallyCompleted, StatusPartiallySucceeded, StatusFailed, StatusCancelled:
		return true
	}
	return false
}

// String index types of the runtime and authoring APIs.
const (
	StringIndexTextElements = "TextElements_v8"
	StringIndexCodePoint    = "UnicodeCodePoint"
	StringIndexUTF16        = "Utf16CodeUnit"
)

// Task kinds used by custom NER.
const (
	KindCustomEntityRecognition       = "CustomEntityRecognition"
	KindCustomEntityRecognitionResult = "CustomEntityRecognitionLROResults"
)

// SubmitRequest is the body of POST /language/analyze-text/jobs.
type SubmitRequest struct {
	DisplayName   string        `json:"displayName,omitempty"`
	AnalysisInput AnalysisInput `json:"analysisInput"`
	Tasks         []Task        `json:"tasks"`
	Extra         Extra         `json:"-"`
}

// AnalysisInput holds the documents of a job.
type AnalysisInput struct {
	Documents []Document `json:"documents"`
	Extra     Extra      `json:"-"`
}

// Document is one input text.
type Document struct {
	ID       string `json:"id"`
	Language string `json:"language,omitempty"`
	Text     string `json:"text"`
	Extra    Extra  `json:"-"`
}

// Task is one analysis of a job.
type Task struct {
	Kind       string         `json:"kind"`
	TaskName   string         `json:"taskName,omitempty"`
	Parameters TaskParameters `json:"parameters"`
	Extra      Extra          `json:"-"`
}

// TaskParameters are the parameters of a custom task. Prebuilt tasks use
// other members, which land in Extra and survive a round trip.
type TaskParameters struct {
	ProjectName     string `json:"projectName,omitempty"`
	DeploymentName  string `json:"deploymentName,omitempty"`
	StringIndexType string `json:"stringIndexType,omitempty"`
	LoggingOptOut   *bool  `json:"loggingOptOut,omitempty"`
	Extra           Extra  `json:"-"`
}

// JobState is the body of GET /language/analyze-text/jobs/{jobId}.
type JobState struct {
	JobID              string    `json:"jobId"`
	DisplayName        string    `json:"displayName,omitempty"`
	CreatedDateTime    time.Time `json:"createdDateTime"`
	ExpirationDateTime time.Time `json:"expirationDateTime,omitzero"`
	// LastUpdatedDateTime is the name Azure sends on 2022-05-01, 2023-04-01
	// and 2025-11-15-preview; LastUpdateDateTime the one it sends on
	// 2022-10-01-preview (both recorded, internal/testkit/recorded). Azure sends one
	// of them, the one its api-version defines.
	LastUpdatedDateTime time.Time        `json:"lastUpdatedDateTime,omitzero"`
	LastUpdateDateTime  time.Time        `json:"lastUpdateDateTime,omitzero"`
	Status              string           `json:"status"`
	Errors              []Error          `json:"errors"`
	NextLink            string           `json:"nextLink,omitempty"`
	Statistics          *BatchStatistics `json:"statistics,omitempty"`
	Tasks               TaskSummary      `json:"tasks"`
	Extra               Extra            `json:"-"`
}

// BatchStatistics is present when showStats=true.
type BatchStatistics struct {
	DocumentsCount          int   `json:"documentsCount"`
	ValidDocumentsCount     int   `json:"validDocumentsCount"`
	ErroneousDocumentsCount int   `json:"erroneousDocumentsCount"`
	TransactionsCount       int   `json:"transactionsCount"`
	Extra                   Extra `json:"-"`
}

// TaskSummary counts a job's tasks and carries their results.
type TaskSummary struct {
	Completed  int `json:"completed"`
	Failed     int `json:"failed"`
	InProgress int `json:"inProgress"`
	Total      int `json:"total"`
	// Items is written when empty (Azure sends items: [] while a job has
	// no finished task) and left out only when nil.
	Items []TaskItem `json:"items,omitzero"`
	Extra Extra      `json:"-"`
}

// TicksTime is a timestamp Azure writes with .NET's seven fractional
// digits ("2025-03-25T23:51:45.8239864Z": task and training times, as
// recorded); it reads any RFC 3339 time. A TicksTime read from JSON is
// written back as it was read, so a body passing through the gateway keeps
// Azure's spelling. Job and project dates are whole seconds and stay
// time.Time.
type TicksTime struct {
	time.Time
	raw string // as read; empty for a time built in Go
}

// MarshalJSON writes t as it was read, or in UTC with exactly seven
// fractional digits.
func (t TicksTime) MarshalJSON() ([]byte, error) {
	if t.raw != "" {
		return []byte(t.raw), nil
	}
	return []byte(`"` + t.UTC().Format("2006-01-02T15:04:05.0000000Z") + `"`), nil
}

// UnmarshalJSON reads an RFC 3339 time.
func (t *TicksTime) UnmarshalJSON(b []byte) error {
	if err := t.Time.UnmarshalJSON(b); err != nil {
		return err
	}
	t.raw = string(b)
	return nil
}

// TaskItem is the state and result of one task.
type TaskItem struct {
	Kind               string    `json:"kind"`
	TaskName           string    `json:"taskName,omitempty"`
	LastUpdateDateTime TicksTime `json:"lastUpdateDateTime"`
	Status             string    `json:"status"`
	// Results is a CustomEntitiesResult for custom NER; other kinds have
	// other shapes, so it is kept raw and decoded on demand.
	Results json.RawMessage `json:"results,omitempty"`
	Extra   Extra           `json:"-"`
}

// CustomEntitiesResult is the results member of a custom NER task item.
type CustomEntitiesResult struct {
	ProjectName    string             `json:"projectName"`
	DeploymentName string             `json:"deploymentName"`
	Errors         []DocumentError    `json:"errors"`
	Statistics     *BatchStatistics   `json:"statistics,omitempty"`
	Documents      []DocumentEntities `json:"documents"`
	Extra          Extra              `json:"-"`
}

// DocumentError is a per-document failure inside a task result.
type DocumentError struct {
	ID    string `json:"id"`
	Error Error  `json:"error"`
}

// DocumentEntities are the entities found in one document.
type DocumentEntities struct {
	ID         string              `json:"id"`
	Warnings   []Warning           `json:"warnings"`
	Statistics *DocumentStatistics `json:"statistics,omitempty"`
	Entities   []Entity            `json:"entities"`
	Extra      Extra               `json:"-"`
}

// DocumentStatistics is present when showStats=true.
type DocumentStatistics struct {
	CharactersCount   int `json:"charactersCount"`
	TransactionsCount int `json:"transactionsCount"`
}

// Warning is a non-fatal remark about a document or job.
type Warning struct {
	Code      string `json:"code"`
	Message   string `json:"message"`
	TargetRef string `json:"targetRef,omitempty"`
}

// Entity is one recognised span; Offset and Length are in the request's
// stringIndexType.
type Entity struct {
	Text            string  `json:"text"`
	Category        string  `json:"category"`
	Subcategory     string  `json:"subcategory,omitempty"`
	Offset          int     `json:"offset"`
	Length          int     `json:"length"`
	ConfidenceScore float64 `json:"confidenceScore"`
	Extra           Extra   `json:"-"`
}

// The JSON methods below keep unknown members through a round trip; each
// decodes through a method-less alias so it does not recurse.

func (v *SubmitRequest) UnmarshalJSON(b []byte) error {
	type plain SubmitRequest
	return unmarshalKeeping(b, (*plain)(v), &v.Extra)
}
func (v SubmitRequest) MarshalJSON() ([]byte, error) {
	type plain SubmitRequest
	return marshalKeeping(plain(v), v.Extra)
}
func (v *AnalysisInput) UnmarshalJSON(b []byte) error {
	type plain AnalysisInput
	return unmarshalKeeping(b, (*plain)(v), &v.Extra)
}
func (v AnalysisInput) MarshalJSON() ([]byte, error) {
	type plain AnalysisInput
	return marshalKeeping(plain(v), v.Extra)
}
func (v *Document) UnmarshalJSON(b []byte) error {
	type plain Document
	return unmarshalKeeping(b, (*plain)(v), &v.Extra)
}
func (v Document) MarshalJSON() ([]byte, error) {
	type plain Document
	return marshalKeeping(plain(v), v.Extra)
}
func (v *Task) UnmarshalJSON(b []byte) error {
	type plain Task
	return unmarshalKeeping(b, (*plain)(v), &v.Extra)
}
func (v Task) MarshalJSON() ([]byte, error) {
	type plain Task
	return marshalKeeping(plain(v), v.Extra)
}
func (v *TaskParameters) UnmarshalJSON(b []byte) error {
	type plain TaskParameters
	return unmarshalKeeping(b, (*plain)(v), &v.Extra)
}
func (v TaskParameters) MarshalJSON() ([]byte, error) {
	type plain TaskParameters
	return marshalKeeping(plain(v), v.Extra)
}
func (v *JobState) UnmarshalJSON(b []byte) error {
	type plain JobState
	return unmarshalKeeping(b, (*plain)(v), &v.Extra)
}
func (v JobState) MarshalJSON() ([]byte, error) {
	type plain JobState
	return marshalKeeping(plain(v), v.Extra)
}
func (v *BatchStatistics) UnmarshalJSON(b []byte) error {
	type plain BatchStatistics
	return unmarshalKeeping(b, (*plain)(v), &v.Extra)
}
func (v BatchStatistics) MarshalJSON() ([]byte, error) {
	type plain BatchStatistics
	return marshalKeeping(plain(v), v.Extra)
}
func (v *TaskSummary) UnmarshalJSON(b []byte) error {
	type plain TaskSummary
	return unmarshalKeeping(b, (*plain)(v), &v.Extra)
}
func (v TaskSummary) MarshalJSON() ([]byte, error) {
	type plain TaskSummary
	return marshalKeeping(plain(v), v.Extra)
}
func (v *TaskItem) UnmarshalJSON(b []byte) error {
	type plain TaskItem
	return unmarshalKeeping(b, (*plain)(v), &v.Extra)
}
func (v TaskItem) MarshalJSON() ([]byte, error) {
	type plain TaskItem
	return marshalKeeping(plain(v), v.Extra)
}
func (v *CustomEntitiesResult) UnmarshalJSON(b []byte) error {
	type plain CustomEntitiesResult
	return unmarshalKeeping(b, (*plain)(v), &v.Extra)
}
func (v CustomEntitiesResult) MarshalJSON() ([]byte, error) {
	type plain CustomEntitiesResult
	return marshalKeeping(plain(v), v.Extra)
}
func (v *DocumentEntities) UnmarshalJSON(b []byte) error {
	type plain DocumentEntities
	return unmarshalKeeping(b, (*plain)(v), &v.Extra)
}
func (v DocumentEntities) MarshalJSON() ([]byte, error) {
	type plain DocumentEntities
	return marshalKeeping(plain(v), v.Extra)
}
func (v *Entity) UnmarshalJSON(b []byte) error {
	type plain Entity
	return unmarshalKeeping(b, (*plain)(v), &v.Extra)
}
func (v Entity) MarshalJSON() ([]byte, error) {
	type plain Entity
	return marshalKeeping(plain(v), v.Extra)
}

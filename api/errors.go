package api

import (
	"encoding/json"
	"fmt"
	"net/http"
)

// Error codes of Azure's ErrorCode enum that the gateway and the emulator
// produce. Front-door errors (401, 429 from API management) use numeric
// strings instead; see CodeFrontDoor*.
const (
	CodeInvalidRequest      = "InvalidRequest"
	CodeInvalidArgument     = "InvalidArgument"
	CodeUnauthorized        = "Unauthorized"
	CodeForbidden           = "Forbidden"
	CodeNotFound            = "NotFound"
	CodeProjectNotFound     = "ProjectNotFound"
	CodeOperationNotFound   = "OperationNotFound"
	CodeTooManyRequests     = "TooManyRequests"
	CodeInternalServerError = "InternalServerError"
	CodeServiceUnavailable  = "ServiceUnavailable"
	CodeTimeout             = "Timeout"
	CodeConflict            = "Conflict"
	CodeRequestTooLarge     = "RequestTooLarge"

	// CodeFrontDoorUnauthorized is what Azure's API-management front door
	// answers for a bad subscription key.
	CodeFrontDoorUnauthorized = "401"
	// CodeFrontDoorTooManyRequests is the front door's rate-limit code.
	CodeFrontDoorTooManyRequests = "429"
)

// MessageFrontDoorUnauthorized is the front door's answer to a wrong key,
// word for word (recorded, internal/testkit/recorded runtime-401-2022-10-01-preview).
// The gateway answers a wrong gateway key with it too, so a client matching
// on Azure's 401 sees the same behind the gateway.
const MessageFrontDoorUnauthorized = "Access denied due to invalid subscription key or wrong API endpoint. Make sure to provide a valid key for an active subscription and use a correct regional API endpoint for your resource."

// Inner error codes used by the emulator and the gateway.
const (
	InnerInvalidRequestBodyFormat = "InvalidRequestBodyFormat"
	InnerInvalidParameterValue    = "InvalidParameterValue"
	InnerInvalidDocumentBatch     = "InvalidDocumentBatch"
	InnerMissingInputDocuments    = "MissingInputDocuments"
	InnerEmptyRequest             = "EmptyRequest"
)

// Error is Azure AI Language's error object. It is also the Go error the
// client returns for every non-2xx answer and every failed job, so callers
// can branch on Azure's code with errors.As.
type Error struct {
	Code       string      `json:"code"`
	Message    string      `json:"message"`
	Target     string      `json:"target,omitempty"`
	Details    []Error     `json:"details,omitempty"`
	InnerError *InnerError `json:"innererror,omitempty"`

	// StatusCode is the HTTP status the error arrived with; zero for errors
	// read from a job body.
	StatusCode int `json:"-"`
}

// InnerError is the nested, more specific error Azure attaches.
type InnerError struct {
	Code       string            `json:"code"`
	Message    string            `json:"message"`
	Details    map[string]string `json:"details,omitempty"`
	Target     string            `json:"target,omitempty"`
	InnerError *InnerError       `json:"innererror,omitempty"`
}

// ErrorResponse is the envelope every Azure error body uses.
type ErrorResponse struct {
	Error Error `json:"error"`
}

func (e *Error) Error() string {
	msg := e.Code + ": " + e.Message
	if e.InnerError != nil && e.InnerError.Code != "" {
		msg += " (" + e.InnerError.Code + ")"
	}
	if e.StatusCode != 0 {
		return fmt.Sprintf("azure language: %d %s", e.StatusCode, msg)
	}
	return "azure language: " + msg
}

// WriteError writes err in Azure's error envelope with the given status.
// Both the gateway and the emulator answer through it, so SDKs parse every
// error they produce, and both follow Azure's recordings
// (internal/testkit/recorded): a 401 comes from the API-management front door,
// typed application/json without a charset; neither a 401 nor a 400
// carries x-ms-error-code. Other errors name their code in x-ms-error-code,
// which the spec allows and the SDKs read when the body has none.
func WriteError(w http.ResponseWriter, status int, e Error) {
	h := w.Header()
	if status == http.StatusUnauthorized {
		h.Set("Content-Type", "application/json")
	} else {
		h.Set("Content-Type", "application/json; charset=utf-8")
	}
	if status != http.StatusUnauthorized && status != http.StatusBadRequest {
		h.Set("x-ms-error-code", e.Code)
	}
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(ErrorResponse{Error: e})
}

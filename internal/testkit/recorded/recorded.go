// Package recorded holds conversations Microsoft's Azure SDK tests recorded
// against live Azure AI Language resources (trimmed copies of the SDKs'
// test-proxy recordings, secrets already sanitized by Microsoft), so tests
// can hold the gateway and the emulator to what Azure actually answered
// rather than to what this project believes Azure answers.
//
// Each file under recordings/ keeps its source (repository, path, commit,
// client, api-version) beside the entries; recordings/README.md lists them.
// Only tests import this package: the production binary carries none of it.
package recorded

import (
	"bytes"
	"embed"
	"encoding/json"
	"fmt"
	"net/url"
	"path"
	"sort"
	"strings"
)

//go:embed recordings/*.json
var files embed.FS

// Source says where a conversation was recorded and how it was trimmed.
type Source struct {
	Repository string
	Path       string
	Commit     string
	Client     string
	ApiVersion string
	Trimmed    string
}

// Entry is one request and Azure's answer, in the test proxy's format.
type Entry struct {
	RequestURI      string `json:"RequestUri"`
	RequestMethod   string
	RequestHeaders  map[string]string
	RequestBody     json.RawMessage
	StatusCode      int
	ResponseHeaders map[string]string
	ResponseBody    json.RawMessage
}

// Conversation is one recording: its source and its entries, in order.
type Conversation struct {
	Name    string `json:"-"`
	Source  Source
	Entries []Entry
}

// Names lists the stored conversations, sorted.
func Names() []string {
	des, err := files.ReadDir("recordings")
	if err != nil {
		return nil
	}
	var out []string
	for _, d := range des {
		if n, ok := strings.CutSuffix(d.Name(), ".json"); ok {
			out = append(out, n)
		}
	}
	sort.Strings(out)
	return out
}

// Load reads the conversation called name (a file name without .json).
func Load(name string) (Conversation, error) {
	data, err := files.ReadFile(path.Join("recordings", name+".json"))
	if err != nil {
		return Conversation{}, fmt.Errorf("recording %s: %w", name, err)
	}
	var c Conversation
	if err := json.Unmarshal(data, &c); err != nil {
		return Conversation{}, fmt.Errorf("recording %s: %w", name, err)
	}
	c.Name = name
	return c, nil
}

// HasRequestBody reports whether the entry's request carried a body.
func (e Entry) HasRequestBody() bool { return !isNull(e.RequestBody) }

// HasResponseBody reports whether Azure answered with a body.
func (e Entry) HasResponseBody() bool { return !isNull(e.ResponseBody) }

// RequestBodyBytes is the request body as compact JSON (the recordings are
// pretty-printed; Azure's SDKs send compact JSON), nil when there was none.
func (e Entry) RequestBodyBytes() []byte { return compact(e.RequestBody) }

// ResponseBodyBytes is Azure's answer as compact JSON, nil when there was none.
func (e Entry) ResponseBodyBytes() []byte { return compact(e.ResponseBody) }

// Origin is the scheme and host the recording was made against (the
// recordings' sanitized host), read from the entry's request URI.
func (e Entry) Origin() string {
	u, err := url.Parse(e.RequestURI)
	if err != nil {
		return ""
	}
	return u.Scheme + "://" + u.Host
}

// PathAndQuery is the request URI without its origin.
func (e Entry) PathAndQuery() string {
	return strings.TrimPrefix(e.RequestURI, e.Origin())
}

func isNull(m json.RawMessage) bool {
	return len(bytes.TrimSpace(m)) == 0 || string(bytes.TrimSpace(m)) == "null"
}

func compact(m json.RawMessage) []byte {
	if isNull(m) {
		return nil
	}
	var b bytes.Buffer
	if err := compactInto(&b, m); err != nil {
		return append([]byte(nil), m...)
	}
	return b.Bytes()
}

// compactInto writes m as compact JSON, its members in their order.
func compactInto(b *bytes.Buffer, m []byte) error { return json.Compact(b, m) }

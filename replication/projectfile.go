package replication

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"

	"nergateway/api"
)

// Project kinds of the analyze-text authoring API that the worker
// replicates. Their export carries everything training needs (the labels
// and the documents' names), their train and deploy calls are the same,
// and the worker only ever edits two members of the exported file, so what
// it imports is what the primary exported.
const (
	KindSingleLabelClassification = "CustomSingleLabelClassification"
	KindMultiLabelClassification  = "CustomMultiLabelClassification"
)

// SupportedKinds are the project kinds the worker replicates. Other kinds
// (abstractive summarization, text analytics for health, sentiment, …)
// are refused: their training options or evaluation differ in ways the
// worker does not copy.
var SupportedKinds = []string{api.ProjectKindCustomNER, KindSingleLabelClassification, KindMultiLabelClassification}

// CodeUnsupportedKind is the /status error code of a refused project.
const CodeUnsupportedKind = "UnsupportedProjectKind"

// UnsupportedKindError refuses a project the worker does not replicate
// faithfully. It is raised where the worker first learns the kind (the
// check's read of the primary project, again on the export itself), before
// anything is written to the secondary.
type UnsupportedKindError struct {
	Project, Kind string
}

func (e *UnsupportedKindError) Error() string {
	kind := e.Kind
	if kind == "" {
		kind = "(none)"
	}
	return fmt.Sprintf("project %q has projectKind %s, which the replication worker does not replicate "+
		"(it replicates %v); remove it from PROJECT_NAMES", e.Project, kind, SupportedKinds)
}

func supportedKind(kind string) bool { return slices.Contains(SupportedKinds, kind) }

// projectFile is an exported project as the primary sent it. The worker
// reads a few members from it and, to import it, rewrites only the project
// name and the container (Config.ProjectNames, Config.SecondaryContainer):
// every other byte reaches the secondary as exported, members no Go type
// declares and members the file lacks included.
type projectFile struct {
	raw       []byte
	kind      string // metadata.projectKind
	container string // metadata.storageInputContainerName
	// documents are the locations of assets.documents, in file order.
	documents []string
	// labelled are the locations of the documents that carry labels
	// (entities with labels, or a class), in file order.
	labelled []string
	// assetsHash is the canonical hash of the assets member (assetsHash).
	assetsHash string
}

// fileView is what the worker reads from an exported project; decoding into
// it never writes anything back.
type fileView struct {
	ProjectFileVersion string `json:"projectFileVersion"`
	Metadata           struct {
		ProjectKind               string `json:"projectKind"`
		StorageInputContainerName string `json:"storageInputContainerName"`
	} `json:"metadata"`
	Assets json.RawMessage `json:"assets"`
}

type assetsView struct {
	ProjectKind string `json:"projectKind"`
	Documents   []struct {
		Location string `json:"location"`
		Entities []struct {
			Labels []json.RawMessage `json:"labels"`
		} `json:"entities"`
		Class   json.RawMessage   `json:"class"`
		Classes []json.RawMessage `json:"classes"`
	} `json:"documents"`
}

// parseProjectFile reads what the worker needs from an export's body and
// refuses one it could not import whole.
func parseProjectFile(raw []byte) (*projectFile, error) {
	var v fileView
	if err := json.Unmarshal(raw, &v); err != nil {
		return nil, fmt.Errorf("export result is not a project file: %w", err)
	}
	if len(v.Assets) == 0 || string(v.Assets) == "null" || v.Metadata.ProjectKind == "" || v.ProjectFileVersion == "" {
		return nil, errors.New("export result is incomplete (no assets, project kind or file version)")
	}
	var a assetsView
	if err := json.Unmarshal(v.Assets, &a); err != nil {
		return nil, fmt.Errorf("export result's assets: %w", err)
	}
	h, err := assetsHash(v.Assets)
	if err != nil {
		return nil, err
	}
	f := &projectFile{raw: raw, kind: v.Metadata.ProjectKind, container: v.Metadata.StorageInputContainerName, assetsHash: h}
	for _, d := range a.Documents {
		f.documents = append(f.documents, d.Location)
		labelled := len(d.Class) > 0 && string(d.Class) != "null" || len(d.Classes) > 0
		for _, e := range d.Entities {
			labelled = labelled || len(e.Labels) > 0
		}
		if labelled {
			f.labelled = append(f.labelled, d.Location)
		}
	}
	return f, nil
}

// firstLabelled returns the first n labelled documents, the canary's.
func (f *projectFile) firstLabelled(n int) []string {
	return slices.Clone(f.labelled[:min(n, len(f.labelled))])
}

// forImport returns the file to import as project into container (empty:
// keep the exported one): the exported bytes with metadata.projectName and
// metadata.storageInputContainerName replaced, and nothing else changed.
func (f *projectFile) forImport(project, container string) ([]byte, error) {
	out, err := setStringMember(f.raw, []string{"metadata", "projectName"}, project)
	if err != nil {
		return nil, fmt.Errorf("set the project name: %w", err)
	}
	if container != "" && container != f.container {
		if out, err = setStringMember(out, []string{"metadata", "storageInputContainerName"}, container); err != nil {
			return nil, fmt.Errorf("set the container: %w", err)
		}
	}
	return out, nil
}

// assetsHash is the SHA-256 of the assets member in canonical form: object
// members sorted by name, no insignificant whitespace, numbers and strings
// as written. Two exports of the same labels hash alike whatever order
// or layout the service wrote them in; the names the worker rewrites live
// in metadata, outside what is hashed, so a primary and the secondary it
// was copied to hash alike.
func assetsHash(assets []byte) (string, error) {
	d := json.NewDecoder(bytes.NewReader(assets))
	d.UseNumber()
	var v any
	if err := d.Decode(&v); err != nil {
		return "", fmt.Errorf("hash the assets: %w", err)
	}
	var b bytes.Buffer
	e := json.NewEncoder(&b)
	e.SetEscapeHTML(false)
	// encoding/json writes map keys sorted, which is the canonical order.
	if err := e.Encode(v); err != nil {
		return "", fmt.Errorf("hash the assets: %w", err)
	}
	sum := sha256.Sum256(b.Bytes())
	return hex.EncodeToString(sum[:]), nil
}

// setStringMember returns doc with the string value of the member at path
// (object member names from the root) replaced by value, every other byte
// kept. The member must exist, with a string value, in every object along
// the path; a name repeated in one object has each occurrence replaced.
func setStringMember(doc []byte, path []string, value string) ([]byte, error) {
	var enc bytes.Buffer
	e := json.NewEncoder(&enc)
	e.SetEscapeHTML(false)
	if err := e.Encode(value); err != nil {
		return nil, err
	}
	quoted := bytes.TrimSuffix(enc.Bytes(), []byte("\n"))

	d := json.NewDecoder(bytes.NewReader(doc))
	if tok, err := d.Token(); err != nil || tok != json.Delim('{') {
		return nil, errors.New("the document is not a JSON object")
	}
	var spans [][2]int64
	if err := findMember(d, doc, path, &spans); err != nil {
		return nil, err
	}
	if len(spans) == 0 {
		return nil, fmt.Errorf("member %v is missing", path)
	}
	var out bytes.Buffer
	last := int64(0)
	for _, s := range spans {
		out.Write(doc[last:s[0]])
		out.Write(quoted)
		last = s[1]
	}
	out.Write(doc[last:])
	return out.Bytes(), nil
}

// findMember reads the members of the object whose '{' d has just read,
// through its '}', adding to spans the byte ranges of the string values at
// path.
func findMember(d *json.Decoder, doc []byte, path []string, spans *[][2]int64) error {
	for d.More() {
		tok, err := d.Token()
		if err != nil {
			return err
		}
		name, _ := tok.(string)
		switch {
		case name != path[0]:
			var skip json.RawMessage
			if err := d.Decode(&skip); err != nil {
				return err
			}
		case len(path) == 1:
			// After the name come blanks, the colon, blanks, the value.
			start := d.InputOffset()
			for start < int64(len(doc)) && bytes.IndexByte([]byte(" \t\r\n:"), doc[start]) >= 0 {
				start++
			}
			v, err := d.Token()
			if err != nil {
				return err
			}
			if _, ok := v.(string); !ok {
				return fmt.Errorf("member %q is not a string", name)
			}
			*spans = append(*spans, [2]int64{start, d.InputOffset()})
		default:
			v, err := d.Token()
			if err != nil {
				return err
			}
			if v != json.Delim('{') {
				return fmt.Errorf("member %q is not an object", name)
			}
			if err := findMember(d, doc, path[1:], spans); err != nil {
				return err
			}
		}
	}
	_, err := d.Token() // the closing '}'
	if errors.Is(err, io.EOF) {
		return io.ErrUnexpectedEOF
	}
	return err
}

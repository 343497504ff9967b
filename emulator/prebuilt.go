package emulator

import (
	"net/http"
	"strings"
	"unicode"
	"unicode/utf8"

	"nergateway/api"
)

// prebuiltModelVersion is the modelVersion of every prebuilt result.
const prebuiltModelVersion = "2023-09-01"

// prebuiltKinds are the tasks of the synchronous API (reference 1.4). Their
// answers are plausible, not smart: the gateway only needs their shape.
var prebuiltKinds = map[string]bool{
	"EntityRecognition":    true,
	"PiiEntityRecognition": true,
	"KeyPhraseExtraction":  true,
	"LanguageDetection":    true,
	"SentimentAnalysis":    true,
	"EntityLinking":        true,
}

// analyzeRequest is the body of POST /language/:analyze-text.
type analyzeRequest struct {
	Kind          string             `json:"kind"`
	AnalysisInput api.AnalysisInput  `json:"analysisInput"`
	Parameters    api.TaskParameters `json:"parameters"`
}

// handleAnalyze serves the synchronous prebuilt call; custom kinds are
// async-only on Azure and get 400.
func (e *Emulator) handleAnalyze(c *call) reply {
	var req analyzeRequest
	if err := c.decode(&req); err != nil {
		return badJSON(err)
	}
	if req.Kind == "" {
		return missing("kind")
	}
	if !prebuiltKinds[req.Kind] {
		return failureInner(http.StatusBadRequest, api.CodeInvalidRequest,
			"Invalid Request.", api.InnerInvalidParameterValue,
			"Kind '"+req.Kind+"' is not supported by the synchronous API; custom tasks are async-only (POST /language/analyze-text/jobs).")
	}
	docs := req.AnalysisInput.Documents
	if rep, bad := checkBatch(len(docs)); bad {
		return rep
	}
	indexType := req.Parameters.StringIndexType
	if indexType == "" {
		indexType = api.StringIndexTextElements
	}
	if !validIndexType(indexType) {
		return failureInner(http.StatusBadRequest, api.CodeInvalidArgument,
			"Invalid parameter in request: stringIndexType '"+indexType+"' is not supported.",
			api.InnerInvalidParameterValue, "Valid values: TextElements_v8, UnicodeCodePoint, Utf16CodeUnit.")
	}
	run := &taskRun{kind: req.Kind + "Results"}
	for _, d := range docs {
		if d.ID == "" {
			return missing("analysisInput.documents.id")
		}
		res, err := prebuilt(req.Kind, d, indexType)
		n := textLength(d.Text, api.StringIndexTextElements)
		run.docs = append(run.docs, docOutcome{id: d.ID, prebuilt: res, err: err, chars: n})
	}
	var stats *api.BatchStatistics
	if strings.EqualFold(c.r.URL.Query().Get("showStats"), "true") {
		j := &runtimeJob{tasks: []*taskRun{run}}
		for _, d := range run.docs {
			j.docChars = append(j.docChars, d.chars)
		}
		stats = j.statistics()
	}
	return respond(map[string]any{
		"kind":    run.kind,
		"results": run.page(0, len(run.docs), stats),
	})
}

// prebuilt computes a document result of a prebuilt kind.
func prebuilt(kind string, d api.Document, indexType string) (map[string]any, *api.Error) {
	if strings.TrimSpace(d.Text) == "" {
		return nil, &api.Error{Code: api.CodeInvalidArgument, Message: "Invalid document in request.",
			InnerError: &api.InnerError{Code: "InvalidDocument", Message: "Document text is empty."}}
	}
	res := map[string]any{"id": d.ID, "warnings": []api.Warning{}}
	switch kind {
	case "EntityRecognition":
		res["entities"] = capitalisedRuns(d.Text, indexType, "Person")
	case "PiiEntityRecognition":
		ents := capitalisedRuns(d.Text, indexType, "Person")
		res["entities"] = ents
		res["redactedText"] = redact(d.Text, ents)
	case "EntityLinking":
		res["entities"] = []any{}
	case "KeyPhraseExtraction":
		res["keyPhrases"] = keyPhrases(d.Text)
	case "LanguageDetection":
		res["detectedLanguage"] = detectLanguage(d.Text)
	case "SentimentAnalysis":
		scores := map[string]float64{"positive": 0.1, "neutral": 0.8, "negative": 0.1}
		res["sentiment"] = "neutral"
		res["confidenceScores"] = scores
		res["sentences"] = []map[string]any{{
			"sentiment": "neutral", "confidenceScores": scores, "offset": 0,
			"length": textLength(d.Text, indexType), "text": d.Text,
		}}
	}
	return res, nil
}

// capitalisedRuns reports each run of capitalised words as an entity: a
// stand-in for a real NER model, deterministic and good enough for tests.
func capitalisedRuns(text, indexType, category string) []api.Entity {
	ents := []api.Entity{}
	idx := newIndexer(text, indexType)
	start, end := -1, -1
	flush := func() {
		if start >= 0 {
			s := idx.at(start)
			ents = append(ents, api.Entity{Text: text[start:end], Category: category,
				Offset: s, Length: idx.at(end) - s, ConfidenceScore: 0.8})
		}
		start, end = -1, -1
	}
	for _, w := range words(text) {
		r, _ := utf8.DecodeRuneInString(text[w[0]:])
		switch {
		case unicode.IsUpper(r) && start >= 0 && strings.TrimSpace(text[end:w[0]]) == "":
			end = w[1]
		case unicode.IsUpper(r):
			flush()
			start, end = w[0], w[1]
		default:
			flush()
		}
	}
	flush()
	return ents
}

// words returns the byte ranges of the words of text.
func words(text string) [][2]int {
	var out [][2]int
	start := -1
	for i, r := range text {
		if isWordRune(r) {
			if start < 0 {
				start = i
			}
			continue
		}
		if start >= 0 {
			out = append(out, [2]int{start, i})
			start = -1
		}
	}
	if start >= 0 {
		out = append(out, [2]int{start, len(text)})
	}
	return out
}

func redact(text string, ents []api.Entity) string {
	var b strings.Builder
	last := 0
	for _, e := range ents {
		i := strings.Index(text[last:], e.Text)
		if i < 0 {
			continue
		}
		b.WriteString(text[last : last+i])
		b.WriteString(strings.Repeat("*", utf8.RuneCountInString(e.Text)))
		last += i + len(e.Text)
	}
	b.WriteString(text[last:])
	return b.String()
}

func keyPhrases(text string) []string {
	out := []string{}
	seen := map[string]bool{}
	for _, w := range words(text) {
		word := text[w[0]:w[1]]
		if utf8.RuneCountInString(word) < 5 || seen[strings.ToLower(word)] {
			continue
		}
		seen[strings.ToLower(word)] = true
		out = append(out, word)
		if len(out) == 5 {
			break
		}
	}
	return out
}

func detectLanguage(text string) map[string]any {
	name, iso := "English", "en"
	if strings.ContainsAny(text, "äöüßÄÖÜ") {
		name, iso = "German", "de"
	}
	return map[string]any{"name": name, "iso6391Name": iso, "confidenceScore": 1.0}
}

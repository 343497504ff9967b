package proxy

import (
	"bytes"
	"encoding/json"
	"reflect"
	"strings"
	"testing"
)

func TestRewriteJSONStringsAgreesWithEncodingJSON(t *testing.T) {
	for _, s := range []string{`{}`, `[]`, `""`, `0`, `-0.5e+10`, `true`, `null`, ` {"a" : [1, {"b":"c\n"}] } `,
		`{"a":}`, `[1,]`, `{"a" 1}`, `01`, `1.`, `"\x"`, `"` + "\x01" + `"`, `[`, `{"a":1}x`, `tru`, `"\u12"`} {
		_, _, err := rewriteJSONStrings([]byte(s), nil, nil)
		if (err == nil) != json.Valid([]byte(s)) {
			t.Errorf("%q: scanner err %v, json.Valid %v", s, err, json.Valid([]byte(s)))
		}
	}
	deep := strings.Repeat("[", maxJSONDepth+10) + strings.Repeat("]", maxJSONDepth+10)
	if _, _, err := rewriteJSONStrings([]byte(deep), nil, nil); err == nil {
		t.Error("no depth limit")
	}
}

// FuzzRewriteJSON: the scanner accepts exactly the texts encoding/json
// accepts (below the depth limit), an identity rewrite changes nothing, and
// a real mapping keeps the text valid JSON with the same value elsewhere.
func FuzzRewriteJSON(f *testing.F) {
	f.Add(submitBody("proj", "prod"))
	f.Add(`{"tasks":{"items":[{"results":{"projectName":"proj","deploymentName":"prod"}}]}}`)
	f.Add(`{"parameters":{"projectName":"pr\u006fj"}}`)
	f.Add(`[1, 2.5e-3, "x", null, true, {"a":[]}]`)
	f.Add(`{"a":"\ud800"}`)
	projects := newNameMap(map[string]string{"proj": "proj-dr"})
	deployments := newNameMap(map[string]string{"prod": "prod-dr"})
	f.Fuzz(func(t *testing.T, s string) {
		src := []byte(s)
		out, changed, err := rewriteJSONStrings(src, requestNamePaths, func(int, []byte) ([]byte, bool) { return nil, false })
		if bytes.Count(src, []byte("["))+bytes.Count(src, []byte("{")) < maxJSONDepth {
			if (err == nil) != json.Valid(src) {
				t.Fatalf("scanner err %v, json.Valid %v", err, json.Valid(src))
			}
		}
		if changed || !bytes.Equal(out, src) {
			t.Fatal("identity rewrite changed the text")
		}
		if err != nil {
			return
		}
		mapped := mapNames(src, requestNamePaths, projects, deployments)
		if !json.Valid(mapped) {
			t.Fatalf("mapping made invalid JSON: %s", mapped)
		}
		var a, b any
		_ = json.Unmarshal(src, &a)
		_ = json.Unmarshal(mapped, &b)
		if !bytes.Equal(mapped, src) && reflect.DeepEqual(a, b) {
			t.Fatalf("bytes changed but the value did not: %s", mapped)
		}
	})
}

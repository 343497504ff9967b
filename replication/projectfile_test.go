package replication

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestSetStringMemberKeepsEveryOtherByte(t *testing.T) {
	for _, tc := range []struct {
		name, doc, want string
		path            []string
		value           string
	}{
		{"nested, spaced", `{ "a" : 1, "metadata" : { "x":[{"projectName":"inner"}], "projectName" :  "old" } , "z":null}`,
			`{ "a" : 1, "metadata" : { "x":[{"projectName":"inner"}], "projectName" :  "new" } , "z":null}`,
			[]string{"metadata", "projectName"}, "new"},
		{"escaped old value", "{\"metadata\":{\"projectName\":\"o\\u006cd\\\"q\"}}\n",
			"{\"metadata\":{\"projectName\":\"new\"}}\n", []string{"metadata", "projectName"}, "new"},
		{"value needing escapes", `{"metadata":{"projectName":"old"}}`, `{"metadata":{"projectName":"a\"b<c>"}}`,
			[]string{"metadata", "projectName"}, `a"b<c>`},
		{"same name elsewhere is left", `{"projectName":"top","metadata":{"projectName":"old"}}`,
			`{"projectName":"top","metadata":{"projectName":"new"}}`, []string{"metadata", "projectName"}, "new"},
		{"repeated member: each one", `{"metadata":{"projectName":"a","projectName":"b"}}`,
			`{"metadata":{"projectName":"n","projectName":"n"}}`, []string{"metadata", "projectName"}, "n"},
		{"tabs and newlines", "{\n\t\"metadata\":\t{\r\n\t\t\"projectName\"\n:\n\"old\"}}", "{\n\t\"metadata\":\t{\r\n\t\t\"projectName\"\n:\n\"new\"}}",
			[]string{"metadata", "projectName"}, "new"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := setStringMember([]byte(tc.doc), tc.path, tc.value)
			require.NoError(t, err)
			assert.Equal(t, tc.want, string(got))
		})
	}
}

func TestSetStringMemberRefusesWhatItCannotEditInPlace(t *testing.T) {
	for name, doc := range map[string]string{
		"missing member":   `{"metadata":{"other":"x"}}`,
		"missing object":   `{"assets":{}}`,
		"not a string":     `{"metadata":{"projectName":7}}`,
		"not an object":    `{"metadata":["projectName"]}`,
		"null":             `{"metadata":{"projectName":null}}`,
		"array document":   `[{"metadata":{"projectName":"x"}}]`,
		"truncated":        `{"metadata":{"projectName":"x"`,
		"truncated object": `{"metadata":{"projectName":"x"},`,
	} {
		t.Run(name, func(t *testing.T) {
			_, err := setStringMember([]byte(doc), []string{"metadata", "projectName"}, "new")
			assert.Error(t, err)
		})
	}
}

func TestAssetsHashIgnoresLayoutNotContent(t *testing.T) {
	base := `{"projectKind":"CustomEntityRecognition","entities":[{"category":"City"}],` +
		`"documents":[{"location":"01.txt","entities":[{"regionOffset":0,"regionLength":9,"labels":[{"category":"City","offset":1,"length":4}]}]}]}`
	h := func(s string) string {
		t.Helper()
		v, err := assetsHash([]byte(s))
		require.NoError(t, err)
		return v
	}
	same := []string{
		// member order and whitespace are the writer's choice
		`{ "documents" : [ {"entities":[{"labels":[{"length":4,"offset":1,"category":"City"}],"regionLength":9,"regionOffset":0}],"location":"01.txt"} ],
		   "entities":[{"category":"City"}], "projectKind":"CustomEntityRecognition" }`,
		// so is escaping
		strings.Replace(base, `"City"`, `"\u0043ity"`, 1),
	}
	for _, s := range same {
		assert.Equal(t, h(base), h(s), s)
	}
	different := []string{
		strings.Replace(base, `"offset":1`, `"offset":2`, 1),                                        // a label moved
		strings.Replace(base, `[{"category":"City"}]`, `[{"category":"Town"}]`, 1),                  // an entity renamed
		strings.Replace(base, `"location":"01.txt"`, `"location":"02.txt"`, 1),                      // another document
		strings.Replace(base, `"entities":[{"category":"City"}],`, ``, 1),                           // a member gone
		strings.Replace(base, `{"category":"City"}]`, `{"category":"City"},{"category":"Day"}]`, 1), // one more
	}
	for _, s := range different {
		assert.NotEqual(t, h(base), h(s), s)
	}
}

func TestParseProjectFileRefusesIncompleteExports(t *testing.T) {
	for name, doc := range map[string]string{
		"not JSON":     `{"projectFileVersion":`,
		"no assets":    `{"projectFileVersion":"2022-05-01","metadata":{"projectKind":"CustomEntityRecognition"}}`,
		"null assets":  `{"projectFileVersion":"2022-05-01","metadata":{"projectKind":"CustomEntityRecognition"},"assets":null}`,
		"no kind":      `{"projectFileVersion":"2022-05-01","metadata":{},"assets":{}}`,
		"no version":   `{"metadata":{"projectKind":"CustomEntityRecognition"},"assets":{}}`,
		"bad document": `{"projectFileVersion":"2022-05-01","metadata":{"projectKind":"CustomEntityRecognition"},"assets":{"documents":[1]}}`,
	} {
		t.Run(name, func(t *testing.T) {
			_, err := parseProjectFile([]byte(doc))
			assert.Error(t, err)
		})
	}
}

func TestClassificationDocumentsAreLabelled(t *testing.T) {
	rec := recording(t, "authoring-import-classification-2025-05-15-preview")
	f, err := parseProjectFile(rec.Entries[0].RequestBody)
	require.NoError(t, err)
	assert.Equal(t, KindSingleLabelClassification, f.kind)
	assert.Equal(t, "single-class-example", f.container)
	assert.Equal(t, []string{"01.txt", "02.txt"}, f.documents)
	assert.Equal(t, []string{"01.txt", "02.txt"}, f.firstLabelled(5))
}

// FuzzSetStringMember: whatever the document, an edit either fails or
// yields JSON that decodes like the original with only that member changed.
func FuzzSetStringMember(f *testing.F) {
	f.Add(`{"metadata":{"projectName":"old","x":[1,{"projectName":2}]},"assets":{}}`, "new")
	f.Add("{ \"metadata\" :\n{ \"projectName\" : \"o\\\"ld\" } }", "ä\u2028\"")
	f.Add(`{"metadata":{"projectName":"a","projectName":"b"}}`, "")
	f.Fuzz(func(t *testing.T, doc, value string) {
		out, err := setStringMember([]byte(doc), []string{"metadata", "projectName"}, value)
		if err != nil {
			return
		}
		var before, after map[string]any
		if json.Unmarshal([]byte(doc), &before) != nil {
			return // encoding/json refuses what the token reader let through (invalid UTF-8 and the like)
		}
		require.NoError(t, json.Unmarshal(out, &after), "%q", out)
		meta, ok := before["metadata"].(map[string]any)
		require.True(t, ok)
		var want string // as JSON carries it: invalid UTF-8 becomes U+FFFD
		b, _ := json.Marshal(value)
		require.NoError(t, json.Unmarshal(b, &want))
		meta["projectName"] = want
		assert.Equal(t, before, after)
	})
}

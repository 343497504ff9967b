package proxy

import (
	"bytes"
	"encoding/json"
	"reflect"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestRewriteJSONStringsAgreesWithEncodingJSON(t *testing.T) {
	for _, s := range []string{`{}`, `[]`, `""`, `0`, `-0.5e+10`, `true`, `null`, ` {"a" : [1, {"b":"c\n"}] } `,
		`{"a":}`, `[1,]`, `{"a" 1}`, `01`, `1.`, `"\x"`, `"` + "\x01" + `"`, `[`, `{"a":1}x`, `tru`, `"\u12"`} {
		_, _, err := rewriteJSONStrings([]byte(s), nil, nil)
		assert.Equal(t, json.Valid([]byte(s)), (err == nil), "%q: scanner err %v, json.Valid %v", s, err, json.Valid([]byte(s)))
	}
	deep := strings.Repeat("[", maxJSONDepth+10) + strings.Repeat("]", maxJSONDepth+10)
	_, _, err := rewriteJSONStrings([]byte(deep), nil, nil)
	assert.Error(t, err, "no depth limit")
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
			require.Equal(t, json.Valid(src), (err == nil), "scanner err %v, json.Valid %v", err, json.Valid(src))
		}
		require.False(t, changed, "identity rewrite changed the text")
		require.Equal(t, string(src), string(out), "identity rewrite changed the text")
		if err != nil {
			return
		}
		mapped := mapNames(src, requestNamePaths, projects, deployments)
		require.True(t, json.Valid(mapped), "mapping made invalid JSON: %s", mapped)
		var a, b any
		_ = json.Unmarshal(src, &a)
		_ = json.Unmarshal(mapped, &b)
		require.False(t, !bytes.Equal(mapped, src) && reflect.DeepEqual(a, b), "bytes changed but the value did not: %s", mapped)
	})
}

// TestPlainRunStopsAtEverySpecialByte: the eight-bytes-a-test scan of a
// string stops exactly where a byte-a-test scan does, for every byte
// value at every place in and after the eight-byte lanes, among plain
// bytes close to the special ones (0x20, 0x21, 0x23, 0x5b, 0x5d) or not
// ASCII.
func TestPlainRunStopsAtEverySpecialByte(t *testing.T) {
	plain := []byte{0x20, 0x21, 0x23, 0x5b, 0x5d, 0x7f, 0x80, 0xa2, 0xdc, 0xff, 'a'}
	oneByOne := func(src []byte, i int) int {
		for i < len(src) && plainByte[src[i]] {
			i++
		}
		return i
	}
	for c := range 256 {
		for n := range 24 {
			for at := 0; at <= n; at++ {
				src := make([]byte, n)
				for i := range src {
					src[i] = plain[(i+c)%len(plain)]
				}
				if at < n {
					src[at] = byte(c)
				}
				for from := 0; from <= min(n, 3); from++ {
					require.Equal(t, oneByOne(src, from), plainRun(src, from), "byte %#x at %d of %d, from %d", c, at, n, from)
				}
			}
		}
	}
}

// Package jsonbody turns what a test hands its request helper into a
// request body: text and bytes as they are (so a test can send malformed
// JSON), anything else encoded as JSON.
package jsonbody

import (
	"bytes"
	"encoding/json"
	"io"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// Reader is body as a request body: nil (no body) for nil, a string or
// []byte unchanged, any other value as its JSON encoding.
func Reader(t testing.TB, body any) io.Reader {
	t.Helper()
	switch b := body.(type) {
	case nil:
		return nil
	case string:
		return strings.NewReader(b)
	case []byte:
		return bytes.NewReader(b)
	default:
		raw, err := json.Marshal(b)
		require.NoError(t, err)
		return bytes.NewReader(raw)
	}
}

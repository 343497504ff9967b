package secret

import (
	"bytes"
	"encoding/json"
	"fmt"
	"log/slog"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestSecretNeverPrints(t *testing.T) {
	s := Secret("k-0123456789abcdef")
	var logs bytes.Buffer
	slog.New(slog.NewJSONHandler(&logs, nil)).Info("x", "key", s)
	js, err := json.Marshal(struct{ K Secret }{s})
	require.NoError(t, err)
	for name, out := range map[string]string{
		"%v":   fmt.Sprintf("%v", s),
		"%s":   fmt.Sprintf("%s", s),
		"%#v":  fmt.Sprintf("%#v", s),
		"%+v":  fmt.Sprintf("%+v", struct{ K Secret }{s}),
		"json": string(js),
		"slog": logs.String(),
	} {
		assert.NotContains(t, out, s.Reveal(), "%s: want no key", name)
		assert.Contains(t, out, Redacted, "%s: want REDACTED", name)
	}
	assert.Equal(t, "k-0123456789abcdef", s.Reveal(), "Reveal")
}

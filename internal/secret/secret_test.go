package secret

import (
	"bytes"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"testing"
)

func TestSecretNeverPrints(t *testing.T) {
	s := Secret("k-0123456789abcdef")
	var logs bytes.Buffer
	slog.New(slog.NewJSONHandler(&logs, nil)).Info("x", "key", s)
	js, err := json.Marshal(struct{ K Secret }{s})
	if err != nil {
		t.Fatal(err)
	}
	for name, out := range map[string]string{
		"%v":   fmt.Sprintf("%v", s),
		"%s":   fmt.Sprintf("%s", s),
		"%#v":  fmt.Sprintf("%#v", s),
		"%+v":  fmt.Sprintf("%+v", struct{ K Secret }{s}),
		"json": string(js),
		"slog": logs.String(),
	} {
		if strings.Contains(out, s.Reveal()) || !strings.Contains(out, Redacted) {
			t.Errorf("%s: got %q, want REDACTED and no key", name, out)
		}
	}
	if s.Reveal() != "k-0123456789abcdef" {
		t.Errorf("Reveal = %q", s.Reveal())
	}
}

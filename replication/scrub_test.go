package replication

import (
	"errors"
	"testing"
	"time"

	"nergateway/api"
)

func TestScrubText(t *testing.T) {
	tests := []struct{ in, want string }{
		{`get project "p": Get "http://127.0.0.1:45165/language/authoring/analyze-text/projects/p?api-version=2022-05-01": read tcp 127.0.0.1:34194->127.0.0.1:45165: read: connection reset by peer`,
			`get project "p": Get "/language/authoring/analyze-text/projects/p": read tcp [region]->[region]: read: connection reset by peer`},
		{`Post "https://westus2-lang.cognitiveservices.azure.com/language/x": dial tcp: lookup westus2-lang.cognitiveservices.azure.com on 10.0.0.2:53: no such host`,
			`Post "/language/x": dial tcp: lookup [region] on [region]: no such host`},
		{`dial tcp [2001:db8::1]:443: i/o timeout`, `dial tcp [region]: i/o timeout`},
		{`dial tcp localhost:5001: connect: connection refused`, `dial tcp [region]: connect: connection refused`},
		{`job 4d37982f_637858368000000000 ended failed at 2026-11-29 03:48:53.75: InvalidRequest`,
			`job 4d37982f_637858368000000000 ended failed at 2026-11-29 03:48:53.75: InvalidRequest`},
		{`Training failed: document '04.txt' was not found in storage container 'dr-docs'.`,
			`Training failed: document '04.txt' was not found in storage container 'dr-docs'.`},
	}
	for _, tt := range tests {
		if got := scrubText(tt.in); got != tt.want {
			t.Errorf("scrubText(%q)\n = %q\nwant %q", tt.in, got, tt.want)
		}
	}
}

func TestScrubKeepsTheChain(t *testing.T) {
	orig := &api.Error{Code: "InternalServerError", Message: "at http://10.1.2.3:80/x", StatusCode: 500}
	err := scrub(orig)
	var ae *api.Error
	if !errors.As(err, &ae) || ae != orig {
		t.Fatal("errors.As lost the *api.Error")
	}
	if got := newStatusError(err, time.Time{}).Message; got != "at /x" {
		t.Fatalf("status message %q", got)
	}
}

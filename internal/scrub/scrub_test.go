package scrub

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestText(t *testing.T) {
	tests := []struct{ in, want string }{
		{`get project "p": Get "http://127.0.0.1:45165/language/authoring/analyze-text/projects/p?api-version=2022-05-01": read tcp 127.0.0.1:34194->127.0.0.1:45165: read: connection reset by peer`,
			`get project "p": Get "/language/authoring/analyze-text/projects/p": read tcp [region]->[region]: read: connection reset by peer`},
		{`Post "https://westus2-lang.cognitiveservices.azure.com/language/x": dial tcp: lookup westus2-lang.cognitiveservices.azure.com on 10.0.0.2:53: no such host`,
			`Post "/language/x": dial tcp: lookup [region] on [region]: no such host`},
		{`dial tcp [2001:db8::1]:443: i/o timeout`, `dial tcp [region]: i/o timeout`},
		{`dial tcp localhost:5001: connect: connection refused`, `dial tcp [region]: connect: connection refused`},
		{`job 4d37982f_637858368000000000 ended failed at 2026-11-29 03:48:53.75: InvalidRequest`,
			`job 4d37982f_637858368000000000 ended failed at 2026-11-29 03:48:53.75: InvalidRequest`},
		{`tls: failed to verify certificate: x509: certificate is valid for other.example.com, not myres.cognitiveservices.azure.com`,
			`tls: failed to verify certificate: x509: certificate is valid for [region], not [region]`},
		{`no route to 10.0.0.7`, `no route to [region]`},
		{`Training failed: document '04.txt' was not found in storage container 'dr-docs'.`,
			`Training failed: document '04.txt' was not found in storage container 'dr-docs'.`},
	}
	for _, tt := range tests {
		assert.Equal(t, tt.want, Text(tt.in), "Text(%q)", tt.in)
	}
}

func TestErrKeepsTheChain(t *testing.T) {
	orig := errors.New("at http://10.1.2.3:80/x")
	err := Err(fmt.Errorf("wrapped: %w", orig))
	require.ErrorIs(t, err, orig, "errors.Is lost the original")
	require.EqualError(t, err, "wrapped: at /x", "Err text")
	require.NoError(t, Err(nil), "Err(nil) is not nil")
}

func TestCauseNamesTheKindNeverTheHost(t *testing.T) {
	host := "westus2-secret.example"
	dial := &url.Error{Op: "Get", URL: "https://" + host + "/x", Err: &net.OpError{Op: "dial", Net: "tcp",
		Addr: &net.TCPAddr{IP: net.IPv4(10, 0, 0, 7), Port: 443}, Err: errors.New("connect: connection refused")}}
	tests := []struct {
		err  error
		want string
	}{
		{dial, "dial: connect: connection refused"},
		{&url.Error{Op: "Get", URL: "https://" + host, Err: &net.DNSError{Err: "no such host", Name: host}}, "dns lookup failed: no such host"},
		{fmt.Errorf("x: %w", context.DeadlineExceeded), "timeout"},
		{context.Canceled, "canceled"},
		{&url.Error{Op: "Get", URL: "https://" + host + ":443/x", Err: errors.New("tls: bad certificate from " + host + ":443")}, "tls: bad certificate from [region]"},
	}
	for _, tt := range tests {
		got := Cause(tt.err)
		assert.Equal(t, tt.want, got, "Cause(%v)", tt.err)
		assert.NotContains(t, got, host, "Cause(%v)", tt.err)
		assert.NotContains(t, got, "10.0.0.7", "Cause(%v)", tt.err)
	}
}

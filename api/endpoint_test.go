package api

import (
	"net/url"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestParseEndpoint(t *testing.T) {
	for raw, want := range map[string]string{
		"https://myres.cognitiveservices.azure.com":  "https://myres.cognitiveservices.azure.com",
		"https://myres.cognitiveservices.azure.com/": "https://myres.cognitiveservices.azure.com",
		"http://127.0.0.1:5002":                      "http://127.0.0.1:5002",
		"http://[::1]:80/p/":                         "http://[::1]:80/p",
		"https://gw.example.com/ner//":               "https://gw.example.com/ner",
		"https://under_score.example:8443/a/b%20c/":  "https://under_score.example:8443/a/b%20c",
	} {
		u, err := ParseEndpoint(raw)
		if assert.NoError(t, err, raw) {
			assert.Equal(t, want, u.String(), raw)
		}
	}
	for raw, want := range map[string]string{
		"primary.example.com":   `"primary.example.com" is not an absolute http(s) URL`,
		"/gw":                   `"/gw" is not an absolute http(s) URL`,
		"ftp://x":               `"ftp://x" is not an absolute http(s) URL`,
		"https://gw/?a=1":       `"https://gw/?a=1" must not carry a query, fragment or credentials`,
		"https://gw/#top":       `"https://gw/#top" must not carry a query, fragment or credentials`,
		"https://u:p@gw":        `"https://u:p@gw" must not carry a query, fragment or credentials`,
		`https://gw/a"b`:        `"https://gw/a\"b" holds a character`,
		"https://gw/a%3Fb":      `"https://gw/a%3Fb" holds a character`,
		"https://gw!x.example/": `"https://gw!x.example/" holds a character`,
		"http://h\r\n.example":  `is not a URL`,
	} {
		_, err := ParseEndpoint(raw)
		assert.ErrorContains(t, err, want, raw)
	}
}

func TestCheckEndpointRefusesNil(t *testing.T) {
	require.Error(t, CheckEndpoint(nil))
	require.NoError(t, CheckEndpoint(&url.URL{Scheme: "https", Host: "gw.example.com", Path: "/ner"}))
}

func TestValidHost(t *testing.T) {
	for h, want := range map[string]bool{
		"gw.example.com":         true,
		"gw.example.com:8443":    true,
		"127.0.0.1:5002":         true,
		"[::1]:80":               true,
		"under_score.example":    true,
		"":                       false,
		"gw example.com":         false,
		`gw"x.example`:           false,
		"gw.example.com/path":    false,
		"gw\r\nX-Injected: 1":    false,
		strings.Repeat("a", 255): true,
		strings.Repeat("a", 256): false,
	} {
		assert.Equal(t, want, ValidHost(h), "%q", h)
	}
}

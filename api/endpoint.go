package api

import (
	"errors"
	"fmt"
	"net/url"
	"strings"
)

// CheckEndpoint is the one rule for a base URL the gateway calls or hands
// out (a region's endpoint, the client's, GATEWAY_PUBLIC_URL): absolute
// http or https with a host; no query, fragment or credentials, which a
// path appended to it would carry along or leak; and a host and path
// without characters that would end a header value, a JSON string or the
// URL itself where the gateway writes it (operation-location, nextLink).
// Its error completes a sentence whose subject the caller names
// ("PRIMARY_ENDPOINT: %q %v").
func CheckEndpoint(u *url.URL) error {
	switch {
	case u == nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "":
		return errors.New("is not an absolute http(s) URL")
	case u.RawQuery != "" || u.Fragment != "" || u.User != nil:
		return errors.New("must not carry a query, fragment or credentials")
	case !ValidHost(u.Host) || strings.ContainsAny(u.Path, "\"\\?#"):
		return errors.New("holds a character a URL the gateway writes into answers cannot carry")
	}
	return nil
}

// ParseEndpoint parses raw and checks it with CheckEndpoint. The URL it
// returns has no trailing slash, so paths can be appended.
func ParseEndpoint(raw string) (*url.URL, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return nil, fmt.Errorf("%q is not a URL", raw)
	}
	if err := CheckEndpoint(u); err != nil {
		return nil, fmt.Errorf("%q %w", raw, err)
	}
	u.Path = strings.TrimRight(u.Path, "/")
	u.RawPath = ""
	return u, nil
}

// ValidHost accepts host[:port] made of the characters a DNS name, an IPv4
// or a bracketed IPv6 address uses, so the value can go into a URL, a
// header and a JSON string without escaping: an endpoint's host, and the
// Host or X-Forwarded-Host the proxy builds a client's base URL from.
func ValidHost(h string) bool {
	if h == "" || len(h) > 255 {
		return false
	}
	for i := 0; i < len(h); i++ {
		c := h[i]
		if !(c == '.' || c == '-' || c == ':' || c == '_' || c == '[' || c == ']' ||
			'0' <= c && c <= '9' || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z') {
			return false
		}
	}
	return true
}

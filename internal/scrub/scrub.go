// Package scrub is the one place that removes region hosts from text bound
// for /status, logs, spans and errors. Go's HTTP client names the host in
// its errors (`Get "https://host/...": dial tcp 10.0.0.7:443: connect:
// connection refused`), and docs/DESIGN.md promises that no region hostname
// leaves the gateway; the proxy, the prober, the replication worker and the
// api client all pass region errors through here.
package scrub

import (
	"context"
	"errors"
	"net"
	"net/url"
	"regexp"
)

var (
	// urlPattern finds absolute URLs; they are cut down to their path.
	urlPattern = regexp.MustCompile(`[A-Za-z][A-Za-z0-9+.-]*://[^\s"'<>]+`)
	// addrPattern finds host:port with a dotted or bracketed host (IPs,
	// DNS names) and localhost; times such as 03:48:53 have no dot before
	// their colons and stay.
	addrPattern = regexp.MustCompile(`(?:\[[0-9A-Fa-f:.%]+\]|[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+|localhost):\d{1,5}\b`)
	// lookupPattern finds the host of a failed DNS lookup.
	lookupPattern = regexp.MustCompile(`lookup [^\s:]+`)
	// namePattern finds bare DNS names of three labels or more (a TLS
	// error quotes the certificate's names) and bare IPv4 addresses; file
	// names such as 04.txt have one dot and stay.
	namePattern = regexp.MustCompile(`\b(?:[A-Za-z0-9-]+\.){2,}[A-Za-z][A-Za-z0-9-]*\b|\b\d{1,3}(?:\.\d{1,3}){3}\b`)
)

// Redacted stands where a host was.
const Redacted = "[region]"

// Text removes URLs' hosts, addresses and looked-up names from s.
func Text(s string) string {
	s = urlPattern.ReplaceAllStringFunc(s, func(raw string) string {
		if u, err := url.Parse(raw); err == nil && u.Path != "" {
			return u.Path
		}
		return Redacted
	})
	s = addrPattern.ReplaceAllString(s, Redacted)
	s = lookupPattern.ReplaceAllString(s, "lookup "+Redacted)
	return namePattern.ReplaceAllString(s, Redacted)
}

// Err returns err with its text scrubbed; errors.Is and errors.As still see
// the original chain. Nil stays nil.
func Err(err error) error {
	if err == nil {
		return nil
	}
	return &scrubbed{err: err, text: Text(err.Error())}
}

type scrubbed struct {
	err  error
	text string
}

func (e *scrubbed) Error() string { return e.text }
func (e *scrubbed) Unwrap() error { return e.err }

// Cause is a short description of a transport failure for a log line or a
// span status: its kind ("timeout", "dial: connect: connection refused")
// where Go's error types say it, else the scrubbed text.
func Cause(err error) string {
	if err == nil {
		return ""
	}
	var (
		dns *net.DNSError
		op  *net.OpError
		ne  net.Error
	)
	switch {
	case errors.Is(err, context.Canceled):
		return "canceled"
	case errors.Is(err, context.DeadlineExceeded), errors.As(err, &ne) && ne.Timeout():
		return "timeout"
	case errors.As(err, &dns):
		return "dns lookup failed: " + dns.Err
	case errors.As(err, &op):
		if op.Err != nil {
			return op.Op + ": " + Text(op.Err.Error())
		}
		return op.Op + " error"
	}
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	return Text(err.Error())
}

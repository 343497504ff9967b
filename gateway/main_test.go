package gateway

import (
	"fmt"
	"os"
	"strings"
	"testing"

	"go.uber.org/goleak"
)

// TestMain runs the suite, then scans every response and log line of every
// gateway the suite started for region keys, the gateway keys and region
// hostnames, and finally checks that no goroutine outlived its owner.
func TestMain(m *testing.M) {
	code := m.Run()
	if code == 0 {
		if leaks := scanForSecrets(); len(leaks) > 0 {
			fmt.Fprintln(os.Stderr, "secret scan failed:")
			for _, l := range leaks {
				fmt.Fprintln(os.Stderr, "  "+l)
			}
			code = 1
		}
	}
	if code == 0 {
		if err := goleak.Find(); err != nil {
			fmt.Fprintln(os.Stderr, "goroutine leak:", err)
			code = 1
		}
	}
	os.Exit(code)
}

func scanForSecrets() []string {
	seenTraffic.Lock()
	defer seenTraffic.Unlock()
	var leaks []string
	responses := 0
	for _, rec := range seenTraffic.records {
		rec.mu.Lock()
		responses += len(rec.responses)
		needles := append([]string{testPrimaryKey, testSecondaryKey, testAdminKey, testAuthorKey}, rec.hosts...)
		check := func(kind, text string) {
			for _, n := range needles {
				if i := strings.Index(text, n); i >= 0 {
					lo, hi := max(0, i-80), min(len(text), i+len(n)+40)
					leaks = append(leaks, fmt.Sprintf("%s contains %q: ...%s...", kind, n, text[lo:hi]))
				}
			}
			// The client's own gateway key may be in what the client sent,
			// never in what the gateway answered or logged.
			if strings.Contains(text, testGatewayKey) {
				leaks = append(leaks, kind+" contains the gateway key")
			}
		}
		for _, r := range rec.responses {
			check("response", r)
		}
		for _, l := range rec.logs {
			text := l.String()
			check("log", text)
			// Document texts are the customer's data: answered, never logged.
			for _, doc := range []string{probeText, "Fabrikam in São Paulo."} {
				if strings.Contains(text, doc) {
					leaks = append(leaks, fmt.Sprintf("log contains the document text %q", doc))
				}
			}
		}
		rec.mu.Unlock()
	}
	if len(seenTraffic.records) > 0 && responses == 0 {
		leaks = append(leaks, "no responses were recorded: the scan saw nothing")
	}
	return leaks
}

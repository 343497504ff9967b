// Command pairs sends a gateway n custom NER submits, each followed by one
// poll, one at a time, and fails on any answer other than 202 and 200. It
// is the load of scripts/instructions, which counts the instructions the
// gateway spends per submit and poll under valgrind: a count that, unlike a
// CPU time, does not move with what else the machine is doing.
package main

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"time"
)

const body = `{"displayName":"pairs","analysisInput":{"documents":[{"id":"1","language":"en",` +
	`"text":"Contoso hired Anna Schmidt in Berlin last spring."}]},"tasks":[{"kind":"CustomEntityRecognition",` +
	`"taskName":"t","parameters":{"projectName":"demo","deploymentName":"production","stringIndexType":"Utf16CodeUnit"}}]}`

func main() {
	n := flag.Int("n", 100, "submit and poll pairs")
	base := flag.String("gateway", "http://127.0.0.1:8181", "the gateway's base URL")
	key := flag.String("key", "pairs-key", "a gateway key")
	ports := flag.Int("free-ports", 0, "print this many free loopback ports, one a line, and exit")
	flag.Parse()
	if *ports > 0 {
		if err := freePorts(*ports); err != nil {
			fmt.Fprintln(os.Stderr, "pairs:", err)
			os.Exit(1)
		}
		return
	}
	ctx := context.Background()
	c := &http.Client{Timeout: time.Minute}
	for i := range *n {
		loc, err := send(ctx, c, http.MethodPost, *base+"/language/analyze-text/jobs?api-version=2023-04-01", *key, http.StatusAccepted)
		if err == nil {
			_, err = send(ctx, c, http.MethodGet, loc, *key, http.StatusOK)
		}
		if err != nil {
			fmt.Fprintf(os.Stderr, "pairs: pair %d: %v\n", i, err)
			os.Exit(1)
		}
	}
}

// send makes one call and returns its operation-location.
func send(ctx context.Context, c *http.Client, method, url, key string, want int) (string, error) {
	var rd io.Reader
	if method == http.MethodPost {
		rd = bytes.NewReader([]byte(body))
	}
	req, err := http.NewRequestWithContext(ctx, method, url, rd)
	if err != nil {
		return "", fmt.Errorf("%s: %w", method, err)
	}
	req.Header.Set("Ocp-Apim-Subscription-Key", key)
	req.Header.Set("Content-Type", "application/json")
	resp, err := c.Do(req)
	if err != nil {
		return "", fmt.Errorf("%s: %w", method, err)
	}
	defer resp.Body.Close()
	if _, err := io.Copy(io.Discard, resp.Body); err != nil {
		return "", fmt.Errorf("%s: reading the answer: %w", method, err)
	}
	if resp.StatusCode != want {
		return "", fmt.Errorf("%s: status %d, want %d", method, resp.StatusCode, want)
	}
	return resp.Header.Get("Operation-Location"), nil
}

// freePorts prints n loopback ports that were free, all held open at once
// so that no two are the same.
func freePorts(n int) error {
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return fmt.Errorf("finding a free port: %w", err)
		}
		defer l.Close()
		fmt.Println(l.Addr().(*net.TCPAddr).Port)
	}
	return nil
}

package main

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// wrkRequest is the one request a wrk run sends over and over.
type wrkRequest struct {
	method, path, key string
	body              []byte
}

// wrkResult is what one wrk run saw.
type wrkResult struct {
	requests int           // answers received
	elapsed  time.Duration // wrk's own measure of the run
	non2xx   int           // answers whose status was not 2xx
	sockErrs int           // connect, read, write errors and timeouts
	p50, p99 time.Duration
	firstBad string // the first non-2xx answer, for the error report
}

func (r wrkResult) rps() float64 {
	if r.elapsed <= 0 {
		return 0
	}
	return float64(r.requests) / r.elapsed.Seconds()
}

func (r wrkResult) errors() int { return r.non2xx + r.sockErrs }

// wrkScript sets the request and counts every answer that is not 2xx in a
// response callback (wrk's own count takes 3xx for success), then prints
// one line the bench parses.
func wrkScript(req wrkRequest) string {
	var b strings.Builder
	fmt.Fprintf(&b, "wrk.method = %q\nwrk.path = %q\nwrk.headers[%q] = %q\n", req.method, req.path, "Ocp-Apim-Subscription-Key", req.key)
	if req.body != nil {
		fmt.Fprintf(&b, "wrk.headers[\"Content-Type\"] = \"application/json\"\nwrk.body = [==[%s]==]\n", req.body)
	}
	b.WriteString(`
local threads = {}
function setup(thread) table.insert(threads, thread) end
function init(args) bad = 0; first = "" end
function response(status, headers, body)
  if status < 200 or status > 299 then
    bad = bad + 1
    if first == "" then first = status .. " " .. string.sub(body or "", 1, 300) end
  end
end
function done(summary, latency, requests)
  local b, f = 0, ""
  for _, t in ipairs(threads) do
    b = b + t:get("bad")
    if f == "" then f = t:get("first") end
  end
  local e = summary.errors
  io.write(string.format("BENCH requests=%d duration_us=%d bad=%d sockerrs=%d p50_us=%d p99_us=%d\n",
    summary.requests, summary.duration, b, e.connect + e.read + e.write + e.timeout,
    latency:percentile(50), latency:percentile(99)))
  io.write("BENCHFIRST " .. string.gsub(f, "\n", " ") .. "\n")
end
`)
	return b.String()
}

// runWrk runs wrk (one thread, conns connections) against base for d,
// rounded up to whole seconds (wrk's unit).
func runWrk(ctx context.Context, t *tools, base string, req wrkRequest, conns int, d time.Duration) (wrkResult, error) {
	f, err := os.CreateTemp(t.tmp, "wrk-*.lua")
	if err != nil {
		return wrkResult{}, err
	}
	if _, err := f.WriteString(wrkScript(req)); err != nil {
		f.Close()
		return wrkResult{}, err
	}
	f.Close()
	defer os.Remove(f.Name())
	secs := max(1, int((d+time.Second-1)/time.Second))
	cmd := exec.CommandContext(ctx, t.wrk.path, "-t1", "-c"+strconv.Itoa(conns), "-d"+strconv.Itoa(secs)+"s",
		"--timeout", "10s", "-s", f.Name(), base)
	cmd.Dir = filepath.Dir(f.Name())
	out, err := cmd.CombinedOutput()
	if err != nil {
		return wrkResult{}, fmt.Errorf("wrk: %w\n%s", err, out)
	}
	return parseWrk(out)
}

func parseWrk(out []byte) (wrkResult, error) {
	var r wrkResult
	found := false
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		line := sc.Text()
		if v, ok := strings.CutPrefix(line, "BENCHFIRST "); ok {
			r.firstBad = strings.TrimSpace(v)
			continue
		}
		rest, ok := strings.CutPrefix(line, "BENCH ")
		if !ok {
			continue
		}
		found = true
		for _, field := range strings.Fields(rest) {
			k, v, _ := strings.Cut(field, "=")
			n, err := strconv.ParseInt(v, 10, 64)
			if err != nil {
				return r, fmt.Errorf("wrk output %q: %w", line, err)
			}
			switch k {
			case "requests":
				r.requests = int(n)
			case "duration_us":
				r.elapsed = time.Duration(n) * time.Microsecond
			case "bad":
				r.non2xx = int(n)
			case "sockerrs":
				r.sockErrs = int(n)
			case "p50_us":
				r.p50 = time.Duration(n) * time.Microsecond
			case "p99_us":
				r.p99 = time.Duration(n) * time.Microsecond
			}
		}
	}
	if !found {
		return r, fmt.Errorf("wrk printed no result line:\n%s", out)
	}
	return r, nil
}

package gateway

// The identity-provider outage figures of docs/reliability.md:
//
//	go test ./gateway -run TestEntraFigures -entra.figures -v
//
// Tokens live 150 s, so the renewer asks for the next one at 75 s. The
// authority stops answering at 70 s and comes back at 165 s: 80 s of
// outage with the token still valid (60 s of them past the renewal point
// measured), then 15 s past its expiry. Eight clients poll and submit
// throughout. It prints the markdown table docs/reliability.md shows;
// without the flag it does nothing (entra_test.go asserts the behaviour).

import (
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"

	"time"

	"github.com/stretchr/testify/require"
)

var entraFigures = flag.Bool("entra.figures", false, "measure an identity-provider outage and print docs/reliability.md's table")

func TestEntraFigures(t *testing.T) {
	if !*entraFigures {
		t.Skip("measurement run: -entra.figures")
	}
	issuer, env, regions := entraRegions(t, "client-secret-e2e-77c1", 150*time.Second)
	const probeInterval = 5 * time.Second
	gw := startEntraGateway(t, env, regions, "HEALTH_PROBE_INTERVAL", probeInterval.String())
	eventually(t, "a token (readiness)", gw.ready)
	start := time.Now()
	loc := gw.submit(t, probeText)
	body, _ := json.Marshal(submitBody(probeText))

	type sample struct {
		at      time.Duration
		latency time.Duration
		status  int
	}
	var (
		mu      sync.Mutex
		samples []sample
		readyz  []sample
		stop    = make(chan struct{})
		wg      sync.WaitGroup
	)
	for i := range 8 {
		wg.Go(func() {
			for n := 0; ; n++ {
				select {
				case <-stop:
					return
				default:
				}
				method, target, rd := http.MethodGet, loc, io.Reader(nil)
				if (i+n)%2 == 0 {
					method, target, rd = http.MethodPost, gw.URL+submitPath, strings.NewReader(string(body))
				}
				req, _ := http.NewRequest(method, target, rd)
				req.Header.Set("Ocp-Apim-Subscription-Key", testGatewayKey)
				req.Header.Set("Content-Type", "application/json")
				t0 := time.Now()
				resp, err := gw.Client.Do(req)
				s := sample{at: t0.Sub(start), latency: time.Since(t0)}
				if err == nil {
					_, _ = io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
					s.status = resp.StatusCode
				}
				mu.Lock()
				samples = append(samples, s)
				mu.Unlock()
				time.Sleep(20 * time.Millisecond)
			}
		})
	}
	wg.Go(func() {
		for {
			select {
			case <-stop:
				return
			case <-time.After(200 * time.Millisecond):
			}
			t0 := time.Now()
			resp, err := gw.Client.Get(gw.URL + "/readyz")
			s := sample{at: t0.Sub(start)}
			if err == nil {
				resp.Body.Close()
				s.status = resp.StatusCode
			}
			mu.Lock()
			readyz = append(readyz, s)
			mu.Unlock()
		}
	})
	until := func(d time.Duration) { time.Sleep(time.Until(start.Add(d))) }
	until(70 * time.Second)
	issuer.Hold()
	until(165 * time.Second)
	issuer.Release()
	released := time.Since(start)
	var readyAt, servedAt time.Duration
	for readyAt == 0 || servedAt == 0 {
		time.Sleep(10 * time.Millisecond)
		mu.Lock()
		for _, s := range readyz {
			if readyAt == 0 && s.at > released && s.status == 200 {
				readyAt = s.at
			}
		}
		for _, s := range samples {
			if servedAt == 0 && s.at > released && s.status/100 == 2 {
				servedAt = s.at + s.latency
			}
		}
		mu.Unlock()
		require.Less(t, time.Since(start), 200*time.Second, "not back within 35 s")
	}
	until(servedAt + 10*time.Second)
	close(stop)
	wg.Wait()

	phase := func(name string, from, to time.Duration) {
		var lat []time.Duration
		failed, byStatus := 0, map[int]int{}
		for _, s := range samples {
			if s.at < from || s.at >= to {
				continue
			}
			lat = append(lat, s.latency)
			byStatus[s.status]++
			if s.status/100 != 2 {
				failed++
			}
		}
		ready, notReady := 0, 0
		for _, s := range readyz {
			if s.at >= from && s.at < to {
				if s.status == 200 {
					ready++
				} else {
					notReady++
				}
			}
		}
		slices.Sort(lat)
		pct := func(p float64) string {
			if len(lat) == 0 {
				return "-"
			}
			return fmt.Sprintf("%.1f ms", float64(lat[int(p*float64(len(lat)-1))])/float64(time.Millisecond))
		}
		fmt.Printf("| %s | %d | %d | %s | %s | %s | %d / %d |\n", name, len(lat), failed, pct(0.5), pct(0.99), pct(1), ready, notReady)
	}
	fmt.Println("| phase | client requests | not 2xx | p50 | p99 | max | /readyz 200 / 503 |")
	fmt.Println("|---|---|---|---|---|---|---|")
	phase("before (token valid, authority answering), 10-70 s", 10*time.Second, 70*time.Second)
	phase("authority silent, token valid, past the renewal point, 75-135 s", 75*time.Second, 135*time.Second)
	phase("authority silent, token expired, 151-165 s", 151*time.Second, 165*time.Second)
	phase("authority back: the 10 s after the first 2xx", servedAt, servedAt+10*time.Second)
	fmt.Printf("\nauthority back at %.1f s: /readyz 200 after %.0f ms, first 2xx answer after %.0f ms (probe interval %s)\n",
		released.Seconds(), float64(readyAt-released)/float64(time.Millisecond), float64(servedAt-released)/float64(time.Millisecond), probeInterval)
	for _, name := range []string{"westus2", "eastus"} {
		tr := breakerTransitions(t, gw, name)
		fmt.Printf("%s: breaker trips %d, token requests issued %d\n", name, tr.trips, issuer.TokenRequests())
	}
	var changes []string
	for line := range strings.Lines(gw.Logs.String()) {
		if strings.Contains(line, "gateway credential changed") {
			var rec struct{ State string }
			_ = json.Unmarshal([]byte(line), &rec)
			changes = append(changes, rec.State)
		}
	}
	fmt.Printf("credential log lines: %q\n", changes)
}

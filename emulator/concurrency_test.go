package emulator

import (
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"nergateway/api"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestConcurrentSubmitAndPoll(t *testing.T) {
	rg := newRegion(t, Options{JobDuration: 300 * time.Millisecond})
	require.NoError(t, rg.Seed(demoProject()))
	const workers, jobsEach = 8, 5
	var wg sync.WaitGroup
	errs := make(chan string, workers*jobsEach)
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range jobsEach {
				req, _ := http.NewRequest(http.MethodPost, rg.URL+q(api.JobsPath), jsonBody(submitBody("demo", "production", api.StringIndexUTF16, "Zoë met Anna.")))
				req.Header.Set(api.SubscriptionKeyHeader, testKey)
				res, err := http.DefaultClient.Do(req)
				if err != nil {
					errs <- err.Error()
					continue
				}
				res.Body.Close()
				loc := res.Header.Get(api.OperationLocationHeader)
				for {
					st, err := getJob(loc)
					if err != nil {
						errs <- err.Error()
						break
					}
					if api.Terminal(st.Status) {
						if st.Status != api.StatusSucceeded {
							errs <- st.Status
						}
						break
					}
					if w == 0 {
						rg.clock.Advance(50 * time.Millisecond)
					} else {
						time.Sleep(time.Millisecond)
					}
				}
			}
		}()
	}
	// Keep the clock moving even if worker 0 finished first.
	done := make(chan struct{})
	go func() {
		wg.Wait()
		close(done)
	}()
	tick := time.NewTicker(time.Millisecond)
	defer tick.Stop()
loop:
	for {
		select {
		case <-done:
			break loop
		case <-tick.C:
			rg.clock.Advance(10 * time.Millisecond)
		}
	}
	close(errs)
	for e := range errs {
		assert.Fail(t, e)
	}
	assert.Equal(t, workers*jobsEach, rg.Calls("submit"))
}

func TestConcurrentAuthoringFaultsAndSeeds(t *testing.T) {
	rg := newRegion(t, Options{AuthoringJobDuration: 30 * time.Millisecond})
	require.NoError(t, rg.Seed(demoProject()))
	var wg sync.WaitGroup
	stop := make(chan struct{})
	for i := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				switch i {
				case 0:
					rg.SetFault(Fault{Status: 503, Routes: []string{"analyze"}})
					rg.ClearFaults()
				case 1:
					_ = rg.Seed(demoProject())
					rg.PutDocument("docs", "z.txt", "Zoë")
				case 2:
					_ = rg.Calls("export")
					rg.ResetCalls()
					rg.clock.Advance(10 * time.Millisecond)
				case 3:
					req, _ := http.NewRequest(http.MethodPost, rg.URL+q(api.ProjectPath("demo")+"/:export", "stringIndexType", "Utf16CodeUnit"), nil)
					req.Header.Set(api.SubscriptionKeyHeader, testKey)
					if res, err := http.DefaultClient.Do(req); err == nil {
						res.Body.Close()
						if loc := res.Header.Get(api.OperationLocationHeader); loc != "" {
							req, _ := http.NewRequest(http.MethodGet, loc, nil)
							req.Header.Set(api.SubscriptionKeyHeader, testKey)
							if res, err := http.DefaultClient.Do(req); err == nil {
								res.Body.Close()
							}
						}
					}
				}
			}
		}()
	}
	time.Sleep(300 * time.Millisecond)
	close(stop)
	wg.Wait()
}

package emulator

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"nergateway/api"
)

// rawGet sends a GET with a fresh connection and returns the transport
// error, if any.
func rawGet(t *testing.T, url string) (*http.Response, error) {
	t.Helper()
	c := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}, Timeout: 5 * time.Second}
	req, err := http.NewRequest(http.MethodGet, url, nil)
	require.NoError(t, err)
	req.Header.Set(api.SubscriptionKeyHeader, testKey)
	res, err := c.Do(req)
	if err == nil {
		_ = res.Body.Close()
	}
	return res, err
}

func TestFaultReset(t *testing.T) {
	rg := newRegion(t, Options{})
	rg.SetFault(Fault{Down: DownReset})
	_, err := rawGet(t, rg.URL+q(api.AuthoringProjectsPath))
	require.Error(t, err, "the client sees a connection error")
	assert.True(t, errors.Is(err, syscall.ECONNRESET) || strings.Contains(err.Error(), "EOF") || strings.Contains(err.Error(), "reset"), err.Error())
	assert.Equal(t, 1, rg.Calls("listProjects"), "faulted requests are counted")

	// The admin API is never faulted, so a curl brings the region back.
	req, _ := http.NewRequest(http.MethodDelete, rg.URL+"/_emulator/faults", nil)
	res, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	res.Body.Close()
	assert.Equal(t, http.StatusNoContent, res.StatusCode)
	res, err = rawGet(t, rg.URL+q(api.AuthoringProjectsPath))
	require.NoError(t, err)
	assert.Equal(t, http.StatusOK, res.StatusCode)
}

func TestFaultRefuse(t *testing.T) {
	rg := newRegion(t, Options{})
	// A keep-alive client holding an idle connection must not get through.
	keep := &http.Client{Timeout: 5 * time.Second}
	get := func() (*http.Response, error) {
		req, _ := http.NewRequest(http.MethodGet, rg.URL+q(api.AuthoringProjectsPath), nil)
		req.Header.Set(api.SubscriptionKeyHeader, testKey)
		res, err := keep.Do(req)
		if err == nil {
			res.Body.Close()
		}
		return res, err
	}
	_, err := get()
	require.NoError(t, err)

	rg.SetFault(Fault{Down: DownRefuse})
	_, err = rawGet(t, rg.URL+q(api.AuthoringProjectsPath))
	require.Error(t, err)
	assert.True(t, errors.Is(err, syscall.ECONNREFUSED), err.Error())
	_, err = get()
	assert.Error(t, err)

	// The admin listener stays up while the region refuses.
	body, _ := json.Marshal(Fault{Status: 503})
	res, err := http.Post(rg.AdminURL+"/_emulator/faults", "application/json", bytes.NewReader(body))
	require.NoError(t, err)
	res.Body.Close()
	assert.Equal(t, http.StatusOK, res.StatusCode)
	req, _ := http.NewRequest(http.MethodDelete, rg.AdminURL+"/_emulator/faults", nil)
	res, err = http.DefaultClient.Do(req)
	require.NoError(t, err)
	res.Body.Close()

	res, err = get()
	require.NoError(t, err, "listening again on the same port")
	assert.Equal(t, http.StatusOK, res.StatusCode)
}

func TestFaultStatus(t *testing.T) {
	rg := newRegion(t, Options{})
	for _, tc := range []struct {
		fault      Fault
		code       string
		retryAfter string
	}{
		{Fault{Status: 503}, api.CodeServiceUnavailable, ""},
		{Fault{Status: 503, RetryAfter: 7}, api.CodeServiceUnavailable, "7"},
		{Fault{Status: 500}, api.CodeInternalServerError, ""},
		{Fault{Status: 429}, "429", "1"},
		{Fault{Status: 429, RetryAfter: 3}, "429", "3"},
		{Fault{Status: 401}, "401", ""},
		{Fault{Status: 403}, "403", ""},
		{Fault{Status: 502}, "502", ""},
	} {
		rg.ClearFaults()
		rg.SetFault(tc.fault)
		r := rg.do(http.MethodPost, q(api.JobsPath), submitBody("demo", "production", "", "x"))
		require.Equal(t, tc.fault.Status, r.status)
		assert.Equal(t, tc.code, r.apiError(t).Code)
		assert.Equal(t, tc.retryAfter, r.header.Get("Retry-After"))
		assert.NotEmpty(t, r.header.Get(api.RequestIDHeader))
		if tc.fault.Status == http.StatusUnauthorized {
			// The front door's 401 is typed without a charset (runtime-401-2022-10-01-preview).
			assert.Equal(t, "application/json", r.header.Get("Content-Type"))
		} else {
			assert.Equal(t, "application/json; charset=utf-8", r.header.Get("Content-Type"))
		}
	}
}

func TestFaultFilters(t *testing.T) {
	rg := newRegion(t, Options{})
	require.NoError(t, rg.Seed(demoProject()))
	rg.SetFault(Fault{Status: 503, Routes: []string{"submit"}})
	rg.SetFault(Fault{Status: 500, Routes: []string{"/language/authoring/"}, Methods: []string{"post"}})

	assert.Equal(t, 503, rg.do(http.MethodPost, q(api.JobsPath), submitBody("demo", "production", "", "x")).status)
	assert.Equal(t, 404, rg.do(http.MethodGet, q(api.JobPath(newUUID())), nil).status, "job route not faulted")
	assert.Equal(t, 500, rg.do(http.MethodPost, q(api.ProjectPath("demo")+"/:train"), api.TrainRequest{ModelLabel: "m", TrainingConfigVersion: "latest"}).status)
	assert.Equal(t, 200, rg.do(http.MethodGet, q(api.ProjectPath("demo")), nil).status, "GET not faulted")
	assert.Len(t, rg.Faults(), 2)

	rg.ClearFaults()
	assert.Empty(t, rg.Faults())
	assert.Equal(t, 202, rg.do(http.MethodPost, q(api.JobsPath), submitBody("demo", "production", "", "x")).status)
	assert.Equal(t, 2, rg.Calls("submit"))
	rg.ResetCalls()
	assert.Zero(t, rg.Calls("submit"))
}

func TestFaultLatency(t *testing.T) {
	rg := newRegion(t, Options{})
	rg.SetFault(Fault{LatencyMS: 150, Routes: []string{"listProjects"}})
	start := time.Now()
	r := rg.do(http.MethodGet, q(api.AuthoringProjectsPath), nil)
	assert.Equal(t, http.StatusOK, r.status)
	assert.GreaterOrEqual(t, time.Since(start), 150*time.Millisecond)

	// The wait ends with the client's context.
	rg.ClearFaults()
	rg.SetFault(Fault{LatencyMS: 10_000})
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, rg.URL+q(api.AuthoringProjectsPath), nil)
	start = time.Now()
	_, err := http.DefaultClient.Do(req)
	require.Error(t, err)
	assert.Less(t, time.Since(start), 5*time.Second)

	// Latency then status.
	rg.ClearFaults()
	rg.SetFault(Fault{LatencyMS: 50, Status: 503})
	start = time.Now()
	assert.Equal(t, 503, rg.do(http.MethodGet, q(api.AuthoringProjectsPath), nil).status)
	assert.GreaterOrEqual(t, time.Since(start), 50*time.Millisecond)
}

func TestFaultFailureRate(t *testing.T) {
	rolls := []float64{0.1, 0.9, 0.3, 0.7}
	i := 0
	e, err := New(Options{Key: testKey, Rand: func() float64 { i++; return rolls[(i-1)%len(rolls)] }})
	require.NoError(t, err)
	e.SetFault(Fault{Status: 503, FailureRate: 0.5})
	var got []int
	for range 4 {
		rec := httptest.NewRecorder()
		req := httptest.NewRequest(http.MethodGet, q(api.AuthoringProjectsPath), nil)
		req.Header.Set(api.SubscriptionKeyHeader, testKey)
		e.ServeHTTP(rec, req)
		got = append(got, rec.Code)
	}
	assert.Equal(t, []int{503, 200, 503, 200}, got)
}

func TestFaultOverAdminAPI(t *testing.T) {
	rg := newRegion(t, Options{})
	for _, bad := range []string{`{"down":"maybe"}`, `{"status":200}`, `{}`, `{"failureRate":2,"status":500}`, `{"bogus":1}`, `{`} {
		res, err := http.Post(rg.URL+"/_emulator/faults", "application/json", strings.NewReader(bad))
		require.NoError(t, err)
		res.Body.Close()
		assert.Equal(t, http.StatusBadRequest, res.StatusCode, bad)
	}
	res, err := http.Post(rg.URL+"/_emulator/faults", "application/json",
		strings.NewReader(`{"status":429,"retryAfterSeconds":2,"routes":["listProjects"]}`))
	require.NoError(t, err)
	res.Body.Close()
	require.Equal(t, http.StatusOK, res.StatusCode)
	r := rg.do(http.MethodGet, q(api.AuthoringProjectsPath), nil)
	assert.Equal(t, http.StatusTooManyRequests, r.status)
	assert.Equal(t, "2", r.header.Get("Retry-After"))

	res, err = http.Get(rg.URL + "/_emulator/calls")
	require.NoError(t, err)
	var calls map[string]int
	require.NoError(t, json.NewDecoder(res.Body).Decode(&calls))
	res.Body.Close()
	assert.Equal(t, map[string]int{"listProjects": 1}, calls, "admin calls are not counted")
}

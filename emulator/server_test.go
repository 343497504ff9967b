package emulator

import (
	"context"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"nergateway/api"
)

func TestShutdownWaitsForRequestsInFlight(t *testing.T) {
	s, err := NewServer(Options{Key: testKey})
	require.NoError(t, err)
	s.SetFault(Fault{LatencyMS: 200})
	done := make(chan int, 1)
	go func() {
		req, _ := http.NewRequest(http.MethodGet, s.URL+q(api.AuthoringProjectsPath), nil)
		req.Header.Set(api.SubscriptionKeyHeader, testKey)
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			done <- 0
			return
		}
		res.Body.Close()
		done <- res.StatusCode
	}()
	require.Eventually(t, func() bool { return s.Calls("listProjects") == 1 }, 5*time.Second, 5*time.Millisecond)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	require.NoError(t, s.Shutdown(ctx))
	assert.Equal(t, http.StatusOK, <-done)
	assert.NoError(t, s.Shutdown(ctx), "a second shutdown is a no-op")
	s.Close()
}

func TestServerCloseRefusesAfterwards(t *testing.T) {
	s, err := NewServer(Options{Key: testKey})
	require.NoError(t, err)
	url := s.URL
	s.Close()
	s.Close()
	_, err = net.DialTimeout("tcp", strings.TrimPrefix(url, "http://"), time.Second)
	assert.Error(t, err)
}

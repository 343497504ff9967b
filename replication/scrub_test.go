package replication

import (
	"testing"
	"time"

	"nergateway/api"

	"github.com/stretchr/testify/require"
)

func TestScrubKeepsTheChain(t *testing.T) {
	orig := &api.Error{Code: "InternalServerError", Message: "at http://10.1.2.3:80/x", StatusCode: 500}
	err := scrub(orig)
	var ae *api.Error
	require.ErrorAs(t, err, &ae, "errors.As lost the *api.Error")
	require.Same(t, orig, ae, "errors.As lost the *api.Error")
	got := newStatusError(err, time.Time{}).Message
	require.Equal(t, "at /x", got, "status message")
}

package replication

import (
	"errors"
	"testing"
	"time"

	"nergateway/api"
)

func TestScrubKeepsTheChain(t *testing.T) {
	orig := &api.Error{Code: "InternalServerError", Message: "at http://10.1.2.3:80/x", StatusCode: 500}
	err := scrub(orig)
	var ae *api.Error
	if !errors.As(err, &ae) || ae != orig {
		t.Fatal("errors.As lost the *api.Error")
	}
	if got := newStatusError(err, time.Time{}).Message; got != "at /x" {
		t.Fatalf("status message %q", got)
	}
}

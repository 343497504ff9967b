package emulator

import (
	"net"
	"net/http"
	"testing"
)

// Seeds are in place before the region serves: the very first request
// finds them (cmd/emulator used to seed after Start, so a fast client saw
// an empty region).
func TestStartSeedsBeforeServing(t *testing.T) {
	sp := demoProject()
	sp.DeploymentName = "production"
	s, err := Start("127.0.0.1:0", "", Options{Name: "westus2", Key: "k1", Seeds: []SeedProject{sp}})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	req, _ := http.NewRequest(http.MethodGet, s.URL+"/language/authoring/analyze-text/projects/demo/deployments/production?api-version=2022-05-01", nil)
	req.Header.Set("Ocp-Apim-Subscription-Key", "k1")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusOK {
		t.Fatalf("first request: %d, want the seeded deployment", res.StatusCode)
	}
}

// A seed that cannot be applied fails Start before anything listens.
func TestStartWithABadSeedNeverListens(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	if _, err := Start(addr, "", Options{Name: "w", Key: "k", Seeds: []SeedProject{{Name: "bad name!"}}}); err == nil {
		t.Fatal("Start accepted a bad seed")
	}
	ln, err = net.Listen("tcp", addr)
	if err != nil {
		t.Fatalf("Start left %s listening: %v", addr, err)
	}
	ln.Close()
}

package blobemu

import (
	"errors"
	"net/http/httptest"
	"testing"

	"nergateway/internal/secret"
	"nergateway/replication/docsync"
)

// The demo's blob service answers the calls document sync makes as Azure
// does: a copy into an empty container, then a second sync that finds
// everything equal (sizes and Content-MD5 from the listings).
func TestDocsyncAgainstTheDemoBlobService(t *testing.T) {
	srv := httptest.NewServer(New("demo"))
	defer srv.Close()
	store, err := docsync.NewStore(srv.URL+"/demo", docsync.Options{Key: secret.Secret("ZGVtbw==")})
	if err != nil {
		t.Fatal(err)
	}
	names := []string{"a.txt", "b.txt", "c.txt"}
	for _, n := range names {
		if err := store.WriteDocument(t.Context(), "src", n, "text of "+n); err != nil {
			t.Fatal(err)
		}
	}
	s := &docsync.Syncer{From: store, To: store, Copy: true}
	if p, err := s.Sync(t.Context(), "src", "dst", names); err != nil || p.Copied != 3 {
		t.Fatalf("first sync: %+v, %v", p, err)
	}
	if p, err := s.Sync(t.Context(), "src", "dst", names); err != nil || p.Copied != 0 || p.Checked != 3 {
		t.Fatalf("second sync: %+v, %v", p, err)
	}
	text, found, err := store.ReadDocument(t.Context(), "dst", "b.txt")
	if err != nil || !found || text != "text of b.txt" {
		t.Fatalf("read back: %q %v %v", text, found, err)
	}
	if _, found, err := store.ReadDocument(t.Context(), "dst", "zzz.txt"); found || err != nil {
		t.Fatalf("a missing blob: %v %v", found, err)
	}
	_, err = (&docsync.Syncer{From: store, To: store}).Sync(t.Context(), "src", "empty", names)
	var me *docsync.MissingError
	if !errors.As(err, &me) || me.Count != 3 {
		t.Fatalf("verify into a missing container: %v", err)
	}
	_, texts, err := store.Texts(t.Context(), "src", 2, 100)
	if err != nil || len(texts) != 2 || texts[0] != "text of a.txt" {
		t.Fatalf("texts %q %v", texts, err)
	}
}

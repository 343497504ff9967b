package blobemu

import (
	"net/http/httptest"
	"testing"

	"github.com/stretchr/testify/require"

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
	require.NoError(t, err)
	names := []string{"a.txt", "b.txt", "c.txt"}
	for _, n := range names {
		require.NoError(t, store.WriteDocument(t.Context(), "src", n, "text of "+n))
	}
	s := &docsync.Syncer{From: store, To: store, Copy: true}
	p, err := s.Sync(t.Context(), "src", "dst", names)
	require.NoError(t, err, "first sync")
	require.Equal(t, 3, p.Copied, "first sync: %+v", p)
	p, err = s.Sync(t.Context(), "src", "dst", names)
	require.NoError(t, err, "second sync")
	require.Equal(t, 0, p.Copied, "second sync: %+v", p)
	require.Equal(t, 3, p.Checked, "second sync: %+v", p)
	text, found, err := store.ReadDocument(t.Context(), "dst", "b.txt")
	require.NoError(t, err, "read back")
	require.True(t, found, "read back")
	require.Equal(t, "text of b.txt", text, "read back")
	_, found, err = store.ReadDocument(t.Context(), "dst", "zzz.txt")
	require.NoError(t, err, "a missing blob")
	require.False(t, found, "a missing blob")
	_, err = (&docsync.Syncer{From: store, To: store}).Sync(t.Context(), "src", "empty", names)
	var me *docsync.MissingError
	require.ErrorAs(t, err, &me, "verify into a missing container")
	require.Equal(t, 3, me.Count, "verify into a missing container: %v", err)
	_, texts, err := store.Texts(t.Context(), "src", 2, 100)
	require.NoError(t, err, "texts")
	require.Len(t, texts, 2, "texts")
	require.Equal(t, "text of a.txt", texts[0], "texts %q", texts)
}

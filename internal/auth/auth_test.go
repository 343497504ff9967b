package auth

import (
	"bytes"
	"crypto/rand"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"nergateway/api"
	"nergateway/internal/secret"
)

func keys(t *testing.T, entries ...string) []Key {
	t.Helper()
	var s []secret.Secret
	for _, e := range entries {
		s = append(s, secret.Secret(e))
	}
	k, err := ParseKeys(s)
	require.NoError(t, err)
	return k
}

func TestParseKey(t *testing.T) {
	for in, want := range map[string]Key{
		"app1:key-one":         {Name: "app1", Secret: "key-one"},
		" app.2 : key-two ":    {Name: "app.2", Secret: "key-two"},
		"bare-key":             {Name: "key-" + digestName("bare-key"), Secret: "bare-key"},
		"bad name:x":           {Name: "key-" + digestName("bad name:x"), Secret: "bad name:x"}, // not a name: the whole is the key
		"team-a:part1:part2":   {Name: "team-a", Secret: "part1:part2"},
		"0f1e2d3c4b5a69788796": {Name: "key-" + digestName("0f1e2d3c4b5a69788796"), Secret: "0f1e2d3c4b5a69788796"},
	} {
		got, err := ParseKey(secret.Secret(in))
		require.NoError(t, err, in)
		assert.Equal(t, want, got, in)
	}
	for _, in := range []string{"", "   ", "app1:", "app1:   "} {
		_, err := ParseKey(secret.Secret(in))
		assert.Error(t, err, "%q", in)
	}
	_, err := ParseKeys([]secret.Secret{"a:k1", "a:k2"})
	assert.ErrorContains(t, err, `name "a" used twice`)
	_, err = ParseKeys([]secret.Secret{"a:secret-value", "b:"})
	require.Error(t, err)
	assert.NotContains(t, err.Error(), "secret-value", "errors name positions, never keys")
}

func digestName(k string) string {
	key, _ := ParseKey(secret.Secret(k))
	return strings.TrimPrefix(key.Name, "key-")
}

func TestParseFile(t *testing.T) {
	got, err := ParseFile([]byte("# rotated 2026-12-01\napp1:new-key\n\n  app1-old:old-key  \r\nbare\n"))
	require.NoError(t, err)
	require.Len(t, got, 3)
	assert.Equal(t, "app1", got[0].Name)
	assert.Equal(t, "old-key", got[1].Secret.Reveal())
	_, err = ParseFile([]byte("# nothing\n\n"))
	assert.ErrorContains(t, err, "no key")
}

func TestSetLookupAndReplace(t *testing.T) {
	s := NewSet(keys(t, "app1:key-one", "app2:key-two")...)
	for presented, want := range map[string]string{"key-one": "app1", "key-two": "app2"} {
		name, ok := s.Lookup(presented)
		assert.True(t, ok, presented)
		assert.Equal(t, want, name)
	}
	for _, presented := range []string{"", "key-on", "key-one ", "KEY-ONE", "app1:key-one", "app1"} {
		_, ok := s.Lookup(presented)
		assert.False(t, ok, "%q", presented)
	}
	s.Replace(keys(t, "app2:key-two-new"))
	_, ok := s.Lookup("key-one")
	assert.False(t, ok, "replaced keys are gone")
	name, ok := s.Lookup("key-two-new")
	assert.True(t, ok)
	assert.Equal(t, "app2", name)
	assert.Equal(t, 1, s.Len())

	var zero Set
	_, ok = zero.Lookup("anything")
	assert.False(t, ok, "the zero Set accepts nothing")
	assert.False(t, NewSet().Shares(s))
	assert.True(t, NewSet(keys(t, "x:key-two-new")...).Shares(s), "same key under another name")
}

func serve(h http.Handler, path, key string) *httptest.ResponseRecorder {
	rec := httptest.NewRecorder()
	req := httptest.NewRequest(http.MethodGet, path, nil)
	if key != "" {
		req.Header.Set(api.SubscriptionKeyHeader, key)
	}
	h.ServeHTTP(rec, req)
	return rec
}

func TestScoped(t *testing.T) {
	runtime := NewSet(keys(t, "app:runtime-key")...)
	authoring := NewSet(keys(t, "ops-team:authoring-key")...)
	var seenName string
	h := Scoped(runtime, authoring)(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		seenName = KeyName(r.Context())
		w.WriteHeader(http.StatusNoContent)
	}))
	const (
		jobs     = "/language/analyze-text/jobs?api-version=2023-04-01"
		project  = "/language/authoring/analyze-text/projects/p?api-version=2022-05-01"
		otherAut = "/language/authoring/other"
	)
	for _, tt := range []struct {
		path, key, name string
		want            int
	}{
		{jobs, "runtime-key", "app", 204},
		{jobs, "authoring-key", "ops-team", 204},
		{jobs, "", "", 401},
		{jobs, "nope", "", 401},
		{project, "runtime-key", "", 401},
		{project, "authoring-key", "ops-team", 204},
		{otherAut, "runtime-key", "", 401},
		{"/language/authoring/analyze-text/projects/../../../analyze-text/jobs", "runtime-key", "", 401}, // judged on the path as sent
	} {
		seenName = ""
		rec := serve(h, tt.path, tt.key)
		require.Equal(t, tt.want, rec.Code, "%s with %q", tt.path, tt.key)
		assert.Equal(t, tt.name, seenName)
		if tt.want == 401 {
			var body api.ErrorResponse
			require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &body), rec.Body.String())
			assert.Equal(t, api.CodeFrontDoorUnauthorized, body.Error.Code)
			assert.Empty(t, rec.Header().Get("x-ms-error-code"), "Azure's 401 carries none")
			if tt.key != "" {
				assert.NotContains(t, rec.Body.String(), tt.key, "key echoed")
			}
		}
	}
	// With no authoring key configured, authoring through the gateway is off.
	off := Scoped(runtime, NewSet())(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(204) }))
	assert.Equal(t, 401, serve(off, project, "runtime-key").Code)
	assert.Contains(t, serve(off, project, "runtime-key").Body.String(), "authoring key")
}

func TestWatcherFollowsTheFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "keys")
	require.NoError(t, os.WriteFile(path, []byte("app:old-key\n"), 0o600))
	w, err := NewWatcher(path, "runtime", nil)
	require.NoError(t, err)
	accepts := func(k string) bool { _, ok := w.Set.Lookup(k); return ok }
	assert.True(t, accepts("old-key"))

	require.NoError(t, os.WriteFile(path, []byte("app:new-key\napp-old:old-key\n"), 0o600))
	w.reload(t.Context())
	assert.True(t, accepts("new-key"))
	assert.True(t, accepts("old-key"))

	// Broken or missing files keep the keys in place.
	require.NoError(t, os.WriteFile(path, []byte("# emptied by mistake\n"), 0o600))
	w.reload(t.Context())
	assert.True(t, accepts("new-key"))
	require.NoError(t, os.Remove(path))
	w.reload(t.Context())
	assert.True(t, accepts("new-key"))

	require.NoError(t, os.WriteFile(path, []byte("app:newest-key\n"), 0o600))
	w.reload(t.Context())
	assert.True(t, accepts("newest-key"))
	assert.False(t, accepts("old-key"))
	assert.False(t, accepts("new-key"))

	_, err = NewWatcher(filepath.Join(dir, "missing"), "runtime", nil)
	assert.Error(t, err, "a missing file stops the start")
}

// TestWatcherFollowsSecretVolumeSwap reproduces how the kubelet updates a
// Secret volume: the file is a symlink through ..data, and an update
// points ..data at a new timestamped directory in one rename.
func TestWatcherFollowsSecretVolumeSwap(t *testing.T) {
	dir := t.TempDir()
	writeVersion := func(name, content string) {
		require.NoError(t, os.Mkdir(filepath.Join(dir, name), 0o700))
		require.NoError(t, os.WriteFile(filepath.Join(dir, name, "keys"), []byte(content), 0o600))
	}
	writeVersion("..2026_12_01_05_00_00.1", "app:first-key\n")
	require.NoError(t, os.Symlink("..2026_12_01_05_00_00.1", filepath.Join(dir, "..data")))
	require.NoError(t, os.Symlink(filepath.Join("..data", "keys"), filepath.Join(dir, "keys")))

	w, err := NewWatcher(filepath.Join(dir, "keys"), "runtime", nil)
	require.NoError(t, err)
	_, ok := w.Set.Lookup("first-key")
	require.True(t, ok)

	writeVersion("..2026_12_01_06_00_00.2", "app:second-key\n")
	require.NoError(t, os.Symlink("..2026_12_01_06_00_00.2", filepath.Join(dir, "..data_tmp")))
	require.NoError(t, os.Rename(filepath.Join(dir, "..data_tmp"), filepath.Join(dir, "..data")))
	require.NoError(t, os.RemoveAll(filepath.Join(dir, "..2026_12_01_05_00_00.1")))
	w.reload(t.Context())
	_, ok = w.Set.Lookup("second-key")
	assert.True(t, ok)
	_, ok = w.Set.Lookup("first-key")
	assert.False(t, ok)
}

func BenchmarkLookup(b *testing.B) {
	s := NewSet(Key{Name: "a", Secret: "key-one"}, Key{Name: "b", Secret: "key-two"})
	b.ReportAllocs()
	for b.Loop() {
		s.Lookup("key-two")
	}
}

func TestParseKeyRefusesWhatIsNoKey(t *testing.T) {
	long := strings.Repeat("k", MaxKeyLen+1)
	for name, in := range map[string]string{
		"bare key over the bound":  long,
		"named key over the bound": "app:" + long,
		"NUL":                      "app:key\x00x",
		"non-ASCII":                "app:kéy",
		"control byte":             "key\x07",
	} {
		_, err := ParseKey(secret.Secret(in))
		if assert.Error(t, err, name) {
			assert.NotContains(t, err.Error(), "kéy", "errors never quote a key")
		}
	}
	k, err := ParseKey(secret.Secret("app:" + strings.Repeat("k", MaxKeyLen)))
	require.NoError(t, err, "a key of exactly the bound")
	assert.Len(t, k.Secret.Reveal(), MaxKeyLen)
}

// TestWatcherRefusesHostileFiles: whatever replaces a key file, the
// current keys stay, one warning says why, and the attempt costs memory
// bounded by MaxFileBytes, never by what the path leads to.
func TestWatcherRefusesHostileFiles(t *testing.T) {
	dir := t.TempDir()
	random := filepath.Join(dir, "random")
	f, err := os.Create(random)
	require.NoError(t, err)
	_, err = io.Copy(f, io.LimitReader(rand.Reader, 50<<20))
	require.NoError(t, err)
	require.NoError(t, f.Close())
	oneLine := filepath.Join(dir, "one-line")
	require.NoError(t, os.WriteFile(oneLine, append(bytes.Repeat([]byte("k"), 10<<20), '\n'), 0o600))
	longKey := filepath.Join(dir, "long-key")
	require.NoError(t, os.WriteFile(longKey, []byte("app:"+strings.Repeat("k", MaxKeyLen+1)+"\n"), 0o600))
	empty := filepath.Join(dir, "empty")
	require.NoError(t, os.WriteFile(empty, nil, 0o600))
	fifo := filepath.Join(dir, "fifo")
	require.NoError(t, syscall.Mkfifo(fifo, 0o600))

	for _, tt := range []struct {
		name, target, why string
	}{
		{"50 MB of random bytes", random, "larger than"},
		{"a symlink to /dev/zero", "/dev/zero", "a device"},
		{"a FIFO nobody writes to", fifo, "a named pipe"},
		{"an empty file", empty, "no key"},
		{"one 10 MB line", oneLine, "larger than"},
		{"a 513-byte key", longKey, "longer than 512 bytes"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "keys")
			require.NoError(t, os.WriteFile(path, []byte("app:current-key\n"), 0o600))
			var logs bytes.Buffer
			w, err := NewWatcher(path, "runtime", slog.New(slog.NewJSONHandler(&logs, nil)))
			require.NoError(t, err)
			require.NoError(t, os.Remove(path))
			require.NoError(t, os.Symlink(tt.target, path))

			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			w.reload(t.Context())
			w.reload(t.Context())
			runtime.ReadMemStats(&after)

			_, ok := w.Set.Lookup("current-key")
			assert.True(t, ok, "the current keys stay")
			assert.Equal(t, 1, w.Set.Len())
			t.Logf("allocated %d KiB refusing it twice", (after.TotalAlloc-before.TotalAlloc)>>10)
			assert.Less(t, after.TotalAlloc-before.TotalAlloc, uint64(4*MaxFileBytes), "allocated while refusing")
			assert.Equal(t, 1, strings.Count(logs.String(), "\n"), "one log line: %s", logs.String())
			assert.Contains(t, logs.String(), tt.why)
			assert.Contains(t, logs.String(), "keeping the current keys")
		})
	}
	_, _, err = LoadFile("/dev/zero")
	assert.ErrorContains(t, err, "a device", "the start refuses it too, without reading it")
}

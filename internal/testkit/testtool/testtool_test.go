package testtool

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// recorder is a testing.TB that records how Need ended the test.
type recorder struct {
	testing.TB
	skipped, failed string
}

type stopped struct{}

func (r *recorder) Helper()      {}
func (r *recorder) Name() string { return "TestSomething" }
func (r *recorder) Skipf(format string, args ...any) {
	r.skipped = strings.TrimSpace(fmt.Sprintf(format, args...))
	panic(stopped{})
}
func (r *recorder) Fatalf(format string, args ...any) {
	r.failed = fmt.Sprintf(format, args...)
	panic(stopped{})
}

func need(r *recorder, name string) (path string) {
	defer func() {
		if v := recover(); v != nil {
			if _, ok := v.(stopped); !ok {
				panic(v)
			}
		}
	}()
	return Need(r, name)
}

// A missing tool skips the test, naming the tool and its package, and the
// skip is logged for scripts/test's summary.
func TestMissingToolSkips(t *testing.T) {
	log := filepath.Join(t.TempDir(), "skips")
	t.Setenv(RequireEnv, "")
	t.Setenv(SkipLogEnv, log)
	t.Setenv("PATH", t.TempDir())
	r := &recorder{TB: t}
	assert.Empty(t, need(r, "no-such-tool-3f9c"))
	assert.Contains(t, r.skipped, "no-such-tool-3f9c is not installed")
	assert.Contains(t, r.skipped, "scripts/provision")
	assert.Empty(t, r.failed)
	b, err := os.ReadFile(log)
	require.NoError(t, err)
	assert.Equal(t, "./internal/testkit/testtool TestSomething (needs no-such-tool-3f9c)\n", string(b))
}

// Under CI (RequireEnv=required) a missing tool fails the test instead.
func TestMissingToolFailsWhenRequired(t *testing.T) {
	t.Setenv(RequireEnv, "required")
	t.Setenv(SkipLogEnv, "")
	r := &recorder{TB: t}
	need(r, "no-such-tool-3f9c")
	assert.Empty(t, r.skipped)
	assert.Contains(t, r.failed, "no-such-tool-3f9c is not installed")
}

// A tool on PATH is found there.
func TestToolOnPath(t *testing.T) {
	dir := t.TempDir()
	bin := filepath.Join(dir, "no-such-tool-3f9c")
	require.NoError(t, os.WriteFile(bin, []byte("#!/bin/sh\n"), 0o755))
	t.Setenv("PATH", dir)
	r := &recorder{TB: t}
	assert.Equal(t, bin, need(r, "no-such-tool-3f9c"))
	assert.Empty(t, r.skipped+r.failed)
}

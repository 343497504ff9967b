// Package testtool finds the programs from Debian's packages that some
// tests and the bench run beside Go, gcc and Node.js (redis-server,
// prometheus, promtool, nginx, caddy, wrk). Nothing here installs them:
// scripts/provision does, as root, before scripts/test runs the tests.
//
// A test whose tool is missing skips with a message naming the tool and its
// package, unless the environment says the tools are required
// (RequireEnv, set by scripts/test --require, which .ci/run uses): then it
// fails, so CI never skips silently. Each skip is also appended to the file
// SkipLogEnv names, so scripts/test can list exactly which tests a machine
// left out.
package testtool

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// Environment variables read by Need; scripts/test sets them.
const (
	// RequireEnv set to "required" turns a missing tool into a failure.
	RequireEnv = "NERGATEWAY_TEST_TOOLS"
	// SkipLogEnv names a file every skip for a missing tool is appended to.
	SkipLogEnv = "NERGATEWAY_TEST_SKIPS"
)

// debianPackage is the package that ships each tool.
var debianPackage = map[string]string{
	"redis-server": "redis-server",
	"prometheus":   "prometheus",
	"promtool":     "prometheus",
	"nginx":        "nginx",
	"caddy":        "caddy",
	"wrk":          "wrk",
}

// Find returns the path of the tool name: on PATH, or where Debian puts it
// (nginx is in /usr/sbin, which a user's PATH often lacks). Its error says
// what is missing and how to install it.
func Find(name string) (string, error) {
	if p, err := exec.LookPath(name); err == nil {
		return p, nil
	}
	for _, dir := range []string{"/usr/sbin", "/usr/bin"} {
		p := filepath.Join(dir, name)
		if fi, err := os.Stat(p); err == nil && fi.Mode().IsRegular() && fi.Mode().Perm()&0o111 != 0 {
			return p, nil
		}
	}
	pkg := debianPackage[name]
	if pkg == "" {
		pkg = name
	}
	return "", fmt.Errorf("%s is not installed (Debian package %s: run scripts/provision as root, "+
		"or apt-get install %s)", name, pkg, pkg)
}

// Required reports whether missing tools fail the tests instead of
// skipping them (CI).
func Required() bool { return os.Getenv(RequireEnv) == "required" }

// Need returns the path of the tool name. When it is missing, the test
// skips saying so, or fails when Required.
func Need(t testing.TB, name string) string {
	t.Helper()
	p, err := Find(name)
	if err == nil {
		return p
	}
	if Required() {
		t.Fatalf("%v; %s=required (CI): the tools must be there", err, RequireEnv)
	}
	if log := os.Getenv(SkipLogEnv); log != "" {
		if f, ferr := os.OpenFile(log, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600); ferr == nil {
			// One short write per line: O_APPEND keeps lines from parallel
			// test processes whole.
			_, _ = fmt.Fprintf(f, "%s %s (needs %s)\n", packageOf(), t.Name(), name)
			_ = f.Close()
		}
	}
	t.Skipf("skipped: %v", err)
	return ""
}

// packageOf is the directory the test binary runs in (go test runs each
// package's tests in its directory), relative to the module's root.
func packageOf() string {
	wd, err := os.Getwd()
	if err != nil {
		return "?"
	}
	dir := wd
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			rel, err := filepath.Rel(dir, wd)
			if err != nil || rel == "." {
				return "."
			}
			return "./" + filepath.ToSlash(rel)
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return wd
		}
		dir = parent
	}
}

// Package deps_test holds the import rules of docs/DESIGN.md's layout as
// tests, so a dependency that points up or sideways fails the build's
// tests instead of waiting for a reader to notice it.
package deps_test

import (
	"errors"
	"go/build"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const module = "nergateway"

// root is the module's directory (this package is internal/deps).
func root(t *testing.T) string {
	t.Helper()
	dir, err := filepath.Abs(filepath.Join("..", ".."))
	require.NoError(t, err)
	_, err = os.Stat(filepath.Join(dir, "go.mod"))
	require.NoError(t, err, "the module's go.mod is two levels up")
	return dir
}

// imports is what the non-test files of the module's package path import.
func imports(t *testing.T, dir, path string) []string {
	t.Helper()
	rel := strings.TrimPrefix(strings.TrimPrefix(path, module), "/")
	pkg, err := build.ImportDir(filepath.Join(dir, filepath.FromSlash(rel)), 0)
	require.NoError(t, err, path)
	return pkg.Imports
}

// moduleDeps is every package of the module that path needs, itself
// included, with what each imports.
func moduleDeps(t *testing.T, dir, path string) map[string][]string {
	t.Helper()
	seen := map[string][]string{}
	var walk func(string)
	walk = func(p string) {
		if _, ok := seen[p]; ok {
			return
		}
		seen[p] = imports(t, dir, p)
		for _, imp := range seen[p] {
			if inModule(imp) {
				walk(imp)
			}
		}
	}
	walk(path)
	return seen
}

func inModule(path string) bool { return path == module || strings.HasPrefix(path, module+"/") }

// eachPackage calls fn with every Go package under the module directory's
// subdirectory sub ("" for the whole module), its slash-separated path
// relative to the module and what its non-test files import. Hidden
// directories, testdata and node_modules are no packages.
func eachPackage(t *testing.T, dir, sub string, fn func(rel string, pkg *build.Package)) {
	t.Helper()
	err := filepath.WalkDir(filepath.Join(dir, sub), func(p string, d fs.DirEntry, err error) error {
		if err != nil || !d.IsDir() {
			return err
		}
		if name := d.Name(); p != dir && (strings.HasPrefix(name, ".") || name == "testdata" || name == "node_modules") {
			return filepath.SkipDir
		}
		pkg, err := build.ImportDir(p, 0)
		var noGo *build.NoGoError
		if errors.As(err, &noGo) {
			return nil
		}
		require.NoError(t, err, p)
		rel, err := filepath.Rel(dir, p)
		require.NoError(t, err)
		fn(filepath.ToSlash(rel), pkg)
		return nil
	})
	require.NoError(t, err)
}

// api is the wire format, the leaf every other part builds on: it needs
// nothing of the gateway but leaf helpers that import nothing of the
// module themselves.
func TestAPIImportsOnlyLeafHelpers(t *testing.T) {
	dir := root(t)
	leaves := []string{"nergateway/internal/scrub", "nergateway/internal/secret", "nergateway/internal/sleep", "nergateway/internal/transport"}
	for p, imps := range moduleDeps(t, dir, "nergateway/api") {
		if p == "nergateway/api" {
			continue
		}
		assert.Contains(t, leaves, p, "api needs %s, which is not a leaf helper", p)
		for _, imp := range imps {
			assert.False(t, inModule(imp), "%s, which api needs, imports %s: it is no leaf", p, imp)
		}
	}
}

// The configuration checks job rescue's settings without the store, so
// check-config and every importer of config do not link go-redis.
func TestConfigDoesNotLinkTheRescueStore(t *testing.T) {
	dir := root(t)
	deps := moduleDeps(t, dir, "nergateway/internal/config")
	require.Contains(t, deps, "nergateway/internal/config")
	for p, imps := range deps {
		assert.NotEqual(t, "nergateway/rescue", p, "config needs the rescue store")
		for _, imp := range imps {
			assert.False(t, strings.HasPrefix(imp, "github.com/redis/"), "%s, which config needs, imports %s", p, imp)
		}
	}
}

// Nothing under internal/ depends on the proxy: what middleware reads of a
// request's outcome lives in internal/reqrecord, below both.
func TestNoInternalPackageImportsTheProxy(t *testing.T) {
	dir := root(t)
	var checked int
	eachPackage(t, dir, "internal", func(rel string, pkg *build.Package) {
		checked++
		assert.False(t, slices.Contains(pkg.Imports, "nergateway/proxy"), "%s imports nergateway/proxy", rel)
	})
	assert.Greater(t, checked, 10, "the walk found the internal packages")
}

// Test kits (programs and fixtures only tests need: Azurite, redis-server,
// promtool, Azure's recordings) live under internal/testkit, and only they
// import "testing" outside test files: product code links no kit. The
// bench, a harness itself, may use them.
func TestOnlyTestKitsImportTesting(t *testing.T) {
	dir := root(t)
	var kits int
	eachPackage(t, dir, "", func(rel string, pkg *build.Package) {
		if strings.HasPrefix(rel, "internal/testkit/") {
			kits++
			return
		}
		assert.False(t, slices.Contains(pkg.Imports, "testing"), "%s imports testing outside its tests: a test kit belongs under internal/testkit", rel)
		if rel == "bench" || strings.HasPrefix(rel, "bench/") {
			return
		}
		for _, imp := range pkg.Imports {
			assert.False(t, strings.HasPrefix(imp, module+"/internal/testkit/"), "%s links the test kit %s", rel, imp)
		}
	})
	assert.GreaterOrEqual(t, kits, 5, "the walk found the test kits")
}

// The wiring (package gateway) is the top of the import graph: it builds
// every part, so only commands import it, and nothing it builds can reach
// back into it.
func TestOnlyCommandsImportTheWiring(t *testing.T) {
	dir := root(t)
	var importers []string
	eachPackage(t, dir, "", func(rel string, pkg *build.Package) {
		if slices.Contains(pkg.Imports, module+"/gateway") {
			importers = append(importers, rel)
		}
	})
	assert.Equal(t, []string{"cmd/demo", "cmd/gateway"}, importers)
}

// layers is docs/DESIGN.md's "Architecture" as data: every package of the
// module (tests, test kits and the bench aside) on the layer it belongs to.
// A package imports only packages on lower layers, so the imports point
// down; a new package has to be placed here, and in the docs, before its
// first test passes.
var layers = map[string]int{
	// Leaves: helpers that import nothing of the module.
	"internal/secret": 0, "internal/scrub": 0, "internal/sleep": 0, "internal/transport": 0,
	"internal/statuswriter": 0, "internal/blobemu": 0, "cmd/internal/cli": 0,
	// The wire format, and the rescue seal's key format.
	"api": 1, "internal/sealkey": 1,
	// One concern each, over the wire format.
	"internal/region": 2, "internal/route": 2, "internal/auth": 2, "internal/inflight": 2,
	"internal/telemetry": 2, "rescue": 2, "replication/docsync": 2, "emulator": 2,
	// Built on those.
	"internal/reqrecord": 3, "internal/config": 3, "internal/entra": 3, "health": 3, "replication": 3,
	// What a client request runs through.
	"proxy": 4, "internal/accesslog": 4,
	// The wiring.
	"gateway": 5,
	// The commands.
	"cmd/gateway": 6, "cmd/demo": 6, "cmd/emulator": 6,
}

// outsideLayers are the packages only tests and the bench run.
func outsideLayers(rel string) bool {
	return rel == "bench" || strings.HasPrefix(rel, "bench/") || strings.HasPrefix(rel, "internal/testkit/") ||
		rel == "internal/deps" || rel == "deployments"
}

func TestImportsPointDown(t *testing.T) {
	dir := root(t)
	seen := map[string]bool{}
	eachPackage(t, dir, "", func(rel string, pkg *build.Package) {
		if outsideLayers(rel) {
			return
		}
		layer, ok := layers[rel]
		if !assert.True(t, ok, "%s is on no layer: place it in layers and in docs/DESIGN.md's Architecture", rel) {
			return
		}
		seen[rel] = true
		for _, imp := range pkg.Imports {
			if !inModule(imp) {
				continue
			}
			dep := strings.TrimPrefix(imp, module+"/")
			depLayer, ok := layers[dep]
			assert.True(t, ok && depLayer < layer, "%s (layer %d) imports %s (layer %d): imports point down", rel, layer, dep, depLayer)
		}
	})
	for p := range layers {
		assert.True(t, seen[p], "layers names %s, which is no package", p)
	}
}

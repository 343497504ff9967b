package main

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestVersionAndHelp(t *testing.T) {
	for _, args := range [][]string{{"version"}, {"-version"}} {
		var out strings.Builder
		require.NoError(t, run(t.Context(), args, func(string) string { return "" }, &out, &strings.Builder{}), args)
		assert.Regexp(t, `^nergateway dev .*go1\.\d+`, out.String(), args)
	}
	for _, args := range [][]string{{"-h"}, {"--help"}, {"help"}, {"replicate", "-h"}, {"check-config", "-h"}} {
		var out, errOut strings.Builder
		require.NoError(t, run(t.Context(), args, func(string) string { return "" }, &out, &errOut), "%v exits 0", args)
		assert.Contains(t, out.String(), "usage:", args)
		assert.Empty(t, errOut.String(), args)
	}
	var out, errOut strings.Builder
	err := run(t.Context(), []string{"-no-such-flag"}, func(string) string { return "" }, &out, &errOut)
	require.Error(t, err)
	assert.Contains(t, errOut.String(), "usage:", "a bad flag prints the usage to stderr")
}

// dispatchEnv is a configuration config.Load accepts; nothing is called
// at its endpoints by the tests that use it.
func dispatchEnv() map[string]string {
	return map[string]string{
		"GATEWAY_API_KEYS":       "gw-key-dispatch-1a2b",
		"PRIMARY_ENDPOINT":       "http://127.0.0.1:1",
		"PRIMARY_RESOURCE_KEY":   "primary-key-dispatch-3c4d",
		"SECONDARY_ENDPOINT":     "http://127.0.0.1:2",
		"SECONDARY_RESOURCE_KEY": "secondary-key-dispatch-5e6f",
		"PROJECT_NAMES":          "contracts",
	}
}

// TestCheckConfigThroughRun checks the dispatch: run's check-config reads
// the process environment's names.
func TestCheckConfigThroughRun(t *testing.T) {
	t.Setenv("GATEWAY_NO_SUCH_SETTING", "1")
	env := dispatchEnv()
	var out strings.Builder
	err := run(t.Context(), []string{"check-config"}, func(k string) string { return env[k] }, &out, &strings.Builder{})
	require.Error(t, err)
	assert.Contains(t, out.String(), "GATEWAY_NO_SUCH_SETTING: not a variable the gateway reads")
}

func TestReplicateNeedsOnce(t *testing.T) {
	env := dispatchEnv()
	err := run(t.Context(), []string{"replicate"}, func(k string) string { return env[k] }, &strings.Builder{}, &strings.Builder{})
	require.Error(t, err, "--once is required")
	assert.Contains(t, err.Error(), "only --once is supported")
}

// A misspelt required variable: the error says which name was meant.
func TestReplicateOnceNamesTheMisspeltRequiredVariable(t *testing.T) {
	const typoValue = "typo-value-5a5a"
	t.Setenv("PRIMARY_ENDPOINTS", typoValue)
	env := dispatchEnv()
	delete(env, "PRIMARY_ENDPOINT")
	err := run(t.Context(), []string{"replicate", "--once"}, func(k string) string { return env[k] }, &strings.Builder{}, &strings.Builder{})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "PRIMARY_ENDPOINT: required but not set")
	assert.Contains(t, err.Error(), "PRIMARY_ENDPOINTS: not a variable the gateway reads (did you mean PRIMARY_ENDPOINT?)")
	assert.NotContains(t, err.Error(), typoValue)
}

package config

import (
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/caarlos0/env/v11"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// variableName is a backticked name in a table's first cell: `GATEWAY_ADDR`,
// or a namespace such as `OTEL_*`.
var variableName = regexp.MustCompile("`([A-Z][A-Z0-9_]*)(\\*?)`")

// documentedVariables returns the names in the first column of every
// Markdown table of doc whose first header cell is "variable", each with
// its row's default cell.
func documentedVariables(t *testing.T, doc string) map[string]string {
	t.Helper()
	text, err := os.ReadFile(doc)
	require.NoError(t, err)
	names := map[string]string{}
	inTable := false
	for _, line := range strings.Split(string(text), "\n") {
		cells := strings.Split(line, "|")
		if !strings.HasPrefix(line, "|") || len(cells) < 3 {
			inTable = false
			continue
		}
		first := strings.TrimSpace(cells[1])
		if first == "variable" {
			inTable = true
			continue
		}
		if !inTable || strings.HasPrefix(first, "---") {
			continue
		}
		for _, m := range variableName.FindAllStringSubmatch(first, -1) {
			names[m[1]+m[2]] = strings.TrimSpace(cells[2])
		}
	}
	require.NotEmpty(t, names, "%s has no table headed \"variable\"", doc)
	return names
}

// The variable tables of the README (users) and of docs/DESIGN.md (the
// contract) name every variable the configuration reads, with its default,
// and nothing the gateway does not read, so neither can drift from the code.
func TestVariableTablesMatchTheVariablesRead(t *testing.T) {
	params, err := env.GetFieldParams(&environment{})
	require.NoError(t, err)
	for _, doc := range []string{"../../README.md", "../../docs/DESIGN.md"} {
		t.Run(doc, func(t *testing.T) {
			documented := documentedVariables(t, doc)
			for _, p := range params {
				cell, ok := documented[p.Key]
				if !assert.True(t, ok, "%s: the variable table lacks %s, which the gateway reads", doc, p.Key) || !p.HasDefaultValue {
					continue
				}
				assert.Contains(t, cell, "`"+p.DefaultValue+"`", "%s: %s's default is %s", doc, p.Key, p.DefaultValue)
			}
			for name := range documented {
				_, known := Lookup(strings.TrimSuffix(name, "*"))
				assert.True(t, known, "%s: the variable table names %s, which the gateway does not read", doc, name)
			}
		})
	}
}

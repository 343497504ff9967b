package emulator

import (
	"fmt"
	"strings"
	"unicode/utf16"

	"nergateway/api"
)

// MustLabel marks the first occurrence of sub in text as category, in
// UTF-16 code units as Azure's labels are, for seeds written in code (the
// demo's, the tests'). Like regexp.MustCompile it panics when sub is not in
// text: a typo in the seed.
func MustLabel(text, sub, category string) api.Label {
	i := strings.Index(text, sub)
	if i < 0 {
		panic(fmt.Sprintf("emulator: label %q not in %q", sub, text))
	}
	return api.Label{Category: category, Offset: len(utf16.Encode([]rune(text[:i]))), Length: len(utf16.Encode([]rune(sub)))}
}

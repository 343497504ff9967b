package proxy

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"math/bits"
)

// A targeted JSON rewriter: it finds the string values at a few member paths
// (tasks[].parameters.projectName, ...) and replaces only those bytes.
// Everything else — member order, whitespace, number spelling, members no
// Go type declares — reaches the other side byte for byte, which a decode
// and re-encode through Go types cannot promise.

// jsonPath is a member path; "[]" matches any array element. Member names
// match ASCII case-insensitively, as encoding/json and Azure's .NET
// deserializer do for these names.
type jsonPath []string

// maxJSONDepth stops pathological nesting from exhausting the stack.
const maxJSONDepth = 512

var errBadJSON = errors.New("proxy: malformed JSON")

// jsonEdit replaces src[start:end] with repl.
type jsonEdit struct {
	start, end int
	repl       []byte
}

// rewriteJSONStrings returns src with the string values at paths replaced
// by what replace returns for them. replace gets the index in paths of the
// matched path and the value's unescaped text, and returns the new value
// JSON-encoded, or ok=false to keep it. changed is false, and out is src,
// when nothing was replaced. An error means src is not JSON; callers then
// pass src on unchanged and let the far side answer it.
func rewriteJSONStrings(src []byte, paths []jsonPath, replace func(path int, value []byte) (repl []byte, ok bool)) (out []byte, changed bool, err error) {
	s := jsonScanner{src: src, paths: paths, replace: replace}
	if err := s.value(0); err != nil {
		return src, false, err
	}
	s.ws()
	if s.i != len(src) {
		return src, false, errBadJSON
	}
	if len(s.edits) == 0 {
		return src, false, nil
	}
	n := len(src)
	for _, e := range s.edits {
		n += len(e.repl) - (e.end - e.start)
	}
	out = make([]byte, 0, n)
	prev := 0
	for _, e := range s.edits {
		out = append(out, src[prev:e.start]...)
		out = append(out, e.repl...)
		prev = e.end
	}
	out = append(out, src[prev:]...)
	return out, true, nil
}

type jsonScanner struct {
	src     []byte
	i       int
	path    [][]byte // member names (raw, as in src); nil for an array element
	paths   []jsonPath
	replace func(int, []byte) ([]byte, bool)
	edits   []jsonEdit
}

func (s *jsonScanner) ws() {
	for s.i < len(s.src) {
		switch s.src[s.i] {
		case ' ', '\t', '\n', '\r':
			s.i++
		default:
			return
		}
	}
}

func (s *jsonScanner) value(depth int) error {
	if depth > maxJSONDepth {
		return errBadJSON
	}
	s.ws()
	if s.i >= len(s.src) {
		return errBadJSON
	}
	switch c := s.src[s.i]; {
	case c == '{':
		return s.object(depth)
	case c == '[':
		return s.array(depth)
	case c == '"':
		start := s.i
		raw, escaped, err := s.str()
		if err != nil {
			return err
		}
		if p := s.matches(); p >= 0 {
			s.edit(p, start, raw, escaped)
		}
		return nil
	case c == '-' || ('0' <= c && c <= '9'):
		return s.number()
	case c == 't':
		return s.literal("true")
	case c == 'f':
		return s.literal("false")
	case c == 'n':
		return s.literal("null")
	}
	return errBadJSON
}

func (s *jsonScanner) edit(path, start int, raw []byte, escaped bool) {
	val := raw
	if escaped {
		var str string
		if json.Unmarshal(s.src[start:s.i], &str) != nil {
			return
		}
		val = []byte(str)
	}
	if repl, ok := s.replace(path, val); ok {
		s.edits = append(s.edits, jsonEdit{start: start, end: s.i, repl: repl})
	}
}

func (s *jsonScanner) object(depth int) error {
	s.i++ // {
	s.ws()
	if s.i < len(s.src) && s.src[s.i] == '}' {
		s.i++
		return nil
	}
	for {
		s.ws()
		if s.i >= len(s.src) || s.src[s.i] != '"' {
			return errBadJSON
		}
		start := s.i
		key, escaped, err := s.str()
		if err != nil {
			return err
		}
		if escaped {
			var str string
			if json.Unmarshal(s.src[start:s.i], &str) != nil {
				return errBadJSON
			}
			key = []byte(str)
		}
		s.ws()
		if s.i >= len(s.src) || s.src[s.i] != ':' {
			return errBadJSON
		}
		s.i++
		s.path = append(s.path, key)
		err = s.value(depth + 1)
		s.path = s.path[:len(s.path)-1]
		if err != nil {
			return err
		}
		if end, err := s.after('}'); end || err != nil {
			return err
		}
	}
}

func (s *jsonScanner) array(depth int) error {
	s.i++ // [
	s.ws()
	if s.i < len(s.src) && s.src[s.i] == ']' {
		s.i++
		return nil
	}
	s.path = append(s.path, nil) // an array element has no member name
	defer func() { s.path = s.path[:len(s.path)-1] }()
	for {
		if err := s.value(depth + 1); err != nil {
			return err
		}
		if end, err := s.after(']'); end || err != nil {
			return err
		}
	}
}

// after reads what follows a member of an object or an element of an
// array: a comma (end=false: another follows) or closer, its '}' or ']'
// (end=true).
func (s *jsonScanner) after(closer byte) (end bool, err error) {
	s.ws()
	if s.i >= len(s.src) {
		return false, errBadJSON
	}
	switch s.src[s.i] {
	case ',':
		s.i++
		return false, nil
	case closer:
		s.i++
		return true, nil
	}
	return false, errBadJSON
}

// str consumes a string at s.i and returns its raw content (between the
// quotes) and whether it holds escapes.
func (s *jsonScanner) str() (raw []byte, escaped bool, err error) {
	s.i++ // opening quote
	start := s.i
	for s.i < len(s.src) {
		s.i = plainRun(s.src, s.i)
		if s.i == len(s.src) {
			break
		}
		c := s.src[s.i]
		switch {
		case c == '"':
			raw = s.src[start:s.i]
			s.i++
			return raw, escaped, nil
		case c == '\\':
			escaped = true
			if s.i+1 >= len(s.src) {
				return nil, false, errBadJSON
			}
			switch s.src[s.i+1] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				s.i += 2
			case 'u':
				if s.i+6 > len(s.src) {
					return nil, false, errBadJSON
				}
				for _, h := range s.src[s.i+2 : s.i+6] {
					if !isHex(h) {
						return nil, false, errBadJSON
					}
				}
				s.i += 6
			default:
				return nil, false, errBadJSON
			}
		case c < 0x20:
			return nil, false, errBadJSON
		default:
			s.i++
		}
	}
	return nil, false, errBadJSON
}

// plainRun returns the end of the run of plain bytes (plainByte) of src
// from i: most of a string, read eight bytes a test, the last few one a
// test.
func plainRun(src []byte, i int) int {
	const ones, highs = 0x0101010101010101, 0x8080808080808080
	for ; i+8 <= len(src); i += 8 {
		v := binary.LittleEndian.Uint64(src[i:])
		quote, backslash := v^(ones*'"'), v^(ones*'\\')
		// A lane's high bit is set when its byte is below 0x20, or 0 after
		// the xor (a quote, a backslash); no lane below the first such byte
		// has it set, so the lowest set bit is that byte.
		if m := ((v-ones*0x20)&^v | (quote-ones)&^quote | (backslash-ones)&^backslash) & highs; m != 0 {
			return i + bits.TrailingZeros64(m)/8
		}
	}
	for i < len(src) && plainByte[src[i]] {
		i++
	}
	return i
}

// plainByte marks the bytes a JSON string holds as they are: not its
// closing quote, not an escape, not a control character.
var plainByte = func() (t [256]bool) {
	for c := 0x20; c < 256; c++ {
		t[c] = c != '"' && c != '\\'
	}
	return t
}()

func isHex(c byte) bool {
	return ('0' <= c && c <= '9') || ('a' <= c && c <= 'f') || ('A' <= c && c <= 'F')
}

func (s *jsonScanner) number() error {
	start := s.i
	if s.src[s.i] == '-' {
		s.i++
	}
	digits := func() int {
		n := 0
		for s.i < len(s.src) && '0' <= s.src[s.i] && s.src[s.i] <= '9' {
			s.i++
			n++
		}
		return n
	}
	if s.i < len(s.src) && s.src[s.i] == '0' {
		s.i++
	} else if digits() == 0 {
		return errBadJSON
	}
	if s.i < len(s.src) && s.src[s.i] == '.' {
		s.i++
		if digits() == 0 {
			return errBadJSON
		}
	}
	if s.i < len(s.src) && (s.src[s.i] == 'e' || s.src[s.i] == 'E') {
		s.i++
		if s.i < len(s.src) && (s.src[s.i] == '+' || s.src[s.i] == '-') {
			s.i++
		}
		if digits() == 0 {
			return errBadJSON
		}
	}
	if s.i == start {
		return errBadJSON
	}
	return nil
}

func (s *jsonScanner) literal(lit string) error {
	if !bytes.HasPrefix(s.src[s.i:], []byte(lit)) {
		return errBadJSON
	}
	s.i += len(lit)
	return nil
}

// matches returns the index in s.paths of the current path, or -1.
func (s *jsonScanner) matches() int {
next:
	for n, p := range s.paths {
		if len(p) != len(s.path) {
			continue
		}
		for i, want := range p {
			got := s.path[i]
			if want == "[]" {
				if got != nil {
					continue next
				}
				continue
			}
			if got == nil || !asciiEqualFold(got, want) {
				continue next
			}
		}
		return n
	}
	return -1
}

// asciiEqualFold compares b and s ignoring ASCII case, without allocating.
func asciiEqualFold(b []byte, s string) bool {
	if len(b) != len(s) {
		return false
	}
	for i := 0; i < len(b); i++ {
		x, y := b[i], s[i]
		if 'A' <= x && x <= 'Z' {
			x += 'a' - 'A'
		}
		if 'A' <= y && y <= 'Z' {
			y += 'a' - 'A'
		}
		if x != y {
			return false
		}
	}
	return true
}

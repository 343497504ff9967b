package emulator

import (
	"errors"
	"fmt"
	"sort"
	"strings"
	"unicode"
	"unicode/utf16"
	"unicode/utf8"

	"nergateway/api"
)

// confidenceScore is what every entity a trained model finds is reported
// with: a dictionary match is certain, and a fixed score keeps the answers
// of two regions byte-for-byte comparable.
const confidenceScore = 1.0

// dictionary is a "trained model": every labelled span of the training
// documents, by exact text, with the category it was labelled most often.
// It is immutable once built, so jobs may hold it without the lock.
type dictionary struct {
	byFirstRune map[rune][]dictEntry // longest first
	size        int
}

type dictEntry struct{ text, category string }

// spanCounts collects labelled spans while a model trains: text -> category
// -> how often.
type spanCounts map[string]map[string]int

func (s spanCounts) add(text, category string) {
	if s[text] == nil {
		s[text] = map[string]int{}
	}
	s[text][category]++
}

// build picks, for each text, its most frequent category (ties: the
// alphabetically first, so every region that trains on the same labels
// builds the same model).
func (s spanCounts) build() *dictionary {
	d := &dictionary{byFirstRune: map[rune][]dictEntry{}}
	for text, cats := range s {
		best, bestN := "", -1
		for c, n := range cats {
			if n > bestN || (n == bestN && c < best) {
				best, bestN = c, n
			}
		}
		r, _ := utf8.DecodeRuneInString(text)
		d.byFirstRune[r] = append(d.byFirstRune[r], dictEntry{text: text, category: best})
		d.size++
	}
	for _, es := range d.byFirstRune {
		sort.Slice(es, func(i, j int) bool {
			if len(es[i].text) != len(es[j].text) {
				return len(es[i].text) > len(es[j].text)
			}
			return es[i].text < es[j].text
		})
	}
	return d
}

// errLabelOutOfRange is why training fails on a label that does not fit its
// document.
var errLabelOutOfRange = errors.New("label outside the document")

// labelText returns the text a label covers; offset and length are in UTF-16
// code units, as in Azure's exported projects.
func labelText(doc string, offset, length int) (string, error) {
	start, ok1 := utf16ToByte(doc, offset)
	end, ok2 := utf16ToByte(doc, offset+length)
	if !ok1 || !ok2 || length <= 0 || end <= start {
		return "", fmt.Errorf("offset %d length %d: %w", offset, length, errLabelOutOfRange)
	}
	return doc[start:end], nil
}

// utf16ToByte converts a UTF-16 offset into a byte offset of s; false when
// the offset is past the end or splits a surrogate pair.
func utf16ToByte(s string, u16 int) (int, bool) {
	if u16 < 0 {
		return 0, false
	}
	n := 0
	for i, r := range s {
		if n == u16 {
			return i, true
		}
		if n > u16 {
			return 0, false
		}
		n += utf16.RuneLen(r) // a valid string never holds a rune without one
	}
	if n == u16 {
		return len(s), true
	}
	return 0, false
}

// find returns every dictionary span in text, leftmost-longest without
// overlaps, matching only on word boundaries (a label "Köln" does not match
// inside "Kölner"), with offsets and lengths in the given string index type.
func (d *dictionary) find(text, indexType string) []api.Entity {
	ents := []api.Entity{}
	if d == nil || d.size == 0 {
		return ents
	}
	idx := newIndexer(text, indexType)
	prev := rune(-1)
	for i := 0; i < len(text); {
		r, size := utf8.DecodeRuneInString(text[i:])
		matched := false
		for _, e := range d.byFirstRune[r] {
			if !strings.HasPrefix(text[i:], e.text) || !boundaryBefore(prev, e.text) || !boundaryAfter(text[i+len(e.text):], e.text) {
				continue
			}
			start, end := idx.at(i), idx.at(i+len(e.text))
			ents = append(ents, api.Entity{
				Text: e.text, Category: e.category,
				Offset: start, Length: end - start,
				ConfidenceScore: confidenceScore,
			})
			last, _ := utf8.DecodeLastRuneInString(e.text)
			prev = last
			i += len(e.text)
			matched = true
			break
		}
		if !matched {
			prev = r
			i += size
		}
	}
	return ents
}

func isWordRune(r rune) bool {
	return unicode.IsLetter(r) || unicode.IsDigit(r) || unicode.IsMark(r)
}

func boundaryBefore(prev rune, match string) bool {
	first, _ := utf8.DecodeRuneInString(match)
	return prev < 0 || !isWordRune(prev) || !isWordRune(first)
}

func boundaryAfter(rest, match string) bool {
	if rest == "" {
		return true
	}
	next, _ := utf8.DecodeRuneInString(rest)
	last, _ := utf8.DecodeLastRuneInString(match)
	return !isWordRune(next) || !isWordRune(last)
}

// validIndexType reports whether t is a stringIndexType Azure accepts.
func validIndexType(t string) bool {
	switch t {
	case api.StringIndexTextElements, api.StringIndexCodePoint, api.StringIndexUTF16:
		return true
	}
	return false
}

// indexer converts byte offsets of one text into offsets in a string index
// type. It walks the text once and answers increasing offsets.
type indexer struct {
	text      string
	indexType string
	pos       int // byte position reached
	units     int // units before pos
	prev      rune
	riRun     int // regional indicators in a row before pos
}

func newIndexer(text, indexType string) *indexer {
	return &indexer{text: text, indexType: indexType, prev: -1}
}

// at returns the offset, in units, of byte position b (b must not decrease
// between calls).
func (x *indexer) at(b int) int {
	for x.pos < b {
		r, size := utf8.DecodeRuneInString(x.text[x.pos:])
		switch x.indexType {
		case api.StringIndexUTF16:
			if n := utf16.RuneLen(r); n > 0 {
				x.units += n
			} else {
				x.units++
			}
		case api.StringIndexCodePoint:
			x.units++
		default: // TextElements_v8
			if !extendsCluster(x.prev, r, x.riRun) {
				x.units++
			}
			if isRegionalIndicator(r) {
				x.riRun++
			} else {
				x.riRun = 0
			}
		}
		x.prev = r
		x.pos += size
	}
	return x.units
}

// extendsCluster approximates Unicode grapheme cluster rules (UAX #29) for
// TextElements_v8: a code point joins the previous cluster when it is a
// combining mark, a zero-width joiner or what follows one, a variation
// selector, an emoji skin-tone modifier or tag, the LF of a CR LF, or the
// second regional indicator of a flag. Hangul syllable sequences, prepend
// characters and other rare rules are not modelled.
func extendsCluster(prev, r rune, riRun int) bool {
	if prev < 0 {
		return false
	}
	switch {
	case unicode.Is(unicode.Mn, r), unicode.Is(unicode.Me, r), unicode.Is(unicode.Mc, r):
		return true
	case r == '\u200d', prev == '\u200d':
		return true
	case r >= 0xFE00 && r <= 0xFE0F, r >= 0xE0020 && r <= 0xE007F:
		return true
	case r >= 0x1F3FB && r <= 0x1F3FF:
		return true
	case prev == '\r' && r == '\n':
		return true
	case isRegionalIndicator(r) && isRegionalIndicator(prev) && riRun%2 == 1:
		return true
	}
	return false
}

func isRegionalIndicator(r rune) bool { return r >= 0x1F1E6 && r <= 0x1F1FF }

// textLength is the length of text in units of indexType.
func textLength(text, indexType string) int {
	return newIndexer(text, indexType).at(len(text))
}

package emulator

import (
	"testing"
	"unicode/utf16"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"nergateway/api"
)

func TestOffsetsInEveryIndexType(t *testing.T) {
	rg := newRegion(t, Options{})
	require.NoError(t, rg.Seed(demoProject()))
	// "e\u0301" is e + combining acute: two code points, one text element.
	text := "Müller met 😀 Zoë in Köln; 🇫🇷 Paris, e\u0301 Anna."
	for _, tc := range []struct {
		indexType string
		want      []api.Entity
	}{
		{api.StringIndexUTF16, []api.Entity{
			{Text: "Müller", Category: "Person", Offset: 0, Length: 6},
			{Text: "Zoë", Category: "Person", Offset: 14, Length: 3},
			{Text: "Köln", Category: "City", Offset: 21, Length: 4},
			{Text: "Paris", Category: "City", Offset: 32, Length: 5},
			{Text: "Anna", Category: "Person", Offset: 42, Length: 4},
		}},
		{api.StringIndexCodePoint, []api.Entity{
			{Text: "Müller", Category: "Person", Offset: 0, Length: 6},
			{Text: "Zoë", Category: "Person", Offset: 13, Length: 3},
			{Text: "Köln", Category: "City", Offset: 20, Length: 4},
			{Text: "Paris", Category: "City", Offset: 29, Length: 5},
			{Text: "Anna", Category: "Person", Offset: 39, Length: 4},
		}},
		{api.StringIndexTextElements, []api.Entity{
			{Text: "Müller", Category: "Person", Offset: 0, Length: 6},
			{Text: "Zoë", Category: "Person", Offset: 13, Length: 3},
			{Text: "Köln", Category: "City", Offset: 20, Length: 4},
			{Text: "Paris", Category: "City", Offset: 28, Length: 5},
			{Text: "Anna", Category: "Person", Offset: 37, Length: 4},
		}},
	} {
		t.Run(tc.indexType, func(t *testing.T) {
			st := rg.job(rg.submit(submitBody("demo", "production", tc.indexType, text)))
			require.Equal(t, api.StatusSucceeded, st.Status)
			for i := range tc.want {
				tc.want[i].ConfidenceScore = 1
			}
			assert.Equal(t, tc.want, customResults(t, st).Documents[0].Entities)
		})
	}
	// TextElements_v8 is the default.
	st := rg.job(rg.submit(submitBody("demo", "production", "", text)))
	assert.Equal(t, 28, customResults(t, st).Documents[0].Entities[3].Offset)
}

func TestDictionaryMatching(t *testing.T) {
	s := spanCounts{}
	s.add("New York", "City")
	s.add("New York City", "City")
	s.add("York", "Person")
	s.add("Ann", "Person")
	s.add("Ann", "Person")
	s.add("Ann", "City")
	s.add("C++", "Skill")
	d := s.build()
	got := func(text string) []string {
		var out []string
		for _, e := range d.find(text, api.StringIndexCodePoint) {
			out = append(out, e.Text+"/"+e.Category)
		}
		return out
	}
	assert.Equal(t, []string{"New York City/City", "York/Person"}, got("New York City and York"), "leftmost-longest, no overlaps")
	assert.Equal(t, []string{"Ann/Person", "Ann/Person"}, got("Ann met Ann"), "every occurrence, the most frequent category")
	assert.Empty(t, got("Anna and Yorkshire"), "words are not matched inside words")
	assert.Equal(t, []string{"C++/Skill"}, got("C++, not C"))
	assert.Equal(t, []api.Entity{}, (*dictionary)(nil).find("x", api.StringIndexUTF16))
}

func TestLabelText(t *testing.T) {
	doc := "😀 Zoë"
	s, err := labelText(doc, 3, 3)
	require.NoError(t, err)
	assert.Equal(t, "Zoë", s)
	for _, bad := range [][2]int{{1, 2}, {3, 4}, {-1, 1}, {0, 0}} {
		_, err := labelText(doc, bad[0], bad[1])
		assert.ErrorIs(t, err, errLabelOutOfRange, "%v", bad)
	}
}

func TestTextLength(t *testing.T) {
	for _, tc := range []struct {
		text                    string
		utf16, points, elements int
	}{
		{"abc", 3, 3, 3},
		{"😀", 2, 1, 1},
		{"e\u0301", 2, 2, 1},
		{"🇫🇷🇩🇪", 8, 4, 2},
		{"👩\u200d💻", 5, 3, 1},
		{"👍🏽", 4, 2, 1},
		{"a\r\nb", 4, 4, 3},
	} {
		assert.Equal(t, tc.utf16, textLength(tc.text, api.StringIndexUTF16), tc.text)
		assert.Equal(t, tc.points, textLength(tc.text, api.StringIndexCodePoint), tc.text)
		assert.Equal(t, tc.elements, textLength(tc.text, api.StringIndexTextElements), tc.text)
	}
}

// FuzzFindOffsets checks that every entity found, read back from the text
// at its UTF-16 and code point offsets, is the entity's text, and that
// offsets in every index type grow with the text.
func FuzzFindOffsets(f *testing.F) {
	for _, s := range []string{"Müller met 😀 Zoë in Köln", "🇫🇷Paris🇫🇷 Paris", "e\u0301Anna Anna\u0301", "a\r\nAnna\r\n", "\xff Anna \xfe"} {
		f.Add(s)
	}
	spans := spanCounts{}
	for _, w := range []string{"Anna", "Paris", "Köln", "Zoë", "😀", "Zoë in Köln"} {
		spans.add(w, "C")
	}
	d := spans.build()
	f.Fuzz(func(t *testing.T, text string) {
		u16 := utf16.Encode([]rune(text))
		runes := []rune(text)
		byU16 := d.find(text, api.StringIndexUTF16)
		byCP := d.find(text, api.StringIndexCodePoint)
		byTE := d.find(text, api.StringIndexTextElements)
		require.Len(t, byCP, len(byU16))
		require.Len(t, byTE, len(byU16))
		prev := [3]int{-1, -1, -1}
		for i, e := range byU16 {
			require.LessOrEqual(t, e.Offset+e.Length, len(u16))
			assert.Equal(t, string(utf16.Decode(u16[e.Offset:e.Offset+e.Length])), string([]rune(e.Text)))
			c := byCP[i]
			assert.Equal(t, string([]rune(e.Text)), string(runes[c.Offset:c.Offset+c.Length]))
			for k, off := range []int{e.Offset, c.Offset, byTE[i].Offset} {
				assert.Greater(t, off, prev[k])
				prev[k] = off
			}
			assert.LessOrEqual(t, byTE[i].Length, c.Length)
		}
	})
}

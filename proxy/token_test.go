package proxy

import (
	"strings"
	"testing"
	"testing/quick"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestTokenRoundTripEveryIndex(t *testing.T) {
	for range 500 {
		id := newV4()
		seen := map[string]bool{}
		for idx := range maxRegions {
			tok, ok := encodeToken(id, idx)
			require.True(t, ok, "encode(%s, %d) refused a v4 id", id, idx)
			require.True(t, isUUIDShape(tok), "token %q is not UUID-shaped", tok)
			require.NotEqual(t, id, tok, "token equals the upstream id")
			require.False(t, seen[tok], "two indexes gave the same token %s", tok)
			seen[tok] = true
			up, got, ok := decodeToken(tok)
			require.True(t, ok, "decode(%s) = %s %d %v, want %s %d", tok, up, got, ok, id, idx)
			require.Equal(t, id, up, "decode(%s) = %s %d %v, want %s %d", tok, up, got, ok, id, idx)
			require.Equal(t, idx, got, "decode(%s) = %s %d %v, want %s %d", tok, up, got, ok, id, idx)
			// Only the version nibble and the variant digit differ.
			for i := range tok {
				require.False(t, i != versionIndex && i != variantIndex && tok[i] != id[i], "token %s differs from %s at %d", tok, id, i)
			}
		}
	}
}

// TestTokenProperties uses testing/quick over arbitrary 128-bit values.
func TestTokenProperties(t *testing.T) {
	toUUID := func(b [16]byte) string {
		const hex = "0123456789abcdef"
		var sb strings.Builder
		for i, c := range b {
			if i == 4 || i == 6 || i == 8 || i == 10 {
				sb.WriteByte('-')
			}
			sb.WriteByte(hex[c>>4])
			sb.WriteByte(hex[c&15])
		}
		return sb.String()
	}
	// Any v4 id round-trips through any index.
	roundTrip := func(b [16]byte, idx uint8) bool {
		b[6] = b[6]&0x0f | 0x40
		b[8] = b[8]&0x3f | 0x80
		id := toUUID(b)
		tok, ok := encodeToken(id, int(idx%maxRegions))
		if !ok || !isUUIDShape(tok) {
			return false
		}
		up, got, ok := decodeToken(tok)
		return ok && up == id && got == int(idx%maxRegions)
	}
	assert.NoError(t, quick.Check(roundTrip, &quick.Config{MaxCount: 5000}))
	// An id whose variant is not 11 never decodes; every v4 id is such an
	// id, so an upstream id is never mistaken for a token.
	nonToken := func(b [16]byte) bool {
		b[8] = b[8] & 0xbf // variant 0x or 10
		_, _, ok := decodeToken(toUUID(b))
		return !ok
	}
	assert.NoError(t, quick.Check(nonToken, &quick.Config{MaxCount: 5000}))
	// Ids that are not v4 are refused by encode (handed out unchanged).
	notV4 := func(b [16]byte, version uint8) bool {
		v := version % 16
		if v == 4 {
			v = 1
		}
		b[6] = b[6]&0x0f | v<<4
		_, ok := encodeToken(toUUID(b), 0)
		return !ok
	}
	assert.NoError(t, quick.Check(notV4, &quick.Config{MaxCount: 5000}))
}

func TestTokenRejects(t *testing.T) {
	id := newV4()
	for _, tt := range []struct {
		id  string
		idx int
	}{
		{strings.ToUpper(id), 0}, // not lowercase
		{id, -1},                 // index out of range
		{id, maxRegions},         // index out of range
		{"not-a-uuid", 0},        // not a UUID
		{id[:35], 0},             // short
		{strings.ReplaceAll(id, "-", "_"), 0},
		{"00000000-0000-4000-c000-000000000000", 0}, // version 4 but variant 11
		{"00000000-0000-1000-8000-000000000000", 0}, // v1
	} {
		tok, ok := encodeToken(tt.id, tt.idx)
		assert.False(t, ok, "encode(%q, %d) = %q, want refusal", tt.id, tt.idx, tok)
	}
	for _, s := range []string{"", "x", id, strings.ToUpper(id), "00000000-0000-4000-8000-000000000000", "00000000-0000-4000-c000-00000000000"} {
		_, _, ok := decodeToken(s)
		assert.False(t, ok, "decode(%q) accepted", s)
	}
}

func TestIsUUIDShape(t *testing.T) {
	for s, want := range map[string]bool{
		newV4():                                true,
		strings.ToUpper(newV4()):               true,
		"4d37982f-1111_637858368000":           false, // an authoring id: never a runtime job
		"not-a-job-id":                         false,
		"ABC":                                  false,
		"":                                     false,
		"../../etc/passwd":                     false,
		"c0f2a446-5b5e-4a2d-9a3e-3f2a7d5b8e1g": false,
		"c0f2a446-5b5e-4a2d-9a3e_3f2a7d5b8e11": false,
		"c0f2a446-5b5e-4a2d-9a3e-3f2a7d5b8e11": true,
	} {
		got := isUUIDShape(s)
		assert.Equal(t, want, got, "isUUIDShape(%q) = %v, want %v", s, got, want)
	}
}

// TestTokenCheckRejectsMarkerIDs: an id that carries the marker variant
// but not the check is not a token. Over random 128-bit values with the
// marker, only about one in eight passes (the check's three bits), where
// the variant alone used to accept every one.
func TestTokenCheckRejectsMarkerIDs(t *testing.T) {
	const n = 20000
	accepted := 0
	for range n {
		b := []byte(newV4())
		b[variantIndex] = hexDigits[0b1100|hexValue(b[variantIndex])&0b11]
		b[versionIndex] = hexDigits[hexValue(b[variantIndex+1])] // any version nibble (a random digit)
		if _, _, ok := decodeToken(string(b)); ok {
			accepted++
		}
	}
	require.LessOrEqual(t, accepted, n/8+n/40, "%d of %d marker ids decoded, want about 1/8", accepted, n)
	require.GreaterOrEqual(t, accepted, n/8-n/40, "%d of %d marker ids decoded, want about 1/8", accepted, n)
}

// FuzzDecodeToken checks that decoding never panics, that what decodes is
// a token of a v4 id that encodes back to the same text, and that a
// decoded id is never itself a token.
func FuzzDecodeToken(f *testing.F) {
	id := "c0f2a446-5b5e-4a2d-9a3e-3f2a7d5b8e11"
	for idx := range maxRegions {
		tok, _ := encodeToken(id, idx)
		f.Add(tok)
	}
	for _, s := range []string{"", id, strings.ToUpper(id), "00000000-0000-0000-c000-000000000000",
		"ffffffff-ffff-ffff-ffff-ffffffffffff", "../../etc/passwd", "4d37982f-1111_637858368000000000", "zzzzzzzz-zzzz-zzzz-zzzz-zzzzzzzzzzzz"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		up, idx, ok := decodeToken(s)
		if !ok {
			return
		}
		require.True(t, isUUIDShape(s), "decoded %q, which is not UUID-shaped", s)
		require.GreaterOrEqual(t, idx, 0, "index out of range")
		require.Less(t, idx, maxRegions, "index out of range")
		_, _, again := decodeToken(up)
		require.False(t, again, "decoded id %q decodes again", up)
		tok, ok := encodeToken(up, idx)
		require.True(t, ok, "encode(decode())")
		require.Equal(t, s, tok, "encode(decode())")
	})
}

// Tokens of the scheme before the check (version nibble = the region's
// index) still decode through legacyToken, never through decodeToken, and
// a checked token is never a legacy one.
func TestLegacyTokens(t *testing.T) {
	id := newV4()
	for idx := range maxRegions {
		b := []byte(id)
		b[versionIndex] = hexDigits[idx]
		b[variantIndex] = hexDigits[0b1100|hexValue(b[variantIndex])&0b11]
		old := string(b)
		_, _, ok := decodeToken(old)
		require.False(t, ok, "decodeToken accepted the legacy token %s", old)
		up, got, ok := legacyToken(old)
		require.True(t, ok, "legacyToken(%s) = %s %d %v, want %s %d", old, up, got, ok, id, idx)
		require.Equal(t, id, up, "legacyToken(%s) = %s %d %v, want %s %d", old, up, got, ok, id, idx)
		require.Equal(t, idx, got, "legacyToken(%s) = %s %d %v, want %s %d", old, up, got, ok, id, idx)
		tok, _ := encodeToken(id, idx)
		_, _, ok = legacyToken(tok)
		require.False(t, ok, "legacyToken accepted the checked token %s", tok)
	}
}

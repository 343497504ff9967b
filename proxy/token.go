package proxy

// Job-id tokens. The package doc states the scheme; this file is its only
// implementation, and FuzzDecodeToken and the property tests pin it down.

import "hash/fnv"

// Positions inside the 36-character text form of a UUID
// (xxxxxxxx-xxxx-Vxxx-Nxxx-xxxxxxxxxxxx).
const (
	uuidLen      = 36
	versionIndex = 14 // V: the version nibble
	variantIndex = 19 // N: the top two bits are the variant
)

// maxRegions is how many regions a token can name: the version nibble
// holds the region's index and the check (see encodeToken).
const maxRegions = 2

// checkValues is how many values the check takes: with two regions, the
// version nibble's values 2 to 15 are 2 x 7 (index, check) pairs; 0 and 1
// are left to the tokens of the scheme before the check (legacyToken).
const checkValues = 7

// isUUIDShape reports whether s is 8-4-4-4-12 hex (either case): the only
// shape of id the gateway ever asks a region about.
func isUUIDShape(s string) bool {
	if len(s) != uuidLen {
		return false
	}
	for i := 0; i < uuidLen; i++ {
		c := s[i]
		switch i {
		case 8, 13, 18, 23:
			if c != '-' {
				return false
			}
		default:
			if hexValue(c|0x20) < 0 { // |0x20 lowercases A-F, keeps digits
				return false
			}
		}
	}
	return true
}

// hexValue is the value of a lowercase hex digit, or -1.
func hexValue(c byte) int {
	switch {
	case '0' <= c && c <= '9':
		return int(c - '0')
	case 'a' <= c && c <= 'f':
		return int(c-'a') + 10
	}
	return -1
}

const hexDigits = "0123456789abcdef"

// check is what a token carries to prove it is one, derived from the
// upstream id (every other bit of the token): an id that merely has the
// marker variant is taken for a token about one time in eight, and one
// this replica handed out is found in the owner cache first.
func check(upstream string) int {
	h := fnv.New32a()
	_, _ = h.Write([]byte(upstream))
	return int(h.Sum32() % checkValues)
}

// encodeToken turns an upstream job id into the id the client sees. It
// returns ok=false for an id that does not fit the scheme (not a lowercase
// v4 UUID, or an index a bit cannot hold); the caller then hands the id
// out unchanged and remembers its owner another way.
func encodeToken(id string, index int) (token string, ok bool) {
	if index < 0 || index >= maxRegions || len(id) != uuidLen || !isUUIDShape(id) {
		return "", false
	}
	variant := hexValue(id[variantIndex])
	if id[versionIndex] != '4' || variant < 0 || variant>>2 != 0b10 {
		return "", false
	}
	for i := 0; i < uuidLen; i++ {
		if 'A' <= id[i] && id[i] <= 'F' {
			return "", false // upper case: Azure's ids are lower case
		}
	}
	var b [uuidLen]byte
	copy(b[:], id)
	b[versionIndex] = hexDigits[2+index*checkValues+check(id)]
	b[variantIndex] = hexDigits[0b1100|variant&0b11]
	return string(b[:]), true
}

// decodeToken undoes encodeToken. ok=false means id is not a token (not
// lowercase UUID-shaped, its variant bits are not the marker 11, or its
// check does not match the rest); such an id may still be a passthrough
// id, which the caller resolves by asking the regions.
func decodeToken(id string) (upstream string, index int, ok bool) {
	upstream, version, ok := restore(id)
	if !ok || version < 2 {
		return "", 0, false
	}
	index, chk := (version-2)/checkValues, (version-2)%checkValues
	if chk != check(upstream) {
		return "", 0, false
	}
	return upstream, index, true
}

// legacyToken decodes a token of the scheme before the check (version
// nibble 0 or 1: the region's index, nothing else), so jobs submitted
// before an upgrade are still found after it. The proxy accepts these for
// a job result's life (24 h) after it started, then only checked tokens.
func legacyToken(id string) (upstream string, index int, ok bool) {
	upstream, version, ok := restore(id)
	if !ok || version >= 2 {
		return "", 0, false
	}
	return upstream, version, true
}

// restore turns a lowercase UUID with the marker variant back into the v4
// id it stands for, and returns the version nibble it carried.
func restore(id string) (upstream string, version int, ok bool) {
	if !isUUIDShape(id) {
		return "", 0, false
	}
	variant, version := hexValue(id[variantIndex]), hexValue(id[versionIndex])
	if variant < 0 || version < 0 || variant>>2 != 0b11 {
		return "", 0, false
	}
	var b [uuidLen]byte
	copy(b[:], id)
	b[versionIndex] = '4'
	b[variantIndex] = hexDigits[0b1000|variant&0b11]
	for _, c := range b {
		if 'A' <= c && c <= 'F' {
			return "", 0, false
		}
	}
	return string(b[:]), version, true
}

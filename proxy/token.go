package proxy

// Job-id tokens. The package doc states the scheme; this file is its only
// implementation, and FuzzDecodeToken and the property tests pin it down.

// Positions inside the 36-character text form of a UUID
// (xxxxxxxx-xxxx-Vxxx-Nxxx-xxxxxxxxxxxx).
const (
	uuidLen      = 36
	versionIndex = 14 // V: the version nibble
	variantIndex = 19 // N: the top two bits are the variant
)

// maxJobIDLen bounds a passthrough job id. Azure's runtime ids are 36
// characters and authoring ids (GUID_ticks) about 55; anything much longer
// is not an id Azure issued.
const maxJobIDLen = 128

// MaxRegions is how many regions a token can name: the version nibble holds
// the region's index.
const MaxRegions = 16

// isUUIDShape reports whether s is 8-4-4-4-12 lowercase hex, the shape
// Azure's JS SDK insists on before it cancels a job.
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
			if hexValue(c) < 0 {
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

// encodeToken turns an upstream job id into the id the client sees. It
// returns ok=false for an id that does not fit the scheme (not a lowercase
// v4 UUID, or an index a nibble cannot hold); the caller then hands the id
// out unchanged and remembers its owner another way.
func encodeToken(id string, index int) (token string, ok bool) {
	if index < 0 || index >= MaxRegions || !isUUIDShape(id) {
		return "", false
	}
	variant := hexValue(id[variantIndex])
	if id[versionIndex] != '4' || variant>>2 != 0b10 {
		return "", false
	}
	var b [uuidLen]byte
	copy(b[:], id)
	b[versionIndex] = hexDigits[index]
	b[variantIndex] = hexDigits[0b1100|variant&0b11]
	return string(b[:]), true
}

// decodeToken undoes encodeToken. ok=false means id is not a token (its
// variant bits are not the marker 11); such an id may still be a
// passthrough id, which the caller resolves by asking the regions.
func decodeToken(id string) (upstream string, index int, ok bool) {
	if !isUUIDShape(id) {
		return "", 0, false
	}
	variant := hexValue(id[variantIndex])
	if variant>>2 != 0b11 {
		return "", 0, false
	}
	var b [uuidLen]byte
	copy(b[:], id)
	index = hexValue(id[versionIndex])
	b[versionIndex] = '4'
	b[variantIndex] = hexDigits[0b1000|variant&0b11]
	return string(b[:]), index, true
}

// validJobID reports whether a client-supplied job id may be used at all:
// 1 to maxJobIDLen characters of [0-9A-Za-z_-]. Everything else (a slash,
// a percent sign, dots, CR/LF, spaces) is answered 404 locally and never
// reaches a region, so a client cannot steer the upstream path.
func validJobID(s string) bool {
	if len(s) == 0 || len(s) > maxJobIDLen {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9', c == '-', c == '_':
		default:
			return false
		}
	}
	return true
}

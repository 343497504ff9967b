// Package sealkey reads the keys that seal job rescue's records
// (JOB_RESCUE_KEY): their format is configuration, parsed where the
// configuration is, without linking the store that uses them.
package sealkey

import (
	"encoding/base64"
	"errors"
	"fmt"
	"strings"

	"nergateway/internal/secret"
)

// Size is the length of one key once decoded: AES-256.
const Size = 32

// Parse decodes JOB_RESCUE_KEY: one or more base64 keys of Size
// bytes, comma-separated. The first seals new records; every one opens
// records (the previous key during a rotation). Errors never quote a key.
func Parse(raw secret.Secret) ([][]byte, error) {
	var keys [][]byte
	for i, part := range strings.Split(raw.Reveal(), ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		k, err := base64.StdEncoding.DecodeString(part)
		if err != nil {
			if k, err = base64.RawStdEncoding.DecodeString(part); err != nil {
				return nil, fmt.Errorf("key %d is not base64", i+1)
			}
		}
		if len(k) != Size {
			return nil, fmt.Errorf("key %d is %d bytes once decoded, want %d (generate one with: openssl rand -base64 32)", i+1, len(k), Size)
		}
		keys = append(keys, k)
	}
	if len(keys) == 0 {
		return nil, errors.New("no key given (generate one with: openssl rand -base64 32)")
	}
	return keys, nil
}

package sealkey

import (
	"bytes"
	"encoding/base64"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"nergateway/internal/secret"
)

func TestParse(t *testing.T) {
	k1 := base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{7}, Size))
	k2 := base64.RawStdEncoding.EncodeToString(bytes.Repeat([]byte{8}, Size))
	short := base64.StdEncoding.EncodeToString([]byte("0123456789abcdef"))
	for _, tc := range []struct {
		raw     string
		n       int
		wantErr string
	}{
		{k1, 1, ""},
		{k1 + ", " + k2, 2, ""},
		{"", 0, "no key"},
		{" , ", 0, "no key"},
		{short, 0, "key 1 is 16 bytes"},
		{k1 + ",not base64!", 0, "key 2 is not base64"},
	} {
		keys, err := Parse(secret.Secret(tc.raw))
		if tc.wantErr != "" {
			require.ErrorContains(t, err, tc.wantErr, "Parse(%q)", tc.raw)
			for _, k := range strings.Split(tc.raw, ",") {
				if k = strings.TrimSpace(k); k != "" {
					assert.NotContains(t, err.Error(), k, "Parse's error quotes a key")
				}
			}
			continue
		}
		require.NoError(t, err, "Parse(%q)", tc.raw)
		assert.Len(t, keys, tc.n, "Parse(%q)", tc.raw)
	}
}

package rescue

import (
	"bytes"
	"encoding/base64"
	"strings"
	"testing"
	"time"

	"nergateway/internal/secret"
)

func testKey(b byte) []byte { return bytes.Repeat([]byte{b}, KeySize) }

func TestSealOpensOnlyForItsJobAndKeys(t *testing.T) {
	cur, prev := testKey(1), testKey(2)
	plain := []byte("Contoso signs the lease in Köln.")

	oldSealer, err := newSealer([][]byte{prev})
	if err != nil {
		t.Fatal(err)
	}
	sealedOld, err := oldSealer.seal("job-a", plain)
	if err != nil {
		t.Fatal(err)
	}
	rotated, err := newSealer([][]byte{cur, prev})
	if err != nil {
		t.Fatal(err)
	}
	sealedNew, err := rotated.seal("job-a", plain)
	if err != nil {
		t.Fatal(err)
	}
	newOnly, err := newSealer([][]byte{cur})
	if err != nil {
		t.Fatal(err)
	}
	tampered := bytes.Clone(sealedNew)
	tampered[len(tampered)-1] ^= 1

	for _, tc := range []struct {
		name   string
		s      *sealer
		id     string
		sealed []byte
		ok     bool
	}{
		{"current key", rotated, "job-a", sealedNew, true},
		{"previous key during rotation", rotated, "job-a", sealedOld, true},
		{"previous key dropped", newOnly, "job-a", sealedOld, false},
		{"new record, old key only", oldSealer, "job-a", sealedNew, false},
		{"another job's record", rotated, "job-b", sealedNew, false},
		{"altered", rotated, "job-a", tampered, false},
		{"truncated", rotated, "job-a", sealedNew[:10], false},
		{"empty", rotated, "job-a", nil, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := tc.s.open(tc.id, tc.sealed)
			if tc.ok != (err == nil) {
				t.Fatalf("open: err = %v, want ok=%v", err, tc.ok)
			}
			if tc.ok && !bytes.Equal(got, plain) {
				t.Fatalf("open = %q, want %q", got, plain)
			}
		})
	}
	if bytes.Contains(sealedNew, plain) || bytes.Contains(sealedNew, []byte("Contoso")) {
		t.Fatal("sealed record holds the text in clear")
	}
	again, _ := rotated.seal("job-a", plain)
	if bytes.Equal(again, sealedNew) {
		t.Fatal("two seals of the same text are equal: the nonce is not random")
	}
}

func TestParseKeys(t *testing.T) {
	k1 := base64.StdEncoding.EncodeToString(testKey(7))
	k2 := base64.RawStdEncoding.EncodeToString(testKey(8))
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
		keys, err := ParseKeys(secret.Secret(tc.raw))
		if tc.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("ParseKeys(%q) error = %v, want %q", tc.raw, err, tc.wantErr)
			}
			for _, k := range strings.Split(tc.raw, ",") {
				if k = strings.TrimSpace(k); k != "" && err != nil && strings.Contains(err.Error(), k) {
					t.Errorf("ParseKeys error quotes a key: %v", err)
				}
			}
			continue
		}
		if err != nil || len(keys) != tc.n {
			t.Errorf("ParseKeys(%q) = %d keys, %v; want %d", tc.raw, len(keys), err, tc.n)
		}
	}
}

func TestJobRecordRoundTrip(t *testing.T) {
	for _, j := range []Job{
		{},
		{Query: "api-version=2023-04-01", ContentType: "application/json", Body: []byte(`{"analysisInput":{}}`)},
		{Body: bytes.Repeat([]byte{0xff, 0}, 1000)},
		{Query: "api-version=2023-04-01", Body: []byte("{}"), Accepted: time.UnixMilli(1_796_000_000_123)},
	} {
		got, err := decodeJob(j.encode())
		if err != nil || got.Query != j.Query || got.ContentType != j.ContentType || !bytes.Equal(got.Body, j.Body) || !got.Accepted.Equal(j.Accepted) {
			t.Errorf("round trip of %+v = %+v, %v", j, got, err)
		}
	}
	// A record written before the accepted time was kept (no mark) still
	// reads, without it.
	old := append([]byte{22}, "api-version=2023-04-01\x10application/json{}"...)
	got, err := decodeJob(old)
	if err != nil || got.Query != "api-version=2023-04-01" || got.ContentType != "application/json" || string(got.Body) != "{}" || !got.Accepted.IsZero() {
		t.Errorf("record without the mark: %+v, %v", got, err)
	}
	for _, bad := range [][]byte{nil, {0x05, 'a'}, {0x80}} {
		if _, err := decodeJob(bad); err == nil {
			t.Errorf("decodeJob(%x) accepted a malformed record", bad)
		}
	}
}

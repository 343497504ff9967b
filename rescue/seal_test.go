package rescue

import (
	"bytes"
	"encoding/binary"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func testKey(b byte) []byte { return bytes.Repeat([]byte{b}, KeySize) }

func TestSealOpensOnlyForItsJobAndKeys(t *testing.T) {
	cur, prev := testKey(1), testKey(2)
	plain := []byte("Contoso signs the lease in Köln.")

	oldSealer, err := newSealer([][]byte{prev})
	require.NoError(t, err)
	sealedOld, err := oldSealer.seal("job-a", plain)
	require.NoError(t, err)
	rotated, err := newSealer([][]byte{cur, prev})
	require.NoError(t, err)
	sealedNew, err := rotated.seal("job-a", plain)
	require.NoError(t, err)
	newOnly, err := newSealer([][]byte{cur})
	require.NoError(t, err)
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
			require.Equal(t, tc.ok, err == nil, "open: err = %v, want ok=%v", err, tc.ok)
			require.False(t, tc.ok && !bytes.Equal(got, plain), "open = %q, want %q", got, plain)
		})
	}
	require.False(t, bytes.Contains(sealedNew, plain), "sealed record holds the text in clear")
	require.False(t, bytes.Contains(sealedNew, []byte("Contoso")), "sealed record holds the text in clear")
	again, _ := rotated.seal("job-a", plain)
	require.False(t, bytes.Equal(again, sealedNew), "two seals of the same text are equal: the nonce is not random")
}

func TestJobRecordRoundTrip(t *testing.T) {
	for _, j := range []Job{
		{},
		{Query: "api-version=2023-04-01", ContentType: "application/json", Body: []byte(`{"analysisInput":{}}`)},
		{Body: bytes.Repeat([]byte{0xff, 0}, 1000)},
		{Query: "api-version=2023-04-01", Body: []byte("{}"), Accepted: time.UnixMilli(1_796_000_000_123)},
	} {
		got, err := decodeJob(j.encode())
		if assert.NoError(t, err, "round trip of %+v = %+v, %v", j, got, err) {
			assert.Equal(t, j.Query, got.Query, "round trip of %+v = %+v, %v", j, got, err)
			assert.Equal(t, j.ContentType, got.ContentType, "round trip of %+v = %+v, %v", j, got, err)
			assert.Equal(t, string(j.Body), string(got.Body), "round trip of %+v = %+v, %v", j, got, err)
			assert.WithinDuration(t, j.Accepted, got.Accepted, 0, "round trip of %+v = %+v, %v", j, got, err)
		}
	}
	// The record keeps nanoseconds: a job read back is accepted exactly
	// when it was, so one the region took in the millisecond after a
	// replica saw it go down still proves it came back (JobDueIn), and one
	// taken in the millisecond before is still rescued.
	for _, at := range []time.Time{time.Unix(1_796_000_000, 123_000_001), time.Unix(1_796_000_000, 123_999_999)} {
		got, err := decodeJob(Job{Accepted: at}.encode())
		require.NoError(t, err)
		assert.True(t, got.Accepted.Equal(at), "accepted at %v, read back as %v", at, got.Accepted)
	}
	// A record written with milliseconds still reads.
	millis := append([]byte{acceptedMillis}, binary.AppendUvarint(nil, 1_796_000_000_123)...)
	millis = append(millis, "\x16api-version=2023-04-01\x10application/json{}"...)
	got, err := decodeJob(millis)
	require.NoError(t, err)
	assert.True(t, got.Accepted.Equal(time.UnixMilli(1_796_000_000_123)), "read back as %v", got.Accepted)
	assert.Equal(t, "api-version=2023-04-01", got.Query)
	assert.Equal(t, "application/json", got.ContentType)
	assert.Equal(t, "{}", string(got.Body))
	// A record written before the accepted time was kept (no mark) still
	// reads, without it.
	old := append([]byte{22}, "api-version=2023-04-01\x10application/json{}"...)
	got, err = decodeJob(old)
	if assert.NoError(t, err, "record without the mark: %+v, %v", got, err) {
		assert.Equal(t, "api-version=2023-04-01", got.Query, "record without the mark: %+v, %v", got, err)
		assert.Equal(t, "application/json", got.ContentType, "record without the mark: %+v, %v", got, err)
		assert.Equal(t, "{}", string(got.Body), "record without the mark: %+v, %v", got, err)
		assert.True(t, got.Accepted.IsZero(), "record without the mark: %+v, %v", got, err)
	}
	for _, bad := range [][]byte{nil, {0x05, 'a'}, {0x80}} {
		_, err := decodeJob(bad)
		assert.Error(t, err, "decodeJob(%x) accepted a malformed record", bad)
	}
}

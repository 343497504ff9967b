package rescue

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"

	"nergateway/internal/sealkey"
)

// KeySize is the length of a JOB_RESCUE_KEY once decoded: AES-256
// (sealkey.Size, where the key's format is parsed).
const KeySize = sealkey.Size

// sealVersion starts every sealed record, so the format can change later
// without misreading old records.
const sealVersion = 1

// keyIDSize is how much of the key's SHA-256 a sealed record carries, so
// opening it picks the right key among the current and previous ones
// without trying each.
const keyIDSize = 4

// ErrUndecryptable means a stored record could not be opened: it was sealed
// under a key no longer configured, or it was altered.
var ErrUndecryptable = errors.New("rescue: stored record cannot be decrypted with the configured keys")

// sealer encrypts records under the first key and decrypts under any.
type sealer struct {
	aeads []cipher.AEAD
	ids   [][keyIDSize]byte
}

func newSealer(keys [][]byte) (*sealer, error) {
	if len(keys) == 0 {
		return nil, errors.New("rescue: no encryption key")
	}
	s := &sealer{}
	for i, k := range keys {
		if len(k) != KeySize {
			return nil, fmt.Errorf("rescue: key %d is %d bytes, want %d", i+1, len(k), KeySize)
		}
		block, err := aes.NewCipher(k)
		if err != nil {
			return nil, fmt.Errorf("rescue: key %d: %w", i+1, err)
		}
		aead, err := cipher.NewGCM(block)
		if err != nil {
			return nil, fmt.Errorf("rescue: key %d: %w", i+1, err)
		}
		sum := sha256.Sum256(k)
		var id [keyIDSize]byte
		copy(id[:], sum[:])
		s.aeads, s.ids = append(s.aeads, aead), append(s.ids, id)
	}
	return s, nil
}

// additionalData binds a sealed record to its job: a record copied under
// another job's key does not open.
func additionalData(jobID string) []byte {
	return append([]byte("nergateway/rescue/v1\x00"), jobID...)
}

// seal encrypts plain for jobID: version, key id, random nonce, ciphertext.
func (s *sealer) seal(jobID string, plain []byte) ([]byte, error) {
	aead := s.aeads[0]
	head := 1 + keyIDSize + aead.NonceSize()
	out := make([]byte, head, head+len(plain)+aead.Overhead())
	out[0] = sealVersion
	copy(out[1:], s.ids[0][:])
	if _, err := rand.Read(out[1+keyIDSize : head]); err != nil {
		return nil, fmt.Errorf("rescue: nonce: %w", err)
	}
	return aead.Seal(out, out[1+keyIDSize:head], plain, additionalData(jobID)), nil
}

// open decrypts what seal made for jobID.
func (s *sealer) open(jobID string, sealed []byte) ([]byte, error) {
	if len(sealed) < 1+keyIDSize || sealed[0] != sealVersion {
		return nil, ErrUndecryptable
	}
	for i, id := range s.ids {
		if [keyIDSize]byte(sealed[1:1+keyIDSize]) != id {
			continue
		}
		aead := s.aeads[i]
		head := 1 + keyIDSize + aead.NonceSize()
		if len(sealed) < head+aead.Overhead() {
			return nil, ErrUndecryptable
		}
		plain, err := aead.Open(nil, sealed[1+keyIDSize:head], sealed[head:], additionalData(jobID))
		if err != nil {
			return nil, ErrUndecryptable
		}
		return plain, nil
	}
	return nil, ErrUndecryptable
}

package rescue

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"nergateway/internal/scrub"
	"nergateway/internal/secret"
)

// ErrRefused is a store that answered but refused JOB_RESCUE's credentials.
var ErrRefused = errors.New("Redis refused the credentials in the URL")

// Ping checks once that JOB_RESCUE's store answers and accepts its
// credentials, for `gateway check-config -probe`; memory always answers.
// timeout bounds the dial and the round trip. Errors never hold the URL,
// its host or its password.
func Ping(ctx context.Context, backend secret.Secret, timeout time.Duration) error {
	kind, err := ParseBackend(backend)
	if err != nil || kind == BackendMemory {
		return err
	}
	b, err := newRedisBackend(backend.Reveal(), timeout)
	if err != nil {
		return err
	}
	defer b.close()
	err = b.ping(ctx)
	var re redis.Error
	switch {
	case err == nil:
		return nil
	case errors.As(err, &re):
		// Redis's own reply: its first word is the error's kind
		// (WRONGPASS, NOAUTH, NOPERM, ...), the rest never holds the URL.
		word, _, _ := strings.Cut(re.Error(), " ")
		if word == "WRONGPASS" || word == "NOAUTH" || word == "NOPERM" {
			return fmt.Errorf("%w (%s)", ErrRefused, word)
		}
		return fmt.Errorf("Redis answered %s", word)
	}
	return fmt.Errorf("Redis unreachable (%s)", scrub.Cause(err))
}

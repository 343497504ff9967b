// Package auth checks the gateway keys that clients and operators send in
// Ocp-Apim-Subscription-Key, the header Azure's SDKs already send, so an
// application changes only its endpoint and key.
//
// Keys come in scopes (runtime, authoring, admin), each a Set that can be
// replaced while the gateway serves (a Watcher re-reads a key file), and each
// key has a name that logs and metrics show instead of the key.
package auth

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync/atomic"

	"nergateway/api"
	"nergateway/internal/secret"
)

// Key is one accepted gateway key and the name that stands for it.
type Key struct {
	// Name is what logs and metrics show. ParseKey derives one from the
	// key's digest when the line carries none.
	Name   string
	Secret secret.Secret
}

// maxNameLen bounds a key name: it becomes a metric label.
const maxNameLen = 64

// MaxKeyLen bounds a key. Azure's own keys are 32 or 84 characters; a
// longer "key" is a file that is not a key file (one 10 MB line would
// otherwise become the only key, and every real key would stop working).
const MaxKeyLen = 512

// ParseKey reads "name:key" or a bare "key". A key that itself holds a
// colon must carry a name, or its first part is taken for one.
func ParseKey(s secret.Secret) (Key, error) {
	v := strings.TrimSpace(s.Reveal())
	if v == "" {
		return Key{}, errors.New("empty key")
	}
	for i := range len(v) {
		// A client sends its key in a header: printable ASCII only.
		if v[i] < ' ' || v[i] > '~' {
			return Key{}, errors.New("key has a byte outside printable ASCII")
		}
	}
	if name, key, ok := strings.Cut(v, ":"); ok && validName(strings.TrimSpace(name)) {
		name = strings.TrimSpace(name)
		key = strings.TrimSpace(key)
		if key == "" {
			return Key{}, fmt.Errorf("key %q is empty", name)
		}
		if len(key) > MaxKeyLen {
			return Key{}, fmt.Errorf("key %q longer than %d bytes", name, MaxKeyLen)
		}
		return Key{Name: name, Secret: secret.Secret(key)}, nil
	}
	if len(v) > MaxKeyLen {
		return Key{}, fmt.Errorf("key longer than %d bytes", MaxKeyLen)
	}
	sum := sha256.Sum256([]byte(v))
	return Key{Name: "key-" + hex.EncodeToString(sum[:4]), Secret: secret.Secret(v)}, nil
}

// ParseKeys reads one key per entry (ParseKey); it reports every bad entry
// by its position, never by its value.
func ParseKeys(entries []secret.Secret) ([]Key, error) {
	var keys []Key
	var problems []error
	names := map[string]bool{}
	for i, e := range entries {
		k, err := ParseKey(e)
		if err != nil {
			problems = append(problems, fmt.Errorf("entry %d: %w", i+1, err))
			continue
		}
		if names[k.Name] {
			problems = append(problems, fmt.Errorf("entry %d: name %q used twice", i+1, k.Name))
			continue
		}
		names[k.Name] = true
		keys = append(keys, k)
	}
	return keys, errors.Join(problems...)
}

// ParseFile reads a key file: one key a line, "name:key" or a bare key;
// blank lines and lines starting with # are skipped.
func ParseFile(data []byte) ([]Key, error) {
	var entries []secret.Secret
	for line := range strings.Lines(string(data)) {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		entries = append(entries, secret.Secret(line))
	}
	keys, err := ParseKeys(entries)
	if err == nil && len(keys) == 0 {
		err = errors.New("no key in the file")
	}
	return keys, err
}

func validName(s string) bool {
	if s == "" || len(s) > maxNameLen {
		return false
	}
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '_' || r == '.' || r == '-') {
			return false
		}
	}
	return true
}

// Set is the keys of one scope. Lookups compare in constant time; Replace
// swaps the whole set at once, so a request sees the old keys or the new
// ones, never a mix. The zero Set accepts nothing.
type Set struct {
	table atomic.Pointer[[]entry]
}

type entry struct {
	name   string
	digest [sha256.Size]byte
}

// NewSet accepts keys.
func NewSet(keys ...Key) *Set {
	s := &Set{}
	s.Replace(keys)
	return s
}

// Replace makes keys the accepted ones.
func (s *Set) Replace(keys []Key) {
	t := make([]entry, 0, len(keys))
	for _, k := range keys {
		if k.Secret.Reveal() != "" {
			t = append(t, entry{name: k.Name, digest: sha256.Sum256([]byte(k.Secret.Reveal()))})
		}
	}
	s.table.Store(&t)
}

// Len is how many keys the set accepts.
func (s *Set) Len() int {
	if t := s.table.Load(); t != nil {
		return len(*t)
	}
	return 0
}

// Lookup returns the name of the key presented, if it is one of the set.
// Comparing fixed-size digests, and every one of them, keeps the time
// independent of the key's length and of which key matched.
func (s *Set) Lookup(presented string) (name string, ok bool) {
	t := s.table.Load()
	if presented == "" || t == nil {
		return "", false
	}
	d := sha256.Sum256([]byte(presented))
	for i := range *t {
		if subtle.ConstantTimeCompare(d[:], (*t)[i].digest[:]) == 1 {
			name, ok = (*t)[i].name, true
		}
	}
	return name, ok
}

// Shares reports whether some key is in both sets (an admin key that is
// also a client key is a configuration mistake).
func (s *Set) Shares(other *Set) bool {
	a, b := s.table.Load(), other.table.Load()
	if a == nil || b == nil {
		return false
	}
	for _, x := range *a {
		for _, y := range *b {
			if x.digest == y.digest {
				return true
			}
		}
	}
	return false
}

type keyNameCtx struct{}

// KeyName is the name of the key that authorized the request, for logs
// and metrics; empty before Require ran or when it refused.
func KeyName(ctx context.Context) string {
	name, _ := ctx.Value(keyNameCtx{}).(string)
	return name
}

// Require answers 401 in the shape of Azure's front door (code "401", no
// x-ms-error-code; see api.WriteError) unless the request carries a key of
// one of sets; denied says why to the client. The key is never
// echoed; its name goes into the request's context (KeyName).
func Require(denied string, sets ...*Set) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			presented := r.Header.Get(api.SubscriptionKeyHeader)
			for _, s := range sets {
				if name, ok := s.Lookup(presented); ok {
					next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), keyNameCtx{}, name)))
					return
				}
			}
			api.WriteError(w, http.StatusUnauthorized, api.Error{Code: api.CodeFrontDoorUnauthorized, Message: denied})
		})
	}
}

// authoringPrefix covers every authoring path, a superset of what the
// proxy sends to the authoring API (api.AuthoringPrefix), so no authoring
// call passes with a runtime key.
const authoringPrefix = "/language/authoring/"

// Scoped lets runtime calls through with a runtime or an authoring key,
// and authoring calls only with an authoring key. It judges the decoded
// path, as the proxy routes it.
func Scoped(runtime, authoring *Set) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		rt := Require(MessageMissingKey, runtime, authoring)(next)
		au := Require(MessageMissingKey, authoring)(next)
		// A runtime key on an authoring path is told why; any other key
		// gets Azure's answer to a wrong key.
		runtimeOnly := Require(MessageNoAuthoring, authoring)(next)
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if strings.HasPrefix(r.URL.Path, authoringPrefix) {
				if _, ok := runtime.Lookup(r.Header.Get(api.SubscriptionKeyHeader)); ok {
					runtimeOnly.ServeHTTP(w, r)
					return
				}
				au.ServeHTTP(w, r)
				return
			}
			rt.ServeHTTP(w, r)
		})
	}
}

// Messages of the 401s.
const (
	// MessageMissingKey is Azure's own text, so a wrong gateway key gets
	// the answer a wrong region key gets from Azure.
	MessageMissingKey  = api.MessageFrontDoorUnauthorized
	MessageNoAuthoring = "Access denied: authoring calls need a gateway authoring key (GATEWAY_AUTHORING_KEYS); runtime keys may not call them."
	MessageNoAdmin     = "Access denied due to a missing or invalid admin key. Send the admin key in the Ocp-Apim-Subscription-Key header."
)

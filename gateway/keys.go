package gateway

import (
	"errors"
	"log/slog"

	"nergateway/internal/auth"
	"nergateway/internal/config"
)

// keyring is the gateway's key sets, one per scope (config.ScopeRuntime,
// ScopeAuthoring, ScopeAdmin), each from its variable or from a file that
// watchers keep current.
type keyring struct {
	sets     map[string]*auth.Set
	watchers []*auth.Watcher
}

// newKeyring builds the scopes and reads the key files; a file that cannot
// be read or holds no key, or an admin key that is also a client key, is an
// error (one line each).
func newKeyring(cfg *config.Config, log *slog.Logger) (*keyring, error) {
	k := &keyring{sets: map[string]*auth.Set{}}
	var problems []error
	for _, s := range cfg.KeyScopes {
		if s.File == "" {
			k.sets[s.Name] = auth.NewSet(s.Keys...)
			continue
		}
		w, err := auth.NewWatcher(s.File, s.Name, log)
		if err != nil {
			problems = append(problems, errors.New(s.FileVariable+": "+err.Error()))
			k.sets[s.Name] = auth.NewSet()
			continue
		}
		k.sets[s.Name] = w.Set
		k.watchers = append(k.watchers, w)
	}
	if k.admin().Shares(k.runtime()) || k.admin().Shares(k.authoring()) {
		problems = append(problems, errors.New("GATEWAY_ADMIN_KEY: the admin key is also a client key (GATEWAY_API_KEYS or GATEWAY_AUTHORING_KEYS)"))
	}
	if len(problems) > 0 {
		return nil, errors.Join(problems...)
	}
	return k, nil
}

func (k *keyring) runtime() *auth.Set   { return k.sets[config.ScopeRuntime] }
func (k *keyring) authoring() *auth.Set { return k.sets[config.ScopeAuthoring] }
func (k *keyring) admin() *auth.Set     { return k.sets[config.ScopeAdmin] }

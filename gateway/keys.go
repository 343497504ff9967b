package gateway

import (
	"errors"
	"log/slog"

	"nergateway/internal/auth"
	"nergateway/internal/config"
)

// keyring is the gateway's key scopes, each from its variable or from a
// file that watchers keep current.
type keyring struct {
	runtime, authoring, admin *auth.Set
	watchers                  []*auth.Watcher
}

// newKeyring builds the scopes and reads the key files; a file that cannot
// be read or holds no key, or an admin key that is also a client key, is an
// error (one line each).
func newKeyring(cfg *config.Config, log *slog.Logger) (*keyring, error) {
	k := &keyring{}
	var problems []error
	for _, s := range []struct {
		set      **auth.Set
		keys     []auth.Key
		file     string
		variable string
		scope    string
	}{
		{&k.runtime, cfg.APIKeys, cfg.APIKeysFile, "GATEWAY_API_KEYS_FILE", "runtime"},
		{&k.authoring, cfg.AuthoringKeys, cfg.AuthoringKeysFile, "GATEWAY_AUTHORING_KEYS_FILE", "authoring"},
		{&k.admin, cfg.AdminKeys, cfg.AdminKeyFile, "GATEWAY_ADMIN_KEY_FILE", "admin"},
	} {
		if s.file == "" {
			*s.set = auth.NewSet(s.keys...)
			continue
		}
		w, err := auth.NewWatcher(s.file, s.scope, log)
		if err != nil {
			problems = append(problems, errors.New(s.variable+": "+err.Error()))
			*s.set = auth.NewSet()
			continue
		}
		*s.set = w.Set
		k.watchers = append(k.watchers, w)
	}
	if k.admin.Shares(k.runtime) || k.admin.Shares(k.authoring) {
		problems = append(problems, errors.New("GATEWAY_ADMIN_KEY: the admin key is also a client key (GATEWAY_API_KEYS or GATEWAY_AUTHORING_KEYS)"))
	}
	if len(problems) > 0 {
		return nil, errors.Join(problems...)
	}
	return k, nil
}

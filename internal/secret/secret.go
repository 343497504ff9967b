// Package secret holds credentials in a type that cannot leak by accident:
// printing, logging or JSON-encoding a Secret yields "REDACTED".
package secret

import "log/slog"

// Redacted is what a Secret prints as.
const Redacted = "REDACTED"

// Secret is a credential (a region key, a gateway key). Only Reveal returns
// its value, so the one place that sends it on the wire is easy to find.
type Secret string

// Reveal returns the credential itself, for the header that carries it.
func (s Secret) Reveal() string { return string(s) }

// String keeps the value out of fmt output.
func (s Secret) String() string { return Redacted }

// GoString keeps the value out of %#v output.
func (s Secret) GoString() string { return Redacted }

// LogValue keeps the value out of slog output.
func (s Secret) LogValue() slog.Value { return slog.StringValue(Redacted) }

// MarshalJSON keeps the value out of JSON (status pages, debug dumps).
func (s Secret) MarshalJSON() ([]byte, error) { return []byte(`"` + Redacted + `"`), nil }

// MarshalText keeps the value out of text encodings.
func (s Secret) MarshalText() ([]byte, error) { return []byte(Redacted), nil }

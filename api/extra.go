package api

import (
	"encoding/json"
	"reflect"
	"strings"
	"sync"
	"unicode"
)

// Extra holds the JSON members of an object that its Go type does not
// declare. A newer api-version adds fields; keeping them here means a
// decode/encode round trip (a proxy rewriting one name, the replication
// worker rewriting an exported project) never drops what it does not know.
type Extra map[string]json.RawMessage

// knownFieldNames caches, per struct type, the folded JSON names of its
// declared fields; encoding/json matches names case-insensitively, so do we.
var knownFieldNames sync.Map // reflect.Type -> map[string]bool

func knownFields(t reflect.Type) map[string]bool {
	if v, ok := knownFieldNames.Load(t); ok {
		return v.(map[string]bool)
	}
	names := make(map[string]bool, t.NumField())
	for i := range t.NumField() {
		f := t.Field(i)
		if !f.IsExported() {
			continue
		}
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		switch name {
		case "-":
			continue
		case "":
			name = f.Name
		}
		names[foldName(name)] = true
	}
	knownFieldNames.Store(t, names)
	return names
}

// unmarshalKeeping decodes data into v (a pointer to a struct, usually an
// alias type without methods) and stores the members v does not declare in
// extra.
func unmarshalKeeping(data []byte, v any, extra *Extra) error {
	if err := json.Unmarshal(data, v); err != nil {
		return err
	}
	var all map[string]json.RawMessage
	if err := json.Unmarshal(data, &all); err != nil {
		return err
	}
	known := knownFields(reflect.TypeOf(v).Elem())
	for k := range all {
		if known[foldName(k)] {
			delete(all, k)
		}
	}
	if len(all) == 0 {
		all = nil
	}
	*extra = all
	return nil
}

// marshalKeeping encodes v and adds the members of extra that v does not
// itself produce.
func marshalKeeping(v any, extra Extra) ([]byte, error) {
	b, err := json.Marshal(v)
	if err != nil || len(extra) == 0 {
		return b, err
	}
	var all map[string]json.RawMessage
	if err := json.Unmarshal(b, &all); err != nil {
		return nil, err
	}
	// A member that matches a declared field only case-insensitively (an
	// Extra filled by hand, say "Status") would become a second spelling of
	// that field, and decoders disagree on which duplicate wins: the field
	// wins.
	known := knownFields(reflect.TypeOf(v))
	for k, raw := range extra {
		if _, ok := all[k]; !ok && !known[foldName(k)] {
			all[k] = raw
		}
	}
	return json.Marshal(all)
}

// foldName folds s the way encoding/json matches member names to fields
// (bytes.EqualFold: simple Unicode case folding, not strings.ToLower, which
// misses pairs such as "s" and U+017F LATIN SMALL LETTER LONG S).
func foldName(s string) string {
	var b strings.Builder
	b.Grow(len(s))
	for _, r := range s {
		// Map every rune to the smallest of its fold orbit.
		m := r
		for f := unicode.SimpleFold(r); f != r; f = unicode.SimpleFold(f) {
			m = min(m, f)
		}
		b.WriteRune(m)
	}
	return b.String()
}

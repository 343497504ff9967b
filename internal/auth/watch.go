package auth

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"syscall"
	"time"
)

// DefaultWatchInterval is how often a Watcher re-reads a key file: a rotated
// key works within about this long.
const DefaultWatchInterval = time.Second

// MaxFileBytes bounds a key file: thousands of keys fit, and a file
// replaced by something else (a log, an image, /dev/zero behind a wrong
// ln -s) is refused without being read whole.
const MaxFileBytes = 1 << 20

// ReadFile reads a key file defensively: it must be a regular file (after
// symlinks, which Secret volumes use) of at most MaxFileBytes. A device, a
// FIFO, a directory or a larger file is refused after a stat, and the read
// itself never goes past the bound, so a file that grows between the stat
// and the read costs no more.
func ReadFile(path string) ([]byte, error) {
	if err := regularWithin(os.Stat(path)); err != nil {
		return nil, fmt.Errorf("read key file: %w", err)
	}
	// O_NONBLOCK: a FIFO swapped in after the stat must not block the open.
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		return nil, fmt.Errorf("read key file: %w", err)
	}
	defer f.Close()
	if err := regularWithin(f.Stat()); err != nil {
		return nil, fmt.Errorf("read key file: %w", err)
	}
	data, err := io.ReadAll(io.LimitReader(f, MaxFileBytes+1))
	if err != nil {
		return nil, fmt.Errorf("read key file: %w", err)
	}
	if len(data) > MaxFileBytes {
		return nil, fmt.Errorf("read key file: %w", errTooLarge)
	}
	return data, nil
}

var errTooLarge = fmt.Errorf("larger than %d bytes", MaxFileBytes)

// regularWithin checks a stat result: a regular file within MaxFileBytes.
func regularWithin(fi os.FileInfo, err error) error {
	if err != nil {
		return err
	}
	m := fi.Mode()
	switch {
	case m.IsRegular() && fi.Size() > MaxFileBytes:
		return errTooLarge
	case m.IsRegular():
		return nil
	case m&os.ModeDevice != 0:
		return errors.New("a device, not a regular file")
	case m&os.ModeNamedPipe != 0:
		return errors.New("a named pipe, not a regular file")
	case m.IsDir():
		return errors.New("a directory, not a regular file")
	}
	return errors.New("not a regular file")
}

// LoadFile reads a key file (ReadFile, ParseFile) into a new Set.
func LoadFile(path string) (*Set, []byte, error) {
	data, err := ReadFile(path)
	if err != nil {
		return nil, nil, err
	}
	keys, err := ParseFile(data)
	if err != nil {
		return nil, nil, fmt.Errorf("key file %s: %w", path, err)
	}
	return NewSet(keys...), data, nil
}

// Watcher keeps a Set equal to the keys of a file. It polls rather than
// waiting for inotify events: a Kubernetes Secret volume updates by
// swapping a symlink, which ReadFile follows, and polling a small file
// once a second works the same on every filesystem.
type Watcher struct {
	// Path is the key file (ParseFile's format).
	Path string
	// Set receives the file's keys whenever they change.
	Set *Set
	// Interval between reads; zero means DefaultWatchInterval.
	Interval time.Duration
	// Logger hears about reloads (names and counts, never keys) and about
	// files that could not be used; nil discards.
	Logger *slog.Logger
	// Scope names the set in logs ("runtime", "authoring", "admin").
	Scope string

	last   []byte
	warned string // the last warning, so a bad file is reported once
}

// NewWatcher loads path into a new Set and returns the watcher that keeps
// it current. A missing or keyless file is an error here: the gateway must
// not start with a scope it was told to fill.
func NewWatcher(path, scope string, log *slog.Logger) (*Watcher, error) {
	set, data, err := LoadFile(path)
	if err != nil {
		return nil, err
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Watcher{Path: path, Set: set, Scope: scope, Logger: log, last: data}, nil
}

// Run re-reads the file until ctx is done. A file that cannot be read or
// holds no valid key leaves the current keys in place (a file half
// written, or removed by mistake, must not lock every client out).
func (w *Watcher) Run(ctx context.Context) error {
	interval := w.Interval
	if interval <= 0 {
		interval = DefaultWatchInterval
	}
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
			w.reload(ctx)
		}
	}
}

func (w *Watcher) reload(ctx context.Context) {
	data, err := ReadFile(w.Path)
	if err != nil {
		w.warn(ctx, "key file unreadable; keeping the current keys", err)
		return
	}
	if bytes.Equal(data, w.last) {
		w.warned = ""
		return
	}
	keys, err := ParseFile(data)
	if err != nil {
		w.warn(ctx, "key file invalid; keeping the current keys", err)
		return
	}
	w.last, w.warned = data, ""
	w.Set.Replace(keys)
	names := make([]string, len(keys))
	for i, k := range keys {
		names[i] = k.Name
	}
	w.Logger.InfoContext(ctx, "gateway keys reloaded", "scope", w.Scope, "keys", len(keys), "names", names)
}

func (w *Watcher) warn(ctx context.Context, msg string, err error) {
	if text := msg + err.Error(); text != w.warned {
		w.warned = text
		w.Logger.WarnContext(ctx, msg, "scope", w.Scope, "file", w.Path, "error", err)
	}
}

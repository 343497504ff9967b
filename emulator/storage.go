package emulator

import (
	"context"
	"fmt"
	"time"
)

// Documents is real blob storage a region reads its training documents
// from (Options.Documents): with it, an emulated secondary trains only on
// what its container holds, as Azure does, and a test exercises the whole
// chain against a real storage service (Azurite). The replication
// package's docsync.Store satisfies it.
type Documents interface {
	// ReadDocument returns the text of blob name in container; found is
	// false when there is no such blob.
	ReadDocument(ctx context.Context, container, name string) (text string, found bool, err error)
	// WriteDocument stores text as blob name in container, creating the
	// container if needed.
	WriteDocument(ctx context.Context, container, name, text string) error
}

// storageTimeout bounds one blob call of the emulator.
const storageTimeout = 30 * time.Second

// storage stands in for the blob storage account connected to the region:
// containers of .txt documents that projects refer to by name
// (metadata.storageInputContainerName and each document's location).
// Training reads from it, so a region whose container lacks a labelled
// document fails to train, as Azure does. Without Options.Documents it is
// kept in memory.
type storage struct {
	mem  map[string]map[string]string
	blob Documents // nil: mem
}

func (s storage) put(container, name, text string) error {
	if s.blob != nil {
		ctx, cancel := context.WithTimeout(context.Background(), storageTimeout)
		defer cancel()
		if err := s.blob.WriteDocument(ctx, container, name, text); err != nil {
			return fmt.Errorf("write document %s/%s: %w", container, name, err)
		}
		return nil
	}
	if s.mem[container] == nil {
		s.mem[container] = map[string]string{}
	}
	s.mem[container][name] = text
	return nil
}

func (s storage) get(container, name string) (string, bool, error) {
	if s.blob != nil {
		ctx, cancel := context.WithTimeout(context.Background(), storageTimeout)
		defer cancel()
		return s.blob.ReadDocument(ctx, container, name)
	}
	t, ok := s.mem[container][name]
	return t, ok, nil
}

// PutDocument stores text as blob name in the region's storage container,
// creating the container if needed. It replaces an existing blob. A blob
// storage that fails is logged: tests that use one write through it.
func (e *Emulator) PutDocument(container, name, text string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	// Jobs that ended before this write must not see it.
	e.settle(e.now())
	if err := e.storage.put(container, name, text); err != nil {
		e.log.Error("storage write failed", "error", err)
	}
}

// Document returns the text of blob name in container, so a test can check
// what a region's storage holds.
func (e *Emulator) Document(container, name string) (string, bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	t, ok, err := e.storage.get(container, name)
	if err != nil {
		e.log.Error("storage read failed", "error", err)
	}
	return t, ok
}

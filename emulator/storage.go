package emulator

// storage stands in for the blob storage account connected to the region:
// containers of .txt documents that projects refer to by name
// (metadata.storageInputContainerName and each document's location).
// Training reads from it, so a region whose container lacks a labelled
// document fails to train, as Azure does.
type storage map[string]map[string]string

func (s storage) put(container, name, text string) {
	if s[container] == nil {
		s[container] = map[string]string{}
	}
	s[container][name] = text
}

func (s storage) get(container, name string) (string, bool) {
	t, ok := s[container][name]
	return t, ok
}

// PutDocument stores text as blob name in the region's storage container,
// creating the container if needed. It replaces an existing blob.
func (e *Emulator) PutDocument(container, name, text string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	// Jobs that ended before this write must not see it.
	e.settle(e.now())
	e.storage.put(container, name, text)
}

// Document returns the text of blob name in container, so a test can check
// what a region's storage holds.
func (e *Emulator) Document(container, name string) (string, bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.storage.get(container, name)
}

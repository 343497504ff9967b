// Package blobemu is a small in-memory stand-in for Azure Blob Storage's
// blob service, for the demo (`go run ./cmd/demo` needs neither an Azure
// account nor Node.js): create container, list blobs (paged, with size and
// Content-MD5), get blob, put blob, copy blob from URL. It checks no signature and keeps
// nothing on disk. Tests use Azurite (internal/testkit/azurite), the real
// emulator; this one only has to satisfy the calls replication/docsync and
// the emulated regions make.
package blobemu

import (
	"crypto/md5"
	"encoding/base64"
	"encoding/xml"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// maxBlobBytes bounds one blob: training documents are small.
const maxBlobBytes = 4 << 20

type blobData struct {
	data        []byte
	md5         []byte
	contentType string
	modified    time.Time
}

// Service is the blob service of one account, served at /<account>/....
type Service struct {
	account string

	mu         sync.Mutex
	containers map[string]map[string]*blobData
}

// New returns an empty service for account.
func New(account string) *Service {
	return &Service{account: account, containers: map[string]map[string]*blobData{}}
}

func storageError(w http.ResponseWriter, status int, code, msg string) {
	w.Header().Set("x-ms-error-code", code)
	w.Header().Set("Content-Type", "application/xml")
	w.WriteHeader(status)
	fmt.Fprintf(w, `<?xml version="1.0" encoding="utf-8"?><Error><Code>%s</Code><Message>%s</Message></Error>`, code, msg)
}

// ServeHTTP serves path-style requests: /<account>/<container>[/<blob>].
func (s *Service) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	parts := strings.SplitN(strings.TrimPrefix(r.URL.Path, "/"), "/", 3)
	if len(parts) < 2 || parts[0] != s.account || parts[1] == "" {
		storageError(w, http.StatusBadRequest, "InvalidUri", "Only /"+s.account+"/<container>[/<blob>] is served.")
		return
	}
	w.Header().Set("x-ms-version", "2025-01-05")
	container, q := parts[1], r.URL.Query()
	switch {
	case len(parts) == 2 && r.Method == http.MethodPut && q.Get("restype") == "container":
		s.createContainer(w, container)
	case len(parts) == 2 && r.Method == http.MethodGet && q.Get("comp") == "list":
		s.list(w, r, container)
	case len(parts) == 3 && r.Method == http.MethodPut:
		s.put(w, r, container, parts[2])
	case len(parts) == 3 && (r.Method == http.MethodGet || r.Method == http.MethodHead):
		s.get(w, r, container, parts[2])
	default:
		storageError(w, http.StatusNotImplemented, "NotImplemented", "The demo's blob service does not serve this call.")
	}
}

func (s *Service) createContainer(w http.ResponseWriter, name string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.containers[name]; ok {
		storageError(w, http.StatusConflict, "ContainerAlreadyExists", "The specified container already exists.")
		return
	}
	s.containers[name] = map[string]*blobData{}
	w.WriteHeader(http.StatusCreated)
}

type listResult struct {
	XMLName       xml.Name  `xml:"EnumerationResults"`
	ContainerName string    `xml:"ContainerName,attr"`
	MaxResults    int       `xml:"MaxResults"`
	Blobs         []xmlBlob `xml:"Blobs>Blob"`
	NextMarker    string    `xml:"NextMarker"`
}

type xmlBlob struct {
	Name       string `xml:"Name"`
	Properties struct {
		LastModified  string `xml:"Last-Modified"`
		Etag          string `xml:"Etag"`
		ContentLength int    `xml:"Content-Length"`
		ContentType   string `xml:"Content-Type"`
		ContentMD5    string `xml:"Content-MD5"`
		BlobType      string `xml:"BlobType"`
	} `xml:"Properties"`
}

func etag(b *blobData) string { return fmt.Sprintf(`"0x%X"`, b.modified.UnixNano()) }

func (s *Service) list(w http.ResponseWriter, r *http.Request, container string) {
	limit, err := strconv.Atoi(r.URL.Query().Get("maxresults"))
	if err != nil || limit <= 0 || limit > 5000 {
		limit = 5000
	}
	marker, prefix := r.URL.Query().Get("marker"), r.URL.Query().Get("prefix")
	s.mu.Lock()
	blobs, ok := s.containers[container]
	var names []string
	for n := range blobs {
		if strings.HasPrefix(n, prefix) && n >= marker {
			names = append(names, n)
		}
	}
	slices.Sort(names)
	res := listResult{ContainerName: container, MaxResults: limit}
	if len(names) > limit {
		res.NextMarker = names[limit]
		names = names[:limit]
	}
	for _, n := range names {
		b := blobs[n]
		var x xmlBlob
		x.Name = n
		x.Properties.LastModified = b.modified.UTC().Format(http.TimeFormat)
		x.Properties.Etag = etag(b)
		x.Properties.ContentLength = len(b.data)
		x.Properties.ContentType = b.contentType
		x.Properties.ContentMD5 = base64.StdEncoding.EncodeToString(b.md5)
		x.Properties.BlobType = "BlockBlob"
		res.Blobs = append(res.Blobs, x)
	}
	s.mu.Unlock()
	if !ok {
		storageError(w, http.StatusNotFound, "ContainerNotFound", "The specified container does not exist.")
		return
	}
	w.Header().Set("Content-Type", "application/xml")
	_, _ = io.WriteString(w, xml.Header)
	_ = xml.NewEncoder(w).Encode(res)
}

func (s *Service) put(w http.ResponseWriter, r *http.Request, container, name string) {
	if src := r.Header.Get("x-ms-copy-source"); src != "" {
		s.copyFrom(w, src, container, name)
		return
	}
	data, err := io.ReadAll(io.LimitReader(r.Body, maxBlobBytes+1))
	if err != nil || len(data) > maxBlobBytes {
		storageError(w, http.StatusRequestEntityTooLarge, "RequestBodyTooLarge", "The demo's blob service takes blobs up to 4 MiB.")
		return
	}
	sum := md5.Sum(data)
	b := &blobData{data: data, md5: sum[:], contentType: r.Header.Get("x-ms-blob-content-type"), modified: time.Now()}
	if m := r.Header.Get("x-ms-blob-content-md5"); m != "" {
		if given, err := base64.StdEncoding.DecodeString(m); err == nil {
			b.md5 = given
		}
	}
	if b.contentType == "" {
		b.contentType = "application/octet-stream"
	}
	s.mu.Lock()
	blobs, ok := s.containers[container]
	if ok {
		blobs[name] = b
	}
	s.mu.Unlock()
	if !ok {
		storageError(w, http.StatusNotFound, "ContainerNotFound", "The specified container does not exist.")
		return
	}
	w.Header().Set("ETag", etag(b))
	w.Header().Set("Last-Modified", b.modified.UTC().Format(http.TimeFormat))
	w.Header().Set("Content-MD5", base64.StdEncoding.EncodeToString(b.md5))
	w.WriteHeader(http.StatusCreated)
}

// copyFrom is Copy Blob From URL within the service (synchronous, as
// Azure's is for blobs up to 256 MiB).
func (s *Service) copyFrom(w http.ResponseWriter, src, container, name string) {
	u, err := url.Parse(src)
	parts := []string{}
	if err == nil {
		parts = strings.SplitN(strings.TrimPrefix(u.Path, "/"), "/", 3)
	}
	if len(parts) != 3 || parts[0] != s.account {
		storageError(w, http.StatusNotFound, "CannotVerifyCopySource", "The copy source is not a blob of this account.")
		return
	}
	s.mu.Lock()
	source := s.containers[parts[1]][parts[2]]
	blobs, ok := s.containers[container]
	var b *blobData
	if source != nil && ok {
		cp := *source
		cp.modified = time.Now()
		b = &cp
		blobs[name] = b
	}
	s.mu.Unlock()
	switch {
	case source == nil:
		storageError(w, http.StatusNotFound, "CannotVerifyCopySource", "The copy source does not exist.")
		return
	case !ok:
		storageError(w, http.StatusNotFound, "ContainerNotFound", "The specified container does not exist.")
		return
	}
	w.Header().Set("ETag", etag(b))
	w.Header().Set("Last-Modified", b.modified.UTC().Format(http.TimeFormat))
	w.Header().Set("x-ms-copy-status", "success")
	w.Header().Set("x-ms-copy-id", "demo")
	w.WriteHeader(http.StatusAccepted)
}

func (s *Service) get(w http.ResponseWriter, r *http.Request, container, name string) {
	s.mu.Lock()
	blobs, ok := s.containers[container]
	b := blobs[name]
	s.mu.Unlock()
	switch {
	case !ok:
		storageError(w, http.StatusNotFound, "ContainerNotFound", "The specified container does not exist.")
		return
	case b == nil:
		storageError(w, http.StatusNotFound, "BlobNotFound", "The specified blob does not exist.")
		return
	}
	h := w.Header()
	h.Set("Content-Type", b.contentType)
	h.Set("Content-Length", strconv.Itoa(len(b.data)))
	h.Set("Content-MD5", base64.StdEncoding.EncodeToString(b.md5))
	h.Set("ETag", etag(b))
	h.Set("Last-Modified", b.modified.UTC().Format(http.TimeFormat))
	h.Set("x-ms-blob-type", "BlockBlob")
	w.WriteHeader(http.StatusOK)
	if r.Method == http.MethodGet {
		_, _ = w.Write(b.data)
	}
}

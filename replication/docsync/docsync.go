// Package docsync keeps the training documents of a project in the
// secondary region's blob container equal to the primary's, with Azure's
// own SDK for Blob Storage. An imported project only names its .txt files;
// training in the secondary reads them from the secondary's container, so
// a file that is missing there costs a billed training run that fails, or
// a model trained on fewer documents.
//
// A sync lists both containers (paged, 5,000 names a call) and compares the
// named documents by size and Content-MD5. Copy copies what is missing or
// different, server-side where the service allows it (Copy Blob From URL)
// and streamed through a bounded buffer otherwise, with bounded
// concurrency and a paced request rate; Verify only reports it. Nothing in the
// destination is ever deleted or overwritten with anything but the
// source's content, so a sync cut halfway is resumed by the next one,
// which copies only what is still missing.
package docsync

import (
	"bytes"
	"context"
	"crypto/md5"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/streaming"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/blob"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/blockblob"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/container"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/sas"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/service"
	"golang.org/x/sync/errgroup"
	"golang.org/x/time/rate"

	"nergateway/internal/scrub"
	"nergateway/internal/secret"
)

// Modes of DOCUMENT_SYNC.
const (
	ModeOff    = "off"
	ModeVerify = "verify"
	ModeCopy   = "copy"
)

// CodeDocumentsMissing is the status code of a sync that found documents
// missing (verify) or could not find them anywhere (copy).
const CodeDocumentsMissing = "DocumentsMissing"

// Defaults of Options and Syncer; each applies when its field is zero.
const (
	DefaultTimeout        = 30 * time.Second
	DefaultConcurrency    = 16
	DefaultRequestsPerSec = 500
	listPageSize          = 5000
	// smallBlob is the size up to which a document is copied with one
	// Put Blob from a buffer; larger ones are streamed in blocks of
	// streamBlock. Either way a copy holds at most about 1 MiB.
	smallBlob   = 256 << 10
	streamBlock = 1 << 20
	// firstNames is how many missing names an error lists.
	firstNames = 10
	// maxServerCopy is the largest blob Copy Blob From URL takes.
	maxServerCopy = 256 << 20
	// copySASLifetime bounds the read SAS a server-side copy hands the
	// destination service.
	copySASLifetime = 15 * time.Minute
	storageScope    = "https://storage.azure.com/.default"
)

// Options tune a Store.
type Options struct {
	// Key is the account's shared key. Empty means a SAS in the URL, or
	// else Microsoft Entra ID through azidentity's default chain (managed
	// identity, workload identity, environment, Azure CLI).
	Key secret.Secret
	// Timeout bounds each request attempt (UPSTREAM_TIMEOUT). Zero means
	// DefaultTimeout.
	Timeout time.Duration
	// Transport, if set, sends the requests (tests); nil means azcore's.
	Transport policy.Transporter
	// RetryDelay is the first wait before a retry of a failed request
	// (doubling, at most 4 retries, Retry-After honoured); zero means
	// 500ms. Tests shorten it.
	RetryDelay time.Duration
}

// Store is one storage account's blob service.
type Store struct {
	svc *service.Client
	// sas: the URL carries a SAS, so its blob URLs can be read by another
	// account. token, when set, is the Entra ID credential, whose token
	// another account can be shown instead (x-ms-copy-source-authorization).
	sas   bool
	token azcore.TokenCredential
	// keyed: the client signs with a shared key and can make a SAS.
	keyed bool
}

// String keeps the account's credential out of fmt and slog output.
func (s *Store) String() string { return "docsync.Store{" + secret.Redacted + "}" }

// GoString does for %#v what String does for %v.
func (s *Store) GoString() string { return s.String() }

// NewStore returns a store for the blob service at rawURL
// (https://<account>.blob.core.windows.net, a SAS query allowed; for
// Azurite http://127.0.0.1:10000/<account>).
func NewStore(rawURL string, o Options) (*Store, error) {
	u, err := url.Parse(strings.TrimSpace(rawURL))
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, errors.New("storage URL is not an absolute http(s) URL")
	}
	if o.Timeout == 0 {
		o.Timeout = DefaultTimeout
	}
	if o.RetryDelay == 0 {
		o.RetryDelay = 500 * time.Millisecond
	}
	co := &service.ClientOptions{ClientOptions: azcore.ClientOptions{
		Retry: policy.RetryOptions{
			MaxRetries: 4, TryTimeout: o.Timeout,
			RetryDelay: o.RetryDelay, MaxRetryDelay: 30 * time.Second,
		},
		Transport: o.Transport,
		// The SDK's request log would carry URLs; ours never does.
		Logging: policy.LogOptions{IncludeBody: false},
	}}
	switch {
	case o.Key.Reveal() != "":
		cred, err := service.NewSharedKeyCredential(accountName(u), o.Key.Reveal())
		if err != nil {
			return nil, errors.New("storage key is not valid base64")
		}
		svc, err := service.NewClientWithSharedKeyCredential(u.String(), cred, co)
		if err != nil {
			return nil, fmt.Errorf("storage client: %w", err)
		}
		return &Store{svc: svc, keyed: true}, nil
	case u.Query().Get("sig") != "":
		svc, err := service.NewClientWithNoCredential(u.String(), co)
		if err != nil {
			return nil, fmt.Errorf("storage client: %w", err)
		}
		return &Store{svc: svc, sas: true}, nil
	}
	cred, err := azidentity.NewDefaultAzureCredential(nil)
	if err != nil {
		return nil, fmt.Errorf("storage credential (no key, no SAS: Microsoft Entra ID): %w", err)
	}
	svc, err := service.NewClient(u.String(), cred, co)
	if err != nil {
		return nil, fmt.Errorf("storage client: %w", err)
	}
	return &Store{svc: svc, token: cred}, nil
}

// copySource returns what the destination service needs to read a blob of
// s itself: its URL with a read SAS (made with the shared key, valid for
// copySASLifetime, or the URL's own SAS), or its plain URL with an Entra
// ID token for x-ms-copy-source-authorization.
func (s *Store) copySource(ctx context.Context, containerName, name string) (src string, bearer *string, err error) {
	b := s.Container(containerName).NewBlobClient(name)
	switch {
	case s.keyed:
		src, err = b.GetSASURL(sas.BlobPermissions{Read: true}, time.Now().Add(copySASLifetime), nil)
		return src, nil, err
	case s.sas:
		return b.URL(), nil, nil
	}
	tok, err := s.token.GetToken(ctx, policy.TokenRequestOptions{Scopes: []string{storageScope}})
	if err != nil {
		return "", nil, fmt.Errorf("token for the copy source: %w", err)
	}
	return b.URL(), ptr("Bearer " + tok.Token), nil
}

// accountName is the account of a blob service URL: the first label of
// <account>.blob.core.windows.net, or the first path segment of a
// path-style URL (Azurite, IP addresses).
func accountName(u *url.URL) string {
	host := u.Hostname()
	if net.ParseIP(host) != nil || host == "localhost" {
		seg, _, _ := strings.Cut(strings.TrimPrefix(u.Path, "/"), "/")
		return seg
	}
	name, _, _ := strings.Cut(host, ".")
	return name
}

// Container returns a client of one of the store's containers.
func (s *Store) Container(name string) *container.Client { return s.svc.NewContainerClient(name) }

// blobInfo is what a listing tells about a document.
type blobInfo struct {
	size int64
	md5  []byte
}

func (a blobInfo) same(b blobInfo) bool {
	if a.size != b.size {
		return false
	}
	// Without an MD5 on both sides, the size is all a listing shows.
	return len(a.md5) == 0 || len(b.md5) == 0 || bytes.Equal(a.md5, b.md5)
}

// list calls visit for every blob in c whose name is wanted, a page at a
// time. A container that does not exist is empty (exists false).
func list(ctx context.Context, c *container.Client, wanted map[string]bool, visit func(string, blobInfo)) (exists bool, err error) {
	pager := c.NewListBlobsFlatPager(&container.ListBlobsFlatOptions{MaxResults: ptr(int32(listPageSize))})
	for pager.More() {
		page, err := pager.NextPage(ctx)
		if err != nil {
			if isCode(err, "ContainerNotFound") {
				return false, nil
			}
			return false, describe("list container", err)
		}
		for _, b := range page.Segment.BlobItems {
			if b.Name == nil || !wanted[*b.Name] {
				continue
			}
			info := blobInfo{}
			if p := b.Properties; p != nil {
				if p.ContentLength != nil {
					info.size = *p.ContentLength
				}
				info.md5 = p.ContentMD5
			}
			visit(*b.Name, info)
		}
	}
	return true, nil
}

// Progress counts the documents of one sync.
type Progress struct {
	// Checked is how many named documents were compared.
	Checked int `json:"checked"`
	// Copied is how many were copied to the destination.
	Copied int `json:"copied"`
	// Missing is how many the destination lacks (or holds with other
	// content) and this sync did not copy.
	Missing int `json:"missing"`
}

// MissingError is a sync that left documents missing in the destination:
// Verify found them, or Copy found them in neither container.
type MissingError struct {
	Container string
	Count     int
	// First are the first names, in the project's order.
	First []string
	// NowhereToCopyFrom is set when the source lacks them too.
	NowhereToCopyFrom bool
}

func (e *MissingError) Error() string {
	where := "missing or different in container " + e.Container
	if e.NowhereToCopyFrom {
		where = "in neither container (secondary " + e.Container + ")"
	}
	more := ""
	if e.Count > len(e.First) {
		more = ", ..."
	}
	return fmt.Sprintf("%s: %d training documents %s: %s%s", CodeDocumentsMissing, e.Count, where, strings.Join(e.First, ", "), more)
}

// Syncer syncs named documents from one store's container to another's.
type Syncer struct {
	// From and To are the primary's and the secondary's storage.
	From, To *Store
	// Mode is ModeVerify or ModeCopy.
	Mode string
	// Concurrency bounds the copies in flight. Zero means
	// DefaultConcurrency.
	Concurrency int
	// RequestsPerSecond paces the copies (each a download and an upload);
	// the accounts also serve training and other clients. Zero means
	// DefaultRequestsPerSec.
	RequestsPerSecond float64
	// OnProgress, if set, is called with the counts as they change.
	OnProgress func(Progress)
}

// Sync makes every document in names present in container to of To with
// the content it has in container from of From (Copy), or reports those
// that are not (Verify, as a *MissingError). It never deletes anything.
func (s *Syncer) Sync(ctx context.Context, from, to string, names []string) (Progress, error) {
	wanted := make(map[string]bool, len(names))
	for _, n := range names {
		wanted[n] = true
	}
	src := map[string]blobInfo{}
	if _, err := list(ctx, s.From.Container(from), wanted, func(n string, i blobInfo) { src[n] = i }); err != nil {
		return Progress{}, fmt.Errorf("primary storage: %w", err)
	}
	ok := map[string]bool{}
	inDst := map[string]bool{}
	dstExists, err := list(ctx, s.To.Container(to), wanted, func(n string, i blobInfo) {
		inDst[n] = true
		if si, found := src[n]; found && si.same(i) {
			ok[n] = true
		}
	})
	if err != nil {
		return Progress{}, fmt.Errorf("secondary storage: %w", err)
	}
	var (
		p        Progress
		toCopy   []string
		nowhere  []string
		seen     = map[string]bool{}
		differ   []string
		reported = func() {
			if s.OnProgress != nil {
				s.OnProgress(p)
			}
		}
	)
	for _, n := range names {
		if seen[n] {
			continue
		}
		seen[n] = true
		p.Checked++
		switch _, inSrc := src[n]; {
		case ok[n]:
		case !inSrc && inDst[n]:
			// The primary no longer holds it; the secondary's copy is
			// all there is, and nothing is ever deleted.
		case !inSrc:
			nowhere = append(nowhere, n)
		default:
			differ = append(differ, n)
		}
	}
	p.Missing = len(nowhere) + len(differ)
	reported()
	if len(nowhere) > 0 {
		return p, &MissingError{Container: to, Count: len(nowhere), First: head(nowhere), NowhereToCopyFrom: true}
	}
	if s.Mode != ModeCopy {
		if len(differ) > 0 {
			return p, &MissingError{Container: to, Count: len(differ), First: head(differ)}
		}
		return p, nil
	}
	toCopy = differ
	if len(toCopy) == 0 {
		return p, nil
	}
	if !dstExists {
		_, err := s.To.Container(to).Create(ctx, nil)
		if err != nil && !isCode(err, "ContainerAlreadyExists") {
			return p, fmt.Errorf("secondary storage: %w", describe("create container", err))
		}
	}

	conc := s.Concurrency
	if conc <= 0 {
		conc = DefaultConcurrency
	}
	perSec := s.RequestsPerSecond
	if perSec <= 0 {
		perSec = DefaultRequestsPerSec
	}
	pace := rate.NewLimiter(rate.Limit(perSec), conc)
	var mu sync.Mutex
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(conc)
	for _, n := range toCopy {
		if gctx.Err() != nil {
			break
		}
		g.Go(func() error {
			if err := pace.Wait(gctx); err != nil {
				return err
			}
			if err := s.copyBlob(gctx, from, to, n, src[n]); err != nil {
				return fmt.Errorf("copy %s: %w", n, err)
			}
			mu.Lock()
			p.Copied++
			p.Missing--
			reported()
			mu.Unlock()
			return nil
		})
	}
	err = g.Wait()
	mu.Lock()
	defer mu.Unlock()
	return p, err
}

// copyBlob copies one document server-side (Copy Blob From URL: the
// destination service reads the source, nothing passes through the
// gateway) and falls back to streaming it when the service cannot (an
// emulator without the call, a source it may not reach).
func (s *Syncer) copyBlob(ctx context.Context, from, to, name string, info blobInfo) error {
	if info.size <= maxServerCopy {
		src, bearer, err := s.From.copySource(ctx, from, name)
		if err != nil {
			return fmt.Errorf("copy source: %w", describe("sign", err))
		}
		_, err = s.To.Container(to).NewBlobClient(name).CopyFromURL(ctx, src,
			&blob.CopyFromURLOptions{CopySourceAuthorization: bearer})
		var re *azcore.ResponseError
		if err == nil || !errors.As(err, &re) ||
			(re.StatusCode != http.StatusNotImplemented && re.ErrorCode != "CannotVerifyCopySource") {
			return describe("copy from URL", err)
		}
	}
	return s.streamBlob(ctx, from, to, name, info)
}

// streamBlob streams one document from the source to the destination with
// its Content-MD5, so later listings compare equal.
func (s *Syncer) streamBlob(ctx context.Context, from, to, name string, info blobInfo) error {
	dl, err := s.From.Container(from).NewBlobClient(name).DownloadStream(ctx, nil)
	if err != nil {
		return describe("download", err)
	}
	body := dl.Body
	defer body.Close()
	dst := s.To.Container(to).NewBlockBlobClient(name)
	headers := &blob.HTTPHeaders{BlobContentType: dl.ContentType, BlobContentMD5: info.md5}
	if info.size <= smallBlob {
		buf, err := io.ReadAll(io.LimitReader(body, smallBlob+1))
		if err != nil {
			return describe("download", err)
		}
		if int64(len(buf)) != info.size {
			return fmt.Errorf("download: got %d bytes, the listing said %d (changed while copying)", len(buf), info.size)
		}
		if headers.BlobContentMD5 == nil {
			sum := md5.Sum(buf)
			headers.BlobContentMD5 = sum[:]
		}
		_, err = dst.Upload(ctx, streaming.NopCloser(bytes.NewReader(buf)), &blockblob.UploadOptions{HTTPHeaders: headers})
		return describe("upload", err)
	}
	_, err = dst.UploadStream(ctx, body, &blockblob.UploadStreamOptions{BlockSize: streamBlock, Concurrency: 1, HTTPHeaders: headers})
	return describe("upload", err)
}

// Texts returns the first n documents (by name) of container whose names
// end in .txt, each cut to maxBytes at a UTF-8 boundary: the canary's
// documents.
func (s *Store) Texts(ctx context.Context, containerName string, n, maxBytes int) (names, texts []string, err error) {
	c := s.Container(containerName)
	pager := c.NewListBlobsFlatPager(&container.ListBlobsFlatOptions{MaxResults: ptr(int32(listPageSize))})
	for pager.More() && len(names) < n {
		page, err := pager.NextPage(ctx)
		if err != nil {
			return nil, nil, describe("list container", err)
		}
		for _, b := range page.Segment.BlobItems {
			if b.Name != nil && strings.HasSuffix(*b.Name, ".txt") && len(names) < n {
				names = append(names, *b.Name)
			}
		}
	}
	for _, name := range names {
		dl, err := c.NewBlobClient(name).DownloadStream(ctx, nil)
		if err != nil {
			return nil, nil, describe("download", err)
		}
		b, err := io.ReadAll(io.LimitReader(dl.Body, int64(maxBytes)))
		_ = dl.Body.Close()
		if err != nil {
			return nil, nil, describe("download", err)
		}
		texts = append(texts, strings.ToValidUTF8(string(b), ""))
	}
	return names, texts, nil
}

// Error is a failed storage request, described without its URL (a SAS
// would be in it): the operation, the HTTP status and the service's code.
type Error struct {
	Op         string
	StatusCode int
	Code       string
	// Cause is what went wrong below HTTP ("timeout", "dial: connect:
	// connection refused"), with no host or URL in it.
	Cause string
	err   error
}

func (e *Error) Error() string {
	if e.StatusCode == 0 {
		return e.Op + ": storage unreachable (" + e.Cause + ")"
	}
	return fmt.Sprintf("%s: HTTP %d %s", e.Op, e.StatusCode, e.Code)
}

// Unwrap gives errors.Is the context errors; the SDK's own error, whose
// text carries the request URL, stays out of the chain's text.
func (e *Error) Unwrap() error { return e.err }

// describe turns an SDK error into an *Error.
func describe(op string, err error) error {
	if err == nil {
		return nil
	}
	var re *azcore.ResponseError
	if errors.As(err, &re) {
		return &Error{Op: op, StatusCode: re.StatusCode, Code: re.ErrorCode}
	}
	// The SDK's text and a *url.Error name the URL, SAS included: only
	// the kind of failure is kept.
	e := &Error{Op: op, Cause: scrub.Cause(err)}
	switch {
	case errors.Is(err, context.DeadlineExceeded):
		e.err = context.DeadlineExceeded
	case errors.Is(err, context.Canceled):
		e.err = context.Canceled
	}
	return e
}

func isCode(err error, code string) bool {
	var re *azcore.ResponseError
	return errors.As(err, &re) && re.ErrorCode == code
}

func head(names []string) []string {
	return names[:min(len(names), firstNames)]
}

func ptr[T any](v T) *T { return &v }

// maxDocumentBytes bounds what ReadDocument reads: Azure's custom NER
// documents are at most 128,000 characters.
const maxDocumentBytes = 1 << 20

// ReadDocument returns the text of one blob; found is false when the blob
// or its container does not exist. With WriteDocument it makes a Store the
// emulator's blob storage (emulator.Documents).
func (s *Store) ReadDocument(ctx context.Context, containerName, name string) (string, bool, error) {
	dl, err := s.Container(containerName).NewBlobClient(name).DownloadStream(ctx, nil)
	if isCode(err, "BlobNotFound") || isCode(err, "ContainerNotFound") {
		return "", false, nil
	}
	if err != nil {
		return "", false, describe("download", err)
	}
	defer dl.Body.Close()
	b, err := io.ReadAll(io.LimitReader(dl.Body, maxDocumentBytes))
	if err != nil {
		return "", false, describe("download", err)
	}
	return string(b), true, nil
}

// WriteDocument stores text as one blob, creating the container if needed.
func (s *Store) WriteDocument(ctx context.Context, containerName, name, text string) error {
	c := s.Container(containerName)
	if _, err := c.Create(ctx, nil); err != nil && !isCode(err, "ContainerAlreadyExists") {
		return describe("create container", err)
	}
	_, err := c.NewBlockBlobClient(name).Upload(ctx, streaming.NopCloser(strings.NewReader(text)),
		&blockblob.UploadOptions{HTTPHeaders: &blob.HTTPHeaders{BlobContentType: ptr("text/plain; charset=utf-8")}})
	return describe("upload", err)
}

// Package docsync keeps the training documents of a project in the
// secondary region's blob container equal to the primary's, with Azure's
// own SDK for Blob Storage. An imported project only names its .txt files;
// training in the secondary reads them from the secondary's container, so
// a file that is missing there costs a billed training run that fails, or
// a model trained on fewer documents.
//
// A sync lists both containers (paged, 5,000 names a call) and compares the
// named documents by size and Content-MD5. Copy copies what is missing or
// different, server-side where the secondary's service can read the
// primary's blob (Copy Blob From URL) and streamed through a bounded buffer
// otherwise (two accounts behind firewalls or private endpoints, two
// emulators), with bounded concurrency and a paced request rate; Verify
// only reports it. Names travel exactly: each is escaped one path segment
// at a time, never cleaned or decoded twice. Nothing in the
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
	"sync/atomic"
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
	// Side names the store in the errors of its own methods (Texts,
	// ReadDocument, WriteDocument): "primary" or "secondary". Empty says
	// only "storage". A Syncer names its From and To itself.
	Side string
}

// Store is one storage account's blob service.
type Store struct {
	svc  *service.Client
	side string
	// newBlob returns a client of the blob at blobURL that authenticates
	// as svc does; blobURL names the blob as blobURL builds it.
	newBlob func(blobURL string) (*blockblob.Client, error)
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
	bo := &blockblob.ClientOptions{ClientOptions: co.ClientOptions}
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
		return &Store{svc: svc, side: o.Side, keyed: true, newBlob: func(blobURL string) (*blockblob.Client, error) {
			return blockblob.NewClientWithSharedKeyCredential(blobURL, cred, bo)
		}}, nil
	case u.Query().Get("sig") != "":
		svc, err := service.NewClientWithNoCredential(u.String(), co)
		if err != nil {
			return nil, fmt.Errorf("storage client: %w", err)
		}
		return &Store{svc: svc, side: o.Side, sas: true, newBlob: func(blobURL string) (*blockblob.Client, error) {
			return blockblob.NewClientWithNoCredential(blobURL, bo)
		}}, nil
	}
	chain, err := azidentity.NewDefaultAzureCredential(nil)
	if err != nil {
		return nil, fmt.Errorf("storage credential (no key, no SAS: Microsoft Entra ID): %w", err)
	}
	cred := &sharedToken{cred: chain}
	svc, err := service.NewClient(u.String(), cred, co)
	if err != nil {
		return nil, fmt.Errorf("storage client: %w", err)
	}
	return &Store{svc: svc, side: o.Side, token: cred, newBlob: func(blobURL string) (*blockblob.Client, error) {
		return blockblob.NewClient(blobURL, cred, bo)
	}}, nil
}

// sharedToken hands every client of a Store the same token until it is
// about to expire: a Store makes a client per blob, azcore's bearer policy
// caches tokens per client, and some credentials (the Azure CLI's) do not
// cache at all, which would ask for a token per document.
type sharedToken struct {
	cred azcore.TokenCredential
	mu   sync.Mutex
	key  string
	tok  azcore.AccessToken
}

// tokenMargin is how long before its expiry a shared token is renewed.
const tokenMargin = 5 * time.Minute

// GetToken returns the cached token for the same request, else a new one.
// A claims challenge always asks the credential.
func (c *sharedToken) GetToken(ctx context.Context, o policy.TokenRequestOptions) (azcore.AccessToken, error) {
	key := strings.Join(o.Scopes, " ") + "|" + o.TenantID
	c.mu.Lock()
	defer c.mu.Unlock()
	if o.Claims == "" && key == c.key && time.Until(c.tok.ExpiresOn) > tokenMargin {
		return c.tok, nil
	}
	tok, err := c.cred.GetToken(ctx, o)
	if err != nil {
		return tok, err
	}
	c.key, c.tok = key, tok
	return tok, nil
}

// blob returns a client of one blob, its name escaped by escapeName (the
// SDK's own NewBlobClient escapes a "/" too, and cleans the joined path).
func (s *Store) blob(containerName, name string) (*blockblob.Client, error) {
	base, query, _ := strings.Cut(s.Container(containerName).URL(), "?")
	u := strings.TrimSuffix(base, "/") + "/" + escapeName(name)
	if query != "" {
		u += "?" + query
	}
	return s.newBlob(u)
}

// dotSegment reports whether a blob name has a "." or ".." segment. Such a
// document is never copied server-side: the copy source is a URL the
// secondary's service parses, and a parser that resolves dot segments
// reads another blob than the one named, which may exist (WHATWG's does,
// encoded dots included: Azurite reads .../a/%2E%2E/b.txt as .../b.txt).
func dotSegment(name string) bool {
	for seg := range strings.SplitSeq(name, "/") {
		if seg == "." || seg == ".." {
			return true
		}
	}
	return false
}

// escapeName is a blob name as a URL path, escaped one segment at a time:
// each "/" stays the separator the service's listings show, everything
// else that is not unreserved is percent-encoded, "%" included, so the
// service decodes exactly the name (a literal "%2e%2e" stays six
// characters, never ".."). A segment of dots alone is encoded too: no
// client, proxy or service on the way may take "." or ".." for a step
// through the path.
func escapeName(name string) string {
	segs := strings.Split(name, "/")
	for i, seg := range segs {
		if seg == "." || seg == ".." {
			segs[i] = strings.Repeat("%2E", len(seg))
			continue
		}
		segs[i] = url.PathEscape(seg)
	}
	return strings.Join(segs, "/")
}

// copySource returns what the destination service needs to read a blob of
// s itself: its URL with a read SAS (made with the shared key, valid for
// copySASLifetime, or the URL's own SAS), or its plain URL with an Entra
// ID token for x-ms-copy-source-authorization.
func (s *Store) copySource(ctx context.Context, containerName, name string) (src string, bearer *string, err error) {
	bb, err := s.blob(containerName, name)
	if err != nil {
		return "", nil, err
	}
	b := bb.BlobClient()
	switch {
	case s.keyed:
		signed, err := b.GetSASURL(sas.BlobPermissions{Read: true}, time.Now().Add(copySASLifetime), nil)
		if err != nil {
			return "", nil, err
		}
		// The SAS signs the decoded name; the URL stays the one blob
		// built, which the SDK would escape another way.
		_, query, _ := strings.Cut(signed, "?")
		return b.URL() + "?" + query, nil, nil
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

// The sides of a sync, as its errors name them.
const (
	sidePrimary   = "primary"
	sideSecondary = "secondary"
)

// list calls visit for every blob in container of s whose name is wanted,
// a page at a time. A container that does not exist is empty (exists
// false). side names s in the error.
func list(ctx context.Context, s *Store, side, containerName string, wanted map[string]bool, visit func(string, blobInfo)) (exists bool, err error) {
	pager := s.Container(containerName).NewListBlobsFlatPager(&container.ListBlobsFlatOptions{MaxResults: ptr(int32(listPageSize))})
	for pager.More() {
		page, err := pager.NextPage(ctx)
		if err != nil {
			if isCode(err, "ContainerNotFound") {
				return false, nil
			}
			return false, describe(side, containerName, "list", err)
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
	// Streamed is how many of Copied passed through this process, because
	// the secondary's service could not read the primary's blobs itself.
	Streamed int `json:"streamed"`
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
	// From and To are the primary's and the secondary's storage; errors
	// name them so.
	From, To *Store
	// Copy copies the documents the secondary lacks (DOCUMENT_SYNC=copy);
	// false only verifies that it holds them (verify).
	Copy bool
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
// the content it has in container from of From (with Copy), or reports
// those that are not (without, as a *MissingError). It never deletes
// anything.
func (s *Syncer) Sync(ctx context.Context, from, to string, names []string) (Progress, error) {
	c, err := s.compare(ctx, from, to, names)
	if err != nil {
		return Progress{}, err
	}
	p := Progress{Checked: c.checked, Missing: len(c.nowhere) + len(c.differ)}
	s.report(p)
	switch {
	case len(c.nowhere) > 0:
		return p, &MissingError{Container: to, Count: len(c.nowhere), First: head(c.nowhere), NowhereToCopyFrom: true}
	case !s.Copy && len(c.differ) > 0:
		return p, &MissingError{Container: to, Count: len(c.differ), First: head(c.differ)}
	case !s.Copy || len(c.differ) == 0:
		return p, nil
	}
	if !c.dstExists {
		_, err := s.To.Container(to).Create(ctx, nil)
		if err != nil && !isCode(err, "ContainerAlreadyExists") {
			return p, describe(sideSecondary, to, "create container", err)
		}
	}
	return s.copyAll(ctx, &copier{Syncer: s, from: from, to: to}, c, p)
}

// comparison is what listing both containers tells about the named
// documents.
type comparison struct {
	// src are the named documents the source holds.
	src map[string]blobInfo
	// dstExists: the destination container exists.
	dstExists bool
	// checked counts the distinct names.
	checked int
	// nowhere are in neither container; differ are in the source and
	// missing or different in the destination. Both keep names' order.
	nowhere, differ []string
}

// compare lists both containers and sorts the named documents: in the
// destination with the source's content, in neither, or to copy. A
// document the source no longer holds is fine where the destination has
// it: that copy is all there is, and nothing is ever deleted.
func (s *Syncer) compare(ctx context.Context, from, to string, names []string) (*comparison, error) {
	wanted := make(map[string]bool, len(names))
	for _, n := range names {
		wanted[n] = true
	}
	c := &comparison{src: map[string]blobInfo{}}
	if _, err := list(ctx, s.From, sidePrimary, from, wanted, func(n string, i blobInfo) { c.src[n] = i }); err != nil {
		return nil, err
	}
	ok := map[string]bool{}
	inDst := map[string]bool{}
	dstExists, err := list(ctx, s.To, sideSecondary, to, wanted, func(n string, i blobInfo) {
		inDst[n] = true
		if si, found := c.src[n]; found && si.same(i) {
			ok[n] = true
		}
	})
	if err != nil {
		return nil, err
	}
	c.dstExists = dstExists
	seen := map[string]bool{}
	for _, n := range names {
		if seen[n] {
			continue
		}
		seen[n] = true
		c.checked++
		switch _, inSrc := c.src[n]; {
		case ok[n], !inSrc && inDst[n]:
		case !inSrc:
			c.nowhere = append(c.nowhere, n)
		default:
			c.differ = append(c.differ, n)
		}
	}
	return c, nil
}

// copyAll copies c's differing documents with cp, at most Concurrency at
// once and RequestsPerSecond paced, counting them in p as they land. The
// first failure stops the copies not started yet.
func (s *Syncer) copyAll(ctx context.Context, cp *copier, c *comparison, p Progress) (Progress, error) {
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
	for _, n := range c.differ {
		if gctx.Err() != nil {
			break
		}
		g.Go(func() error {
			if err := pace.Wait(gctx); err != nil {
				return err
			}
			streamed, err := cp.copyBlob(gctx, n, c.src[n])
			if err != nil {
				return fmt.Errorf("copy %q: %w", n, err)
			}
			mu.Lock()
			defer mu.Unlock()
			p.Copied++
			if streamed {
				p.Streamed++
			}
			p.Missing--
			s.report(p)
			return nil
		})
	}
	err := g.Wait()
	mu.Lock()
	defer mu.Unlock()
	return p, err
}

// report hands p to OnProgress, if set.
func (s *Syncer) report(p Progress) {
	if s.OnProgress != nil {
		s.OnProgress(p)
	}
}

// copier copies the documents of one Sync.
type copier struct {
	*Syncer
	from, to string
	// streamOnly is set once the secondary's service has shown it cannot
	// read the primary's blobs: the rest of the sync streams without
	// asking it again.
	streamOnly atomic.Bool
}

// copyBlob copies one document server-side (Copy Blob From URL: the
// destination service reads the source, nothing passes through this
// process) and streams it when the destination cannot read the source
// (another service that may not reach it, an emulator without the call).
// streamed says which way it went.
func (c *copier) copyBlob(ctx context.Context, name string, info blobInfo) (streamed bool, err error) {
	if info.size > maxServerCopy || c.streamOnly.Load() || dotSegment(name) {
		return true, c.streamBlob(ctx, name, info)
	}
	src, bearer, err := c.From.copySource(ctx, c.from, name)
	if err != nil {
		return false, describe(sidePrimary, c.from, "sign the copy source", err)
	}
	dst, err := c.To.blob(c.to, name)
	if err != nil {
		return false, describe(sideSecondary, c.to, "copy from URL", err)
	}
	_, serverErr := dst.BlobClient().CopyFromURL(ctx, src, &blob.CopyFromURLOptions{CopySourceAuthorization: bearer})
	if serverErr == nil {
		return false, nil
	}
	refused, err := c.sourceUnreadable(ctx, serverErr)
	if err != nil {
		return false, err
	}
	if !refused {
		return false, describe(sideSecondary, c.to, "copy from URL", serverErr)
	}
	c.streamOnly.Store(true)
	if err := c.streamBlob(ctx, name, info); err != nil {
		var re *azcore.ResponseError
		errors.As(serverErr, &re) // sourceUnreadable saw one
		return true, fmt.Errorf("%w (streamed: the secondary's service could not read the primary's blob, copy from URL: HTTP %d %s)", err, re.StatusCode, re.ErrorCode)
	}
	return true, nil
}

// sourceUnreadable judges a failed Copy Blob From URL: whether the
// secondary's service could not read the primary's blob (refused, so
// streaming may succeed), or failed on its own side (err, which names
// it). Refusals are CannotVerifyCopySource, 401 and 403 (a firewall, a
// private endpoint, a missing role: AuthorizationFailure,
// AuthorizationPermissionMismatch), 501 from a service without the call,
// and 404 from a service that looks the source up among its own accounts
// (Azurite, when both accounts have one name), which only the secondary's
// own container tells apart from a 404 about that container.
func (c *copier) sourceUnreadable(ctx context.Context, serverErr error) (refused bool, err error) {
	var re *azcore.ResponseError
	if !errors.As(serverErr, &re) {
		return false, nil // no answer: the secondary is unreachable
	}
	switch {
	case re.ErrorCode == "CannotVerifyCopySource",
		re.StatusCode == http.StatusNotImplemented,
		re.StatusCode == http.StatusUnauthorized,
		re.StatusCode == http.StatusForbidden:
		return true, nil
	case re.StatusCode != http.StatusNotFound:
		return false, nil
	}
	_, err = c.To.Container(c.to).GetProperties(ctx, nil)
	switch {
	case isCode(err, "ContainerNotFound"):
		return false, describe(sideSecondary, c.to, "copy from URL", serverErr)
	case err != nil:
		return false, describe(sideSecondary, c.to, "read properties", err)
	}
	return true, nil
}

// streamBlob streams one document from the source to the destination with
// its Content-MD5, so later listings compare equal.
func (c *copier) streamBlob(ctx context.Context, name string, info blobInfo) error {
	src, err := c.From.blob(c.from, name)
	if err != nil {
		return describe(sidePrimary, c.from, "download", err)
	}
	dst, err := c.To.blob(c.to, name)
	if err != nil {
		return describe(sideSecondary, c.to, "upload", err)
	}
	dl, err := src.DownloadStream(ctx, nil)
	if err != nil {
		return describe(sidePrimary, c.from, "download", err)
	}
	body := dl.Body
	defer body.Close()
	headers := &blob.HTTPHeaders{BlobContentType: dl.ContentType, BlobContentMD5: info.md5}
	if info.size <= smallBlob {
		buf, err := io.ReadAll(io.LimitReader(body, smallBlob+1))
		if err != nil {
			return describe(sidePrimary, c.from, "download", err)
		}
		if int64(len(buf)) != info.size {
			return fmt.Errorf("primary storage, container %s: download: got %d bytes, the listing said %d (changed while copying)", c.from, len(buf), info.size)
		}
		if headers.BlobContentMD5 == nil {
			sum := md5.Sum(buf)
			headers.BlobContentMD5 = sum[:]
		}
		_, err = dst.Upload(ctx, streaming.NopCloser(bytes.NewReader(buf)), &blockblob.UploadOptions{HTTPHeaders: headers})
		return describe(sideSecondary, c.to, "upload", err)
	}
	counted := &countingReader{r: body}
	_, err = dst.UploadStream(ctx, counted, &blockblob.UploadStreamOptions{BlockSize: streamBlock, Concurrency: 1, HTTPHeaders: headers})
	switch {
	case counted.err != nil:
		// The upload stopped because the download did.
		return describe(sidePrimary, c.from, "download", counted.err)
	case err != nil:
		return describe(sideSecondary, c.to, "upload", err)
	case counted.n != info.size:
		return fmt.Errorf("primary storage, container %s: download: got %d bytes, the listing said %d (changed while copying)", c.from, counted.n, info.size)
	}
	return nil
}

// countingReader counts what a download gave and keeps its error, so a
// failed stream is charged to the side that failed.
type countingReader struct {
	r   io.Reader
	n   int64
	err error
}

func (cr *countingReader) Read(p []byte) (int, error) {
	n, err := cr.r.Read(p)
	cr.n += int64(n)
	if err != nil && err != io.EOF {
		cr.err = err
	}
	return n, err
}

// Texts returns the first n documents (by name) of container whose names
// end in .txt, each cut to maxBytes at a UTF-8 boundary: the canary's
// documents.
func (s *Store) Texts(ctx context.Context, containerName string, n, maxBytes int) (names, texts []string, err error) {
	pager := s.Container(containerName).NewListBlobsFlatPager(&container.ListBlobsFlatOptions{MaxResults: ptr(int32(listPageSize))})
	for pager.More() && len(names) < n {
		page, err := pager.NextPage(ctx)
		if err != nil {
			return nil, nil, describe(s.side, containerName, "list", err)
		}
		for _, b := range page.Segment.BlobItems {
			if b.Name != nil && strings.HasSuffix(*b.Name, ".txt") && len(names) < n {
				names = append(names, *b.Name)
			}
		}
	}
	for _, name := range names {
		b, found, err := s.read(ctx, containerName, name, int64(maxBytes))
		if err != nil {
			return nil, nil, err
		}
		if !found { // listed a moment ago
			return nil, nil, &Error{Side: s.side, Container: containerName, Op: "download", StatusCode: http.StatusNotFound, Code: "BlobNotFound"}
		}
		texts = append(texts, strings.ToValidUTF8(string(b), ""))
	}
	return names, texts, nil
}

// Error is a failed storage request, described without its URL (a SAS
// would be in it): whose storage, which container, the operation, the
// HTTP status and the service's code.
type Error struct {
	// Side is "primary" or "secondary"; empty when the store was not
	// told (Options.Side).
	Side string
	// Container is the container the request was about.
	Container string
	// Op is what was asked: "list", "read properties", "create
	// container", "sign the copy source", "copy from URL", "download",
	// "upload".
	Op         string
	StatusCode int
	Code       string
	// Cause is what went wrong below HTTP ("timeout", "dial: connect:
	// connection refused"), with no host or URL in it.
	Cause string
	err   error
}

func (e *Error) Error() string {
	where := "storage, container " + e.Container
	if e.Side != "" {
		where = e.Side + " " + where
	}
	if e.StatusCode == 0 {
		return where + ": " + e.Op + ": storage unreachable (" + e.Cause + ")"
	}
	return fmt.Sprintf("%s: %s: HTTP %d %s", where, e.Op, e.StatusCode, e.Code)
}

// Unwrap gives errors.Is the context errors; the SDK's own error, whose
// text carries the request URL, stays out of the chain's text.
func (e *Error) Unwrap() error { return e.err }

// describe turns an SDK error into an *Error.
func describe(side, containerName, op string, err error) error {
	if err == nil {
		return nil
	}
	var re *azcore.ResponseError
	if errors.As(err, &re) {
		return &Error{Side: side, Container: containerName, Op: op, StatusCode: re.StatusCode, Code: re.ErrorCode}
	}
	// The SDK's text and a *url.Error name the URL, SAS included: only
	// the kind of failure is kept.
	e := &Error{Side: side, Container: containerName, Op: op, Cause: scrub.Cause(err)}
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

// read returns at most limit bytes of one blob; found is false when the
// blob or its container does not exist.
func (s *Store) read(ctx context.Context, containerName, name string, limit int64) (b []byte, found bool, err error) {
	bb, err := s.blob(containerName, name)
	if err != nil {
		return nil, false, describe(s.side, containerName, "download", err)
	}
	dl, err := bb.DownloadStream(ctx, nil)
	if isCode(err, "BlobNotFound") || isCode(err, "ContainerNotFound") {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, describe(s.side, containerName, "download", err)
	}
	defer dl.Body.Close()
	b, err = io.ReadAll(io.LimitReader(dl.Body, limit))
	if err != nil {
		return nil, false, describe(s.side, containerName, "download", err)
	}
	return b, true, nil
}

// ReadDocument returns the text of one blob; found is false when the blob
// or its container does not exist. With WriteDocument it makes a Store the
// emulator's blob storage (emulator.Documents).
func (s *Store) ReadDocument(ctx context.Context, containerName, name string) (string, bool, error) {
	b, found, err := s.read(ctx, containerName, name, maxDocumentBytes)
	return string(b), found, err
}

// WriteDocument stores text as one blob, creating the container if needed.
func (s *Store) WriteDocument(ctx context.Context, containerName, name, text string) error {
	if _, err := s.Container(containerName).Create(ctx, nil); err != nil && !isCode(err, "ContainerAlreadyExists") {
		return describe(s.side, containerName, "create container", err)
	}
	bb, err := s.blob(containerName, name)
	if err != nil {
		return describe(s.side, containerName, "upload", err)
	}
	_, err = bb.Upload(ctx, streaming.NopCloser(strings.NewReader(text)),
		&blockblob.UploadOptions{HTTPHeaders: &blob.HTTPHeaders{BlobContentType: ptr("text/plain; charset=utf-8")}})
	return describe(s.side, containerName, "upload", err)
}

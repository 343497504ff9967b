package gateway

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/container"

	"nergateway/api"
	"nergateway/internal/config"
	"nergateway/internal/entra"
	"nergateway/internal/scrub"
	"nergateway/replication/docsync"
	"nergateway/rescue"
)

// The probes of `check-config -probe`: one call to each thing the gateway
// talks to, with the credentials it would use. A problem names the
// variable to change: the one holding the credential when a credential
// is refused, the address when nothing answers. No line holds a key, a
// URL or a region host.

// probeRegions sends each region the health probe's call.
func probeRegions(ctx context.Context, up *upstream) []string {
	up.renew(ctx) // one token for both probes; without one each says why
	cfg := up.cfg
	var problems []string
	for _, r := range up.sides {
		client, err := up.client(r, cfg.UpstreamTimeout)
		if err != nil {
			problems = append(problems, r.prefix+"ENDPOINT: "+err.Error())
			continue
		}
		callCtx, cancel := context.WithTimeout(ctx, cfg.UpstreamTimeout)
		err = client.Probe(callCtx)
		cancel()
		var apiErr *api.Error
		switch {
		case err == nil:
		case errors.Is(err, entra.ErrNoToken):
			problems = append(problems, r.prefix+"AUTH: no Microsoft Entra ID token (AZURE_* variables or the workload's identity): "+firstLine(err))
		case errors.As(err, &apiErr) && (apiErr.StatusCode == 401 || apiErr.StatusCode == 403) && r.auth == config.AuthEntra:
			problems = append(problems, fmt.Sprintf("%sAUTH: the %s region refused the Microsoft Entra ID token (%s): the identity needs a Cognitive Services role on it",
				r.prefix, r.role, statusCode(apiErr.StatusCode, apiErr.Code)))
		case errors.As(err, &apiErr) && (apiErr.StatusCode == 401 || apiErr.StatusCode == 403):
			problems = append(problems, fmt.Sprintf("%sRESOURCE_KEY: the %s region refused the key (%s)",
				r.prefix, r.role, statusCode(apiErr.StatusCode, apiErr.Code)))
		default:
			problems = append(problems, r.prefix+"ENDPOINT: "+probeProblem(err))
		}
	}
	return problems
}

// statusCode is "401", or "403 Forbidden" when the service's code says more
// than the status (Azure's Language service repeats the status as code).
func statusCode(status int, code string) string {
	s := strconv.Itoa(status)
	if code != "" && code != s {
		s += " " + code
	}
	return s
}

// probeProblem says what went wrong reaching a region, in words that hold
// no host or key.
func probeProblem(err error) string {
	var apiErr *api.Error
	var netErr net.Error
	switch {
	case errors.As(err, &apiErr):
		return fmt.Sprintf("the region answered %s", statusCode(apiErr.StatusCode, apiErr.Code))
	case errors.Is(err, context.DeadlineExceeded):
		return "no answer within UPSTREAM_TIMEOUT"
	case errors.As(err, &netErr) && netErr.Timeout():
		return "no answer within UPSTREAM_TIMEOUT"
	case strings.Contains(err.Error(), "certificate"):
		return "TLS certificate not trusted (UPSTREAM_CA_FILE adds a CA)"
	case strings.Contains(err.Error(), "no such host"):
		return "the host name does not resolve"
	}
	return "unreachable (connection failed)"
}

// firstLine is the first line of err's text (azidentity's errors run on
// with troubleshooting links).
func firstLine(err error) string {
	line, _, _ := strings.Cut(err.Error(), "\n")
	return line
}

// probeRescue pings JOB_RESCUE's Redis with the password in its URL.
func probeRescue(ctx context.Context, cfg *config.Config) []string {
	if !cfg.RescueOn() {
		return nil
	}
	callCtx, cancel := context.WithTimeout(ctx, cfg.UpstreamTimeout)
	defer cancel()
	if err := rescue.Ping(callCtx, cfg.JobRescue, cfg.UpstreamTimeout); err != nil {
		return []string{rescueProblem(err)}
	}
	return nil
}

// checkRescue is check-config's look at JOB_RESCUE without -probe: the
// store's own parse of the URL (go-redis's), which config.Load, not
// linking the store, checks only in shape.
func checkRescue(cfg *config.Config) []string {
	if !cfg.RescueOn() {
		return nil
	}
	if _, err := rescue.ParseBackend(cfg.JobRescue); err != nil {
		return []string{rescueProblem(err)}
	}
	return nil
}

// rescueProblem is a rescue error as a check-config line naming JOB_RESCUE.
func rescueProblem(err error) string {
	return "JOB_RESCUE: " + strings.TrimPrefix(err.Error(), "rescue: JOB_RESCUE ")
}

// probeStorage lists each configured container (PRIMARY_CONTAINER_NAME in
// PRIMARY_STORAGE_URL's account, SECONDARY_CONTAINER_NAME in
// SECONDARY_STORAGE_URL's) with the credential replication would use.
func probeStorage(ctx context.Context, cfg *config.Config) []string {
	var problems []string
	for _, s := range sides(cfg) {
		if s.storageURL.Reveal() == "" || s.container == "" {
			continue
		}
		transport := &causeTransport{client: &http.Client{}}
		store, err := docsync.NewStore(s.storageURL.Reveal(), docsync.Options{Key: s.storageKey, Timeout: cfg.UpstreamTimeout, Transport: transport})
		if err != nil {
			problems = append(problems, s.prefix+"STORAGE_URL: "+err.Error())
			continue
		}
		callCtx, cancel := context.WithTimeout(ctx, cfg.UpstreamTimeout)
		_, err = store.Container(s.container).NewListBlobsFlatPager(&container.ListBlobsFlatOptions{MaxResults: new(int32(1))}).NextPage(callCtx)
		cancel()
		if err == nil {
			continue
		}
		// Who holds the credential: the shared key, else the URL (a SAS in
		// its query, or none: the workload's Entra ID identity).
		credential, what := s.prefix+"STORAGE_URL", "its SAS or Microsoft Entra ID identity"
		if s.storageKey.Reveal() != "" {
			credential, what = s.prefix+"STORAGE_KEY", "the key"
		}
		var re *azcore.ResponseError
		switch {
		case errors.As(err, &re) && re.StatusCode == http.StatusNotFound:
			problems = append(problems, fmt.Sprintf("%sCONTAINER_NAME: the %s storage account has no such container (%s)",
				s.prefix, s.role, statusCode(re.StatusCode, re.ErrorCode)))
		case errors.As(err, &re) && (re.StatusCode == http.StatusUnauthorized || re.StatusCode == http.StatusForbidden):
			problems = append(problems, fmt.Sprintf("%s: the %s storage account refused %s for container %s (%s)",
				credential, s.role, what, s.container, statusCode(re.StatusCode, re.ErrorCode)))
		case errors.As(err, &re):
			problems = append(problems, fmt.Sprintf("%sSTORAGE_URL: the %s storage account answered %s listing container %s",
				s.prefix, s.role, statusCode(re.StatusCode, re.ErrorCode), s.container))
		default:
			if cause := transport.cause(); cause != nil {
				err = cause // the SDK retried until the time ran out; say why the attempts failed
			}
			problems = append(problems, fmt.Sprintf("%sSTORAGE_URL: the %s storage account is unreachable (%s)", s.prefix, s.role, scrub.Cause(err)))
		}
	}
	return problems
}

// causeTransport sends the storage probe's requests and keeps the last
// failure below HTTP: the SDK retries a refused connection until the
// probe's time is up, and "timeout" alone would hide the refusal.
type causeTransport struct {
	client *http.Client
	mu     sync.Mutex
	last   error
}

func (t *causeTransport) Do(req *http.Request) (*http.Response, error) {
	resp, err := t.client.Do(req)
	if err != nil && req.Context().Err() == nil {
		t.mu.Lock()
		t.last = err
		t.mu.Unlock()
	}
	return resp, err
}

func (t *causeTransport) cause() error {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.last
}

// Package azurite runs Azurite, Azure Storage's own emulator, for tests:
// its blob service only, in memory, on a free loopback port, stopped by its
// process id. Each Server is its own process with its own working
// directory, port and account, so a test can run two independent blob
// services, as two regions' storage accounts are. Azurite comes from npm,
// pinned in testdata/package.json and package-lock.json; the first test
// that needs it installs it there with npm (a fresh machine has Node.js
// and npm). A machine without Node.js fails the test: it never skips.
package azurite

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// Azurite's well-known development account. Its key is published in
// Microsoft's documentation and grants nothing outside an emulator.
const (
	Account = "devstoreaccount1"
	Key     = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
)

// Options choose the account a Server serves.
type Options struct {
	// Account and Key are the one account the server serves (Azurite's
	// AZURITE_ACCOUNTS: the development account is then not served).
	// Empty means Azurite's development account, Account and Key. Key is
	// base64, as Azure's shared keys are.
	Account, Key string
}

// Server is one Azurite blob service.
type Server struct {
	// URL is the blob service URL of the server's account, path style:
	// http://127.0.0.1:<port>/devstoreaccount1.
	URL string
	// Account and Key are the account it serves and its shared key.
	Account, Key string

	work   string
	mu     sync.Mutex
	cmd    *exec.Cmd
	exited chan error
}

// Start runs Azurite with the development account and waits until it
// answers; the test's cleanup stops it.
func Start(t testing.TB) *Server {
	t.Helper()
	return StartWith(t, Options{})
}

// StartWith runs Azurite serving o's account and waits until it answers;
// the test's cleanup stops it. Every call starts another process, with its
// own port and working directory: a second server with the same account
// name shares nothing with the first but the name.
func StartWith(t testing.TB, o Options) *Server {
	t.Helper()
	s, err := launch(o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Stop)
	return s
}

// shared is the one server of a test binary that calls Shared.
var shared struct {
	sync.Mutex
	s *Server
}

// Shared returns a server shared by every test of the binary, started on
// first use: starting Node.js costs seconds on a busy machine. Tests keep
// apart by container names (see Container). The package's TestMain must
// call StopShared after m.Run.
func Shared(t testing.TB) *Server {
	t.Helper()
	shared.Lock()
	defer shared.Unlock()
	if shared.s == nil {
		s, err := launch(Options{})
		if err != nil {
			t.Fatal(err)
		}
		shared.s = s
	}
	return shared.s
}

// StopShared stops the shared server, if one was started.
func StopShared() {
	shared.Lock()
	defer shared.Unlock()
	if shared.s != nil {
		shared.s.Stop()
		shared.s = nil
	}
}

var containers atomic.Int64

// Container returns a container name no other test of the binary uses
// (letters, digits and hyphens, as Azure requires), starting with prefix.
func Container(prefix string) string {
	return fmt.Sprintf("%s-%d", prefix, containers.Add(1))
}

func launch(o Options) (*Server, error) {
	if o.Account == "" {
		o.Account, o.Key = Account, Key
	}
	bin, err := install()
	if err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	port := ln.Addr().(*net.TCPAddr).Port
	_ = ln.Close()
	work, err := os.MkdirTemp("", "azurite-")
	if err != nil {
		return nil, err
	}
	s := &Server{URL: fmt.Sprintf("http://127.0.0.1:%d/%s", port, o.Account), Account: o.Account, Key: o.Key, work: work}
	cmd := exec.Command(bin, "--blobHost", "127.0.0.1", "--blobPort", fmt.Sprint(port),
		"--inMemoryPersistence", "--silent", "--loose", "--skipApiVersionCheck", "--disableTelemetry")
	cmd.Dir = work // whatever it writes beside its memory
	// Always set: an AZURITE_ACCOUNTS of the environment would otherwise
	// choose the account.
	cmd.Env = append(os.Environ(), "AZURITE_ACCOUNTS="+o.Account+":"+o.Key)
	stderr, err := os.Create(filepath.Join(work, "stderr"))
	if err != nil {
		_ = os.RemoveAll(work)
		return nil, err
	}
	defer stderr.Close() // the process holds its own descriptor
	cmd.Stderr = stderr
	if err := cmd.Start(); err != nil {
		_ = os.RemoveAll(work)
		return nil, fmt.Errorf("azurite: starting %s: %w", bin, err)
	}
	s.cmd, s.exited = cmd, make(chan error, 1)
	go func() { s.exited <- cmd.Wait() }() // ends with the process
	if err := s.waitReady(); err != nil {
		s.Stop()
		return nil, err
	}
	return s, nil
}

func (s *Server) waitReady() error {
	deadline := time.Now().Add(30 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, s.URL+"?comp=list", nil)
		resp, err := http.DefaultClient.Do(req)
		cancel()
		if err == nil {
			_ = resp.Body.Close()
			return nil // any answer, even 403 without a signature, means it serves
		}
		select {
		case werr := <-s.exited:
			s.exited <- werr
			return fmt.Errorf("azurite exited at start: %v: %s", werr, s.said())
		default:
		}
		if time.Now().After(deadline) {
			return errors.New("azurite did not answer within 30s: " + err.Error())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// said is the start of what the process wrote to stderr.
func (s *Server) said() string {
	f, err := os.Open(filepath.Join(s.work, "stderr"))
	if err != nil {
		return ""
	}
	defer f.Close()
	b, _ := io.ReadAll(io.LimitReader(f, 1<<10))
	return strings.TrimSpace(string(b))
}

// Stop ends the process by its id and waits until it is gone.
func (s *Server) Stop() {
	s.mu.Lock()
	cmd := s.cmd
	s.cmd = nil
	s.mu.Unlock()
	if cmd == nil {
		return
	}
	_ = cmd.Process.Kill()
	<-s.exited
	_ = os.RemoveAll(s.work)
}

// dir is testdata beside this file, wherever the test runs from.
func dir() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "testdata")
}

// install runs `npm ci` in testdata unless a finished install is there, and
// returns the path of azurite-blob. A file lock keeps test binaries of
// several packages, run in parallel by go test, from installing at once.
func install() (string, error) {
	d := dir()
	bin := filepath.Join(d, "node_modules", ".bin", "azurite-blob")
	lockFile, err := os.OpenFile(filepath.Join(d, ".install.lock"), os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return "", fmt.Errorf("azurite: %w", err)
	}
	defer lockFile.Close()
	if err := syscall.Flock(int(lockFile.Fd()), syscall.LOCK_EX); err != nil {
		return "", fmt.Errorf("azurite: lock: %w", err)
	}
	defer func() { _ = syscall.Flock(int(lockFile.Fd()), syscall.LOCK_UN) }()

	lock, lerr := os.Stat(filepath.Join(d, "package-lock.json"))
	// npm writes node_modules/.package-lock.json last: its presence means
	// a finished install, and older than the lock file a stale one.
	if done, err := os.Stat(filepath.Join(d, "node_modules", ".package-lock.json")); err == nil &&
		lerr == nil && !done.ModTime().Before(lock.ModTime()) {
		if _, err := os.Stat(bin); err == nil {
			return bin, nil
		}
	}
	if _, err := exec.LookPath("node"); err != nil {
		return "", errors.New("azurite: node is not on PATH: tests of document sync run Azurite from npm and need Node.js >= 20 and npm (CI has them)")
	}
	npm, err := exec.LookPath("npm")
	if err != nil {
		return "", errors.New("azurite: npm is not on PATH: tests of document sync install Azurite with npm (CI has it)")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, npm, "ci", "--no-audit", "--no-fund", "--loglevel=error")
	cmd.Dir = d
	cmd.Env = append(os.Environ(), "npm_config_update_notifier=false")
	cmd.WaitDelay = 5 * time.Second
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("azurite: npm ci in %s: %w\n%s", d, err, out)
	}
	return bin, nil
}

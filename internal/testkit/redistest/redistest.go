// Package redistest runs a real redis-server for tests: on a free loopback
// port, with a password, no persistence, stopped by its process id. Tests
// of the rescue store and of gateways sharing it use it; scripts/provision
// installs Debian's redis-server package (see internal/testkit/testtool for what
// happens without it).
package redistest

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os/exec"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"nergateway/internal/testkit/testtool"
)

// Password is what every test server requires, so tests go through AUTH as
// production does.
const Password = "redistest-pw-3f9c"

// Server is one redis-server process.
type Server struct {
	// Addr is its 127.0.0.1:port; it stays the same across Restart.
	Addr string
	bin  string
	dir  string

	mu     sync.Mutex
	cmd    *exec.Cmd
	exited chan error // receives once the process has ended and been reaped
}

// Start runs redis-server and waits until it answers; the test's cleanup
// stops it. Without redis-server the test skips (fails under CI: testtool.Need).
func Start(t testing.TB) *Server {
	t.Helper()
	bin := testtool.Need(t, "redis-server")
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &Server{Addr: ln.Addr().String(), bin: bin, dir: t.TempDir()}
	_ = ln.Close()
	if err := s.start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Kill)
	return s
}

// URL is the redis:// URL a gateway is configured with.
func (s *Server) URL() string { return "redis://:" + Password + "@" + s.Addr + "/0" }

func (s *Server) start() error {
	_, port, _ := net.SplitHostPort(s.Addr)
	cmd := exec.Command(s.bin,
		"--bind", "127.0.0.1", "--port", port, "--requirepass", Password,
		"--save", "", "--appendonly", "no", "--dir", s.dir, "--loglevel", "warning")
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("redistest: starting redis-server: %w", err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }() // ends with the process
	s.mu.Lock()
	s.cmd, s.exited = cmd, exited
	s.mu.Unlock()
	c := s.Client()
	defer c.Close()
	deadline := time.Now().Add(20 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		err := c.Ping(ctx).Err()
		cancel()
		if err == nil {
			return nil
		}
		select {
		case werr := <-exited:
			exited <- werr // for Kill
			s.Kill()
			return fmt.Errorf("redistest: redis-server on %s exited at start (%v): %w", s.Addr, werr, err)
		default:
		}
		if time.Now().After(deadline) {
			s.Kill()
			return errors.New("redistest: redis-server did not answer within 20s: " + err.Error())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Client is a go-redis client of the server, for tests that read the keys.
func (s *Server) Client() *redis.Client {
	return redis.NewClient(&redis.Options{Addr: s.Addr, Password: Password, MaxRetries: -1})
}

// Kill stops the server by its process id, as a crash would: clients see
// their connections reset and new ones refused. It returns once the
// process has ended.
func (s *Server) Kill() {
	s.mu.Lock()
	cmd, exited := s.cmd, s.exited
	s.cmd = nil
	s.mu.Unlock()
	if cmd == nil {
		return
	}
	_ = cmd.Process.Kill()
	<-exited
}

// Restart starts the server again on the same address (empty: it keeps
// nothing on disk).
func (s *Server) Restart(t testing.TB) {
	t.Helper()
	if err := s.start(); err != nil {
		t.Fatal(err)
	}
}

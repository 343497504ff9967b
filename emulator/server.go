package emulator

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"sync"
	"time"
)

// Server is an Emulator listening on a real socket, like httptest.Server.
// Beyond the Emulator it can refuse connections (Fault.Down "refuse"), and
// it serves the admin API on a second listener (AdminURL) that stays up
// while the region refuses, so a refusing region can be brought back over
// HTTP too.
type Server struct {
	*Emulator
	// URL is the region's endpoint, e.g. http://127.0.0.1:41234.
	URL string
	// AdminURL serves only the admin API (/_emulator/...).
	AdminURL string

	addr  string // host:port to listen on again after a refusal
	hs    *http.Server
	admin *http.Server
	wg    sync.WaitGroup

	mu       sync.Mutex
	ln       net.Listener
	refusing bool
	closed   bool
}

// NewServer starts a region on 127.0.0.1 on a free port, its admin API on
// another. Close stops both.
func NewServer(opts Options) (*Server, error) {
	return Start("127.0.0.1:0", "127.0.0.1:0", opts)
}

// Start serves a region on addr and, when adminAddr is not empty, its admin
// API alone on adminAddr (the admin API is on addr too). cmd/emulator uses
// it; tests use NewServer.
func Start(addr, adminAddr string, opts Options) (*Server, error) {
	e, err := New(opts)
	if err != nil {
		return nil, err
	}
	for _, sp := range opts.Seeds {
		if err := e.Seed(sp); err != nil {
			return nil, fmt.Errorf("emulator %s: seeding %s: %w", e.Name(), sp.Name, err)
		}
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("emulator %s: listening on %s: %w", e.Name(), addr, err)
	}
	s := &Server{
		Emulator: e,
		URL:      "http://" + dialable(ln.Addr()),
		addr:     ln.Addr().String(),
		hs:       &http.Server{Handler: e, ReadHeaderTimeout: 10 * time.Second},
		ln:       ln,
	}
	if adminAddr != "" {
		aln, err := net.Listen("tcp", adminAddr)
		if err != nil {
			_ = ln.Close()
			return nil, fmt.Errorf("emulator %s: listening on %s: %w", e.Name(), adminAddr, err)
		}
		s.AdminURL = "http://" + dialable(aln.Addr())
		s.admin = &http.Server{Handler: e.AdminHandler(), ReadHeaderTimeout: 10 * time.Second}
		s.serve(s.admin, aln)
	}
	s.serve(s.hs, ln)
	e.mu.Lock()
	e.refuseHook = s.setRefusing
	e.mu.Unlock()
	e.log.Info("emulator listening", "url", s.URL, "admin", s.AdminURL)
	return s, nil
}

// dialable turns a listening address into one a client can dial: an
// unspecified IP (":5001") becomes 127.0.0.1.
func dialable(a net.Addr) string {
	tcp, ok := a.(*net.TCPAddr)
	if !ok || !tcp.IP.IsUnspecified() {
		return a.String()
	}
	return net.JoinHostPort("127.0.0.1", fmt.Sprint(tcp.Port))
}

func (s *Server) serve(hs *http.Server, ln net.Listener) {
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		if err := hs.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) && !errors.Is(err, net.ErrClosed) {
			s.log.Error("serving", "err", err)
		}
	}()
}

// SetFault adds f; a DownRefuse fault closes the listener (and idle
// connections) until ClearFaults. Its Methods, Routes and FailureRate
// only matter for requests already on open connections, which are reset.
func (s *Server) SetFault(f Fault) { s.Emulator.SetFault(f) }

// ClearFaults removes every fault and listens again after a refusal.
func (s *Server) ClearFaults() { s.Emulator.ClearFaults() }

// setRefusing closes or reopens the region's listener.
func (s *Server) setRefusing(on bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed || on == s.refusing {
		return
	}
	if on {
		s.refusing = true
		_ = s.ln.Close()
		// Idle keep-alive connections would still reach the handler.
		s.hs.SetKeepAlivesEnabled(false)
		s.log.Info("refusing connections", "addr", s.addr)
		return
	}
	ln, err := net.Listen("tcp", s.addr)
	if err != nil {
		s.log.Error("listening again after a refusal", "addr", s.addr, "err", err)
		return
	}
	s.refusing = false
	s.ln = ln
	s.hs.SetKeepAlivesEnabled(true)
	s.serve(s.hs, ln)
	s.log.Info("accepting connections again", "addr", s.addr)
}

// Close stops the listeners, closes every connection and waits for the
// serving goroutines to end.
func (s *Server) Close() {
	if !s.markClosed() {
		return
	}
	_ = s.hs.Close()
	if s.admin != nil {
		_ = s.admin.Close()
	}
	s.wg.Wait()
}

// Shutdown stops the listeners and waits for requests in flight to finish
// or ctx to end, then closes what is left (as Close).
func (s *Server) Shutdown(ctx context.Context) error {
	if !s.markClosed() {
		return nil
	}
	err := s.hs.Shutdown(ctx)
	if s.admin != nil {
		err = errors.Join(err, s.admin.Shutdown(ctx))
	}
	_ = s.hs.Close()
	if s.admin != nil {
		_ = s.admin.Close()
	}
	s.wg.Wait()
	if err != nil {
		return fmt.Errorf("emulator %s: shutting down: %w", s.Name(), err)
	}
	return nil
}

// markClosed records that the server is closing and detaches it from the
// emulator's refuse faults; false if it was already closing.
func (s *Server) markClosed() bool {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return false
	}
	s.closed = true
	s.mu.Unlock()
	s.Emulator.mu.Lock()
	s.Emulator.refuseHook = nil
	s.Emulator.mu.Unlock()
	return true
}

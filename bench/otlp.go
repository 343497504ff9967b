package main

import (
	"io"
	"net"
	"net/http"
	"sync/atomic"
)

// otlpSink receives the traced gateway's OTLP/HTTP exports in the bench
// process (so their cost is not charged to the gateway) and counts them,
// so a run proves the spans were really exported.
type otlpSink struct {
	url      string
	srv      *http.Server
	exports  atomic.Int64
	bytesIn  atomic.Int64
	finished chan struct{}
}

func startOTLPSink() (*otlpSink, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	s := &otlpSink{url: "http://" + ln.Addr().String(), finished: make(chan struct{})}
	s.srv = &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n, _ := io.Copy(io.Discard, r.Body)
		s.bytesIn.Add(n)
		s.exports.Add(1)
		// An empty ExportTraceServiceResponse: every span accepted.
		w.Header().Set("Content-Type", "application/x-protobuf")
		w.WriteHeader(http.StatusOK)
	})}
	go func() {
		defer close(s.finished)
		_ = s.srv.Serve(ln)
	}()
	return s, nil
}

func (s *otlpSink) close() {
	_ = s.srv.Close()
	<-s.finished
}

package strategy

import (
	"context"
	"errors"
	"net"
	"testing"

	"github.com/fanin-dev/fanin/internal/sink"
	"github.com/fanin-dev/fanin/internal/wire"
)

// The path the benchmark takes: every contestant writes into a real
// loopback TCP connection, and the sink server, not the test, judges the
// stream.
func TestEveryContestantThroughTheSink(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := sink.NewServer(sink.Config{})
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	t.Cleanup(func() {
		if err := srv.Shutdown(context.Background()); err != nil {
			t.Errorf("Shutdown: %v", err)
		}
		if err := <-served; err != nil {
			t.Errorf("Serve: %v", err)
		}
	})

	for _, s := range All() {
		for _, mode := range []wire.Mode{wire.Byte, wire.Framed} {
			t.Run(s.Name()+"/"+mode.String(), func(t *testing.T) {
				h := header(mode, 64, 500)
				h.Label = s.Name()
				c, err := sink.Dial(t.Context(), ln.Addr().String(), h)
				if err != nil {
					t.Fatal(err)
				}
				defer c.Close()
				run(t, s, c.Conn, h)
				v, _, err := c.Verdict(t.Context())
				if err != nil {
					t.Fatal(err)
				}
				if !v.OK {
					t.Fatalf("sink's verdict: %v (%+v)", v.Err(), v)
				}
				if v.ReceivedBytes != h.TotalBytes() || v.Label != s.Name() {
					t.Errorf("sink counted %d bytes for %q, want %d for %q", v.ReceivedBytes, v.Label, h.TotalBytes(), s.Name())
				}
			})
		}
	}
}

// A connection that dies mid-run is the real failing destination: Wait must
// return the write error rather than hang with producers blocked.
func TestClosedConnectionFailsTheRun(t *testing.T) {
	for _, s := range All() {
		t.Run(s.Name(), func(t *testing.T) {
			// A peer that accepts and closes at once: writes fail with a
			// reset or broken pipe once the kernel learns it.
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			defer ln.Close()
			conn, err := net.Dial("tcp", ln.Addr().String())
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			peer, err := ln.Accept()
			if err != nil {
				t.Fatal(err)
			}
			peer.(*net.TCPConn).SetLinger(0) // close with a reset
			peer.Close()

			h := header(wire.Byte, 64, 1<<24) // far more than a socket buffer
			r, err := s.Prepare(conn, h)
			if refusedWhole(t, s, err) {
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			r.Start()
			err = waitGuarded(t, r, conn)
			var opErr *net.OpError
			if !errors.As(err, &opErr) {
				t.Fatalf("Wait() = %v, want the connection's write error", err)
			}
		})
	}
}

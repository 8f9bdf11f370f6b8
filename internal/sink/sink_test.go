package sink

import (
	"bufio"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/fanin-dev/fanin/internal/wire"
)

// testServer is a Server on a loopback port whose reports the test can read.
type testServer struct {
	*Server
	addr     string
	serve    chan error
	accepted chan struct{} // one value per accepted connection
	shutdown chan struct{} // one value per Shutdown/Close call
	mu       sync.Mutex
	reports  []Report
}

func startServer(t *testing.T, cfg Config) *testServer {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ts := &testServer{
		addr:     ln.Addr().String(),
		serve:    make(chan error, 1),
		accepted: make(chan struct{}, 1000),
		shutdown: make(chan struct{}, 10),
	}
	cfg.OnConn = func(r Report) {
		ts.mu.Lock()
		ts.reports = append(ts.reports, r)
		ts.mu.Unlock()
	}
	ts.Server = NewServer(cfg)
	ts.hookAccepted = func() { ts.accepted <- struct{}{} }
	ts.hookShutdown = func() { ts.shutdown <- struct{}{} }
	go func() { ts.serve <- ts.Serve(ln) }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := ts.Shutdown(ctx); err != nil {
			t.Errorf("Shutdown: %v", err)
		}
		if err := <-ts.serve; err != nil {
			t.Errorf("Serve returned %v after Shutdown, want nil", err)
		}
	})
	return ts
}

func (ts *testServer) Reports() []Report {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	return append([]Report(nil), ts.reports...)
}

func stream(h wire.Header) []byte {
	b := make([]byte, 0, h.TotalBytes())
	for seq := range h.Messages {
		for p := range h.Producers {
			b = wire.AppendMessage(b, h, p, seq)
		}
	}
	return b
}

func encode(t *testing.T, h wire.Header) []byte {
	t.Helper()
	b, err := h.AppendBinary(nil)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// send streams a correct workload through a Client and returns the verdict.
func send(t *testing.T, addr string, h wire.Header) wire.Verdict {
	t.Helper()
	s := stream(h) // before the header goes out: no idle gap after it
	c, err := Dial(t.Context(), addr, h)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.Conn.Write(s); err != nil {
		t.Fatal(err)
	}
	vd, at, err := c.Verdict(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if at.IsZero() {
		t.Errorf("verdict without arrival time")
	}
	return vd
}

var (
	smallByte   = wire.Header{Mode: wire.Byte, Producers: 16, Messages: 1000, Size: 1, Label: "test"}
	smallFramed = wire.Header{Mode: wire.Framed, Producers: 8, Messages: 100, Size: 48, Label: "test"}
	tiny        = wire.Header{Mode: wire.Byte, Producers: 2, Messages: 300, Size: 1}
)

func TestHappyPath(t *testing.T) {
	ts := startServer(t, Config{})
	for _, h := range []wire.Header{smallByte, smallFramed} {
		vd := send(t, ts.addr, h)
		if !vd.OK || vd.ReceivedMessages != h.TotalMessages() || vd.Label != "test" || vd.Mode != h.Mode.String() {
			t.Errorf("%v: verdict %+v", h.Mode, vd)
		}
		if h.Mode == wire.Framed && vd.LatencyMaxUs <= 0 {
			t.Errorf("framed verdict without latency: %+v", vd)
		}
	}
	ts.Shutdown(t.Context()) // OnConn has run for every connection once Shutdown returns
	reps := ts.Reports()
	if len(reps) != 2 {
		t.Fatalf("%d reports, want 2", len(reps))
	}
	for _, r := range reps {
		if !r.Verdict.OK || r.Header.Label != "test" || r.Remote == "" || r.Duration <= 0 {
			t.Errorf("report %+v", r)
		}
	}
}

// rawVerdict reads server frames from c until the verdict, counting echo
// bytes; then it checks that the server closed its side.
func rawVerdict(c net.Conn) (vd wire.Verdict, echoed int64, err error) {
	r := bufio.NewReader(c)
	var hdr [5]byte
	for {
		if _, err := io.ReadFull(r, hdr[:]); err != nil {
			return vd, echoed, fmt.Errorf("reading frame after %d echo bytes: %w", echoed, err)
		}
		n := int(binary.LittleEndian.Uint32(hdr[1:]))
		payload := make([]byte, n)
		if _, err := io.ReadFull(r, payload); err != nil {
			return vd, echoed, fmt.Errorf("reading frame payload: %w", err)
		}
		switch hdr[0] {
		case FrameEcho:
			echoed += int64(n)
		case FrameVerdict:
			if !strings.HasSuffix(string(payload), "}\n") {
				return vd, echoed, fmt.Errorf("verdict is not one JSON line: %q", payload)
			}
			if err := json.Unmarshal(payload, &vd); err != nil {
				return vd, echoed, err
			}
			if _, err := r.ReadByte(); err != io.EOF {
				return vd, echoed, fmt.Errorf("after the verdict: %v, want EOF", err)
			}
			return vd, echoed, nil
		default:
			return vd, echoed, fmt.Errorf("unknown frame kind %q", hdr[0])
		}
	}
}

func dialRaw(t *testing.T, addr string) *net.TCPConn {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c.(*net.TCPConn)
}

func TestBadInputs(t *testing.T) {
	h := smallFramed
	full := stream(h)
	tests := []struct {
		name  string
		cfg   Config
		send  func(c *net.TCPConn)
		wants []string
	}{
		{"bad magic", Config{}, func(c *net.TCPConn) {
			c.Write([]byte("GET / HTTP/1.1\r\nHost: x\r\n\r\n"))
		}, []string{"bad header", "bad magic"}},
		{"bad header values", Config{}, func(c *net.TCPConn) {
			b := encode(t, wire.Header{Mode: wire.Byte, Producers: 1, Messages: 1, Size: 1})
			b[5] = 7 // mode
			c.Write(b)
		}, []string{"bad header", "unknown mode 7"}},
		{"EOF in header", Config{}, func(c *net.TCPConn) {
			c.Write(encode(t, h)[:7])
			c.CloseWrite()
		}, []string{"bad header", "connection closed by the client"}},
		{"EOF early", Config{}, func(c *net.TCPConn) {
			c.Write(encode(t, h))
			c.Write(full[:len(full)/2+3])
			c.CloseWrite()
		}, []string{"connection closed by the client after 19203 of 38400 bytes", "stream ended early"}},
		{"extra bytes", Config{}, func(c *net.TCPConn) {
			c.Write(append(append(encode(t, h), full...), "extra"...))
		}, []string{"5 extra bytes"}},
		{"corrupted", Config{}, func(c *net.TCPConn) {
			bad := append([]byte(nil), full...)
			bad[1000] ^= 0xff
			c.Write(append(encode(t, h), bad...))
		}, []string{"payload corrupted"}},
		{"idle", Config{IdleTimeout: 200 * time.Millisecond}, func(c *net.TCPConn) {
			c.Write(append(encode(t, h), full[:100]...)) // one write: no idle gap inside the header
		}, []string{"idle for 200ms", "after 100 of 38400 bytes"}},
		{"idle in header", Config{IdleTimeout: 200 * time.Millisecond}, func(c *net.TCPConn) {
			c.Write(encode(t, h)[:3])
		}, []string{"bad header", "idle for 200ms"}},
		{"too large", Config{MaxBytes: 1000}, func(c *net.TCPConn) {
			c.Write(encode(t, h))
		}, []string{"stream of 38400 bytes exceeds the sink's limit of 1000"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ts := startServer(t, tt.cfg)
			c := dialRaw(t, ts.addr)
			tt.send(c)
			vd, _, err := rawVerdict(c)
			if err != nil {
				t.Fatal(err)
			}
			if vd.OK || vd.Err() == nil {
				t.Fatalf("bad input verified: %+v", vd)
			}
			for _, w := range tt.wants {
				if !strings.Contains(vd.Err().Error(), w) {
					t.Errorf("verdict errors %q do not mention %q", vd.Errors, w)
				}
			}
			// The server keeps serving.
			if vd := send(t, ts.addr, tiny); !vd.OK {
				t.Errorf("next client after a bad one: %+v", vd)
			}
			c.Close()
			ts.Shutdown(t.Context())
			if reps := ts.Reports(); len(reps) != 2 || reps[0].Verdict.OK == reps[1].Verdict.OK {
				t.Errorf("reports: %+v", reps)
			}
		})
	}
}

// A client that never reads: the read loop must not block on the echo, the
// stream is still verified, echo beyond what the buffers hold is dropped,
// and the connection ends (the verdict write times out) instead of hanging.
func TestEchoClientNeverReads(t *testing.T) {
	ts := startServer(t, Config{Echo: true, IdleTimeout: time.Second})
	h := wire.Header{Mode: wire.Byte, Producers: 8, Messages: 1 << 20, Size: 1} // 8 MiB
	c := dialRaw(t, ts.addr)
	// A fixed window: the echo path (this buffer, the server's send buffer,
	// at most 4 MiB on Linux, and the bounded queue) cannot hold 8 MiB.
	c.SetReadBuffer(64 << 10)
	if _, err := c.Write(append(encode(t, h), stream(h)...)); err != nil {
		t.Fatal(err)
	}
	c.CloseWrite() // the server's lingering close ends at once; its verdict write times out
	<-ts.accepted
	if err := ts.Shutdown(t.Context()); err != nil { // waits for the connection to end
		t.Fatal(err)
	}
	reps := ts.Reports()
	if len(reps) != 1 || !reps[0].Verdict.OK {
		t.Fatalf("reports: %+v", reps)
	}
	if d := reps[0].EchoDropped; d <= 0 || d > h.TotalBytes() {
		t.Errorf("EchoDropped = %d, want some of the %d bytes", d, h.TotalBytes())
	}
}

// A client that reads only once it has sent everything gets the whole
// echo backlog, then the verdict.
func TestEchoClientReadsLate(t *testing.T) {
	ts := startServer(t, Config{Echo: true})
	h := wire.Header{Mode: wire.Byte, Producers: 8, Messages: 1 << 20, Size: 1} // 8 MiB
	c := dialRaw(t, ts.addr)
	if _, err := c.Write(append(encode(t, h), stream(h)...)); err != nil {
		t.Fatal(err)
	}
	vd, echoed, err := rawVerdict(c)
	if err != nil || !vd.OK {
		t.Fatalf("verdict %+v, %v", vd, err)
	}
	c.Close()
	ts.Shutdown(t.Context())
	if r := ts.Reports()[0]; echoed+r.EchoDropped != h.TotalBytes() {
		t.Errorf("echoed %d + dropped %d, want %d", echoed, r.EchoDropped, h.TotalBytes())
	}
}

func TestEchoReadingClient(t *testing.T) {
	ts := startServer(t, Config{Echo: true, ReadBuffer: 4096})
	c := dialRaw(t, ts.addr)
	h := wire.Header{Mode: wire.Framed, Producers: 2, Messages: 64, Size: 64}
	var vd wire.Verdict
	var echoed int64
	var err error
	var wg sync.WaitGroup
	wg.Go(func() { vd, echoed, err = rawVerdict(c) })
	c.Write(encode(t, h))
	s := stream(h)
	for i := 0; i < len(s); i += 512 { // the echo mirrors what was read
		c.Write(s[i : i+512])
	}
	wg.Wait()
	if err != nil || !vd.OK {
		t.Fatalf("verdict %+v, %v", vd, err)
	}
	c.Close()
	// The library client discards echo and still finds the verdict.
	if vd := send(t, ts.addr, smallByte); !vd.OK {
		t.Errorf("Client with echo: %+v", vd)
	}
	ts.Shutdown(t.Context())
	for _, r := range ts.Reports() {
		if r.Header == h && echoed+r.EchoDropped != h.TotalBytes() {
			t.Errorf("echoed %d + dropped %d, want %d", echoed, r.EchoDropped, h.TotalBytes())
		}
	}
}

func TestConcurrentConnections(t *testing.T) {
	ts := startServer(t, Config{})
	const n = 200
	h := wire.Header{Mode: wire.Framed, Producers: 4, Messages: 10, Size: 32}
	s := stream(h)
	// Dial all first so that all 200 are open at once.
	clients := make([]*Client, n)
	for i := range clients {
		c, err := Dial(t.Context(), ts.addr, h)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		clients[i] = c
	}
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i, c := range clients {
		wg.Go(func() {
			if _, err := c.Conn.Write(s); err != nil {
				errs <- err
				return
			}
			vd, _, err := c.Verdict(t.Context())
			if err == nil && !vd.OK {
				err = fmt.Errorf("client %d: %v", i, vd.Err())
			}
			if err != nil {
				errs <- err
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

func TestShutdownWaitsForOpenConnection(t *testing.T) {
	ts := startServer(t, Config{})
	h := smallFramed
	s := stream(h)
	c, err := Dial(t.Context(), ts.addr, h)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	<-ts.accepted // a connection still in the listen queue would be reset
	c.Conn.Write(s[:1000])
	shut := make(chan error, 1)
	go func() { shut <- ts.Shutdown(t.Context()) }()
	<-ts.shutdown
	if err := <-ts.serve; err != nil { // Serve returns at once...
		t.Errorf("Serve: %v", err)
	}
	ts.serve <- nil // for the cleanup
	if nc, err := net.Dial("tcp", ts.addr); err == nil {
		nc.Close()
		t.Errorf("new connection accepted during Shutdown")
	}
	// ...but the open connection finishes its stream and gets its verdict.
	c.Conn.Write(s[1000:])
	vd, _, err := c.Verdict(t.Context())
	if err != nil || !vd.OK {
		t.Fatalf("verdict during Shutdown: %+v, %v", vd, err)
	}
	c.Close()
	if err := <-shut; err != nil {
		t.Errorf("Shutdown: %v", err)
	}
	if reps := ts.Reports(); len(reps) != 1 || !reps[0].Verdict.OK {
		t.Errorf("Shutdown returned before the connection's report: %+v", reps)
	}
}

func TestShutdownDeadlineClosesConnections(t *testing.T) {
	ts := startServer(t, Config{})
	c, err := Dial(t.Context(), ts.addr, smallByte)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	<-ts.accepted
	c.Conn.Write([]byte{1, 2, 3}) // then silent, far from the 10s idle timeout
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if err := ts.Shutdown(ctx); !errors.Is(err, context.Canceled) {
		t.Errorf("Shutdown with an expired context: %v", err)
	}
	if _, _, err := c.Verdict(t.Context()); err == nil {
		t.Errorf("got a verdict from a force-closed connection")
	}
	reps := ts.Reports()
	if len(reps) != 1 || !strings.Contains(reps[0].Verdict.Err().Error(), "server shutting down") {
		t.Errorf("reports: %+v", reps)
	}
}

func TestClose(t *testing.T) {
	ts := startServer(t, Config{})
	c, err := Dial(t.Context(), ts.addr, smallByte)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	<-ts.accepted
	if err := ts.Close(); err != nil {
		t.Fatal(err)
	}
	if err := <-ts.serve; err != nil {
		t.Errorf("Serve after Close: %v", err)
	}
	ts.serve <- nil
	if _, _, err := c.Verdict(t.Context()); err == nil {
		t.Errorf("verdict after Close")
	}
	// Serve after Close returns nil at once.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	if err := ts.Serve(ln); err != nil {
		t.Errorf("Serve after Close: %v", err)
	}
}

func TestClientNoVerdict(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	var wg sync.WaitGroup
	defer wg.Wait()
	wg.Go(func() {
		nc, err := ln.Accept()
		if err != nil {
			return
		}
		wire.ReadHeader(nc)
		// Echo frames, then close without a verdict.
		nc.Write([]byte{FrameEcho, 2, 0, 0, 0, 'h', 'i'})
		nc.Close()
	})
	c, err := Dial(t.Context(), ln.Addr().String(), smallByte)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, _, err := c.Verdict(t.Context()); !errors.Is(err, ErrNoVerdict) {
		t.Errorf("Verdict = %v, want ErrNoVerdict", err)
	}
}

func TestClientVerdictContext(t *testing.T) {
	ts := startServer(t, Config{})
	c, err := Dial(t.Context(), ts.addr, smallByte)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if _, _, err := c.Verdict(ctx); !errors.Is(err, context.Canceled) {
		t.Errorf("Verdict with a cancelled context: %v", err)
	}
	if err := c.Close(); err != nil {
		t.Errorf("Close: %v", err)
	}
	c.Close() // idempotent
}

func TestDialErrors(t *testing.T) {
	if _, err := Dial(t.Context(), "127.0.0.1:1", wire.Header{}); err == nil || !strings.Contains(err.Error(), "unknown mode") {
		t.Errorf("Dial with an invalid header: %v", err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	if _, err := Dial(t.Context(), addr, smallByte); err == nil {
		t.Errorf("Dial to a closed port succeeded")
	}
}

// BenchmarkSinkByte measures the whole sink path on loopback: a client
// writing a prebuilt byte-mode stream in 64 KiB writes, the server reading,
// verifying and answering. It should run near loopback speed.
func BenchmarkSinkByte(b *testing.B) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	srv := NewServer(Config{})
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	defer func() {
		srv.Shutdown(context.Background())
		<-served
	}()
	h := wire.Header{Mode: wire.Byte, Producers: 64, Messages: 1 << 16, Size: 1} // 4 MiB
	s := stream(h)
	b.SetBytes(int64(len(s)))
	for b.Loop() {
		c, err := Dial(context.Background(), ln.Addr().String(), h)
		if err != nil {
			b.Fatal(err)
		}
		for off := 0; off < len(s); off += 64 << 10 {
			c.Conn.Write(s[off:min(off+64<<10, len(s))])
		}
		vd, _, err := c.Verdict(context.Background())
		c.Close()
		if err != nil || !vd.OK {
			b.Fatalf("%+v %v", vd, err)
		}
	}
}

// Package sink is the verifying TCP sink of the experiment and its client.
//
// Protocol: the client connects, writes an encoded wire.Header, then the
// message stream (exactly Header.TotalBytes bytes). The server reads with a
// fixed buffer, feeds a wire.Verifier, and answers with frames of
// [kind byte][len uint32 LE][payload]: kind 'E' echoes data read (only with
// Config.Echo), kind 'V' carries the verdict as one line of JSON. The verdict
// is sent as soon as the last expected byte is counted, or as soon as the
// stream is known to be bad (bad header, early EOF, idle, over the size
// limit); then the server closes the connection.
package sink

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"runtime/trace"
	"sync"
	"sync/atomic"
	"time"

	"github.com/fanin-dev/fanin/internal/prefault"
	"github.com/fanin-dev/fanin/internal/wire"
)

// Frame kinds of the server-to-client direction.
const (
	FrameEcho    = 'E'
	FrameVerdict = 'V'
)

// Defaults for a zero Config.
const (
	DefaultReadBuffer  = 64 << 10 // the seed's server read size
	DefaultIdleTimeout = 10 * time.Second
	DefaultMaxBytes    = 64 << 30
)

const (
	// echoBuffers bounds the echo queue: at most this many reads wait to be
	// echoed; beyond, echo data is dropped and counted.
	echoBuffers = 8
	// maxLinger bounds how long a connection is drained after its verdict,
	// so that unread client data does not reset the connection before the
	// client has read the verdict.
	maxLinger = 2 * time.Second
)

// Config tunes a Server. The zero value is usable.
type Config struct {
	ReadBuffer int // bytes per read; default 64 KiB
	// Echo sends every read back in 'E' frames, like the seed's server. The
	// queue is bounded: when the client does not read, data is dropped (and
	// counted) rather than blocking the read loop.
	Echo bool
	// IdleTimeout: a connection that sends nothing for this long gets a
	// verdict and is closed; default 10s.
	IdleTimeout time.Duration
	MaxBytes    int64        // largest accepted stream (TotalBytes); default 64 GiB
	OnConn      func(Report) // called once per connection when it ends (for logs); may be nil
}

// Report describes one finished connection, for logs.
type Report struct {
	Remote  string
	Header  wire.Header // zero if the header was bad
	Verdict wire.Verdict
	// Duration is from accept to close.
	Duration time.Duration
	// EchoDropped counts bytes not echoed because the client was not reading.
	EchoDropped int64
}

// Server accepts sink connections and verifies each one independently: a
// bad connection gets its verdict and is closed, the others are unaffected.
type Server struct {
	cfg Config

	mu        sync.Mutex
	listeners map[net.Listener]struct{}
	conns     map[net.Conn]struct{}
	closing   bool
	closed    chan struct{} // closed when shutting down, to interrupt Accept back-off
	forced    atomic.Bool   // connections were closed by Close or an expired Shutdown
	wg        sync.WaitGroup

	// Test hooks, set before Serve: a connection was accepted; shutdown began.
	hookAccepted func()
	hookShutdown func()
}

// NewServer returns a server with cfg's zero fields set to their defaults.
func NewServer(cfg Config) *Server {
	if cfg.ReadBuffer <= 0 {
		cfg.ReadBuffer = DefaultReadBuffer
	}
	if cfg.IdleTimeout <= 0 {
		cfg.IdleTimeout = DefaultIdleTimeout
	}
	if cfg.MaxBytes <= 0 {
		cfg.MaxBytes = DefaultMaxBytes
	}
	return &Server{
		cfg:       cfg,
		listeners: make(map[net.Listener]struct{}),
		conns:     make(map[net.Conn]struct{}),
		closed:    make(chan struct{}),
	}
}

// Serve accepts connections on ln until Shutdown or Close, and then returns
// nil (it closes ln). Any other Accept failure is returned.
func (s *Server) Serve(ln net.Listener) error {
	s.mu.Lock()
	if s.closing {
		s.mu.Unlock()
		ln.Close()
		return nil
	}
	s.listeners[ln] = struct{}{}
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		delete(s.listeners, ln)
		s.mu.Unlock()
	}()

	var backoff time.Duration
	for {
		c, err := ln.Accept()
		if err != nil {
			if s.isClosing() {
				return nil
			}
			if errors.Is(err, net.ErrClosed) {
				return err
			}
			// Out of file descriptors and the like: wait and retry, as
			// net/http does, rather than dying with live connections.
			backoff = min(max(2*backoff, 5*time.Millisecond), time.Second)
			t := time.NewTimer(backoff)
			select {
			case <-t.C:
			case <-s.closed:
				t.Stop()
			}
			continue
		}
		backoff = 0
		s.mu.Lock()
		if s.closing {
			s.mu.Unlock()
			c.Close()
			continue // the next Accept fails: the listener is closed
		}
		s.conns[c] = struct{}{}
		// Added under mu, before closing can be set: Shutdown's Wait never
		// races with this Add.
		s.wg.Go(func() { s.handle(c) })
		s.mu.Unlock()
		if s.hookAccepted != nil {
			s.hookAccepted()
		}
	}
}

func (s *Server) isClosing() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.closing
}

// beginShutdown stops accepting: it closes every listener.
func (s *Server) beginShutdown() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.closing {
		s.closing = true
		close(s.closed)
	}
	for ln := range s.listeners {
		ln.Close()
	}
	if s.hookShutdown != nil {
		s.hookShutdown()
	}
}

// closeConns interrupts every open connection.
func (s *Server) closeConns() {
	s.forced.Store(true)
	s.mu.Lock()
	defer s.mu.Unlock()
	for c := range s.conns {
		c.Close()
	}
}

// Shutdown stops accepting and waits for open connections to finish (each
// gets its verdict). If ctx ends first, it closes them, waits for their
// goroutines, and returns ctx's error.
func (s *Server) Shutdown(ctx context.Context) error {
	s.beginShutdown()
	done := make(chan struct{})
	go func() {
		s.wg.Wait()
		close(done)
	}()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		select {
		case <-done: // finished just in time
			return nil
		default:
		}
		s.closeConns()
		<-done
		return ctx.Err()
	}
}

// Close stops accepting and closes every connection now, without waiting
// for their verdicts; it returns once their goroutines have ended.
func (s *Server) Close() error {
	s.beginShutdown()
	s.closeConns()
	s.wg.Wait()
	return nil
}

func (s *Server) handle(c net.Conn) {
	start := time.Now()
	rep := s.serveConn(c)
	c.Close()
	rep.Duration = time.Since(start)
	s.mu.Lock()
	delete(s.conns, c)
	s.mu.Unlock()
	if s.cfg.OnConn != nil {
		s.cfg.OnConn(rep)
	}
}

// serveConn runs one connection: header, stream, verdict, lingering close.
func (s *Server) serveConn(c net.Conn) Report {
	rep := Report{Remote: c.RemoteAddr().String()}
	idle := s.cfg.IdleTimeout
	c.SetReadDeadline(time.Now().Add(idle))
	h, err := wire.ReadHeader(c)
	if err != nil {
		rep.Verdict = wire.Verdict{Errors: []string{"bad header: " + s.describe(err, "")}}
		s.finish(c, rep.Verdict, nil, nil)
		return rep
	}
	rep.Header = h
	if h.TotalBytes() > s.cfg.MaxBytes {
		rep.Verdict = headerVerdict(h, fmt.Sprintf("stream of %d bytes exceeds the sink's limit of %d", h.TotalBytes(), s.cfg.MaxBytes))
		s.finish(c, rep.Verdict, nil, nil)
		return rep
	}

	v := wire.NewVerifier(h)
	var echo *echoer
	if s.cfg.Echo {
		echo = startEcho(c, s.cfg.ReadBuffer, s.cfg.IdleTimeout)
	}
	buf := make([]byte, s.cfg.ReadBuffer)
	// Mapped now: the stream's first reads would take a page fault per
	// 4 KiB of it while a benchmark's clock runs. With the verifier's
	// tables, that was 30% of a 16-producer run of direct.
	prefault.Slice(buf)
	var problem string
	for !v.Done() {
		c.SetReadDeadline(time.Now().Add(idle))
		n, err := c.Read(buf)
		if n > 0 {
			v.Write(buf[:n])
			if echo != nil {
				echo.offer(buf[:n])
			}
		}
		if err != nil {
			if !v.Done() {
				problem = s.describe(err, fmt.Sprintf(" after %d of %d bytes", v.Verdict().ReceivedBytes, h.TotalBytes()))
			}
			break
		}
	}
	if v.Done() {
		// Where a benchmark's clock stops, in an execution trace of it
		// (fanin bench --trace).
		trace.Log(context.Background(), "sink", "counted the last byte")
	}
	verdict := func() wire.Verdict {
		vd := v.Verdict()
		if problem != "" {
			vd.OK = false
			vd.Errors = append([]string{problem}, vd.Errors...)
		}
		return vd
	}
	rep.Verdict = verdict()
	s.finish(c, rep.Verdict, echo, func(p []byte) { v.Write(p) })
	if echo != nil {
		rep.EchoDropped = echo.dropped
	}
	// Bytes that arrived after the verdict (extra ones) still go in the log.
	rep.Verdict = verdict()
	return rep
}

// describe explains why a read ended; suffix locates it in the stream.
func (s *Server) describe(err error, suffix string) string {
	switch {
	case s.forced.Load():
		return "connection closed by the server shutting down" + suffix
	case errors.Is(err, os.ErrDeadlineExceeded):
		return fmt.Sprintf("idle for %v (no bytes received)%s", s.cfg.IdleTimeout, suffix)
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return "connection closed by the client" + suffix
	}
	return fmt.Sprintf("read: %v%s", err, suffix)
}

// headerVerdict is the verdict for a stream refused on its header alone.
func headerVerdict(h wire.Header, problem string) wire.Verdict {
	return wire.Verdict{
		Mode:                h.Mode.String(),
		Label:               h.Label,
		Producers:           h.Producers,
		MessagesPerProducer: h.Messages,
		Size:                h.Size,
		ExpectedMessages:    h.TotalMessages(),
		Missing:             h.TotalMessages(),
		Errors:              []string{problem},
	}
}

// appendFrame appends a server-to-client frame header for a payload of n bytes.
func appendFrame(b []byte, kind byte, n int) []byte {
	b = append(b, kind)
	return binary.LittleEndian.AppendUint32(b, uint32(n))
}

func verdictFrame(vd wire.Verdict) []byte {
	js, err := json.Marshal(vd)
	if err != nil { // a Verdict holds only plain fields
		panic(err)
	}
	js = append(js, '\n')
	return append(appendFrame(make([]byte, 0, 5+len(js)), FrameVerdict, len(js)), js...)
}

// finish sends the verdict (after any queued echo), then closes the write
// side and drains the read side for a while, feeding what arrives to late
// (if not nil): closing a socket with unread data resets the connection,
// which could destroy the verdict before the client reads it.
func (s *Server) finish(c net.Conn, vd wire.Verdict, echo *echoer, late func([]byte)) {
	frame := verdictFrame(vd)
	if echo != nil {
		echo.finish(frame)
	} else {
		c.SetWriteDeadline(time.Now().Add(s.cfg.IdleTimeout))
		if _, err := c.Write(frame); err != nil {
			return
		}
	}
	if cw, ok := c.(interface{ CloseWrite() error }); ok {
		cw.CloseWrite()
	}
	c.SetReadDeadline(time.Now().Add(min(maxLinger, s.cfg.IdleTimeout)))
	buf := make([]byte, min(s.cfg.ReadBuffer, 16<<10))
	for {
		n, err := c.Read(buf)
		if n > 0 && late != nil {
			late(buf[:n])
		}
		if err != nil {
			return
		}
	}
}

// echoer writes 'E' frames from its own goroutine, so that a client that
// does not read can never stall the read loop: when all its buffers are
// queued, further data is dropped and counted.
//
// While the stream lasts, an echo write may block for as long as the client
// does not read (the read loop is unaffected). Once the stream is over, each
// write must progress within the idle timeout, so that a slow but reading
// client still gets the whole backlog and the verdict, and a client that
// never reads cannot hold the connection open.
type echoer struct {
	c         net.Conn
	idle      time.Duration
	finishing atomic.Bool
	queue     chan []byte // frames to write; room for every buffer plus the verdict
	free      chan []byte
	done      chan struct{}
	dropped   int64 // owned by the read loop
}

func startEcho(c net.Conn, readBuffer int, idle time.Duration) *echoer {
	e := &echoer{
		c:     c,
		idle:  idle,
		queue: make(chan []byte, echoBuffers+1),
		free:  make(chan []byte, echoBuffers),
		done:  make(chan struct{}),
	}
	for range echoBuffers {
		e.free <- make([]byte, 0, 5+readBuffer)
	}
	go e.run()
	return e
}

func (e *echoer) run() {
	defer close(e.done)
	var err error
	for f := range e.queue {
		if err == nil {
			if e.finishing.Load() {
				e.c.SetWriteDeadline(time.Now().Add(e.idle))
			}
			_, err = e.c.Write(f)
		}
		// After a write error, keep consuming so offer and finish never block.
		select {
		case e.free <- f:
		default: // the verdict frame: not one of the buffers
		}
	}
}

// offer queues p for echo without ever blocking.
func (e *echoer) offer(p []byte) {
	select {
	case b := <-e.free:
		b = appendFrame(b[:0], FrameEcho, len(p))
		e.queue <- append(b, p...) // never blocks: the queue has room for every buffer
	default:
		e.dropped += int64(len(p))
	}
}

// finish queues the verdict after the pending echo and waits until the
// writer is done (or has failed, e.g. on the write deadline).
func (e *echoer) finish(verdict []byte) {
	e.finishing.Store(true)
	e.c.SetWriteDeadline(time.Now().Add(e.idle)) // bounds a write blocked since before
	e.queue <- verdict
	close(e.queue)
	<-e.done
}

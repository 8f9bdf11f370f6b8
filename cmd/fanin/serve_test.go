package main

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"encoding/json"
	"io"
	"net"
	"os"
	"strings"
	"sync"
	"testing"

	"go.uber.org/goleak"

	"github.com/fanin-dev/fanin/internal/sink"
	"github.com/fanin-dev/fanin/internal/wire"
)

// syncBuffer is a bytes.Buffer written by one goroutine and read by the test.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// served is a `fanin serve` running in this process.
type served struct {
	addr      string
	firstLine string
	stdout    syncBuffer // after the first line
	stderr    syncBuffer
	exit      chan int
	copied    chan struct{}
	stopOnce  sync.Once
	code      int
}

// startServe runs runServe on a free loopback port and waits for its first
// line, which names the address.
func startServe(t *testing.T, args ...string) *served {
	t.Helper()
	s := &served{exit: make(chan int, 1), copied: make(chan struct{})}
	pr, pw := io.Pipe()
	go func() {
		code := runServe(append([]string{"--addr", "127.0.0.1:0"}, args...), pw, &s.stderr)
		pw.Close()
		s.exit <- code
	}()
	br := bufio.NewReader(pr)
	line, err := br.ReadString('\n')
	if err != nil {
		t.Fatalf("serve printed no first line (%v); stderr: %s", err, s.stderr.String())
	}
	s.firstLine = strings.TrimSuffix(line, "\n")
	go func() {
		io.Copy(&s.stdout, br)
		close(s.copied)
	}()
	if strings.HasPrefix(s.firstLine, "{") {
		var ev struct{ Event, Addr string }
		if err := json.Unmarshal([]byte(s.firstLine), &ev); err != nil || ev.Event != "listening" {
			t.Fatalf("first JSON line %q: %v", s.firstLine, err)
		}
		s.addr = ev.Addr
	} else {
		s.addr = strings.TrimPrefix(s.firstLine, "listening on ")
	}
	t.Cleanup(func() { s.stop() })
	return s
}

// stop sends the process SIGINT, as a user's Ctrl-C, and returns the exit
// status once runServe has returned and its output is complete.
func (s *served) stop() int {
	s.stopOnce.Do(func() {
		p, _ := os.FindProcess(os.Getpid())
		p.Signal(os.Interrupt)
		s.code = <-s.exit
		<-s.copied
	})
	return s.code
}

func sendStream(t *testing.T, addr string, h wire.Header) wire.Verdict {
	t.Helper()
	c, err := sink.Dial(t.Context(), addr, h)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	var b []byte
	for seq := range h.Messages {
		for p := range h.Producers {
			b = wire.AppendMessage(b, h, p, seq)
		}
	}
	if _, err := c.Conn.Write(b); err != nil {
		t.Fatal(err)
	}
	vd, _, err := c.Verdict(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	return vd
}

func TestServeText(t *testing.T) {
	t.Cleanup(func() { goleak.VerifyNone(t) }) // after startServe's cleanup
	s := startServe(t)
	if !strings.HasPrefix(s.firstLine, "listening on 127.0.0.1:") || strings.HasSuffix(s.firstLine, ":0") {
		t.Fatalf("first line %q", s.firstLine)
	}
	h := wire.Header{Mode: wire.Byte, Producers: 2, Messages: 300, Size: 1, Label: "by-test"}
	if vd := sendStream(t, s.addr, h); !vd.OK {
		t.Fatalf("verdict %+v", vd)
	}
	nc, err := net.Dial("tcp", s.addr)
	if err != nil {
		t.Fatal(err)
	}
	nc.Write([]byte("GET /\r\n")) // shorter than a header: refused on its magic
	io.Copy(io.Discard, nc)       // until the server has answered and closed
	nc.Close()

	if code := s.stop(); code != 0 {
		t.Fatalf("exit %d; stderr: %s", code, s.stderr.String())
	}
	lines := strings.Split(strings.TrimSpace(s.stdout.String()), "\n")
	if len(lines) != 2 {
		t.Fatalf("want one line per connection, got:\n%s", s.stdout.String())
	}
	var ok, bad string
	for _, l := range lines {
		if strings.Contains(l, "verdict=ok") {
			ok = l
		} else {
			bad = l
		}
	}
	for _, want := range []string{`label="by-test"`, "mode=byte", "2x300", "bytes=600", "duration=", "127.0.0.1:"} {
		if !strings.Contains(ok, want) {
			t.Errorf("ok line %q lacks %q", ok, want)
		}
	}
	if !strings.Contains(bad, "verdict=FAILED") || !strings.Contains(bad, "bad magic") {
		t.Errorf("bad connection line: %q", bad)
	}
	if !strings.Contains(s.stderr.String(), "shutting down") {
		t.Errorf("stderr: %q", s.stderr.String())
	}
}

func TestServeJSON(t *testing.T) {
	t.Cleanup(func() { goleak.VerifyNone(t) }) // after startServe's cleanup
	s := startServe(t, "--json", "--echo", "--read-buffer", "4096")
	h := wire.Header{Mode: wire.Framed, Producers: 3, Messages: 50, Size: 40, Label: "json"}
	if vd := sendStream(t, s.addr, h); !vd.OK {
		t.Fatalf("verdict %+v", vd)
	}
	if code := s.stop(); code != 0 {
		t.Fatalf("exit %d; stderr: %s", code, s.stderr.String())
	}
	var line connLine
	if err := json.Unmarshal([]byte(s.stdout.String()), &line); err != nil {
		t.Fatalf("not one JSON line: %q: %v", s.stdout.String(), err)
	}
	if line.Event != "conn" || !line.OK || line.Label != "json" || line.Mode != "framed" ||
		line.Producers != 3 || line.Messages != 50 || line.Bytes != h.TotalBytes() || line.DurationNs <= 0 ||
		line.Verdict.LatencyMaxUs <= 0 {
		t.Errorf("JSON line %+v", line)
	}
}

// An open connection that does not finish within --shutdown-timeout is
// closed, and the exit status says so.
func TestServeShutdownTimeout(t *testing.T) {
	t.Cleanup(func() { goleak.VerifyNone(t) }) // after startServe's cleanup
	s := startServe(t, "--echo", "--shutdown-timeout", "1ms")
	h := wire.Header{Mode: wire.Byte, Producers: 1, Messages: 100, Size: 1}
	nc, err := net.Dial("tcp", s.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	hdr, _ := h.AppendBinary(nil)
	nc.Write(append(hdr, 1, 2, 3))
	// The echo proves the connection is being served (not just queued).
	var frame [8]byte
	if _, err := io.ReadFull(nc, frame[:]); err != nil || frame[0] != sink.FrameEcho || binary.LittleEndian.Uint32(frame[1:]) != 3 {
		t.Fatalf("echo frame %q: %v", frame, err)
	}
	if code := s.stop(); code != 1 {
		t.Errorf("exit %d, want 1", code)
	}
	if !strings.Contains(s.stderr.String(), "--shutdown-timeout") {
		t.Errorf("stderr: %q", s.stderr.String())
	}
	if !strings.Contains(s.stdout.String(), "server shutting down") {
		t.Errorf("stdout: %q", s.stdout.String())
	}
}

func TestServeFlags(t *testing.T) {
	t.Cleanup(func() { goleak.VerifyNone(t) }) // after startServe's cleanup
	for _, args := range [][]string{
		{"--bogus"},
		{"--read-buffer", "0"},
		{"--idle-timeout", "0s"},
		{"--max-bytes", "0"},
		{"--shutdown-timeout", "-1s"},
		{"--addr", "127.0.0.1:0", "extra"},
		{"--echo=maybe"},
	} {
		var stdout, stderr bytes.Buffer
		if code := runServe(args, &stdout, &stderr); code != 2 {
			t.Errorf("%q: exit %d, want 2", args, code)
		}
		if !strings.Contains(stderr.String(), "fanin serve --help") {
			t.Errorf("%q: stderr %q", args, stderr.String())
		}
	}
	var stdout, stderr bytes.Buffer
	if code := runServe([]string{"--help"}, &stdout, &stderr); code != 0 {
		t.Errorf("--help: exit %d", code)
	}
	for _, f := range []string{"-addr", "-echo", "-json", "-read-buffer", "-idle-timeout", "-max-bytes", "-shutdown-timeout"} {
		if !strings.Contains(stdout.String(), f) {
			t.Errorf("--help does not document %s:\n%s", f, stdout.String())
		}
	}
	// Listening fails: exit 1.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	stderr.Reset()
	if code := runServe([]string{"--addr", ln.Addr().String()}, io.Discard, &stderr); code != 1 || !strings.Contains(stderr.String(), "address already in use") {
		t.Errorf("busy port: exit %d, stderr %q", code, stderr.String())
	}
}

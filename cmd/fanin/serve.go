package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"os/signal"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/fanin-dev/fanin/internal/sink"
	"github.com/fanin-dev/fanin/internal/wire"
)

const serveUsage = `Usage: fanin serve [flags]

Runs the verifying sink server. Each connection sends a header announcing its
workload, then the messages; the server counts and verifies every byte,
answers with its verdict as soon as the last byte arrives, and closes the
connection. Prints the listening address first, then one line per
connection. SIGINT or SIGTERM: stop accepting, let open connections finish
(up to --shutdown-timeout), exit.

Flags:
`

func runServe(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	addr := fs.String("addr", "127.0.0.1:8080", "HOST:PORT to listen on (port 0: any free port)")
	echo := fs.Bool("echo", false, "echo every read back to the client, like the seed's server (bounded: dropped when the client does not read)")
	jsonOut := fs.Bool("json", false, "print JSON lines instead of text")
	readBuffer := fs.Int("read-buffer", sink.DefaultReadBuffer, "bytes per read from a connection")
	idle := fs.Duration("idle-timeout", sink.DefaultIdleTimeout, "close a connection that sends nothing for this long (with a verdict)")
	maxBytes := fs.Int64("max-bytes", sink.DefaultMaxBytes, "largest stream accepted (header's total bytes)")
	shutdownTimeout := fs.Duration("shutdown-timeout", 10*time.Second, "on SIGINT/SIGTERM, how long open connections may take to finish before they are closed")
	if code, done := parseFlags(fs, args, serveUsage, stdout, stderr); done {
		return code
	}
	switch {
	case *readBuffer < 1:
		return usageError(stderr, "serve", "--read-buffer must be at least 1")
	case *idle <= 0:
		return usageError(stderr, "serve", "--idle-timeout must be positive")
	case *maxBytes < 1:
		return usageError(stderr, "serve", "--max-bytes must be at least 1")
	case *shutdownTimeout < 0:
		return usageError(stderr, "serve", "--shutdown-timeout must not be negative")
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		fmt.Fprintf(stderr, "fanin serve: %v\n", err)
		return 1
	}
	log := &connLogger{w: stdout, json: *jsonOut}
	srv := sink.NewServer(sink.Config{
		ReadBuffer:  *readBuffer,
		Echo:        *echo,
		IdleTimeout: *idle,
		MaxBytes:    *maxBytes,
		OnConn:      log.report,
	})
	log.listening(ln.Addr().String())

	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	select {
	case err := <-served: // Serve only returns early on a listener failure
		srv.Close()
		fmt.Fprintf(stderr, "fanin serve: %v\n", err)
		return 1
	case <-ctx.Done():
	}
	stop() // a second signal kills the process the usual way
	fmt.Fprintln(stderr, "fanin serve: shutting down")
	sctx, cancel := context.WithTimeout(context.Background(), *shutdownTimeout)
	defer cancel()
	err = srv.Shutdown(sctx)
	<-served
	if err != nil {
		fmt.Fprintf(stderr, "fanin serve: open connections closed after --shutdown-timeout %v\n", *shutdownTimeout)
		return 1
	}
	return 0
}

// connLogger prints the server's events, one line each, from any goroutine.
type connLogger struct {
	mu   sync.Mutex
	w    io.Writer
	json bool
}

// connLine is a connection's JSON log line.
type connLine struct {
	Event       string       `json:"event"` // "conn"
	Remote      string       `json:"remote"`
	Label       string       `json:"label"`
	Mode        string       `json:"mode"`
	Producers   int          `json:"producers"`
	Messages    int          `json:"messages"`
	Bytes       int64        `json:"bytes"`
	DurationNs  int64        `json:"duration_ns"`
	OK          bool         `json:"ok"`
	EchoDropped int64        `json:"echo_dropped,omitempty"`
	Verdict     wire.Verdict `json:"verdict"`
}

func (l *connLogger) listening(addr string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.json {
		b, _ := json.Marshal(map[string]string{"event": "listening", "addr": addr})
		fmt.Fprintf(l.w, "%s\n", b)
		return
	}
	fmt.Fprintf(l.w, "listening on %s\n", addr)
}

func (l *connLogger) report(r sink.Report) {
	var line string
	if l.json {
		b, err := json.Marshal(connLine{
			Event:       "conn",
			Remote:      r.Remote,
			Label:       r.Header.Label,
			Mode:        r.Verdict.Mode,
			Producers:   r.Header.Producers,
			Messages:    r.Header.Messages,
			Bytes:       r.Verdict.ReceivedBytes,
			DurationNs:  int64(r.Duration),
			OK:          r.Verdict.OK,
			EchoDropped: r.EchoDropped,
			Verdict:     r.Verdict,
		})
		if err != nil {
			return
		}
		line = string(b)
	} else {
		mode := r.Verdict.Mode
		if mode == "" {
			mode = "-"
		}
		var b strings.Builder
		fmt.Fprintf(&b, "%s label=%q mode=%s %dx%d bytes=%d duration=%v", r.Remote, r.Header.Label, mode,
			r.Header.Producers, r.Header.Messages, r.Verdict.ReceivedBytes, r.Duration.Round(time.Microsecond))
		if r.EchoDropped > 0 {
			fmt.Fprintf(&b, " echo_dropped=%d", r.EchoDropped)
		}
		if r.Verdict.OK {
			b.WriteString(" verdict=ok")
		} else {
			fmt.Fprintf(&b, " verdict=FAILED errors=%q", strings.Join(r.Verdict.Errors, "; "))
		}
		line = b.String()
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	fmt.Fprintln(l.w, line)
}

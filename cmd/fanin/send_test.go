package main

import (
	"bytes"
	"encoding/json"
	"net"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/fanin-dev/fanin/internal/strategy"
)

func TestSendEveryStrategy(t *testing.T) {
	t.Cleanup(func() { goleak.VerifyNone(t) }) // after startServe's cleanup
	s := startServe(t)
	for _, name := range strategy.Names() {
		for _, mode := range []string{"byte", "framed"} {
			var stdout, stderr bytes.Buffer
			args := []string{"--addr", s.addr, "--strategy", name, "--producers", "8", "--messages", "300", "--mode", mode}
			if code := runSend(args, &stdout, &stderr); code != 0 {
				t.Errorf("%s %s: exit %d\nstdout: %s\nstderr: %s", name, mode, code, &stdout, &stderr)
				continue
			}
			out := stdout.String()
			for _, want := range []string{name + ": 8 producers x 300 messages, " + mode + " mode", "ns/msg", "MB/s", "sink: OK: 2400 messages"} {
				if !strings.Contains(out, want) {
					t.Errorf("%s %s: output lacks %q:\n%s", name, mode, want, out)
				}
			}
			if mode == "framed" && !strings.Contains(out, "latency: p50") {
				t.Errorf("%s framed: no latency line:\n%s", name, out)
			}
		}
	}
	if code := s.stop(); code != 0 {
		t.Errorf("serve exit %d", code)
	}
	// The server saw one verified connection per send, labelled with the strategy.
	if n := strings.Count(s.stdout.String(), "verdict=ok"); n != 2*len(strategy.Names()) {
		t.Errorf("%d verified connections:\n%s", n, s.stdout.String())
	}
	if !strings.Contains(s.stdout.String(), `label="chan-batch"`) {
		t.Errorf("connections not labelled with the strategy:\n%s", s.stdout.String())
	}
}

func TestSendJSON(t *testing.T) {
	t.Cleanup(func() { goleak.VerifyNone(t) }) // after startServe's cleanup
	s := startServe(t)
	var stdout, stderr bytes.Buffer
	args := []string{"--addr", s.addr, "--strategy", "direct", "--producers", "4", "--messages", "100", "--mode", "framed", "--size", "100", "--json"}
	if code := runSend(args, &stdout, &stderr); code != 0 {
		t.Fatalf("exit %d: %s", code, &stderr)
	}
	var res sendResult
	if err := json.Unmarshal(stdout.Bytes(), &res); err != nil {
		t.Fatalf("%q: %v", stdout.String(), err)
	}
	if !res.Verdict.OK || res.Strategy != "direct" || res.Size != 100 || res.Producers != 4 ||
		res.TotalNs <= 0 || res.TotalNs < res.WriteNs || res.NsPerMsg <= 0 || res.MBPerS <= 0 ||
		res.Verdict.ReceivedBytes != 4*100*100 || res.Verdict.Label != "direct" {
		t.Errorf("result %+v", res)
	}
}

// A stream the sink rejects: exit 1, and the sink's reasons are printed.
func TestSendRejected(t *testing.T) {
	t.Cleanup(func() { goleak.VerifyNone(t) }) // after startServe's cleanup
	s := startServe(t, "--max-bytes", "100")
	var stdout, stderr bytes.Buffer
	args := []string{"--addr", s.addr, "--strategy", "chan-batch", "--producers", "4", "--messages", "250"}
	if code := runSend(args, &stdout, &stderr); code != 1 {
		t.Errorf("exit %d, want 1", code)
	}
	if out := stdout.String(); !strings.Contains(out, "sink: FAILED") || !strings.Contains(out, "exceeds the sink's limit of 100") {
		t.Errorf("output:\n%s\nstderr:\n%s", out, &stderr)
	}
}

func TestSendFlags(t *testing.T) {
	t.Cleanup(func() { goleak.VerifyNone(t) }) // after startServe's cleanup
	for _, tt := range []struct {
		args []string
		want string
	}{
		{[]string{"--bogus"}, "flag provided but not defined"},
		{[]string{"--producers", "0"}, "producers"},
		{[]string{"--producers", "x"}, "invalid value"},
		{[]string{"--messages", "0"}, "messages"},
		{[]string{"--strategy", "nope"}, "chan-serial, chan-batch"},
		{[]string{"--mode", "bits"}, "want byte, framed or varied"},
		{[]string{"--mode", "framed", "--size", "8"}, "size 8"},
		{[]string{"--size", "20"}, "framed and varied modes only"},
		{[]string{"--timeout", "-1s"}, "--timeout"},
		{[]string{"extra"}, "unexpected argument"},
	} {
		var stdout, stderr bytes.Buffer
		if code := runSend(tt.args, &stdout, &stderr); code != 2 {
			t.Errorf("%q: exit %d, want 2", tt.args, code)
		}
		if !strings.Contains(stderr.String(), tt.want) || !strings.Contains(stderr.String(), "fanin send --help") {
			t.Errorf("%q: stderr %q lacks %q", tt.args, stderr.String(), tt.want)
		}
	}
	var stdout, stderr bytes.Buffer
	if code := runSend([]string{"-h"}, &stdout, &stderr); code != 0 {
		t.Errorf("-h: exit %d", code)
	}
	for _, f := range []string{"-addr", "-strategy", "-producers", "-messages", "-mode", "-size", "-json", "-timeout"} {
		if !strings.Contains(stdout.String(), f) {
			t.Errorf("help does not document %s:\n%s", f, stdout.String())
		}
	}
}

func TestSendNoServer(t *testing.T) {
	t.Cleanup(func() { goleak.VerifyNone(t) }) // after startServe's cleanup
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	var stdout, stderr bytes.Buffer
	if code := runSend([]string{"--addr", addr, "--strategy", "direct"}, &stdout, &stderr); code != 1 {
		t.Errorf("exit %d, want 1", code)
	}
	if !strings.Contains(stderr.String(), "connection refused") {
		t.Errorf("stderr %q", stderr.String())
	}
}

// The write time never exceeds the total time, even when the sending
// goroutine reads the clock after the verdict has arrived.
func TestDurations(t *testing.T) {
	start := time.Unix(100, 0)
	ms := func(n int) time.Time { return start.Add(time.Duration(n) * time.Millisecond) }
	for _, tc := range []struct {
		written, verdict time.Time
		write, total     time.Duration
	}{
		{ms(3), ms(5), 3 * time.Millisecond, 5 * time.Millisecond},
		{ms(6), ms(5), 5 * time.Millisecond, 5 * time.Millisecond},
	} {
		w, tot := durations(start, tc.written, tc.verdict)
		if time.Duration(w) != tc.write || time.Duration(tot) != tc.total {
			t.Errorf("durations(+%v, +%v) = %v, %v; want %v, %v", tc.written.Sub(start), tc.verdict.Sub(start),
				time.Duration(w), time.Duration(tot), tc.write, tc.total)
		}
	}
}

package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"go.uber.org/goleak"

	"github.com/fanin-dev/fanin/benchmarks/peers"
	"github.com/fanin-dev/fanin/internal/report"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// TestRunPeers runs a small verified matrix of every peer and the baseline
// over loopback TCP and checks the tables, the limitations and the files.
func TestRunPeers(t *testing.T) {
	dir := t.TempDir()
	var stdout, stderr bytes.Buffer
	code := run([]string{"--strategies", "peers", "--producers", "1,8", "--messages", "50",
		"--min-time", "0", "--min-runs", "1", "--max-runs", "1", "--out", dir}, &stdout, &stderr)
	if code != 0 {
		t.Fatalf("exit %d\nstderr:\n%s", code, stderr.String())
	}
	out := stdout.String()
	for _, want := range []string{"fanin-lanes", "peak heap", "Limitations"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	for _, p := range peers.All() {
		if !strings.Contains(out, "- "+p.Name()+": ") {
			t.Errorf("output lacks %s's limitations", p.Name())
		}
	}
	f, err := os.Open(filepath.Join(dir, "results.json"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	rep, err := report.ReadJSON(f)
	if err != nil {
		t.Fatal(err)
	}
	if want := 2 * (1 + len(peers.All())); len(rep.Results) != want {
		t.Fatalf("results.json has %d results, want %d", len(rep.Results), want)
	}
	lim := peers.Limitations()
	for _, r := range rep.Results {
		if !r.Verified {
			t.Errorf("%s/%d not verified", r.Strategy, r.Producers)
		}
		if l, ok := lim[r.Strategy]; ok && !strings.Contains(r.Note, l) {
			t.Errorf("%s's note %q lacks its limitations", r.Strategy, r.Note)
		}
	}
	for _, name := range []string{"results.csv", report.ChartSVG, report.ChartPNG} {
		if _, err := os.Stat(filepath.Join(dir, name)); err != nil {
			t.Error(err)
		}
	}
}

// TestRunFramedMem: framed mode through the in-memory sink gives latencies.
func TestRunFramedMem(t *testing.T) {
	var stdout, stderr bytes.Buffer
	code := run([]string{"--strategies", "xsync-mpmc,zap-buffered-1ms,fanin-lanes", "--mode", "framed",
		"--sink", "mem", "--producers", "4", "--messages", "50", "--min-time", "0", "--min-runs", "1",
		"--max-runs", "1", "--out", ""}, &stdout, &stderr)
	if code != 0 {
		t.Fatalf("exit %d\nstderr:\n%s", code, stderr.String())
	}
	if !strings.Contains(stdout.String(), "latency") {
		t.Errorf("framed output lacks the latency grid:\n%s", stdout.String())
	}
}

func TestBadFlags(t *testing.T) {
	for _, args := range [][]string{
		{"--strategies", "nope"},
		{"--producers", "0"},
		{"--mode", "words"},
		{"--size", "8"},
		{"--messages", "0"},
		{"extra"},
		{"--no-such-flag"},
	} {
		var stdout, stderr bytes.Buffer
		if code := run(args, &stdout, &stderr); code != 2 {
			t.Errorf("%q: exit %d, want 2 (stderr %q)", args, code, stderr.String())
		}
	}
	var stdout, stderr bytes.Buffer
	if code := run([]string{"--help"}, &stdout, &stderr); code != 0 || !strings.Contains(stdout.String(), "Usage: peers") {
		t.Errorf("--help: exit %d, output %q", code, stdout.String())
	}
}

func TestParseStrategies(t *testing.T) {
	all := peers.Contestants()
	got, err := parseStrategies("fanin, xsync-mpmc,fanin", all)
	if err != nil || len(got) != 2 || got[0].Name() != "fanin" || got[1].Name() != "xsync-mpmc" {
		t.Fatalf("got %v, %v", names(got), err)
	}
	if got, _ := parseStrategies("all", all); len(got) != len(all) {
		t.Fatalf("all: %d contestants, want %d", len(got), len(all))
	}
	if got, _ := parseStrategies("peers", all); got[0].Name() != report.Baseline || len(got) != 1+len(peers.All()) {
		t.Fatalf("peers: %v", names(got))
	}
}

// TestRunScenarios runs a short latency scenario with the peers and checks
// that the table lists every peer, verified, and that scenarios.json is
// written; idle is refused (its subjects are the library's own).
func TestRunScenarios(t *testing.T) {
	dir := t.TempDir()
	var stdout, stderr bytes.Buffer
	code := run([]string{"--scenario", "latency", "--scenario-time", "100ms", "--out", dir}, &stdout, &stderr)
	if code != 0 {
		t.Fatalf("exit %d\nstderr:\n%s", code, stderr.String())
	}
	out := stdout.String()
	for _, p := range peers.All() {
		if !strings.Contains(out, "\n"+p.Name()+" ") || !strings.Contains(out, "- "+p.Name()+": ") {
			t.Errorf("output lacks %s's row or limitations:\n%s", p.Name(), out)
		}
	}
	if strings.Contains(out, "false") {
		t.Errorf("a design is not verified:\n%s", out)
	}
	if _, err := os.Stat(filepath.Join(dir, "scenarios.json")); err != nil {
		t.Error(err)
	}
	stderr.Reset()
	if code := run([]string{"--scenario", "idle"}, &stdout, &stderr); code != 2 {
		t.Errorf("--scenario idle: exit %d, want 2; stderr %s", code, stderr.String())
	}
}

package benchcli

import (
	"fmt"
	"io"
	"os"
	"sync/atomic"
	"time"

	"github.com/vbauerster/mpb/v8"
	"github.com/vbauerster/mpb/v8/decor"

	"github.com/fanin-dev/fanin/internal/bench"
	"github.com/fanin-dev/fanin/internal/report"
)

// progress shows where the benchmark is: a live bar on a terminal, one
// plain line per finished cell otherwise (logs, CI, pipes).
type progress struct {
	w      io.Writer
	tty    bool
	width  int           // of the contestant column in the plain lines
	p      *mpb.Progress // created with the first report, once the cell count is known
	bar    *mpb.Bar
	status atomic.Pointer[string] // read by mpb's render goroutine
}

// newProgress reports to stderr; names are the contestants, whose longest
// name (at least 12 wide) sets the width of the plain lines' column.
func newProgress(stderr io.Writer, names []string) *progress {
	width := 12
	for _, n := range names {
		width = max(width, len(n))
	}
	return &progress{w: stderr, tty: isTerminal(stderr), width: width}
}

func (pr *progress) update(p bench.Progress) {
	if !pr.tty {
		if p.Result != nil {
			r := p.Result
			fmt.Fprintf(pr.w, "[%*d/%d] %-*s producers %-5d %10s ns/msg  %2d runs  elapsed %v  eta %v\n",
				len(fmt.Sprint(p.Total)), p.Done, p.Total, pr.width, r.Strategy, r.Producers,
				report.FormatNs(r.NsPerMsgMedian), r.Runs, roundDur(p.Elapsed), roundDur(p.ETA))
		}
		return
	}
	var s string
	if p.Result == nil {
		s = fmt.Sprintf("  %s @ %d producers", p.Strategy, p.Producers)
	} else {
		s = fmt.Sprintf("  %s @ %d: %s ns/msg", p.Strategy, p.Producers, report.FormatNs(p.Result.NsPerMsgMedian))
	}
	if p.Done > 0 {
		s += fmt.Sprintf("  elapsed %v  eta %v", roundDur(p.Elapsed), roundDur(p.ETA))
	}
	pr.status.Store(&s)
	if pr.p == nil {
		pr.p = mpb.New(mpb.WithOutput(pr.w), mpb.WithWidth(30), mpb.WithRefreshRate(200*time.Millisecond))
		pr.bar = pr.p.AddBar(int64(p.Total),
			mpb.PrependDecorators(decor.Name("bench "), decor.CountersNoUnit("%d/%d cells")),
			mpb.AppendDecorators(decor.Any(func(decor.Statistics) string { return *pr.status.Load() })),
		)
	}
	pr.bar.SetCurrent(int64(p.Done))
}

// finish leaves the bar complete (or abandoned, on failure) and waits for
// its last render, so that the table is not interleaved with it.
func (pr *progress) finish(ok bool) {
	if pr.p == nil {
		return
	}
	if !ok {
		pr.bar.Abort(false)
	}
	pr.p.Wait()
}

func roundDur(d time.Duration) time.Duration {
	if d >= 10*time.Second {
		return d.Round(time.Second)
	}
	return d.Round(100 * time.Millisecond)
}

// isTerminal reports whether w is an interactive terminal (a character
// device other than /dev/null), where a live progress bar makes sense.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	fi, err := f.Stat()
	if err != nil || fi.Mode()&os.ModeCharDevice == 0 {
		return false
	}
	if null, err := os.Stat(os.DevNull); err == nil && os.SameFile(fi, null) {
		return false
	}
	return true
}

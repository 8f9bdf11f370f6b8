package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/fanin-dev/fanin/internal/bench"
	"github.com/fanin-dev/fanin/internal/sink"
	"github.com/fanin-dev/fanin/internal/strategy"
	"github.com/fanin-dev/fanin/internal/wire"
)

const sendUsage = `Usage: fanin send [flags]

Streams one workload through one contestant to a "fanin serve" sink and
prints the sink's verdict with the sender's timing. The clock starts when
the parked producers are released and stops when the sink's verdict
arrives, i.e. once the sink has counted every byte. Exit status 0 only if
the sink verified the stream.

Flags:
`

func runSend(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("send", flag.ContinueOnError)
	addr := fs.String("addr", "127.0.0.1:8080", "HOST:PORT of the sink (fanin serve)")
	name := fs.String("strategy", "fanin-lanes", "contestant: "+strings.Join(strategy.Names(), ", "))
	producers := fs.Int("producers", 16, fmt.Sprintf("producer goroutines (1..%d)", wire.MaxProducers))
	messages := fs.Int("messages", bench.DefaultMessages, "messages per producer")
	modeName := fs.String("mode", "byte", "message format: byte (the seed's 1-byte messages), framed (id, seq, send time, payload; gives latency) or varied (framed with a length prefix and sizes up to --size)")
	size := fs.Int("size", 0, fmt.Sprintf("bytes per message in framed mode (%d..%d); 0: %d (byte mode is always 1)", wire.FrameSize, wire.MaxSize, bench.DefaultFramedSize))
	jsonOut := fs.Bool("json", false, "print one JSON object instead of text")
	timeout := fs.Duration("timeout", 0, "give up after this long (0: no limit; SIGINT/SIGTERM also stop it)")
	if code, done := parseFlags(fs, args, sendUsage, stdout, stderr); done {
		return code
	}
	if *timeout < 0 {
		return usageError(stderr, "send", "--timeout must not be negative")
	}
	mode, err := wire.ParseMode(*modeName)
	if err != nil {
		return usageError(stderr, "send", "--mode: "+err.Error())
	}
	h := wire.Header{Mode: mode, Producers: *producers, Messages: *messages, Size: 1, Label: *name}
	if mode != wire.Byte {
		h.Size = *size
		if h.Size == 0 {
			h.Size = bench.DefaultFramedSize
		}
	} else if *size > 1 {
		return usageError(stderr, "send", "--size applies to framed and varied modes only (byte messages are 1 byte)")
	}
	if err := h.Validate(); err != nil {
		return usageError(stderr, "send", err.Error())
	}
	st, err := strategy.Lookup(*name)
	if err != nil {
		return usageError(stderr, "send", "--strategy: "+err.Error())
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if *timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, *timeout)
		defer cancel()
	}
	res, err := send(ctx, *addr, st, h)
	if err != nil {
		fmt.Fprintf(stderr, "fanin send: %v\n", err)
		return 1
	}
	if *jsonOut {
		b, err := json.Marshal(res)
		if err != nil {
			fmt.Fprintf(stderr, "fanin send: %v\n", err)
			return 1
		}
		fmt.Fprintf(stdout, "%s\n", b)
	} else {
		res.print(stdout)
	}
	if res.WriteError != "" {
		fmt.Fprintf(stderr, "fanin send: %s: %s\n", h.Label, res.WriteError)
	}
	if !res.Verdict.OK || res.WriteError != "" {
		return 1
	}
	return 0
}

// sendResult is what fanin send reports (the JSON of --json).
type sendResult struct {
	Strategy  string `json:"strategy"`
	Mode      string `json:"mode"`
	Producers int    `json:"producers"`
	Messages  int    `json:"messages_per_producer"`
	Size      int    `json:"size"`
	// WriteNs: from the producers' release until the strategy had written
	// everything; TotalNs: until the sink's verdict arrived (the measure).
	WriteNs    int64        `json:"write_ns"`
	TotalNs    int64        `json:"total_ns"`
	NsPerMsg   float64      `json:"ns_per_msg"`
	MBPerS     float64      `json:"mb_per_s"`
	WriteError string       `json:"write_error,omitempty"`
	Verdict    wire.Verdict `json:"verdict"`
}

// durations returns the write time and the total time of a run that started
// at start, whose strategy's Wait returned before written, and whose verdict
// arrived at verdict. The sink can only judge bytes that were written, so the
// writing ended by the time the verdict arrived: a written after verdict only
// means the sending goroutine was slow to run again after Wait.
func durations(start, written, verdict time.Time) (writeNs, totalNs int64) {
	if written.After(verdict) {
		written = verdict
	}
	return int64(written.Sub(start)), int64(verdict.Sub(start))
}

// send runs one workload: connect, prepare (producers parked), start the
// clock, release, wait for the strategy, then for the sink's verdict.
func send(ctx context.Context, addr string, st strategy.Strategy, h wire.Header) (sendResult, error) {
	c, err := sink.Dial(ctx, addr, h)
	if err != nil {
		return sendResult{}, err
	}
	defer c.Close()
	// Unblock the strategy's writes if we are interrupted.
	defer context.AfterFunc(ctx, func() { c.Conn.SetWriteDeadline(time.Unix(1, 0)) })()
	run, err := st.Prepare(c.Conn, h)
	if err != nil {
		return sendResult{}, fmt.Errorf("%s: prepare: %w", st.Name(), err)
	}
	start := time.Now()
	run.Start()
	werr := run.Wait()
	written := time.Now()
	vd, at, err := c.Verdict(ctx)
	if err != nil {
		if werr != nil {
			return sendResult{}, fmt.Errorf("%s: %w (and %w)", st.Name(), werr, err)
		}
		return sendResult{}, err
	}
	res := sendResult{
		Strategy:  st.Name(),
		Mode:      h.Mode.String(),
		Producers: h.Producers,
		Messages:  h.Messages,
		Size:      h.Size,
		Verdict:   vd,
	}
	res.WriteNs, res.TotalNs = durations(start, written, at)
	if werr != nil {
		res.WriteError = werr.Error()
	}
	if res.TotalNs > 0 {
		res.NsPerMsg = float64(res.TotalNs) / float64(h.TotalMessages())
		res.MBPerS = float64(h.TotalBytes()) / (float64(res.TotalNs) / 1e9) / 1e6
	}
	return res, nil
}

func (r sendResult) print(w io.Writer) {
	vd := r.Verdict
	fmt.Fprintf(w, "%s: %d producers x %d messages, %s mode, %d bytes each\n",
		r.Strategy, r.Producers, r.Messages, r.Mode, r.Size)
	fmt.Fprintf(w, "sender: written in %v, verdict after %v: %.2f ns/msg, %.1f MB/s\n",
		time.Duration(r.WriteNs).Round(time.Microsecond), time.Duration(r.TotalNs).Round(time.Microsecond),
		r.NsPerMsg, r.MBPerS)
	if vd.OK {
		fmt.Fprintf(w, "sink: OK: %d messages, %d bytes, first to last byte in %v\n",
			vd.ReceivedMessages, vd.ReceivedBytes, time.Duration(vd.DurationNs).Round(time.Microsecond))
	} else {
		fmt.Fprintf(w, "sink: FAILED: %d of %d messages, %d bytes; %d duplicates, %d missing, %d out of order\n",
			vd.ReceivedMessages, vd.ExpectedMessages, vd.ReceivedBytes, vd.Duplicates, vd.Missing, vd.OutOfOrder)
		for _, e := range vd.Errors {
			fmt.Fprintf(w, "  %s\n", e)
		}
	}
	if vd.LatencyMaxUs > 0 {
		fmt.Fprintf(w, "latency: p50 %.1f µs, p99 %.1f µs, max %.1f µs\n", vd.LatencyP50Us, vd.LatencyP99Us, vd.LatencyMaxUs)
	}
}

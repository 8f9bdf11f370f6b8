package wire

import (
	"encoding/binary"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/fanin-dev/fanin/internal/prefault"
)

// maxErrors caps Verdict.Errors: a broken stream can produce millions of
// problems, and the first few are what explains it.
const maxErrors = 10

// Verdict is the sink's judgement of one stream. It is sent back to the
// client as JSON, hence the tags.
type Verdict struct {
	OK                  bool   `json:"ok"`
	Mode                string `json:"mode"`
	Label               string `json:"label,omitempty"`
	Producers           int    `json:"producers"`
	MessagesPerProducer int    `json:"messages_per_producer"`
	Size                int    `json:"size"`
	ExpectedMessages    int64  `json:"expected_messages"`
	// ReceivedMessages counts complete messages within the announced stream.
	ReceivedMessages int64 `json:"received_messages"`
	// ReceivedBytes counts every byte after the header, extra ones included.
	ReceivedBytes int64 `json:"received_bytes"`
	// Duplicates and Missing: in Framed mode, per producer, messages beyond
	// or short of Messages (at least one of each when the count is right but
	// the seqs are not 0..N-1 exactly once). In Byte mode, values beyond or
	// short of their expected count in the histogram.
	Duplicates int64 `json:"duplicates"`
	Missing    int64 `json:"missing"`
	// OutOfOrder counts framed messages that arrived after a message of the
	// same producer with a higher seq.
	OutOfOrder int64 `json:"out_of_order"`
	DurationNs int64 `json:"duration_ns"` // first byte to last byte, as the sink saw it
	// CompletedUnixNs is when the sink had counted the last expected byte,
	// by its wall clock, in nanoseconds since the Unix epoch; 0 while the
	// stream is short. A benchmark sharing the sink's clock stops there.
	CompletedUnixNs int64    `json:"completed_unix_ns,omitempty"`
	LatencyP50Us    float64  `json:"latency_p50_us,omitempty"`
	LatencyP99Us    float64  `json:"latency_p99_us,omitempty"`
	LatencyMaxUs    float64  `json:"latency_max_us,omitempty"`
	Errors          []string `json:"errors,omitempty"` // capped, human-readable
}

// Err turns a failed verdict into an error, so callers can use the usual
// `if err != nil` flow; nil if OK.
func (v Verdict) Err() error {
	if v.OK {
		return nil
	}
	if len(v.Errors) == 0 {
		return errors.New("wire: stream not verified")
	}
	return fmt.Errorf("wire: stream not verified: %s", strings.Join(v.Errors, "; "))
}

// producerState is all the verifier keeps per producer in Framed mode: enough
// to check exactly-once delivery (count plus two sums of seqs) and order
// without remembering which seqs were seen.
type producerState struct {
	next  uint64 // highest seq seen + 1; 0 before the first message
	count uint64
	sum   uint64 // Σ seq mod 2^64
	sumSq uint64 // Σ seq² mod 2^64
}

// Verifier checks a received stream (without the header) against its
// header. It is an io.Writer that never fails: it records problems instead,
// and Verdict reports them. It accepts the stream split across Write calls
// in any way, keeps memory bounded (per-producer counters and a fixed-size
// latency histogram, never the stream), and reads the clock once per Write
// (twice in the one that completes the stream).
// It is not safe for concurrent use.
type Verifier struct {
	h     Header
	total int64 // expected stream length
	recv  int64 // bytes written, extra ones included
	now   func() time.Time
	first time.Time
	last  time.Time
	// completed is when the last expected byte was counted: zero until then.
	completed time.Time

	errs    []string
	dropped int // errors beyond maxErrors

	// Byte mode: four histograms counted in turn, so that consecutive
	// increments of one value do not wait on each other.
	counts *[4][256]uint64

	// Framed mode.
	prods      producerTable
	frame      [FrameSize]byte // fixed part of the current message
	frameN     int
	payLeft    int // payload bytes of the current message still to come
	payOff     int
	payBase    byte
	payOK      bool
	messages   int64 // complete messages
	corrupt    int64
	outOfOrder int64
	lat        *latencyHist
	varied     variedState // Varied mode: the length prefix being read
}

// NewVerifier returns a Verifier for a stream announced by h, which must be
// valid (as ReadHeader returns it). Its tables are mapped in memory before
// it returns: their page faults would otherwise fall on the stream's first
// bytes, inside a benchmark's timed run.
func NewVerifier(h Header) *Verifier {
	v := &Verifier{h: h, total: h.TotalBytes(), now: time.Now}
	if h.Mode == Framed || h.Mode == Varied {
		v.prods = newProducerTable(h.Producers)
		v.lat = new(latencyHist)
		prefault.Slice(v.lat.counts[:])
	} else {
		v.counts = new([4][256]uint64)
		prefault.Slice(v.counts[:])
	}
	return v
}

// Write records p as the next part of the stream. It always returns
// len(p), nil; bytes beyond the announced length are counted as extra.
func (v *Verifier) Write(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	t := v.now()
	if v.recv == 0 {
		v.first = t
	}
	v.last = t
	in := p
	if rem := v.total - v.recv; rem < int64(len(in)) {
		in = in[:max(rem, 0)]
	}
	v.recv += int64(len(p))
	if len(in) > 0 {
		if v.counts != nil {
			countBytes(v.counts, in)
		} else if v.h.Mode == Varied {
			v.writeVaried(in, t.UnixNano())
		} else {
			v.writeFramed(in, t.UnixNano())
		}
	}
	if v.completed.IsZero() && v.Done() {
		v.completed = v.now() // after counting: the moment the clock stops
	}
	return len(p), nil
}

// Done reports whether every expected byte has been received: the moment
// the sink stops its clock and sends its verdict.
func (v *Verifier) Done() bool { return v.recv >= v.total }

// countBytes is the Byte-mode hot loop. The sink runs it on every byte of
// the benchmark, so it must stay well below the cost of receiving them.
func countBytes(c *[4][256]uint64, p []byte) {
	for len(p) >= 8 {
		c[0][p[0]]++
		c[1][p[1]]++
		c[2][p[2]]++
		c[3][p[3]]++
		c[0][p[4]]++
		c[1][p[5]]++
		c[2][p[6]]++
		c[3][p[7]]++
		p = p[8:]
	}
	for _, b := range p {
		c[0][b]++
	}
}

func (v *Verifier) errorf(format string, args ...any) {
	if len(v.errs) >= maxErrors {
		v.dropped++
		return
	}
	v.errs = append(v.errs, fmt.Sprintf(format, args...))
}

// writeFramed parses p, which lies entirely within the announced stream.
func (v *Verifier) writeFramed(p []byte, now int64) {
	for len(p) > 0 {
		if v.frameN < FrameSize {
			n := copy(v.frame[v.frameN:], p)
			v.frameN += n
			p = p[n:]
			if v.frameN < FrameSize {
				return
			}
			v.payLeft = v.h.Size - FrameSize
			v.payOff = 0
			v.payOK = true
			producer := binary.LittleEndian.Uint32(v.frame[0:])
			seq := binary.LittleEndian.Uint32(v.frame[4:])
			v.payBase = payloadBase(producer, seq)
			if v.payLeft == 0 {
				v.endMessage(now)
			}
			continue
		}
		p = p[v.checkPayload(p, FrameSize):]
		if v.payLeft == 0 {
			v.endMessage(now)
		}
	}
}

// checkPayload checks and consumes the next bytes of the current message's
// payload from p, which starts at byte offset head of the message, and
// returns how many it consumed.
func (v *Verifier) checkPayload(p []byte, head int) int {
	n := min(len(p), v.payLeft)
	if v.payOK {
		for i, b := range p[:n] {
			if b != v.payBase+byte(v.payOff+i) {
				v.payOK = false
				v.errorf("message %d: payload corrupted at byte %d (producer %d seq %d)",
					v.messages, head+v.payOff+i,
					binary.LittleEndian.Uint32(v.frame[0:]), binary.LittleEndian.Uint32(v.frame[4:]))
				break
			}
		}
	}
	v.payOff += n
	v.payLeft -= n
	return n
}

// endMessage accounts for the message whose last byte has just arrived.
func (v *Verifier) endMessage(now int64) {
	index := v.messages
	v.messages++
	v.frameN = 0
	producer := binary.LittleEndian.Uint32(v.frame[0:])
	seq := uint64(binary.LittleEndian.Uint32(v.frame[4:]))
	sent := int64(binary.LittleEndian.Uint64(v.frame[8:]))
	if !v.payOK {
		v.corrupt++
	}
	if int64(producer) >= int64(v.h.Producers) || seq >= uint64(v.h.Messages) {
		if v.payOK { // already reported otherwise
			v.corrupt++
			v.errorf("message %d: producer %d seq %d out of range (%d producers x %d messages)",
				index, producer, seq, v.h.Producers, v.h.Messages)
		}
		return
	}
	s := v.prods.at(int(producer))
	switch {
	case seq+1 == s.next:
		v.errorf("producer %d: seq %d repeated", producer, seq)
	case seq < s.next:
		v.outOfOrder++
		v.errorf("producer %d: seq %d arrived after seq %d", producer, seq, s.next-1)
	default:
		s.next = seq + 1
	}
	s.count++
	s.sum += seq
	s.sumSq += seq * seq
	if v.payOK {
		v.lat.record(now - sent)
	}
}

// seqSums returns Σ s and Σ s² for s in 0..n-1, mod 2^64, to compare with
// what a producer's messages added up to.
func seqSums(n uint64) (sum, sumSq uint64) {
	if n == 0 {
		return 0, 0
	}
	a, b := n-1, n
	if a%2 == 0 {
		sum = a / 2 * b
	} else {
		sum = a * (b / 2)
	}
	// (n-1) n (2n-1) / 6: divide the factors first, then multiply mod 2^64.
	f := [3]uint64{n - 1, n, 2*n - 1}
	for i := range f {
		if f[i]%2 == 0 {
			f[i] /= 2
			break
		}
	}
	for i := range f {
		if f[i]%3 == 0 {
			f[i] /= 3
			break
		}
	}
	return sum, f[0] * f[1] * f[2]
}

// expectedCount is how many times value b appears in a Byte-mode stream of
// h: each producer sends ByteValue(0..Messages-1).
func expectedCount(h Header, b int) int64 {
	if b == 255 {
		return 0
	}
	seq := (b + 254) % 255 // ByteValue(seq) == b
	n := int64(h.Messages / 255)
	if seq < h.Messages%255 {
		n++
	}
	return n * int64(h.Producers)
}

// Verdict summarises what has been received so far. It is a snapshot: the
// verifier can keep receiving. OK only if every expected byte arrived,
// nothing extra did, and every check passed.
func (v *Verifier) Verdict() Verdict {
	h := v.h
	vd := Verdict{
		Mode:                h.Mode.String(),
		Label:               h.Label,
		Producers:           h.Producers,
		MessagesPerProducer: h.Messages,
		Size:                h.Size,
		ExpectedMessages:    h.TotalMessages(),
		ReceivedBytes:       v.recv,
		DurationNs:          int64(v.last.Sub(v.first)),
	}
	if !v.completed.IsZero() {
		vd.CompletedUnixNs = v.completed.UnixNano()
	}
	var errs []string
	dropped := 0
	add := func(format string, args ...any) {
		if len(errs) < maxErrors {
			errs = append(errs, fmt.Sprintf(format, args...))
		} else {
			dropped++
		}
	}
	if v.recv < v.total {
		add("stream ended early: %d of %d bytes", v.recv, v.total)
	} else if v.recv > v.total {
		add("%d extra bytes after the announced %d", v.recv-v.total, v.total)
	}
	if v.counts != nil {
		vd.ReceivedMessages = min(v.recv, v.total)
		for b := range 256 {
			got := int64(v.counts[0][b] + v.counts[1][b] + v.counts[2][b] + v.counts[3][b])
			want := expectedCount(h, b)
			switch {
			case got < want:
				vd.Missing += want - got
			case got > want:
				vd.Duplicates += got - want
			}
			if got != want && v.recv >= v.total { // a short stream is already explained
				add("value %d: received %d times, want %d", b, got, want)
			}
		}
	} else {
		vd.ReceivedMessages = v.messages
		vd.OutOfOrder = v.outOfOrder
		wantSum, wantSq := seqSums(uint64(h.Messages))
		for p := range h.Producers {
			s := v.prods.get(p)
			n := uint64(h.Messages)
			switch {
			case s.count < n:
				vd.Missing += int64(n - s.count)
				if v.recv >= v.total {
					add("producer %d: %d of %d messages", p, s.count, n)
				}
			case s.count > n:
				vd.Duplicates += int64(s.count - n)
				add("producer %d: %d messages, want %d", p, s.count, n)
			case s.sum != wantSum || s.sumSq != wantSq:
				vd.Duplicates++
				vd.Missing++
				add("producer %d: %d messages but not seqs 0..%d exactly once", p, n, n-1)
			}
		}
		if v.corrupt > 0 {
			add("%d corrupted messages", v.corrupt)
		}
		vd.LatencyP50Us = float64(v.lat.quantile(0.50)) / 1e3
		vd.LatencyP99Us = float64(v.lat.quantile(0.99)) / 1e3
		vd.LatencyMaxUs = float64(v.lat.max) / 1e3
	}
	for _, e := range v.errs {
		add("%s", e)
	}
	dropped += v.dropped
	if dropped > 0 {
		errs = append(errs, fmt.Sprintf("... and %d more", dropped))
	}
	vd.Errors = errs
	vd.OK = len(errs) == 0 && v.recv == v.total && vd.Duplicates == 0 && vd.Missing == 0 &&
		vd.OutOfOrder == 0 && v.corrupt == 0
	return vd
}

// producerTable holds the per-producer state in pages allocated as producers
// appear in the stream, so that what a connection costs follows what it
// sends: a header announcing a million producers buys nothing by itself.
type producerTable struct {
	pages [][]producerState
}

const producerPage = 1024

func newProducerTable(producers int) producerTable {
	return producerTable{pages: make([][]producerState, (producers+producerPage-1)/producerPage)}
}

// at returns producer p's state, allocating its page on first use.
func (t *producerTable) at(p int) *producerState {
	page := &t.pages[p/producerPage]
	if *page == nil {
		*page = make([]producerState, producerPage)
	}
	return &(*page)[p%producerPage]
}

// get returns producer p's state without allocating: zero if never seen.
func (t *producerTable) get(p int) producerState {
	if page := t.pages[p/producerPage]; page != nil {
		return page[p%producerPage]
	}
	return producerState{}
}

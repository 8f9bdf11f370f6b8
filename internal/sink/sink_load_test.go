package sink

import (
	"io"
	"math/rand/v2"
	"net"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/fanin-dev/fanin/internal/wire"
)

// loadKind is what one connection of the load test does.
type loadKind int

const (
	loadGood      loadKind = iota // a correct framed stream
	loadGarbage                   // random bytes instead of a header
	loadTruncated                 // a header, part of the stream cut mid-frame, then EOF
	loadHuge                      // a header announcing more than the sink accepts
	loadIdle                      // a header, then silence
	loadCorrupt                   // a whole stream with one message's payload flipped
	numLoadKinds
)

// wantProblem is what the verdict of each kind must name.
var wantProblem = [numLoadKinds]string{
	loadGood:      "",
	loadGarbage:   "bad magic",
	loadTruncated: "connection closed by the client after",
	loadHuge:      "exceeds the sink's limit",
	loadIdle:      "idle for",
	loadCorrupt:   "payload corrupted",
}

func heapInUse() uint64 {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapInuse
}

// TestLoadThousandConnections opens 1000 connections at once, a mix of good
// streams, garbage, streams cut mid-frame, headers announcing streams beyond
// the sink's limit, idle connections and corrupted streams, then drives them
// all concurrently. Every connection must get a verdict naming its problem
// (or OK for the good ones) and then be closed by the server; the server
// must still verify a good client afterwards; and the heap once they are
// gone must be back within a few MiB of where it started.
func TestLoadThousandConnections(t *testing.T) {
	const conns = 1000
	before := heapInUse()
	// The idle timeout leaves room for dialing all 1000 under -race first.
	ts := startServer(t, Config{IdleTimeout: 2 * time.Second, MaxBytes: 1 << 20})
	good := wire.Header{Mode: wire.Framed, Producers: 4, Messages: 25, Size: 40, Label: "load"}
	goodStream := stream(good)
	huge := wire.Header{Mode: wire.Framed, Producers: 1024, Messages: 1 << 20, Size: wire.MaxSize}
	rng := rand.New(rand.NewPCG(1, 2))

	// Dial them all first, so that all 1000 are open at the same time.
	type conn struct {
		c    *net.TCPConn
		kind loadKind
		out  []byte // what to send
	}
	cs := make([]conn, conns)
	for i := range cs {
		k := loadKind(i % int(numLoadKinds))
		var out []byte
		switch k {
		case loadGood:
			out = append(encode(t, good), goodStream...)
		case loadGarbage:
			out = make([]byte, 4+rng.IntN(200)) // at least a magic's worth
			for j := range out {
				out[j] = byte(rng.IntN(256))
			}
			out[0] = 'X' // never the magic by chance
		case loadTruncated:
			cut := 1 + rng.IntN(len(goodStream)-2)
			if cut%good.Size == 0 {
				cut++ // mid-frame
			}
			out = append(encode(t, good), goodStream[:cut]...)
		case loadHuge:
			out = encode(t, huge)
		case loadIdle:
			out = encode(t, good)
		case loadCorrupt:
			out = append(encode(t, good), goodStream...)
			hdrLen := len(out) - len(goodStream)
			out[hdrLen+rng.IntN(len(goodStream)/good.Size)*good.Size+wire.FrameSize] ^= 0xff
		}
		cs[i] = conn{c: dialRaw(t, ts.addr), kind: k, out: out}
	}

	var wg sync.WaitGroup
	verdicts := make([]wire.Verdict, conns)
	errs := make([]error, conns)
	for i, c := range cs {
		wg.Go(func() {
			if _, err := c.c.Write(c.out); err != nil {
				errs[i] = err
				return
			}
			if c.kind == loadTruncated || c.kind == loadGarbage {
				c.c.CloseWrite()
			}
			// rawVerdict also checks that the server closed the connection
			// after the verdict.
			verdicts[i], _, errs[i] = rawVerdict(c.c)
			c.c.Close()
		})
	}
	wg.Wait()
	for range conns {
		<-ts.accepted // the hook's channel holds 1000: make room for the next client
	}

	counts := map[loadKind]int{}
	for i, c := range cs {
		if errs[i] != nil {
			t.Errorf("connection %d (%v): %v", i, c.kind, errs[i])
			continue
		}
		vd := verdicts[i]
		if c.kind == loadGood {
			if !vd.OK {
				t.Errorf("good connection %d: %v", i, vd.Err())
			}
		} else if vd.OK || !strings.Contains(vd.Err().Error(), wantProblem[c.kind]) {
			t.Errorf("connection %d (%v): verdict %v; want it to name %q", i, c.kind, vd.Err(), wantProblem[c.kind])
		}
		counts[c.kind]++
	}
	if t.Failed() {
		return
	}
	t.Logf("verdicts per kind: %v", counts)

	// The server stays up.
	if vd := send(t, ts.addr, good); !vd.OK {
		t.Fatalf("good client after the load: %v", vd.Err())
	}
	// Every connection's goroutine has ended (the server has 0 left), and
	// the memory they held is back.
	ts.Shutdown(t.Context())
	if reps := ts.Reports(); len(reps) != conns+1 {
		t.Fatalf("%d connections reported, want %d", len(reps), conns+1)
	}
	after := heapInUse()
	t.Logf("heap in use: %d KiB before, %d KiB after", before>>10, after>>10)
	if after > before+8<<20 {
		t.Fatalf("heap in use grew from %d KiB to %d KiB", before>>10, after>>10)
	}
}

// TestHeaderCannotBuyUnboundedMemory: a header is 23 bytes, but a framed
// header announcing wire.MaxProducers producers (a valid, small stream: one
// 16-byte message each) makes the verifier allocate per-producer state for
// all of them up front, about 32 MiB, and hold it until the connection ends
// (up to the idle timeout, and longer for a client that trickles bytes). A
// handful of such connections then cost hundreds of MiB; a thousand, tens
// of GiB. This test opens a few and requires the heap to stay bounded while
// they are open.
func TestHeaderCannotBuyUnboundedMemory(t *testing.T) {
	const conns = 4
	before := heapInUse()
	// Echo mode: the echo of the first message proves that the server has
	// read the header and made the stream's verifier.
	ts := startServer(t, Config{IdleTimeout: 2 * time.Second, Echo: true})
	h := wire.Header{Mode: wire.Framed, Producers: wire.MaxProducers, Messages: 1, Size: wire.FrameSize}
	first := wire.AppendMessage(nil, h, 0, 0)
	var cs []*net.TCPConn
	for range conns {
		c := dialRaw(t, ts.addr)
		if _, err := c.Write(append(encode(t, h), first...)); err != nil {
			t.Fatal(err)
		}
		echo := make([]byte, 5+len(first))
		if _, err := io.ReadFull(c, echo); err != nil || echo[0] != FrameEcho {
			t.Fatalf("no echo of the first message: %q, %v", echo, err)
		}
		cs = append(cs, c)
	}
	during := heapInUse()
	for _, c := range cs {
		c.Close()
	}
	t.Logf("heap in use: %d KiB before, up to %d KiB with %d idle connections", before>>10, during>>10, conns)
	if limit := before + 32<<20; during > limit {
		t.Fatalf("%d connections of a 23-byte header each hold %d MiB of heap; want under 32 MiB in all",
			conns, (during-before)>>20)
	}
}

func (k loadKind) String() string {
	return [...]string{"good", "garbage", "truncated", "huge", "idle", "corrupt"}[k]
}

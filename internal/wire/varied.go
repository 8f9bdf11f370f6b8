package wire

import (
	"encoding/binary"
	"fmt"
	"slices"
	"time"
)

// Varied mode: messages of many sizes, as real traffic has, still verifiable
// exactly. Each message is
//
//	length uint32 | producer uint32 | seq uint32 | send time int64 | payload
//
// (little endian), where length counts the whole message and is
// VariedSize(h, producer, seq): the sink knows every message's length in
// advance, so the total stream length is known and a wrong length prefix is
// caught, not trusted.

// VariedMin is the smallest Varied message: the length prefix and the frame.
const VariedMin = 4 + FrameSize

// variedPeriod is how many distinct sizes a producer's messages cycle
// through. A period keeps TotalBytes computable in O(variedPeriod) for any
// header, rather than in O(producers x messages).
const variedPeriod = 1024

// VariedSize is the length of message seq of producer in a Varied stream of
// h: a deterministic pseudo-random size in [VariedMin, h.Size].
func VariedSize(h Header, producer, seq int) int {
	return variedSizeAt(h.Size, (uint64(producer)+uint64(seq))%variedPeriod)
}

// variedSizeAt is the size at index i of the period, for messages of at
// most largest bytes.
func variedSizeAt(largest int, i uint64) int {
	span := uint64(largest - VariedMin + 1)
	// splitmix64's finaliser: well spread, cheap, no state.
	z := i + 0x9E3779B97F4A7C15
	z = (z ^ z>>30) * 0xBF58476D1CE4E5B9
	z = (z ^ z>>27) * 0x94D049BB133111EB
	z ^= z >> 31
	return VariedMin + int(z%span)
}

// variedTotal is TotalBytes for a Varied header: Σ VariedSize over every
// producer and seq, computed from the period's prefix sums.
func variedTotal(h Header) int64 {
	var prefix [2*variedPeriod + 1]int64 // over two periods, for windows that wrap
	for i := range 2 * variedPeriod {
		prefix[i+1] = prefix[i] + int64(variedSizeAt(h.Size, uint64(i%variedPeriod)))
	}
	period := prefix[variedPeriod]
	full, rest := int64(h.Messages/variedPeriod), h.Messages%variedPeriod
	total := int64(h.Producers) * full * period
	// Producer p's last rest messages start at index (p + full*period) mod
	// period = p mod period; producers with the same p mod period add the
	// same window.
	for c := range min(h.Producers, variedPeriod) {
		n := int64((h.Producers-1-c)/variedPeriod + 1) // producers p < Producers with p%period == c
		total += n * (prefix[c+rest] - prefix[c])
	}
	return total
}

// appendVaried appends a Varied message.
func appendVaried(dst []byte, h Header, producer, seq int) []byte {
	size := VariedSize(h, producer, seq)
	n := len(dst)
	dst = slices.Grow(dst, size)[:n+size]
	m := dst[n:]
	binary.LittleEndian.PutUint32(m[0:], uint32(size))
	binary.LittleEndian.PutUint32(m[4:], uint32(producer))
	binary.LittleEndian.PutUint32(m[8:], uint32(seq))
	binary.LittleEndian.PutUint64(m[12:], uint64(time.Now().UnixNano()))
	fillPayload(m[VariedMin:], payloadBase(uint32(producer), uint32(seq)))
	return dst
}

// variedState is the Verifier's Varied-mode state between Writes: the
// length prefix of the current message, as far as it has arrived.
type variedState struct {
	length [4]byte
	n      int // bytes of length received; 4 once the frame is being read
}

// writeVaried parses p, which lies entirely within the announced stream. It
// reads the length prefix, then the frame into v.frame, then checks the
// payload exactly as writeFramed does, and ends each message with
// endMessage.
func (v *Verifier) writeVaried(p []byte, now int64) {
	s := &v.varied
	for len(p) > 0 {
		if s.n < len(s.length) {
			k := copy(s.length[s.n:], p)
			s.n += k
			p = p[k:]
			continue
		}
		if v.frameN < FrameSize {
			k := copy(v.frame[v.frameN:], p)
			v.frameN += k
			p = p[k:]
			if v.frameN < FrameSize {
				return
			}
			producer := binary.LittleEndian.Uint32(v.frame[0:])
			seq := binary.LittleEndian.Uint32(v.frame[4:])
			length := int(binary.LittleEndian.Uint32(s.length[:]))
			v.payOff = 0
			v.payOK = true
			v.payBase = payloadBase(producer, seq)
			if int64(producer) < int64(v.h.Producers) && int64(seq) < int64(v.h.Messages) {
				if want := VariedSize(v.h, int(producer), int(seq)); length != want {
					// Trust the schedule, not the prefix: it keeps the
					// parse in step if only the prefix is damaged.
					v.payOK = false
					v.errorf("message %d: length %d, want %d (producer %d seq %d)", v.messages, length, want, producer, seq)
					length = want
				}
			} else if length < VariedMin || length > v.h.Size {
				v.payOK = false
				v.errorf("message %d: length %d out of range %d..%d (producer %d seq %d)",
					v.messages, length, VariedMin, v.h.Size, producer, seq)
				length = VariedMin
			}
			v.payLeft = length - VariedMin
			if v.payLeft == 0 {
				s.n = 0
				v.endMessage(now)
			}
			continue
		}
		p = p[v.checkPayload(p, VariedMin):]
		if v.payLeft == 0 {
			s.n = 0
			v.endMessage(now)
		}
	}
}

// VerifySent checks a Framed or Varied stream whose length was not known in
// advance (a soak: the header announces an upper bound on Messages, the
// producers stop when time is up): it reports an error unless what has been
// received is exactly, for every producer p, its messages 0..sent[p]-1, each
// once, in order, whole and uncorrupted, and nothing else.
func (v *Verifier) VerifySent(sent []int) error {
	if v.h.Mode != Framed && v.h.Mode != Varied {
		return fmt.Errorf("wire: VerifySent needs a framed or varied stream, not %v", v.h.Mode)
	}
	if len(sent) != v.h.Producers {
		return fmt.Errorf("wire: VerifySent: %d counts for %d producers", len(sent), v.h.Producers)
	}
	if v.frameN != 0 || v.varied.n != 0 {
		return fmt.Errorf("wire: the stream ends inside message %d", v.messages)
	}
	if len(v.errs) > 0 {
		return fmt.Errorf("wire: %d problems, the first: %s", len(v.errs)+v.dropped, v.errs[0])
	}
	if v.corrupt > 0 || v.outOfOrder > 0 {
		return fmt.Errorf("wire: %d corrupted and %d out-of-order messages", v.corrupt, v.outOfOrder)
	}
	var want int64
	for p, n := range sent {
		s := v.prods.get(p)
		sum, sumSq := seqSums(uint64(n))
		if s.count != uint64(n) || s.next != uint64(n) || s.sum != sum || s.sumSq != sumSq {
			return fmt.Errorf("wire: producer %d: received %d messages (up to seq %d), sent 0..%d", p, s.count, int64(s.next)-1, n-1)
		}
		want += int64(n)
	}
	if v.messages != want {
		return fmt.Errorf("wire: received %d messages, sent %d", v.messages, want)
	}
	return nil
}

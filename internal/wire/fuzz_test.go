package wire

import (
	"bytes"
	"reflect"
	"testing"
	"time"
)

// FuzzDecode feeds arbitrary bytes to ReadHeader and, when they start with a
// valid header, the rest to a Verifier in chunks of the given size. Nothing
// may panic, and the verdict must be consistent and independent of the split.
func FuzzDecode(f *testing.F) {
	// Small inputs keep the fuzzer's minimisation fast; the committed corpus
	// in testdata/fuzz/FuzzDecode adds valid and invalid headers.
	for _, h := range []Header{
		{Mode: Byte, Producers: 2, Messages: 30, Size: 1},
		{Mode: Framed, Producers: 2, Messages: 3, Size: 20, Label: "seed"},
	} {
		enc, _ := h.AppendBinary(nil)
		f.Add(append(enc, stream(h)...), uint16(7))
	}
	f.Fuzz(func(t *testing.T, data []byte, chunk uint16) {
		r := bytes.NewReader(data)
		h, err := ReadHeader(r)
		if err != nil {
			return
		}
		if err := h.Validate(); err != nil {
			t.Fatalf("ReadHeader returned an invalid header %+v: %v", h, err)
		}
		if h.Producers > 1<<12 {
			return // valid, but per-producer state would make the fuzzer slow
		}
		rest := data[len(data)-r.Len():]
		clock := time.Unix(1e9, 0)
		v := NewVerifier(h)
		fixedClock(v, clock)
		size := max(int(chunk), 1)
		for off := 0; off < len(rest); off += size {
			v.Write(rest[off:min(off+size, len(rest))])
		}
		vd := v.Verdict()
		if vd.ReceivedBytes != int64(len(rest)) {
			t.Fatalf("ReceivedBytes %d, wrote %d", vd.ReceivedBytes, len(rest))
		}
		if v.Done() != (int64(len(rest)) >= h.TotalBytes()) {
			t.Fatalf("Done() = %v with %d of %d bytes", v.Done(), len(rest), h.TotalBytes())
		}
		if vd.OK != (vd.Err() == nil) {
			t.Fatalf("OK %v but Err() = %v", vd.OK, vd.Err())
		}
		if vd.OK && (vd.ReceivedBytes != h.TotalBytes() || vd.ReceivedMessages != h.TotalMessages()) {
			t.Fatalf("OK verdict for an incomplete stream: %+v", vd)
		}
		if len(vd.Errors) > maxErrors+1 {
			t.Fatalf("%d errors, cap is %d", len(vd.Errors), maxErrors)
		}
		whole := NewVerifier(h)
		fixedClock(whole, clock)
		whole.Write(rest)
		if wv := whole.Verdict(); !reflect.DeepEqual(wv, vd) {
			t.Fatalf("verdict depends on the split:\n chunks %+v\n whole  %+v", vd, wv)
		}
	})
}

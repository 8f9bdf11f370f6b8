// Package prefault touches fresh memory so that its page faults are paid
// before a measurement, not inside it.
//
// The benchmark returns free memory to the operating system before every
// timed run (debug.FreeOSMemory), so a buffer allocated after that, or
// allocated earlier and never written, is backed by pages the kernel maps
// only on their first write: a page fault each, 3-4 µs on the reference
// machine. A 1000-byte run takes about 40 µs; a 64 KiB read buffer is
// sixteen faults.
package prefault

import (
	"os"
	"unsafe"
)

// pageSize is the stride at which Slice writes.
var pageSize = os.Getpagesize()

// Slice writes the zero value to one element of s's backing array per page,
// and to its last, up to its capacity, so that every page is mapped. s must
// be freshly allocated (its elements zero): what it held is overwritten.
func Slice[T any](s []T) {
	var zero T
	stride := 1
	if size := int(unsafe.Sizeof(zero)); size > 0 && size < pageSize {
		stride = pageSize / size
	}
	s = s[:cap(s)]
	for i := 0; i < len(s); i += stride {
		s[i] = zero
	}
	// The last page, which the stride steps over when the array does not
	// start on a page boundary.
	if len(s) > 0 {
		s[len(s)-1] = zero
	}
}

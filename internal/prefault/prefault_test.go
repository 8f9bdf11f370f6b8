package prefault

import (
	"errors"
	"runtime/debug"
	"testing"
)

// mapped is Mapped for tests: it skips where Mapped is not implemented.
func mapped[T any](t *testing.T, s []T) (n, pages int) {
	t.Helper()
	n, pages, err := Mapped(s)
	if errors.Is(err, errors.ErrUnsupported) {
		t.Skip("no mincore on this system")
	}
	if err != nil {
		t.Fatal(err)
	}
	return n, pages
}

func TestSliceMapsEveryPage(t *testing.T) {
	size := 255 * pageSize
	for _, offset := range []int{0, 100} { // page-aligned, and not: then it spans one more page
		debug.FreeOSMemory() // as the benchmark does before every run
		b := make([]byte, size+pageSize)[offset : offset+size : offset+size]
		// The control: a fresh buffer is not mapped yet, or this test
		// could not tell the difference.
		if n, pages := mapped(t, b); n == pages {
			t.Fatalf("all %d pages of a fresh buffer are mapped already: the test cannot see Slice work", pages)
		}
		Slice(b)
		if n, pages := mapped(t, b); n != pages {
			t.Errorf("offset %d: %d of %d pages mapped after Slice, want all", offset, n, pages)
		}
	}
}

func TestSliceOfLargeElements(t *testing.T) {
	s := make([][8192]byte, 3) // elements larger than a page: every one is written
	s[1][0] = 7
	Slice(s)
	if s[1][0] != 0 {
		t.Error("Slice skipped an element larger than a page")
	}
}

func TestSliceOfNothing(t *testing.T) {
	Slice([]int(nil))
	Slice(make([]struct{}, 5))
}

package bench

import (
	"strings"
	"testing"
	"time"
)

// A short soak: 64 lanes and 16 shared writers stream random-size messages
// through one Writer over loopback TCP; the stream verifies exactly (zero
// loss, per-producer order, no corruption) and the heap after the run is
// close to where it started.
func TestSoakShort(t *testing.T) {
	res, err := Soak(t.Context(), SoakConfig{Duration: 300 * time.Millisecond, Lanes: 64, Shared: 16, MaxSize: 300, Capacity: 64 << 10})
	if err != nil {
		t.Fatal(err)
	}
	t.Log(res)
	if res.Producers != 80 || res.Messages < 1000 || res.Bytes <= res.Messages*20 {
		t.Fatalf("the soak did little: %+v", res)
	}
	if res.Stats.Delivered != uint64(res.Messages) || res.Stats.Lanes != 0 {
		t.Fatalf("Stats = %+v after %d messages", res.Stats, res.Messages)
	}
	// Same live objects after warm-up and at the end: the heap must not
	// have grown by more than noise (the Writer's capacity is 64 KiB).
	if res.HeapWarm == 0 || res.HeapEnd > res.HeapWarm+2<<20 || res.HeapPeak < res.HeapStart {
		t.Fatalf("heap start %d, warm %d, end %d, peak %d", res.HeapStart, res.HeapWarm, res.HeapEnd, res.HeapPeak)
	}
	for _, want := range []string{"zero loss", "messages/s", "heap: start"} {
		if !strings.Contains(res.String(), want) {
			t.Errorf("report %q lacks %q", res.String(), want)
		}
	}
}

func TestSoakRefusesBadConfig(t *testing.T) {
	if _, err := Soak(t.Context(), SoakConfig{}); err == nil {
		t.Error("a soak of no duration ran")
	}
	if _, err := Soak(t.Context(), SoakConfig{Duration: time.Millisecond, MaxSize: 10}); err == nil {
		t.Error("a soak of messages below wire.VariedMin ran")
	}
}

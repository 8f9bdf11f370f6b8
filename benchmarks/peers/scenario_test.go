package peers

import (
	"slices"
	"testing"
	"time"

	"github.com/fanin-dev/fanin/internal/bench"
)

// scenarioDesign returns the peer named name as a scenario design.
func scenarioDesign(t *testing.T, name string) bench.ExtraDesign {
	t.Helper()
	ds := ScenarioDesigns()
	i := slices.IndexFunc(ds, func(d bench.ExtraDesign) bool { return d.Name == name })
	if i < 0 {
		t.Fatalf("no scenario design %q", name)
	}
	return ds[i]
}

// TestOverloadUnboundedPeerGrows runs a short overload scenario with a
// bounded design of the project's and chanx-unbounded beside it: both
// streams verify, the bounded design's heap stays within a few times its
// capacity, and chanx's grows well past it (the heap limit may end its run,
// which is the point). A low heap limit keeps the test small.
func TestOverloadUnboundedPeerGrows(t *testing.T) {
	const limit = 48 << 20
	cfg := bench.ScenarioConfig{
		Duration:          time.Second,
		OverloadProducers: 32,
		HeapLimit:         limit,
		Strategies:        []string{"fanin"},
		Extra:             []bench.ExtraDesign{scenarioDesign(t, "chanx-unbounded"), scenarioDesign(t, "xsync-mpmc")},
	}
	res, err := bench.RunScenarios(t.Context(), []string{bench.ScenarioOverload}, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if got := names(res.Overload); !slices.Equal(got, []string{"fanin", "chanx-unbounded", "xsync-mpmc"}) {
		t.Fatalf("overload ran %v", got)
	}
	fan, chanx, xs := res.Overload[0], res.Overload[1], res.Overload[2]
	for _, r := range res.Overload {
		if !r.Verified || r.Delivered == 0 || r.Delivered != r.Sent {
			t.Errorf("%s: verified %v, sent %d, delivered %d", r.Strategy, r.Verified, r.Sent, r.Delivered)
		}
	}
	if chanx.CapacityBytes != 0 || xs.CapacityBytes == 0 {
		t.Errorf("capacities: chanx %d (want none), xsync %d (want a bound)", chanx.CapacityBytes, xs.CapacityBytes)
	}
	// fanin holds at most 1 MiB; chanx buffers whatever the producers make
	// while the sink takes ~1 MB/s: tens of MiB in a second even under -race.
	if chanx.Growth < 4*fan.Growth || chanx.Growth < 16<<20 {
		t.Errorf("chanx-unbounded grew %d bytes, fanin %d: want chanx far above", chanx.Growth, fan.Growth)
	}
	t.Logf("heap growth: fanin %d, chanx-unbounded %d (limit hit %v), xsync-mpmc %d",
		fan.Growth, chanx.Growth, chanx.HeapLimitHit, xs.Growth)
}

// TestLatencyPeers runs a short light-load latency scenario of every peer:
// each stream verifies and every message sent arrives.
func TestLatencyPeers(t *testing.T) {
	cfg := bench.ScenarioConfig{
		Duration:         200 * time.Millisecond,
		LatencyProducers: 4,
		LatencyRate:      2000,
		Strategies:       []string{},
		Extra:            ScenarioDesigns(),
	}
	res, err := bench.RunScenarios(t.Context(), []string{bench.ScenarioLatency}, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Latency) != len(All()) {
		t.Fatalf("latency ran %d designs, want %d", len(res.Latency), len(All()))
	}
	for i, r := range res.Latency {
		if r.Strategy != All()[i].Name() || !r.Verified || r.Messages != 4*100 {
			t.Errorf("%s: verified %v, %d messages (want %s, 400)", r.Strategy, r.Verified, r.Messages, All()[i].Name())
		}
	}
}

func names(rs []bench.OverloadResult) []string {
	var out []string
	for _, r := range rs {
		out = append(out, r.Strategy)
	}
	return out
}

package report

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"encoding/xml"
	"errors"
	"image/png"
	"io"
	"maps"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// requiredKeys are the per-result keys issue 4 fixes for byte mode.
var requiredKeys = []string{
	"strategy", "producers", "messages_per_producer", "message_size", "mode", "sink", "runs",
	"ns_per_msg_min", "ns_per_msg_median", "ns_per_msg_max", "total_ms_median", "verified",
	"allocs_per_msg", "peak_heap_bytes",
}

func byteResult(strategy string, producers int, ns float64) Result {
	return Result{
		Strategy: strategy, Producers: producers, MessagesPerProducer: 1000, MessageSize: 1,
		Mode: "byte", Sink: "tcp", Runs: 3,
		NsPerMsgMin: ns * 0.9, NsPerMsgMedian: ns, NsPerMsgMax: ns * 1.2,
		TotalMsMedian: ns * float64(producers) * 1000 / 1e6,
		Verified:      true, AllocsPerMsg: 0.01, PeakHeapBytes: 1 << 20,
	}
}

func fixedReport(results ...Result) Report {
	return Report{
		Go: "go1.26.8", GOOS: "linux", GOARCH: "amd64", CPU: "Test CPU 9000", CPUs: 2, GOMAXPROCS: 2,
		Started: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC), Results: results,
	}
}

// objectKeys decodes JSON into a generic map and returns its keys, sorted.
func objectKeys(t *testing.T, b []byte) (map[string]json.RawMessage, []string) {
	t.Helper()
	var m map[string]json.RawMessage
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatalf("not a JSON object: %v\n%s", err, b)
	}
	return m, slices.Sorted(maps.Keys(m))
}

func sortedCopy(s ...[]string) []string {
	return slices.Sorted(slices.Values(slices.Concat(s...)))
}

func TestJSONKeys(t *testing.T) {
	framed := byteResult("fanin", 16, 5)
	framed.Mode, framed.MessageSize, framed.LatencyP50Us, framed.LatencyP99Us = "framed", 64, 12.5, 80
	single := byteResult("chan-serial", 8192, 3500)
	single.Runs, single.Single, single.Note = 1, true, "ran once"
	rounds := byteResult("fanin-lanes", 16, 3.1)
	rounds.RoundMedians = []float64{3.1, 4.5, 2.9}

	r := fixedReport(rounds, framed, single)
	r.Command = "fanin bench"
	var buf bytes.Buffer
	if err := WriteJSON(&buf, r); err != nil {
		t.Fatal(err)
	}
	top, keys := objectKeys(t, buf.Bytes())
	wantTop := sortedCopy([]string{"go", "goos", "goarch", "cpu", "cpus", "gomaxprocs", "started", "results", "command"})
	if !slices.Equal(keys, wantTop) {
		t.Errorf("top-level keys = %v, want %v", keys, wantTop)
	}
	var results []json.RawMessage
	if err := json.Unmarshal(top["results"], &results); err != nil || len(results) != 3 {
		t.Fatalf("results: %v (%d entries)", err, len(results))
	}
	want := [][]string{
		sortedCopy(requiredKeys, []string{"round_medians_ns_per_msg"}),
		sortedCopy(requiredKeys, []string{"latency_p50_us", "latency_p99_us"}),
		sortedCopy(requiredKeys, []string{"runs_single", "note"}),
	}
	for i, raw := range results {
		if _, got := objectKeys(t, raw); !slices.Equal(got, want[i]) {
			t.Errorf("result %d keys = %v, want %v", i, got, want[i])
		}
	}

	back, err := ReadJSON(&buf)
	if err != nil {
		t.Fatal(err)
	}
	if !back.Started.Equal(r.Started) || back.CPU != r.CPU || !reflect.DeepEqual(back.Results, r.Results) {
		t.Errorf("round trip changed the report:\n got %+v\nwant %+v", back, r)
	}
}

func TestJSONEmptyResultsIsArray(t *testing.T) {
	var buf bytes.Buffer
	if err := WriteJSON(&buf, Report{}); err != nil {
		t.Fatal(err)
	}
	top, _ := objectKeys(t, buf.Bytes())
	if got := string(top["results"]); got != "[]" {
		t.Errorf(`"results" = %s, want []`, got)
	}
}

func TestNewDescribesMachine(t *testing.T) {
	r := New()
	if r.Go == "" || r.GOOS == "" || r.GOARCH == "" || r.CPU == "" || r.CPUs < 1 || r.GOMAXPROCS < 1 || r.Started.IsZero() {
		t.Errorf("incomplete machine description: %+v", r)
	}
}

func TestCPUModel(t *testing.T) {
	tests := []struct{ name, in, want string }{
		{"x86", "processor\t: 0\nvendor_id\t: AuthenticAMD\nmodel name\t: AMD   EPYC 7B13\nprocessor\t: 1\nmodel name\t: other\n", "AMD EPYC 7B13"},
		{"arm", "Processor\t: AArch64 Processor rev 4\nBogoMIPS\t: 38.40\n", "AArch64 Processor rev 4"},
		{"none", "processor\t: 0\nflags\t: fpu vme\n", ""},
		{"empty value", "model name\t:\nHardware\t: BCM2835\n", "BCM2835"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := cpuModel([]byte(tt.in)); got != tt.want {
				t.Errorf("cpuModel = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestCSV(t *testing.T) {
	framed := byteResult("fanin", 16, 5)
	framed.Mode, framed.LatencyP50Us, framed.LatencyP99Us = "framed", 12.5, 80
	framed.Note = "has, a comma"
	results := []Result{byteResult("direct", 1, 1.25), framed}
	var buf bytes.Buffer
	if err := WriteCSV(&buf, results); err != nil {
		t.Fatal(err)
	}
	rows, err := csv.NewReader(&buf).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 3 {
		t.Fatalf("got %d rows, want header + 2", len(rows))
	}
	header := rows[0]
	for _, k := range append(slices.Clone(requiredKeys), "latency_p50_us", "latency_p99_us") {
		if !slices.Contains(header, k) {
			t.Errorf("header lacks %q: %v", k, header)
		}
	}
	col := func(row []string, key string) string { return row[slices.Index(header, key)] }
	checks := []struct {
		row       int
		key, want string
	}{
		{1, "strategy", "direct"},
		{1, "producers", "1"},
		{1, "ns_per_msg_median", "1.25"},
		{1, "verified", "true"},
		{1, "peak_heap_bytes", "1048576"},
		{1, "latency_p50_us", ""},
		{1, "spread", "0.300"},
		{2, "mode", "framed"},
		{2, "latency_p50_us", "12.5"},
		{2, "latency_p99_us", "80"},
		{2, "note", "has, a comma"},
	}
	for _, c := range checks {
		if got := col(rows[c.row], c.key); got != c.want {
			t.Errorf("row %d %s = %q, want %q", c.row, c.key, got, c.want)
		}
	}
}

func TestFormat(t *testing.T) {
	ns := map[float64]string{1.254: "1.25", 9.999: "10.00", 36.04: "36.0", 3500.4: "3500", 0: "0.00"}
	for in, want := range ns {
		if got := FormatNs(in); got != want {
			t.Errorf("FormatNs(%v) = %q, want %q", in, got, want)
		}
	}
	ratios := map[float64]string{1.42: "1.42x", 1: "1.00x", 27.3: "27.3x", 2700.4: "2700x"}
	for in, want := range ratios {
		if got := FormatRatio(in); got != want {
			t.Errorf("FormatRatio(%v) = %q, want %q", in, got, want)
		}
	}
}

func TestTable(t *testing.T) {
	single := byteResult("chan-serial", 16, 3100)
	single.Single = true
	r := fixedReport(
		byteResult("fanin-lanes", 1, 2.0),
		byteResult("direct", 1, 1.0),
		byteResult("fanin-lanes", 16, 2.2),
		byteResult("direct", 16, 3.1),
		single,
		byteResult("extra", 16, 44),
	)
	var buf bytes.Buffer
	if err := Table(&buf, r, []string{"chan-serial", "fanin-lanes", "direct"}, ""); err != nil {
		t.Fatal(err)
	}
	want := `machine: Test CPU 9000, 2 cpus, GOMAXPROCS 2, go1.26.8 linux/amd64
workload: byte mode, 1000 messages per producer, 1 B each, sink tcp
cells: median ns per message (ratio to fanin-lanes)

  producers    chan-serial  fanin-lanes        direct         extra
          1              -         2.00  1.00 (0.50x)             -
         16  3100 (1409x)*         2.20  3.10 (1.41x)  44.0 (20.0x)

* measured once: the first run was long enough on its own
`
	if got := buf.String(); got != want {
		t.Errorf("table:\n%s\nwant:\n%s", got, want)
	}
}

func TestTableLatency(t *testing.T) {
	framed := func(name string, p int, p50, p99 float64) Result {
		r := byteResult(name, p, 10)
		r.Mode, r.MessageSize, r.LatencyP50Us, r.LatencyP99Us = "framed", 64, p50, p99
		return r
	}
	var buf bytes.Buffer
	err := Table(&buf, fixedReport(framed("fanin-lanes", 16, 12.5, 180), framed("direct", 16, 3.25, 9)), nil, "")
	if err != nil {
		t.Fatal(err)
	}
	out := buf.String()
	i := strings.Index(out, "latency")
	if i < 0 {
		t.Fatalf("framed results: no latency grid:\n%s", out)
	}
	if !strings.Contains(out[i:], "12.5 / 180") || !strings.Contains(out[i:], "3.25 / 9.00") {
		t.Errorf("latency grid lacks the cells:\n%s", out[i:])
	}

	buf.Reset()
	if err := Table(&buf, fixedReport(byteResult("direct", 16, 3)), nil, ""); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(buf.String(), "latency") {
		t.Errorf("byte mode has no latency to show:\n%s", &buf)
	}
}

// With rounds, a ratio is taken within each round: a slow phase that hit
// one round moves both cells of that round, not the ratio. Here the
// medians' ratio would be 6/2 = 3x (lanes' median round is the third,
// direct's the first), while every round says 2x.
func TestTableRatioWithinRounds(t *testing.T) {
	lanes, direct := byteResult("fanin-lanes", 64, 6), byteResult("direct", 64, 2)
	lanes.RoundMedians = []float64{4, 12, 6}
	direct.RoundMedians = []float64{2, 6, 3}
	var buf bytes.Buffer
	if err := Table(&buf, fixedReport(lanes, direct), nil, "direct"); err != nil {
		t.Fatal(err)
	}
	out := buf.String()
	if !strings.Contains(out, "ratio to direct: the median of the 3 rounds' ratios") || !strings.Contains(out, "6.00 (2.00x)") {
		t.Errorf("want lanes at 2.0x direct, the rounds' ratio:\n%s", out)
	}

	for _, tc := range []struct {
		c, base []float64
		want    float64
	}{
		{[]float64{4, 12, 6}, []float64{2, 6, 3}, 2},
		{[]float64{4, 9, 6, 10}, []float64{2, 3, 3, 2}, 2.5}, // ratios 2, 3, 2, 5: the middle two's mean
		{[]float64{4, 12}, []float64{2, 0}, 3},               // a round without a time: the medians' ratio
		{[]float64{4, 12, 6}, []float64{2, 6}, 3},            // different rounds: the medians' ratio
	} {
		c, base := byteResult("a", 1, 6), byteResult("b", 1, 2)
		c.RoundMedians, base.RoundMedians = tc.c, tc.base
		if got, ok := Ratio(c, base); !ok || got != tc.want {
			t.Errorf("Ratio(%v, %v) = %v, %v; want %v", tc.c, tc.base, got, ok, tc.want)
		}
	}
	if _, ok := Ratio(byteResult("a", 1, 6), byteResult("b", 1, 0)); ok {
		t.Error("Ratio to a cell without a time: ok")
	}
}

func TestTableWithoutBaseline(t *testing.T) {
	var buf bytes.Buffer
	if err := Table(&buf, fixedReport(byteResult("direct", 4, 1.5)), nil, ""); err != nil {
		t.Fatal(err)
	}
	out := buf.String()
	if strings.Contains(out, "ratio") || strings.Contains(out, "x)") || !strings.Contains(out, "1.50") {
		t.Errorf("table without the baseline should show plain figures:\n%s", out)
	}
}

func TestSeedTable(t *testing.T) {
	r := fixedReport(
		byteResult("mutex-swap", 256, 20),
		byteResult("chan-serial", 256, 3500),
		byteResult("fanin", 256, 4),
		byteResult("fanin", 3, 4), // not a seed worker count
	)
	var buf bytes.Buffer
	if err := SeedTable(&buf, r); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(buf.String(), "\n")
	var row256, row3 []string
	for _, l := range lines {
		f := strings.Fields(l)
		if len(f) > 0 && f[0] == "256" {
			row256 = f
		}
		if len(f) > 0 && f[0] == "3" {
			row3 = f
		}
	}
	// seed at 256 workers: 367.6 µs and 19192 µs for 256000 messages.
	want256 := []string{"256", "1.44", "75.0", "52.2x", "20.0", "3500", "175x", "4.00", "5.00x", "875x"}
	if !slices.Equal(row256, want256) {
		t.Errorf("row 256 = %v, want %v\n%s", row256, want256, buf.String())
	}
	want3 := []string{"3", "-", "-", "-", "-", "-", "-", "4.00", "-", "-"}
	if !slices.Equal(row3, want3) {
		t.Errorf("row 3 = %v, want %v", row3, want3)
	}
}

func TestSeedFigures(t *testing.T) {
	// The table must cover the seed's whole sweep, 1..8192 in powers of two.
	if len(Seed) != 14 {
		t.Fatalf("len(Seed) = %d, want 14", len(Seed))
	}
	for i, s := range Seed {
		if s.Workers != 1<<i || s.StdMutexUs <= 0 || s.TokioMpscUs <= 0 || s.TokioMutexUs <= 0 {
			t.Errorf("Seed[%d] = %+v", i, s)
		}
	}
}

func checkSVG(t *testing.T, path string) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	dec := xml.NewDecoder(f)
	root := ""
	texts := 0
	for {
		tok, err := dec.Token()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("%s is not valid XML: %v", path, err)
		}
		if se, ok := tok.(xml.StartElement); ok {
			if root == "" {
				root = se.Name.Local
			}
			if se.Name.Local == "text" {
				texts++
			}
		}
	}
	if root != "svg" {
		t.Errorf("%s root element = %q, want svg", path, root)
	}
	if texts == 0 {
		t.Errorf("%s has no text (labels, legend)", path)
	}
}

func checkPNG(t *testing.T, path string) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	img, err := png.Decode(f)
	if err != nil {
		t.Fatalf("%s is not a PNG: %v", path, err)
	}
	if b := img.Bounds(); b.Dx() < 100 || b.Dy() < 100 {
		t.Errorf("%s is only %v", path, b)
	}
}

func TestWriteChart(t *testing.T) {
	var results []Result
	for _, p := range []int{1, 16, 256, 8192} {
		results = append(results,
			byteResult("chan-serial", p, 3500),
			byteResult("fanin-lanes", p, 2),
			byteResult("direct", p, 1.3))
	}
	dir := t.TempDir()
	if err := WriteChart(dir, fixedReport(results...), []string{"chan-serial", "fanin-lanes", "direct"}); err != nil {
		t.Fatal(err)
	}
	checkSVG(t, filepath.Join(dir, ChartSVG))
	checkPNG(t, filepath.Join(dir, ChartPNG))

	svg, err := os.ReadFile(filepath.Join(dir, ChartSVG))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"chan-serial", "fanin-lanes", "direct", "8192", "producers"} {
		if !bytes.Contains(svg, []byte(want)) {
			t.Errorf("chart.svg lacks %q", want)
		}
	}
}

func TestWriteChartDegenerate(t *testing.T) {
	// One point, within one decade: the axes must still be drawable.
	dir := t.TempDir()
	if err := WriteChart(dir, fixedReport(byteResult("direct", 1, 1.3)), nil); err != nil {
		t.Fatal(err)
	}
	checkSVG(t, filepath.Join(dir, ChartSVG))
	checkPNG(t, filepath.Join(dir, ChartPNG))

	if err := WriteChart(t.TempDir(), fixedReport(), nil); err == nil {
		t.Error("WriteChart with no results: want an error")
	}
}

func TestDecadeTicks(t *testing.T) {
	var labels []string
	for _, tk := range (decades{}).Ticks(0.011, 35000) {
		if tk.Label != "" {
			labels = append(labels, tk.Label)
		}
	}
	want := []string{"0.01", "0.1", "1", "10", "100", "1000", "10000", "100000"}
	if !slices.Equal(labels, want) {
		t.Errorf("labels = %v, want %v", labels, want)
	}
}

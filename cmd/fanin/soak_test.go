package main

import (
	"bytes"
	"strings"
	"testing"
)

func TestBenchSoak(t *testing.T) {
	var out, errs bytes.Buffer
	if code := runBench([]string{"--soak", "200ms"}, &out, &errs); code != 0 {
		t.Fatalf("exit %d: %s%s", code, out.String(), errs.String())
	}
	for _, want := range []string{"320 producers", "zero loss", "messages/s", "heap: start"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, out.String())
		}
	}
	if code := runBench([]string{"--soak", "-1s"}, &out, &errs); code != 2 {
		t.Errorf("--soak -1s: exit %d, want 2", code)
	}
}

package benchcli

import (
	"bytes"
	"strings"
	"testing"

	"go.uber.org/goleak"

	"github.com/fanin-dev/fanin/internal/strategy"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestSelect(t *testing.T) {
	all := strategy.All()
	got, err := Select(" fanin, direct,fanin ", all)
	if err != nil || strings.Join(Names(got), ",") != "fanin,direct" {
		t.Fatalf("got %v, %v", Names(got), err)
	}
	if got, err := Select("all", all); err != nil || len(got) != len(all) {
		t.Fatalf("all: %v, %v", Names(got), err)
	}
	for _, bad := range []string{"nope", " , "} {
		if _, err := Select(bad, all); err == nil {
			t.Errorf("%q: no error", bad)
		}
	}
}

// TestCommandHooks: a Command's name, flag help, strategy parser and
// scenario parser are the ones used, and --soak exists only when offered.
func TestCommandHooks(t *testing.T) {
	c := Command{
		Name: "demo", CommandLine: "demo", Usage: "Usage: demo\n",
		FlagHelp:        map[string]string{"mode": "MODE-HELP"},
		ParseStrategies: func(string) ([]strategy.Strategy, error) { return nil, errString("refused") },
		ParseScenarios:  func(string) ([]string, error) { return nil, errString("no scenarios") },
	}
	var stdout, stderr bytes.Buffer
	if code := Run([]string{"--help"}, &stdout, &stderr, c); code != 0 ||
		!strings.HasPrefix(stdout.String(), "Usage: demo\n") || !strings.Contains(stdout.String(), "MODE-HELP") ||
		strings.Contains(stdout.String(), "-soak") {
		t.Errorf("--help: exit %d\n%s", code, &stdout)
	}
	for args, want := range map[string]string{
		"--strategies x": "demo: --strategies: refused\nRun \"demo --help\" for the flags.\n",
		"--scenario x":   "demo: --scenario: no scenarios\nRun \"demo --help\" for the flags.\n",
		"--memprofile x": "demo: --memprofile profiles the overload scenario: use it with --scenario overload\nRun \"demo --help\" for the flags.\n",
	} {
		stdout.Reset()
		stderr.Reset()
		if code := Run(strings.Fields(args), &stdout, &stderr, c); code != 2 || stderr.String() != want || stdout.Len() != 0 {
			t.Errorf("%s: exit %d, stderr %q, want %q", args, code, &stderr, want)
		}
	}
	stderr.Reset()
	if code := Run([]string{"--soak", "1s"}, &stdout, &stderr, c); code != 2 {
		t.Errorf("--soak without Command.Soak: exit %d, want 2", code)
	}
}

type errString string

func (e errString) Error() string { return string(e) }

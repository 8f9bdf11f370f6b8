// Command fanin runs the fan-in experiment: a verifying sink server, a sender
// that streams through any contestant, and the benchmark that compares them.
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
)

// commands maps each subcommand to its entry point. An entry point gets the
// arguments after the subcommand name and returns the exit status.
var commands = map[string]func(args []string, stdout, stderr io.Writer) int{
	"serve": runServe,
	"send":  runSend,
	"bench": runBench,
}

const usage = `fanin: many goroutines, one sink.

Usage:
  fanin bench [flags]   run the experiment: every contestant, verified, in one run
  fanin serve [flags]   run the verifying sink server
  fanin send  [flags]   stream one workload through one contestant to a server

Run "fanin COMMAND --help" for the flags of a command.
`

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	switch args[0] {
	case "-h", "-help", "--help", "help":
		fmt.Fprint(stdout, usage)
		return 0
	}
	cmd, ok := commands[args[0]]
	if !ok {
		fmt.Fprintf(stderr, "fanin: unknown command %q\n\n%s", args[0], usage)
		return 2
	}
	return cmd(args[1:], stdout, stderr)
}

// usageError reports a usage error of the named command and returns exit
// status 2, as the flag package does. An empty msg means the flag package has
// already printed the error.
func usageError(stderr io.Writer, command, msg string) int {
	if msg != "" {
		fmt.Fprintf(stderr, "fanin %s: %s\n", command, msg)
	}
	fmt.Fprintf(stderr, "Run \"fanin %s --help\" for the flags.\n", command)
	return 2
}

// parseFlags parses args into fs, the flags of the command fs.Name(). done
// reports that the command must stop and return code: 0 after --help (the
// usage goes to stdout), 2 for a bad flag or a stray argument.
func parseFlags(fs *flag.FlagSet, args []string, usage string, stdout, stderr io.Writer) (code int, done bool) {
	fs.SetOutput(stderr)
	fs.Usage = func() {} // errors get a one-line hint, --help the full usage
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fs.SetOutput(stdout)
			fmt.Fprint(stdout, usage)
			fs.PrintDefaults()
			return 0, true
		}
		return usageError(stderr, fs.Name(), ""), true // the flag package has printed the error
	}
	if fs.NArg() > 0 {
		return usageError(stderr, fs.Name(), fmt.Sprintf("unexpected argument %q", fs.Arg(0))), true
	}
	return 0, false
}

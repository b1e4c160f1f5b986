// Command talosd is the Talos daemon and its command-line tools.
//
// Each subcommand lives in a file of its own (cmd_<name>.go) and registers
// itself in an init function; main only dispatches.
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
)

// command is one talosd subcommand.
type command struct {
	name    string
	summary string
	// run parses args (everything after the subcommand name) and runs. It
	// returns errUsage after printing help for a bad invocation.
	run func(args []string, stdout, stderr io.Writer) error
}

var commands = map[string]*command{}

func register(c *command) {
	if _, dup := commands[c.name]; dup {
		panic("talosd: command registered twice: " + c.name)
	}
	commands[c.name] = c
}

// errUsage means the command line was wrong and help was already printed.
var errUsage = errors.New("talosd: usage error")

// exitCoder lets a command choose its exit status (talosd check exits 1 on
// corruption, 2 on a usage error).
type exitCoder interface{ ExitCode() int }

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		usage(stdout)
		if len(args) == 0 {
			return 2
		}
		return 0
	}
	c, ok := commands[args[0]]
	if !ok {
		fmt.Fprintf(stderr, "talosd: unknown command %q\n\n", args[0])
		usage(stderr)
		return 2
	}
	err := c.run(args[1:], stdout, stderr)
	switch {
	case err == nil:
		return 0
	case errors.Is(err, flag.ErrHelp):
		return 0
	case errors.Is(err, errUsage):
		return 2
	}
	fmt.Fprintf(stderr, "talosd %s: %v\n", c.name, err)
	var ec exitCoder
	if errors.As(err, &ec) {
		return ec.ExitCode()
	}
	return 1
}

func usage(w io.Writer) {
	fmt.Fprintln(w, "talosd: a replicated key-value store for racks with RDMA NICs.")
	fmt.Fprintln(w, "\nUsage: talosd <command> [flags]\n\nCommands:")
	names := make([]string, 0, len(commands))
	for n := range commands {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		fmt.Fprintf(w, "  %-10s %s\n", n, commands[n].summary)
	}
	fmt.Fprintln(w, "\nRun 'talosd <command> --help' for a command's flags.")
}

// newFlagSet returns a flag set that reports errors instead of exiting and
// prints a usage line naming the command.
func newFlagSet(name, synopsis string, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet("talosd "+name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintf(stderr, "Usage: talosd %s %s\n\nFlags:\n", name, synopsis)
		fs.PrintDefaults()
	}
	return fs
}

// parseFlags parses args and rejects stray positional arguments unless
// allowArgs; it maps a parse failure to errUsage (the flag package has
// already printed what was wrong).
func parseFlags(fs *flag.FlagSet, args []string, allowArgs bool) error {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return errUsage
	}
	if !allowArgs && fs.NArg() > 0 {
		fmt.Fprintf(fs.Output(), "unexpected argument(s): %s\n", strings.Join(fs.Args(), " "))
		fs.Usage()
		return errUsage
	}
	return nil
}

package main

import (
	"fmt"
	"io"

	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/talos-kv/talos/engine"
)

func init() {
	register(&command{
		name:    "check",
		summary: "verify every checksum and value pointer of a stopped store (exit 1 on corruption)",
		run:     runCheck,
	})
}

// errCorruptStore makes talosd exit 1 after check printed its report.
type errCorruptStore struct{ problems int }

func (e errCorruptStore) Error() string {
	return fmt.Sprintf("store is corrupt: %d problem(s) found", e.problems)
}
func (e errCorruptStore) ExitCode() int { return 1 }

func runCheck(args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("check", "--data-dir DIR", stderr)
	dir := fs.String("data-dir", "", "store directory (the store must be stopped)")
	if err := parseFlags(fs, args, false); err != nil {
		return err
	}
	if *dir == "" {
		fmt.Fprintln(stderr, "--data-dir is required")
		fs.Usage()
		return errUsage
	}
	r, err := engine.Check(vfs.Default, *dir)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "checked %s: %d segments (%d frames), %d tables, %d keys, %d value pointers\n",
		*dir, r.Segments, r.Frames, r.Tables, r.Keys, r.Pointers)
	if r.OK() {
		fmt.Fprintln(stdout, "OK: every checksum and pointer verified")
		return nil
	}
	fmt.Fprintf(stdout, "CORRUPT: %d problem(s):\n", len(r.Problems))
	for _, p := range r.Problems {
		fmt.Fprintf(stdout, "  %s\n", p)
	}
	return errCorruptStore{problems: len(r.Problems)}
}

package main

import (
	"fmt"
	"io"

	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/talos-kv/talos/internal/dirdiff"
)

// verifyFailed is returned when replicas differ: exit status 1.
type verifyFailed struct{ n int }

func (e verifyFailed) Error() string { return fmt.Sprintf("%d difference(s) found", e.n) }
func (e verifyFailed) ExitCode() int { return 1 }

func init() {
	register(&command{
		name:    "verify",
		summary: "compare a stopped primary's store with its backups' (tables, segments, manifest)",
		run: func(args []string, stdout, stderr io.Writer) error {
			fs := newFlagSet("verify", "--data-dir PRIMARY_DIR BACKUP_DIR...", stderr)
			dataDir := fs.String("data-dir", "", "the primary's data directory (required)")
			if err := parseFlags(fs, args, true); err != nil {
				return err
			}
			if *dataDir == "" || fs.NArg() == 0 {
				fmt.Fprintln(stderr, "talosd verify: --data-dir and at least one backup directory are required")
				fs.Usage()
				return errUsage
			}
			var backups []dirdiff.Replica
			for _, d := range fs.Args() {
				backups = append(backups, dirdiff.Replica{Name: d, Dir: d})
			}
			diffs, err := dirdiff.Compare(vfs.Default, dirdiff.Replica{Name: *dataDir, Dir: *dataDir}, backups)
			if err != nil {
				return err
			}
			for _, d := range diffs {
				fmt.Fprintln(stdout, d)
			}
			if len(diffs) > 0 {
				return verifyFailed{len(diffs)}
			}
			fmt.Fprintf(stdout, "ok: %d backup(s) match the primary %s\n", len(backups), *dataDir)
			return nil
		},
	})
}

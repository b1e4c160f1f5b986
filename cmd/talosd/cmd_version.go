package main

import (
	"fmt"
	"io"
	"runtime"
	"runtime/debug"
)

func init() {
	register(&command{
		name:    "version",
		summary: "print the talosd version and build information",
		run: func(args []string, stdout, stderr io.Writer) error {
			fs := newFlagSet("version", "", stderr)
			if err := parseFlags(fs, args, false); err != nil {
				return err
			}
			v := "(devel)"
			if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" {
				v = bi.Main.Version
			}
			fmt.Fprintf(stdout, "talosd %s %s %s/%s\n", v, runtime.Version(), runtime.GOOS, runtime.GOARCH)
			return nil
		},
	})
}

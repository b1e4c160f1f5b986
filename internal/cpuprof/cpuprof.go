// Package cpuprof runs a Go CPU profile of the process into a file, for
// the commands that take a --cpuprofile flag (talosd serve, talosbench).
package cpuprof

import (
	"compress/gzip"
	"fmt"
	"io"
	"os"
	"runtime/pprof"
)

// Start starts a CPU profile of this process into path (created or
// truncated) and returns the function that stops it and closes the file;
// the profile is written when it stops. Only one profile runs per process:
// a second Start fails, and leaves no file behind.
func Start(path string) (stop func() error, err error) {
	f, err := os.Create(path)
	if err != nil {
		return nil, fmt.Errorf("cpuprof: %w", err)
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		os.Remove(path)
		return nil, fmt.Errorf("cpuprof: %s: %w", path, err)
	}
	return func() error {
		pprof.StopCPUProfile()
		if err := f.Close(); err != nil {
			return fmt.Errorf("cpuprof: %s: %w", path, err)
		}
		return nil
	}, nil
}

// Finished reports, with a nil error, that path holds a profile that was
// stopped: a whole, non-empty gzip stream. A profile is written only when
// it stops, so a process killed while profiling leaves an empty file.
func Finished(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("cpuprof: %w", err)
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		return fmt.Errorf("cpuprof: %s is not a finished profile: %w", path, err)
	}
	n, err := io.Copy(io.Discard, zr)
	if err != nil {
		return fmt.Errorf("cpuprof: %s is not a finished profile: %w", path, err)
	}
	if n == 0 {
		return fmt.Errorf("cpuprof: %s is an empty profile", path)
	}
	return nil
}

package cpuprof

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// A started profile is finished once stopped, an empty file is not; a
// second Start while one runs fails and leaves no file; a path in a
// missing directory fails naming it.
func TestStart(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "cpu.pprof")
	stop, err := Start(path)
	if err != nil {
		t.Fatal(err)
	}
	second := filepath.Join(dir, "second.pprof")
	if _, err := Start(second); err == nil {
		t.Fatal("a second profile started while one runs")
	}
	if _, err := os.Stat(second); !os.IsNotExist(err) {
		t.Fatalf("the failed second profile left %s: %v", second, err)
	}
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	if err := Finished(path); err != nil {
		t.Fatal(err)
	}
	empty := filepath.Join(dir, "empty.pprof")
	if err := os.WriteFile(empty, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := Finished(empty); err == nil {
		t.Fatal("an empty file counts as a finished profile")
	}
	missing := filepath.Join(dir, "nodir", "cpu.pprof")
	if _, err := Start(missing); err == nil || !strings.Contains(err.Error(), missing) {
		t.Fatalf("Start(%s): %v", missing, err)
	}
}

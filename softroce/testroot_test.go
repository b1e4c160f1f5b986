package softroce

import (
	"os"
	"path/filepath"
	"testing"
)

// testRelease is the kernel release of the fake module trees tests build.
const testRelease = "6.1.0-test-amd64"

// fakeRoot builds a directory tree with the given files (path -> contents)
// and returns its path, for Options.Root.
func fakeRoot(t *testing.T, files map[string]string) string {
	t.Helper()
	root := t.TempDir()
	for p, body := range files {
		full := filepath.Join(root, p)
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(full, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return root
}

// modDir is the modules directory of testRelease inside a fake root.
const modDir = "lib/modules/" + testRelease + "/"

// procModules is a /proc/modules line for module name.
func procModules(names ...string) string {
	var s string
	for _, n := range names {
		s += n + " 16384 0 - Live 0x0000000000000000\n"
	}
	return s
}

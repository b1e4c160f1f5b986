package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/talos-kv/talos/softroce"
)

func runCmd(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var out, errb bytes.Buffer
	code := run(args, &out, &errb)
	return code, out.String(), errb.String()
}

// withHost makes the softroce command act through a Host with opts.
func withHost(t *testing.T, opts softroce.Options) {
	t.Helper()
	saved := softroceHost
	softroceHost = func() (*softroce.Host, error) { return softroce.NewHost(opts) }
	t.Cleanup(func() { softroceHost = saved })
}

func TestSoftroceUsage(t *testing.T) {
	for _, args := range [][]string{
		{"softroce"},
		{"softroce", "sideways"},
		{"softroce", "up"},                        // --netdev is required
		{"softroce", "up", "--netdev", "lo", "x"}, // stray argument
		{"softroce", "status", "--bogus"},
	} {
		code, _, stderr := runCmd(t, args...)
		if code != 2 || !strings.Contains(stderr, "Usage: talosd softroce") {
			t.Errorf("%v: exit %d, stderr %q; want 2 and a usage message", args, code, stderr)
		}
	}
	code, stdout, _ := runCmd(t, "softroce", "--help")
	if code != 0 || !strings.Contains(stdout, "up --netdev IFACE") {
		t.Errorf("softroce --help: exit %d, %q", code, stdout)
	}
}

// TestSoftroceUpMissingNetdev runs the real command against the live kernel.
func TestSoftroceUpMissingNetdev(t *testing.T) {
	code, _, stderr := runCmd(t, "softroce", "up", "--netdev", "talos-nosuch0")
	if code != 1 || !strings.Contains(stderr, "network device does not exist: talos-nosuch0") {
		t.Fatalf("exit %d, stderr %q", code, stderr)
	}
}

func TestSoftroceUpErrors(t *testing.T) {
	root := t.TempDir()
	write := func(p, body string) {
		full := filepath.Join(root, p)
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(full, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("proc/modules", "dummy 16384 0 - Live 0x0\n")
	withHost(t, softroce.Options{Root: root, KernelRelease: "test", Privileged: func() (bool, error) { return false, nil }})
	code, _, stderr := runCmd(t, "softroce", "up", "--netdev", "lo")
	if code != 1 || !strings.Contains(stderr, "rdma_rxe kernel module not available") {
		t.Fatalf("missing module: exit %d, stderr %q", code, stderr)
	}
	write("proc/modules", "rdma_rxe 16384 0 - Live 0x0\n")
	code, _, stderr = runCmd(t, "softroce", "up", "--netdev", "lo", "--name", "rxe7")
	if code != 1 || !strings.Contains(stderr, "not root") {
		t.Fatalf("unprivileged: exit %d, stderr %q", code, stderr)
	}
	code, _, stderr = runCmd(t, "softroce", "down", "--name", "bad/name")
	if code != 1 || !strings.Contains(stderr, "invalid device name") {
		t.Fatalf("bad name: exit %d, stderr %q", code, stderr)
	}
}

func TestSoftroceStatus(t *testing.T) {
	code, stdout, stderr := runCmd(t, "softroce", "status")
	if code != 0 || !strings.HasPrefix(stdout, "rdma_rxe module: ") {
		t.Fatalf("status: exit %d, stdout %q, stderr %q", code, stdout, stderr)
	}
	code, stdout, stderr = runCmd(t, "softroce", "status", "--json")
	if code != 0 {
		t.Fatalf("status --json: exit %d, stderr %q", code, stderr)
	}
	var s struct {
		Module  string            `json:"module"`
		RDMA    *bool             `json:"rdma"`
		Devices []json.RawMessage `json:"devices"`
	}
	if err := json.Unmarshal([]byte(stdout), &s); err != nil {
		t.Fatalf("status --json is not JSON: %v\n%s", err, stdout)
	}
	if s.Module == "" || s.RDMA == nil || s.Devices == nil {
		t.Fatalf("status --json lacks module, rdma or devices: %s", stdout)
	}
}

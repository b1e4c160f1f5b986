package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestCommandHelp(t *testing.T) {
	var out, errb bytes.Buffer
	if code := Command(context.Background(), "talosbench", []string{"--help"}, &out, &errb); code != ExitOK {
		t.Fatalf("--help exited %d", code)
	}
	for _, opt := range []string{"--targets", "--workloads", "--distribution", "--mixes", "--growth-factors", "--modes",
		"--replicas", "--records", "--ops", "--threads", "--seed", "--dir", "--keep", "--out", "--settle", "--sync",
		"--progress", "--quick", "--plots", "--check-ship-index", "--talosd", "--small", "--value-threshold",
		"--memtable-size", "--segment-size", "--cpuprofile", "--node-profiles"} {
		if !strings.Contains(errb.String(), "\n  "+opt+" ") && !strings.Contains(errb.String(), "\n  "+opt+"\n") {
			t.Errorf("--help does not document %s", opt)
		}
	}
}

func TestCommandUsageErrors(t *testing.T) {
	for _, args := range [][]string{{"--bogus"}, {"--mixes", "XL"}, {"--workloads", "a"}, {"--growth-factors", "x"},
		{"--progress", "sometimes"}, {"stray"}, {"--targets", "nope"}} {
		var out, errb bytes.Buffer
		if code := Command(context.Background(), "talosbench", args, &out, &errb); code != ExitUsage {
			t.Errorf("%v exited %d, want %d; stderr %s", args, code, ExitUsage, errb.String())
		}
	}
}

func TestCommandRun(t *testing.T) {
	out := filepath.Join(t.TempDir(), "out")
	var stdout, stderr bytes.Buffer
	args := []string{"--quick", "--targets", "test-mem", "--records", "200", "--ops", "300", "--out", out, "--progress", "never"}
	if code := Command(context.Background(), "talosbench", args, &stdout, &stderr); code != ExitOK {
		t.Fatalf("exit %d, stderr %s", code, stderr.String())
	}
	var recs []Record
	b, err := os.ReadFile(filepath.Join(out, "results.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &recs); err != nil {
		t.Fatal(err)
	}
	// --quick: load-a and a with S and MD; explicit --records and --ops win.
	if len(recs) != 4 || recs[0].Mix != "S" || recs[2].Mix != "MD" || recs[1].Workload != "a" || recs[0].Ops != 200 || recs[1].Ops != 300 {
		t.Fatalf("records %+v", recs)
	}
	if !strings.Contains(stdout.String(), "test-mem") {
		t.Fatalf("table lacks the target:\n%s", stdout.String())
	}
}

func TestCommandInterrupted(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	out := t.TempDir()
	var stdout, stderr bytes.Buffer
	code := Command(ctx, "talosbench", []string{"--targets", "test-mem", "--out", out, "--progress", "never"}, &stdout, &stderr)
	if code != ExitInterrupted {
		t.Fatalf("exit %d, want %d", code, ExitInterrupted)
	}
	if _, err := os.Stat(filepath.Join(out, "results.json")); err != nil {
		t.Fatalf("interrupted run wrote no results: %v", err)
	}
}

func TestCommandCheckShipIndex(t *testing.T) {
	// Single stores have no backups: the check has nothing to compare and fails.
	var stdout, stderr bytes.Buffer
	args := []string{"--targets", "test-mem", "--records", "50", "--ops", "50", "--progress", "never", "--check-ship-index"}
	if code := Command(context.Background(), "talosbench", args, &stdout, &stderr); code != ExitFailure ||
		!strings.Contains(stderr.String(), "no ship-index backup record") {
		t.Fatalf("exit %d, stderr %s", code, stderr.String())
	}
}

func init() {
	// A replicating target that cannot run build-index here, over the model
	// store (whose single node is no backup).
	RegisterTarget(TargetSpec{Name: "test-no-build-index", Summary: "model map (tests only)",
		Modes: []string{ModeShipIndex, ModeBuildIndex}, Replicas: []int{1}, Transport: "in-process", Baseline: true,
		Unavailable: func(o TargetOptions) (string, error) {
			if o.Mode == ModeBuildIndex {
				return "no build-index here", nil
			}
			return "", nil
		},
		Open: func(dir string, o TargetOptions) (Target, error) { return newMemTarget(), nil }})
}

// A mode the target cannot run is skipped with its reason, and the check
// says it compared nothing with build-index (and still fails: no backup).
func TestCommandSkipsUnavailableMode(t *testing.T) {
	out := t.TempDir()
	var stdout, stderr bytes.Buffer
	args := []string{"--targets", "test-no-build-index", "--records", "50", "--ops", "50", "--progress", "never",
		"--check-ship-index", "--out", out}
	code := Command(context.Background(), "talosbench", args, &stdout, &stderr)
	for _, want := range []string{"skipped test-no-build-index in mode build-index: no build-index here",
		"check-ship-index: build-index is unavailable here", "no ship-index backup record that wrote user bytes"} {
		if !strings.Contains(stderr.String(), want) {
			t.Errorf("stderr lacks %q:\n%s", want, stderr.String())
		}
	}
	if code != ExitFailure {
		t.Fatalf("exit %d, want %d", code, ExitFailure)
	}
	var res struct {
		Skipped []string `json:"skipped"`
	}
	b, err := os.ReadFile(filepath.Join(out, "run.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &res); err != nil || len(res.Skipped) != 1 {
		t.Fatalf("run.json skipped %v, %v:\n%s", res.Skipped, err, b)
	}
}

// profiledPrefixes records the NodeProfilePrefix each run of test-profiled
// was opened with.
var profiledPrefixes []string

func init() {
	// A target that stands for talosd nodes (UsesTalosd), over the model store.
	RegisterTarget(TargetSpec{Name: "test-profiled", Summary: "model map (tests only)",
		Modes: []string{ModeShipIndex}, Replicas: []int{0}, Transport: "in-process", Baseline: true, UsesTalosd: true,
		Open: func(dir string, o TargetOptions) (Target, error) {
			profiledPrefixes = append(profiledPrefixes, o.NodeProfilePrefix)
			return newMemTarget(), nil
		}})
}

// --node-profiles creates its directory and names each talosd run's
// profiles after the run.
func TestCommandNodeProfiles(t *testing.T) {
	profiledPrefixes = nil
	dir := filepath.Join(t.TempDir(), "prof")
	var stdout, stderr bytes.Buffer
	args := []string{"--targets", "test-profiled,test-mem", "--records", "50", "--ops", "50", "--growth-factors", "4,8",
		"--progress", "never", "--talosd", "/bin/true", "--node-profiles", dir}
	if code := Command(context.Background(), "talosbench", args, &stdout, &stderr); code != ExitOK {
		t.Fatalf("exit %d, stderr %s", code, stderr.String())
	}
	if st, err := os.Stat(dir); err != nil || !st.IsDir() {
		t.Fatalf("--node-profiles did not create %s: %v", dir, err)
	}
	want := []string{filepath.Join(dir, "run-001-test-profiled-ship-index-md-r0-gf4-"),
		filepath.Join(dir, "run-002-test-profiled-ship-index-md-r0-gf8-")}
	if strings.Join(profiledPrefixes, " ") != strings.Join(want, " ") {
		t.Fatalf("profile prefixes %q, want %q", profiledPrefixes, want)
	}
}

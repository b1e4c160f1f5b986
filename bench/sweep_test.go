package bench

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func init() {
	// The model store, for sweep tests that need no disk.
	RegisterTarget(TargetSpec{Name: "test-mem", Summary: "model map (tests only)", Modes: []string{ModeSingle},
		Replicas: []int{0}, Transport: "in-process", Baseline: true,
		Open: func(dir string, o TargetOptions) (Target, error) { return newMemTarget(), nil }})
}

// requiredFields are the results.json fields issue 6 names.
var requiredFields = []string{"workload", "mix", "mode", "replicas", "growth_factor", "node",
	"user_bytes_written", "bytes_written", "bytes_read", "index_maintenance_bytes_read",
	"io_amplification", "cpu_seconds", "cpu_us_per_op", "net_bytes", "ops", "ops_per_sec"}

func TestSweepWritesResults(t *testing.T) {
	c := &Config{Targets: []string{"pebble", "test-mem"}, Workloads: []Workload{LoadA, WorkloadA, WorkloadE},
		Mixes: []Mix{MixS, MixLD}, GrowthFactors: []int{4, 10}, RecordCount: 300, OperationCount: 200,
		Threads: 2, Seed: 7, Dir: t.TempDir(), Settle: true}
	var streamed int
	c.OnRecord = func(rs []Record) { streamed += len(rs) }
	res, err := Sweep(context.Background(), c)
	if err != nil {
		t.Fatal(err)
	}
	// 2 targets x 2 growth factors x 2 mixes x 3 phases x 1 node.
	if len(res.Records) != 24 || streamed != 24 || res.Cancelled {
		t.Fatalf("%d records (%d streamed), cancelled %v; want 24", len(res.Records), streamed, res.Cancelled)
	}
	for _, r := range res.Records {
		if r.Error != "" || r.Seed != 7 || r.Machine.Cores == 0 {
			t.Fatalf("record %+v", r)
		}
		if r.Workload == "load-a" && (r.Ops != 300 || r.UserBytesWritten == 0 || r.IOAmplification == 0) {
			t.Fatalf("load record %+v", r)
		}
	}
	out := t.TempDir()
	if err := WriteResults(out, res, []string{"talosbench", "--test"}, false); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(out, "results.json"))
	if err != nil {
		t.Fatal(err)
	}
	var generic []map[string]any
	if err := json.Unmarshal(b, &generic); err != nil {
		t.Fatal(err)
	}
	if len(generic) != 24 {
		t.Fatalf("results.json holds %d records", len(generic))
	}
	for _, f := range requiredFields {
		if _, ok := generic[0][f]; !ok {
			t.Errorf("results.json records lack %q", f)
		}
	}
	var info RunInfo
	b, _ = os.ReadFile(filepath.Join(out, "run.json"))
	if err := json.Unmarshal(b, &info); err != nil || info.Seed != 7 || info.Machine.Kernel == "" || len(info.Mixes) != 2 {
		t.Fatalf("run.json %s: %v", b, err)
	}
	f, _ := os.Open(filepath.Join(out, "results.csv"))
	defer f.Close()
	rows, err := csv.NewReader(f).ReadAll()
	if err != nil || len(rows) != 25 {
		t.Fatalf("results.csv: %d rows, %v", len(rows), err)
	}
	header := strings.Join(rows[0], ",")
	for _, f := range requiredFields {
		if !strings.Contains(","+header+",", ","+f+",") {
			t.Errorf("results.csv lacks column %q", f)
		}
	}
	if _, err := os.Stat(filepath.Join(out, "report.md")); !os.IsNotExist(err) {
		t.Fatalf("report.md written without plots: %v", err)
	}
	// With plots, on the records of one phase.
	var sel []Record
	for _, r := range res.Records {
		if r.Workload == "e" {
			sel = append(sel, r)
		}
	}
	out2 := t.TempDir()
	if err := WriteResults(out2, &Result{Config: c, Records: sel}, []string{"talosbench"}, true); err != nil {
		t.Fatal(err)
	}
	report, err := os.ReadFile(filepath.Join(out2, "report.md"))
	if err != nil || !bytes.Contains(report, []byte("# Talos bench report")) || !bytes.Contains(report, []byte("plots/io_amplification-by-mix-e-node-gf4.png")) {
		t.Fatalf("report.md (%v):\n%s", err, report)
	}
	if _, err := os.Stat(filepath.Join(out2, "plots", "cpu_us_per_op-vs-gf-e-node.svg")); err != nil {
		t.Fatal(err)
	}
	var table bytes.Buffer
	if err := WriteTable(&table, res.Records); err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(table.String(), "\n"); n != 25 {
		t.Fatalf("table has %d lines, want 25:\n%s", n, table.String())
	}
	// Run directories are removed unless Keep.
	if ents, _ := os.ReadDir(c.Dir); len(ents) != 0 {
		t.Fatalf("run directories left behind: %v", ents)
	}
}

func TestSweepCancelled(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	cancelTarget = cancel
	if _, err := LookupTarget("test-cancel"); err != nil {
		registerCancelTarget()
	}
	c := &Config{Targets: []string{"test-cancel", "test-mem"}, RecordCount: 5000, OperationCount: 100, Dir: t.TempDir()}
	res, err := Sweep(ctx, c)
	if err != nil {
		t.Fatal(err)
	}
	if !res.Cancelled || len(res.Records) != 1 || !res.Records[0].Interrupted || res.Records[0].Ops < 100 {
		t.Fatalf("cancelled sweep: cancelled %v, records %+v", res.Cancelled, res.Records)
	}
}

// cancelTarget is called by the test-cancel target at its 100th Put.
var cancelTarget func()

func registerCancelTarget() {
	RegisterTarget(TargetSpec{Name: "test-cancel", Modes: []string{ModeSingle}, Replicas: []int{0}, Baseline: true,
		Open: func(string, TargetOptions) (Target, error) {
			tg := newMemTarget()
			tg.hook = func(puts int) error {
				if puts == 100 {
					cancelTarget()
				}
				return nil
			}
			return tg, nil
		}})
}

func TestConfigValidate(t *testing.T) {
	c := &Config{Targets: []string{"nope"}, Workloads: []Workload{WorkloadA, LoadA}, GrowthFactors: []int{1},
		RecordCount: -1, OperationCount: -2, Threads: -1, Replicas: []int{-1}}
	err := c.Validate()
	if !errors.Is(err, ErrConfig) {
		t.Fatalf("Validate = %v", err)
	}
	for _, want := range []string{"unknown target", "load phase must come first", "need the load phase", "growth factor 1",
		"record count -1", "operation count -2", "threads -1", "replica count -1"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("Validate error lacks %q: %v", want, err)
		}
	}
	// A single store has no replicated modes.
	c = &Config{Targets: []string{"test-mem"}, Modes: []string{"ship-index"}}
	c.EnsureDefaults()
	if _, err := c.plan(); !errors.Is(err, ErrConfig) {
		t.Fatalf("plan with an unsupported mode: %v", err)
	}
}

// Modes and replica counts filter the targets that replicate; single stores
// in the same sweep run in their own mode.
func TestPlanMixedTargets(t *testing.T) {
	c := &Config{Targets: []string{"test-mem", "talosd"}, Replicas: []int{2}, Modes: []string{ModeShipIndex}}
	c.EnsureDefaults()
	plans, err := c.plan()
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, p := range plans {
		got = append(got, fmt.Sprintf("%s/%s/%d", p.spec.Name, p.mode, p.replicas))
	}
	if want := "[test-mem/single/0 talosd/ship-index/2]"; fmt.Sprint(got) != want {
		t.Fatalf("plans %v, want %s", got, want)
	}
}

func TestDescribeMachine(t *testing.T) {
	m := DescribeMachine(t.TempDir())
	if m.Cores < 1 || !strings.HasPrefix(m.Kernel, "Linux ") || m.GoVersion == "" {
		t.Fatalf("machine %+v", m)
	}
}

// Without backups both modes are the same store: the sweep runs it once.
func TestPlanRunsNoBackupsOnce(t *testing.T) {
	c := &Config{Targets: []string{"talosd"}, Replicas: []int{0, 2}, Modes: []string{ModeShipIndex, ModeBuildIndex}}
	c.EnsureDefaults()
	plans, err := c.plan()
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, p := range plans {
		got = append(got, fmt.Sprintf("%s/%d", p.mode, p.replicas))
	}
	if want := "[ship-index/0 ship-index/2 build-index/2]"; fmt.Sprint(got) != want {
		t.Fatalf("plans %v, want %s", got, want)
	}
}

package bench

import (
	"strings"
	"testing"
)

func TestReportPeerGoals(t *testing.T) {
	res := &Result{Config: &Config{}, Records: []Record{
		{Target: "engine", Mode: ModeSingle, Workload: "load-a", Mix: "L", GrowthFactor: 10, Node: "node", OpsPerSec: 900, CPUUsPerOp: 10, BlockIOAmplification: 1},
		{Target: "pebble", Mode: ModeSingle, Workload: "load-a", Mix: "L", GrowthFactor: 10, Node: "node", OpsPerSec: 1000, CPUUsPerOp: 20, BlockIOAmplification: 4},
		{Target: "engine", Mode: ModeSingle, Workload: "load-a", Mix: "S", GrowthFactor: 10, Node: "node", OpsPerSec: 800},
		{Target: "pebble", Mode: ModeSingle, Workload: "load-a", Mix: "S", GrowthFactor: 10, Node: "node", OpsPerSec: 1000},
		{Target: "badger", Mode: ModeSingle, Workload: "load-a", Mix: "S", GrowthFactor: 10, Node: "node", OpsPerSec: 400},
		{Target: "null", Mode: ModeSingle, Workload: "load-a", Mix: "S", GrowthFactor: 10, Node: "node", OpsPerSec: 1e6},
	}}
	var b strings.Builder
	if err := WriteReport(&b, res, []string{"talosbench"}, nil); err != nil {
		t.Fatal(err)
	}
	s := b.String()
	if strings.Contains(s, "| 10 | null |") {
		t.Errorf("report compares the engine with the null baseline:\n%s", s)
	}
	for _, want := range []string{
		"| load-a | L | 10 | pebble | 0.90x | 0.25x | 0.50x | load throughput >= 1.0x Pebble: NOT met |",
		"| load-a | S | 10 | pebble | 0.80x | 0.00x | 0.00x | load throughput >= 0.7x Pebble: met |",
		"| load-a | S | 10 | badger | 2.00x |",
		"Not measured in this run: it needs a replicated target run in both modes.",
		"Talos (index shipping",
	} {
		if !strings.Contains(s, want) {
			t.Errorf("report lacks %q:\n%s", want, s)
		}
	}
}

// The targets section derives each verdict from known records.
func TestReportTargets(t *testing.T) {
	rec := func(mode, node string, r int, opsPerSec, cpu, net float64, read, written uint64) Record {
		return Record{Target: "talosd", Workload: "load-a", Mix: "MD", Mode: mode, Replicas: r, GrowthFactor: 10,
			Node: node, OpsPerSec: opsPerSec, CPUUsPerOp: cpu, NetBytesPerOp: net,
			UserBytesWritten: 1000, BytesRead: read, BytesWritten: written, IOAmplification: IOAmplification(read, written, 1000)}
	}
	recs := []Record{
		rec(ModeShipIndex, "primary", 0, 1000, 50, 0, 0, 3000),
		rec(ModeShipIndex, "primary", 2, 900, 60, 1200, 0, 3000),
		rec(ModeShipIndex, "backup-1", 2, 900, 10, 600, 0, 2000),
		rec(ModeBuildIndex, "primary", 2, 700, 60, 1000, 0, 3000),
		rec(ModeBuildIndex, "backup-1", 2, 700, 20, 500, 1500, 2500),
	}
	var b strings.Builder
	writeTargets(&b, recs)
	writeReplicationCost(&b, recs)
	out := b.String()
	for _, want := range []string{
		"| MD | 10 | 2 | backup I/O amplification, build / ship (whole run) | 2.00x | >= 4.0x | NOT met |",
		"| MD | 10 | 2 | backup CPU per op, build / ship (phases that write) | 2.00x | >= 3.0x | NOT met |",
		"| MD | 10 | 2 | network per op, ship / build | 1.20x | <= 1.3x | met |",
		"| MD | 10 | 2 | ship-index throughput with 2 backups / none | 0.90x | >= 0.8x | met |",
		"| load-a | MD | 10 | build-index | 2 | 700 | 1000 | 0.70x |",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("report lacks %q:\n%s", want, out)
		}
	}
}

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

package bench

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
)

func TestWritePlots(t *testing.T) {
	var recs []Record
	for _, gf := range []int{4, 10} {
		for _, mix := range []string{"S", "MD"} {
			for _, mode := range []string{"ship-index", "build-index"} {
				recs = append(recs, Record{Target: "talosd", Workload: "a", Mix: mix, Mode: mode, Replicas: 1,
					GrowthFactor: gf, Node: "backup-1", Ops: 100, IOAmplification: float64(gf), CPUUsPerOp: 3})
			}
		}
	}
	recs = append(recs, Record{Target: "pebble", Workload: "a", Mix: "S", Mode: ModeSingle, GrowthFactor: 10, Node: "node", Ops: 100, IOAmplification: 7})
	dir := t.TempDir()
	files, err := WritePlots(dir, recs)
	if err != nil {
		t.Fatal(err)
	}
	// backup-1: 3 figures x (2 by-mix + 1 vs-gf); node: 3 figures x 1 by-mix.
	if len(files) != 12 {
		t.Fatalf("wrote %d plots %v, want 12", len(files), files)
	}
	for _, f := range files {
		svg, err := os.ReadFile(filepath.Join(dir, f+".svg"))
		if err != nil || !bytes.Contains(svg, []byte("<svg")) {
			t.Fatalf("%s.svg: %v", f, err)
		}
		png, err := os.ReadFile(filepath.Join(dir, f+".png"))
		if err != nil || !bytes.HasPrefix(png, []byte("\x89PNG")) {
			t.Fatalf("%s.png: %v", f, err)
		}
	}
}

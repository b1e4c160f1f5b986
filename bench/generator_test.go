package bench

import (
	"bytes"
	"fmt"
	"math"
	"math/rand/v2"
	"sort"
	"sync"
	"testing"
)

func TestMixProportions(t *testing.T) {
	const draws = 200000
	for _, m := range Mixes() {
		r := rand.New(rand.NewPCG(testSeed, 6))
		var counts [numSizeClasses]int
		for i := 0; i < draws; i++ {
			counts[m.Pick(r)]++
		}
		for c, w := range m.Weight {
			if f := float64(counts[c]) / draws; math.Abs(f-w) > 0.005 {
				t.Errorf("seed %d: mix %s class %d frequency %.4f, want %.2f ±0.005", testSeed, m.Name, c, f, w)
			}
		}
	}
}

func TestValueSizes(t *testing.T) {
	for _, tc := range []struct {
		c           SizeClass
		insert, upd int
	}{{Small, 10, 5}, {Medium, 100, 100}, {Large, 1000, 1000}} {
		if got := tc.c.ValueSize(false); got != tc.insert {
			t.Errorf("class %d insert size %d, want %d", tc.c, got, tc.insert)
		}
		if got := tc.c.ValueSize(true); got != tc.upd {
			t.Errorf("class %d update size %d, want %d", tc.c, got, tc.upd)
		}
	}
}

func drain(t *testing.T, g *Generator) []Op {
	t.Helper()
	var out []Op
	buf := make([]Op, 7)
	for {
		n := g.Fill(buf)
		if n == 0 {
			return out
		}
		for _, op := range buf[:n] {
			op.Key = append([]byte(nil), op.Key...)
			out = append(out, op)
		}
	}
}

func TestWorkloadOperationMix(t *testing.T) {
	const loaded, count = 10000, 100000
	for _, w := range Workloads()[1:] {
		g, err := NewGenerator(GenConfig{Workload: w, Mix: MixSD, Loaded: loaded, Count: count, Seed: testSeed})
		if err != nil {
			t.Fatal(err)
		}
		ops := drain(t, g)
		if len(ops) != count {
			t.Fatalf("workload %s: %d ops, want %d", w.Name, len(ops), count)
		}
		var kinds [NumOpKinds]int
		var scanSum, scans int
		nextInsert := int64(loaded)
		for i, op := range ops {
			if op.Seq != int64(i) {
				t.Fatalf("workload %s: op %d has seq %d", w.Name, i, op.Seq)
			}
			kinds[op.Kind]++
			switch op.Kind {
			case OpInsert:
				if want := AppendKey(nil, nextInsert); !bytes.Equal(op.Key, want) {
					t.Fatalf("workload %s: insert %d key %q, want key of %d %q", w.Name, i, op.Key, nextInsert, want)
				}
				nextInsert++
				if s := len(op.Value); s != 10 && s != 100 && s != 1000 {
					t.Fatalf("workload %s: insert value of %d bytes", w.Name, s)
				}
			case OpUpdate, OpReadModifyWrite:
				if s := len(op.Value); s != 5 && s != 100 && s != 1000 {
					t.Fatalf("workload %s: update value of %d bytes", w.Name, s)
				}
			case OpScan:
				if op.ScanLength < 1 || op.ScanLength > 100 {
					t.Fatalf("workload %s: scan length %d", w.Name, op.ScanLength)
				}
				scanSum += op.ScanLength
				scans++
			case OpRead:
				if op.Value != nil {
					t.Fatalf("workload %s: read carries a value", w.Name)
				}
			}
		}
		for k, want := range w.Proportion {
			if f := float64(kinds[k]) / count; math.Abs(f-want) > 0.005 {
				t.Errorf("seed %d: workload %s %s proportion %.4f, want %.2f ±0.005", testSeed, w.Name, OpKind(k), f, want)
			}
		}
		if scans > 0 {
			if mean := float64(scanSum) / float64(scans); math.Abs(mean-50.5) > 1 {
				t.Errorf("seed %d: workload %s mean scan length %.2f, want 50.5 ±1 (uniform 1..100)", testSeed, w.Name, mean)
			}
		}
		if g.Inserted() != nextInsert {
			t.Errorf("workload %s: Inserted() = %d, want %d", w.Name, g.Inserted(), nextInsert)
		}
	}
}

func TestWorkloadDefinitions(t *testing.T) {
	// YCSB's workloads/workloada..f.
	want := map[string]string{
		"load-a": "insert=1",
		"a":      "read=0.5 update=0.5 zipfian",
		"b":      "read=0.95 update=0.05 zipfian",
		"c":      "read=1 zipfian",
		"d":      "insert=0.05 read=0.95 latest",
		"e":      "insert=0.05 scan=0.95 zipfian scan=1..100",
		"f":      "read=0.5 rmw=0.5 zipfian",
	}
	for _, w := range Workloads() {
		s := ""
		for k, p := range w.Proportion {
			if p > 0 {
				s += fmt.Sprintf("%s=%g ", OpKind(k), p)
			}
		}
		if !w.Load {
			s += w.Distribution.String()
		} else {
			s = s[:len(s)-1]
		}
		if w.MaxScanLength > 0 {
			s += fmt.Sprintf(" scan=%d..%d", w.MinScanLength, w.MaxScanLength)
		}
		if s != want[w.Name] {
			t.Errorf("workload %s: %q, want %q", w.Name, s, want[w.Name])
		}
	}
}

func TestLoadPhase(t *testing.T) {
	g, err := NewGenerator(GenConfig{Workload: LoadA, Mix: MixS, Count: 500, Seed: testSeed})
	if err != nil {
		t.Fatal(err)
	}
	ops := drain(t, g)
	for i, op := range ops {
		if op.Kind != OpInsert || !bytes.Equal(op.Key, AppendKey(nil, int64(i))) || len(op.Value) != SmallValueSize {
			t.Fatalf("load op %d: %v %q %d bytes, want insert of key %d with 10 bytes", i, op.Kind, op.Key, len(op.Value), i)
		}
	}
	if g.Inserted() != 500 {
		t.Fatalf("Inserted() = %d, want 500", g.Inserted())
	}
}

func TestReadsHitInsertedKeys(t *testing.T) {
	for _, d := range []Distribution{DistZipfian, DistUniform, DistLatest} {
		w := WorkloadD
		w.Distribution = d
		g, err := NewGenerator(GenConfig{Workload: w, Mix: MixM, Loaded: 1000, Count: 20000, Seed: testSeed})
		if err != nil {
			t.Fatal(err)
		}
		have := map[string]bool{}
		for i := int64(0); i < 1000; i++ {
			have[string(AppendKey(nil, i))] = true
		}
		for _, op := range drain(t, g) {
			if op.Kind == OpInsert {
				have[string(op.Key)] = true
			} else if !have[string(op.Key)] {
				t.Fatalf("seed %d: %s: op %d reads key %q before it is inserted", testSeed, d, op.Seq, op.Key)
			}
		}
	}
}

func opsDigest(ops []Op) string {
	var b bytes.Buffer
	for _, op := range ops {
		fmt.Fprintf(&b, "%d %d %s %x %d\n", op.Seq, op.Kind, op.Key, op.Value, op.ScanLength)
	}
	return b.String()
}

func TestGeneratorDeterministic(t *testing.T) {
	cfg := GenConfig{Workload: WorkloadE, Mix: MixLD, Loaded: 3000, Count: 5000, Seed: testSeed}
	g1, _ := NewGenerator(cfg)
	g2, _ := NewGenerator(cfg)
	a, b := drain(t, g1), drain(t, g2)
	if opsDigest(a) != opsDigest(b) {
		t.Fatal("two generators with the same configuration differ")
	}
	cfg.Seed++
	g3, _ := NewGenerator(cfg)
	if opsDigest(drain(t, g3)) == opsDigest(a) {
		t.Fatal("a different seed gave the same stream")
	}

	// Several consumers see the same operations, each exactly once.
	g4, _ := NewGenerator(GenConfig{Workload: WorkloadE, Mix: MixLD, Loaded: 3000, Count: 5000, Seed: testSeed})
	var mu sync.Mutex
	var all []Op
	var wg sync.WaitGroup
	for i := 0; i < 4; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			buf := make([]Op, 3)
			for {
				n := g4.Fill(buf)
				if n == 0 {
					return
				}
				mu.Lock()
				for _, op := range buf[:n] {
					op.Key = append([]byte(nil), op.Key...)
					all = append(all, op)
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	sort.Slice(all, func(i, j int) bool { return all[i].Seq < all[j].Seq })
	if opsDigest(all) != opsDigest(a) {
		t.Fatal("four consumers saw a different stream than one")
	}
}

func TestGeneratorConfigErrors(t *testing.T) {
	for _, cfg := range []GenConfig{
		{Workload: WorkloadA, Mix: MixS, Loaded: 0, Count: 10},
		{Workload: LoadA, Mix: MixS, Count: -1},
		{Workload: Workload{Name: "x", MaxScanLength: 0, Proportion: props(OpScan, 1.0)}, Mix: MixS, Loaded: 5, Count: 1},
		{Workload: Workload{Name: "empty"}, Mix: MixS, Loaded: 5, Count: 1},
	} {
		if _, err := NewGenerator(cfg); err == nil {
			t.Errorf("NewGenerator(%+v) accepted a bad configuration", cfg.Workload.Name)
		}
	}
}

func TestParse(t *testing.T) {
	for s, want := range map[string]string{"load": "load-a", "LOAD-A": "load-a", "run-c": "c", "f": "f"} {
		w, err := ParseWorkload(s)
		if err != nil || w.Name != want {
			t.Errorf("ParseWorkload(%q) = %q, %v; want %q", s, w.Name, err, want)
		}
	}
	if _, err := ParseWorkload("g"); err == nil {
		t.Error("ParseWorkload(g) accepted")
	}
	if m, err := ParseMix("md"); err != nil || m.Name != "MD" {
		t.Errorf("ParseMix(md) = %v, %v", m.Name, err)
	}
	if _, err := ParseMix("XL"); err == nil {
		t.Error("ParseMix(XL) accepted")
	}
	if d, err := ParseDistribution("Latest"); err != nil || d != DistLatest {
		t.Errorf("ParseDistribution(Latest) = %v, %v", d, err)
	}
}

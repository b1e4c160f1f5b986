package bench

import (
	"context"
	"testing"
)

// BenchmarkGeneratorFill measures the generator's cost per operation
// (workload A, MD mix, scrambled zipfian over 100000 records).
func BenchmarkGeneratorFill(b *testing.B) {
	g, err := NewGenerator(GenConfig{Workload: WorkloadA, Mix: MixMD, Loaded: 100000, Count: int64(b.N), Seed: 1})
	if err != nil {
		b.Fatal(err)
	}
	ops := make([]Op, opBatch)
	b.ResetTimer()
	for g.Fill(ops) > 0 {
	}
}

// BenchmarkRunPhaseNull measures the harness per operation: generator,
// runner and histograms against a target that does nothing.
func BenchmarkRunPhaseNull(b *testing.B) {
	g, err := NewGenerator(GenConfig{Workload: WorkloadA, Mix: MixMD, Loaded: 100000, Count: int64(b.N), Seed: 1})
	if err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	res, err := RunPhase(context.Background(), NewNullTarget(), g, WorkloadA, RunOptions{Threads: 1})
	if err != nil || res.Err != nil || res.Ops != uint64(b.N) {
		b.Fatalf("ops %d of %d: %v %v", res.Ops, b.N, err, res.Err)
	}
}

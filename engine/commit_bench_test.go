package engine

import (
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/talos-kv/talos/kvsep"
)

// BenchmarkCommitPipeline measures group commit with a CommitHook whose
// wait stands for the backups' round trip (a timer, no CPU), by pipeline
// depth and sync policy: 16 writers of 100 B values on real files. It
// reports writes per second, writes per group and writes per fsync. It is
// how CommitPipeline's default was chosen (see Options.CommitPipeline).
func BenchmarkCommitPipeline(b *testing.B) {
	for _, sync := range []SyncPolicy{SyncAlways, SyncNever} {
		for _, depth := range []int{1, 2, 4} {
			b.Run(fmt.Sprintf("sync=%v/depth=%d", sync, depth), func(b *testing.B) {
				benchCommit(b, sync, depth, 300*time.Microsecond)
			})
		}
	}
}

func benchCommit(b *testing.B, sync SyncPolicy, depth int, rtt time.Duration) {
	opts := Options{Sync: sync, CommitPipeline: depth}
	opts.CommitHook = func(kvsep.Range) (func() error, error) {
		done := time.Now().Add(rtt)
		return func() error { time.Sleep(time.Until(done)); return nil }, nil
	}
	db, err := Open(b.TempDir(), opts)
	if err != nil {
		b.Fatal(err)
	}
	var next atomic.Uint64
	value := make([]byte, 100)
	b.SetParallelism(8) // 16 writers on two cores
	b.ResetTimer()
	start := time.Now()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			k := fmt.Appendf(nil, "key%012d", next.Add(1))
			if err := db.Put(k, value); err != nil {
				b.Error(err)
				return
			}
		}
	})
	elapsed := time.Since(start)
	b.StopTimer()
	m := db.Metrics()
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "writes/s")
	b.ReportMetric(float64(m.Commits)/float64(max(m.CommitGroups, 1)), "writes/group")
	if m.Syncs > 0 {
		b.ReportMetric(float64(m.Commits)/float64(m.Syncs), "writes/fsync")
	}
	if err := db.Close(); err != nil {
		b.Fatal(err)
	}
}

package engine

import (
	"flag"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/talos-kv/talos/index"
	"github.com/talos-kv/talos/kvsep"
)

// gcUnlimited lifts GC's rate limit in BenchmarkGCKeepsUp, to tell the
// limit from the rest of GC's cost.
var gcUnlimited = flag.Bool("gc-unlimited", false, "BenchmarkGCKeepsUp: run GC without its rate limit")

// gcKeys is BenchmarkGCKeepsUp's key set. The value log is compared with
// the live data, which the index's live counts overstate while shadowed
// versions wait in upper levels: a key set that one memtable covers
// (20k keys of a 1 MiB memtable) overstates most.
var gcRatio = flag.Float64("gc-ratio", 0, "BenchmarkGCKeepsUp: GC.MaxSpaceRatio (0: the default)")

var gcUnflushed = flag.Float64("gc-unflushed", 0, "BenchmarkGCKeepsUp: GC.MaxUnflushedRatio (0: the default, negative: off)")

var gcDelay = flag.Duration("gc-delay", time.Millisecond, "BenchmarkGCKeepsUp: longest wait of a writer paced to GC")

var gcKeys = flag.Int("gc-keys", 100000, "BenchmarkGCKeepsUp: number of keys updated")

var gcMemtable = flag.Int64("gc-memtable", 1<<20, "BenchmarkGCKeepsUp: Index.MemtableSize")

var gcSegment = flag.Int64("gc-segment", 256<<10, "BenchmarkGCKeepsUp: SegmentSize")

// BenchmarkGCKeepsUp: a sustained uniform update load with the background
// GC goroutine alone reclaiming the value log (its default rate limit, no
// explicit RunGC). It reports the value log's size against the live data:
// the peak after the first two rewrites of the key set, and at the end.
// Issue 2's bound is 2x. Run with -benchtime 400000x or more so that the
// key set is rewritten many times.
func BenchmarkGCKeepsUp(b *testing.B) {
	fs := vfs.NewMem()
	opts := Options{
		FS:             fs,
		SegmentSize:    *gcSegment,
		ValueThreshold: 32,
		Sync:           SyncNever,
		Index:          index.Options{MemtableSize: *gcMemtable},
	}
	if *gcUnlimited {
		opts.GC.BytesPerSecond = -1
	}
	opts.GC.MaxSpaceRatio = *gcRatio
	gcMaxWait = *gcDelay
	opts.GC.MaxUnflushedRatio = *gcUnflushed
	db, err := Open("db", opts)
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	keys, valueLen := *gcKeys, 200
	live := float64(keys * kvsep.RecordLen(len("key0000000"), valueLen))
	rng := rand.New(rand.NewPCG(1, 2))
	val := make([]byte, valueLen)
	size := func() float64 {
		names, err := fs.List("db/vlog")
		if err != nil {
			b.Fatal(err)
		}
		var n int64
		for _, name := range names {
			if _, ok := kvsep.ParseSegmentFileName(name); ok {
				st, err := fs.Stat("db/vlog/" + name)
				if err != nil {
					continue // removed by GC since List
				}
				n += st.Size()
			}
		}
		return float64(n)
	}
	var peak, last float64
	b.ResetTimer()
	for i := range b.N {
		for j := range val {
			val[j] = byte(rng.Uint32())
		}
		k := fmt.Appendf(nil, "key%07d", rng.IntN(keys))
		if err := db.Put(k, val); err != nil {
			b.Fatal(err)
		}
		if i%10000 == 9999 {
			last = size() / live
			if i >= 2*keys {
				peak = max(peak, last)
			}
		}
	}
	b.StopTimer()
	m := db.Metrics()
	b.ReportMetric(peak, "peak-vlog/live")
	b.ReportMetric(last, "end-vlog/live")
	b.ReportMetric(float64(m.GC.Segments), "segments-collected")
	b.ReportMetric(float64(m.Index.Flushes), "flushes")
	b.ReportMetric(float64(m.GC.WriteSlowdowns), "slowed-writes")
	b.ReportMetric(float64(m.GC.SegmentsMeasured), "measured")
	b.ReportMetric(float64(m.GC.IndexMeasures), "index-measures")
}

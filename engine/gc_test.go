package engine

import (
	"context"
	"fmt"
	"testing"

	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/stretchr/testify/require"
	"github.com/talos-kv/talos/kvsep"
)

// vlogBytes returns the bytes the value-log segment files take.
func vlogBytes(t *testing.T, fs vfs.FS) int64 {
	names, err := fs.List("db/vlog")
	require.NoError(t, err)
	var n int64
	for _, name := range names {
		if _, ok := kvsep.ParseSegmentFileName(name); !ok {
			continue
		}
		st, err := fs.Stat("db/vlog/" + name)
		require.NoError(t, err)
		n += st.Size()
	}
	return n
}

// TestGCSpaceBound updates a fixed key set uniformly at random, round after
// round, with GC passes between rounds (as the background goroutine runs
// them after flushes): the value log stays under 2x the live data.
func TestGCSpaceBound(t *testing.T) {
	rng := testSeed(t)
	fs := vfs.NewMem()
	opts := tinyOptions(fs)
	opts.SegmentSize = 64 << 10
	opts.Index.MemtableSize = 32 << 10
	db, err := Open("db", opts)
	require.NoError(t, err)
	const keys, valueLen = 2000, 200
	live := int64(keys * kvsep.RecordLen(len("key00000"), valueLen))
	val := make([]byte, valueLen)
	rounds := 30
	if testing.Short() {
		rounds = 12
	}
	var worst float64
	for round := range rounds {
		for range keys {
			k := fmt.Appendf(nil, "key%05d", rng.IntN(keys))
			for i := range val {
				val[i] = byte(rng.Uint32())
			}
			require.NoError(t, db.Put(k, val))
		}
		require.NoError(t, db.Flush(context.Background()))
		require.NoError(t, db.WaitIdle(context.Background()))
		for {
			res, err := db.RunGC(context.Background())
			require.NoError(t, err)
			if len(res.Segments) == 0 {
				break
			}
		}
		ratio := float64(vlogBytes(t, fs)) / float64(live)
		t.Logf("round %2d: value log %d bytes, %.2fx live", round, vlogBytes(t, fs), ratio)
		if round >= 3 {
			worst = max(worst, ratio)
			require.Less(t, ratio, 2.0, "round %d: value log is %.2fx the live data", round, ratio)
		}
	}
	m := db.Metrics()
	t.Logf("worst %.2fx; gc: %d segments, %d keys rewritten, %d dropped", worst, m.GC.Segments, m.GC.KeysRewritten, m.GC.KeysDropped)
	require.NotZero(t, m.GC.Segments)
	require.NoError(t, db.Close())
}

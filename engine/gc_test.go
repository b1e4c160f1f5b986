package engine

import (
	"context"
	"fmt"
	"testing"

	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/stretchr/testify/require"
	"github.com/talos-kv/talos/internal/iostat"
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

// TestGCDeadSegmentsUnread writes values that all live inline in the index,
// so that the value log is only the write-ahead log: once flushed, its
// segments hold nothing live. One GC pass deletes them without reading
// them and without waiting for another flush, and every key still reads.
// (Before, GC read each segment and looked every key up, and its deletion
// waited for the next flush, while GC's pacing slowed the writers that
// would have filled the memtable: with an 8 MiB memtable a load of 10-byte
// values fell to 4k writes/s.)
func TestGCDeadSegmentsUnread(t *testing.T) {
	fs := vfs.NewMem()
	opts := tinyOptions(fs)
	db, err := Open("db", opts)
	require.NoError(t, err)
	const keys = 3000
	for i := range keys {
		require.NoError(t, db.Put(fmt.Appendf(nil, "key%05d", i), fmt.Appendf(nil, "v%d", i)))
	}
	require.NoError(t, db.Flush(context.Background()))
	require.NoError(t, db.WaitIdle(context.Background()))
	before := len(db.Log().Segments())
	require.Greater(t, before, 4, "the load should span several segments")
	readBefore := db.Metrics().IO.Read[iostat.GC]

	res, err := db.runGC(context.Background(), false)
	require.NoError(t, err)
	m := db.Metrics()
	require.NotEmpty(t, res.Segments)
	require.Equal(t, uint64(len(res.Segments)), m.GC.DeadSegments, "every collected segment was dead")
	require.Zero(t, res.BytesRead)
	require.Equal(t, readBefore, m.IO.Read[iostat.GC], "GC read nothing")
	require.Zero(t, m.GC.PendingSegments, "deleted in the pass, without another flush")
	require.Less(t, len(db.Log().Segments()), before)
	for i := range keys {
		v, err := db.Get(fmt.Appendf(nil, "key%05d", i))
		require.NoError(t, err)
		require.Equal(t, fmt.Sprintf("v%d", i), string(v))
	}
	require.NoError(t, db.Close())

	// The deletions are in the manifest: the store reopens without them.
	db, err = Open("db", opts)
	require.NoError(t, err)
	v, err := db.Get([]byte("key00007"))
	require.NoError(t, err)
	require.Equal(t, "v7", string(v))
	require.NoError(t, db.Close())
}

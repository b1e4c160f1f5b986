package index

import (
	"context"
	"fmt"
	"testing"

	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/stretchr/testify/require"
)

// TestRequestFlush: RequestFlush rotates a non-empty memtable before it is
// full, if enough of its entries replaced a version it held, and its flush
// moves the checkpoint; it does nothing for an empty memtable.
func TestRequestFlush(t *testing.T) {
	opts := smallOpts(vfs.NewMem())
	opts.MemtableSize = 1 << 20 // never full in this test
	x, err := Open("db", opts)
	require.NoError(t, err)
	defer x.Close()
	ctx := context.Background()
	require.False(t, x.RequestFlush(0), "an empty memtable is not rotated")
	for i := range 100 {
		require.NoError(t, x.MakeRoom(ctx))
		x.Apply(uint64(i+1), []Entry{{Kind: KindSet, Key: fmt.Appendf(nil, "k%03d", i%80), Value: []byte("v")}}, LogPos{1, uint64(100 + i)}, nil)
	}
	// 20 of the 100 entries replaced a version the memtable held.
	require.False(t, x.RequestFlush(0.21), "too few shadowed entries")
	require.True(t, x.RequestFlush(0.2))
	require.NoError(t, x.WaitIdle(ctx))
	m := x.Metrics()
	require.Equal(t, uint64(1), m.Flushes)
	require.Equal(t, uint64(1), m.RequestedFlushes)
	require.Equal(t, LogPos{1, 199}, x.Checkpoint())
	require.False(t, x.RequestFlush(0), "the new memtable is empty")
}

// TestRequestL0Compaction: one L0 file, below L0CompactionThreshold, is
// compacted into L1 on request; shadowed versions go, and the live counts
// with them.
func TestRequestL0Compaction(t *testing.T) {
	opts := smallOpts(vfs.NewMem())
	opts.MemtableSize = 1 << 20
	opts.L0CompactionThreshold = 4
	opts.L0SlowdownThreshold = 8
	opts.ValueRef = func(v []byte) (uint64, int64, bool) { return uint64(v[0]), 100, true }
	x, err := Open("db", opts)
	require.NoError(t, err)
	defer x.Close()
	ctx := context.Background()
	seq := uint64(1)
	put := func(seg byte) {
		for i := range 50 {
			require.NoError(t, x.MakeRoom(ctx))
			x.Apply(seq, []Entry{{Kind: KindSet, Key: fmt.Appendf(nil, "k%03d", i), Value: []byte{seg}}}, LogPos{uint64(seg), seq}, nil)
			seq++
		}
		require.NoError(t, x.Flush(ctx))
	}
	put(1)
	x.RequestL0Compaction() // moves the first table down
	require.NoError(t, x.WaitIdle(ctx))
	put(2) // shadows every entry of segment 1
	require.Len(t, x.Levels()[0].Tables, 1)
	require.Equal(t, map[uint64]int64{1: 5000, 2: 5000}, x.SegmentLive(), "counts include the shadowed versions")
	l0, below := x.L0Entries()
	require.Equal(t, [2]uint64{50, 50}, [2]uint64{l0, below})

	x.RequestL0Compaction()
	require.NoError(t, x.WaitIdle(ctx))
	require.Empty(t, x.Levels()[0].Tables)
	require.Equal(t, int64(0), x.SegmentLive()[1], "the compaction dropped segment 1's versions")
	require.Equal(t, int64(5000), x.SegmentLive()[2])
	require.Equal(t, uint64(2), x.Metrics().RequestedCompactions)
}

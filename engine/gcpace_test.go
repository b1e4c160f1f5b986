package engine

import (
	"context"
	"fmt"
	"runtime"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/stretchr/testify/require"
	"github.com/talos-kv/talos/kvsep"
)

// TestUnflushedLogBounded: with a memtable far larger than the key set,
// sustained updates still flush (GC.MaxUnflushedRatio), so the log that GC
// cannot collect stays bounded and GC keeps the log near the live data.
func TestUnflushedLogBounded(t *testing.T) {
	rng := testSeed(t)
	fs := vfs.NewMem()
	opts := tinyOptions(fs)
	opts.SegmentSize = 64 << 10
	opts.Index.MemtableSize = 64 << 20 // would hold every write of the test
	opts.GC = GCOptions{Interval: time.Hour, BytesPerSecond: -1}
	db, err := Open("db", opts)
	require.NoError(t, err)
	defer db.Close()
	const keys, valueLen = 1000, 200
	live := int64(keys * kvsep.RecordLen(len("key00000"), valueLen))
	val := make([]byte, valueLen)
	for range 30 * keys {
		k := fmt.Appendf(nil, "key%05d", rng.IntN(keys))
		require.NoError(t, db.Put(k, val))
	}
	require.NoError(t, db.WaitIdle(context.Background()))
	m := db.Metrics()
	require.NotZero(t, m.Index.RequestedFlushes, "no early flush")
	cp := db.idx.Checkpoint()
	end := db.log.End()
	unflushed := db.linear(end) - db.linear(kvsep.Pos(cp))
	// The limit is max(4 segments, 0.25 x the live bytes below the
	// checkpoint); one more group may have been appended past it.
	limit := max(4*opts.SegmentSize, int64(0.25*float64(2*live)))
	require.LessOrEqual(t, int64(unflushed), limit+int64(opts.MaxGroupBytes)+opts.SegmentSize,
		"the log runs %d bytes past the checkpoint", unflushed)
	t.Logf("%d flushes (%d requested), %d GC segments, log %.2fx live", m.Index.Flushes,
		m.Index.RequestedFlushes, m.GC.Segments, float64(int64(m.Segments)*opts.SegmentSize)/float64(live))
	require.NotZero(t, m.GC.Segments, "GC never found a flushed segment to collect")
}

// TestGCDebtPacesWriters: while GC is behind, a write that takes the
// writers' debt past gcDebtLimit waits until GC pays enough of it off; when
// GC is not behind, writes do not wait and the debt is forgiven.
func TestGCDebtPacesWriters(t *testing.T) {
	opts := tinyOptions(vfs.NewMem())
	db, err := Open("db", opts)
	require.NoError(t, err)
	defer db.Close()
	saved := gcMaxWait
	gcMaxWait = time.Hour // only a payment may release the writer
	defer func() { gcMaxWait = saved }()

	db.slowForGC(gcDebtLimit * 4) // not behind: no debt, no wait
	require.Zero(t, db.gcDebt.bytes)

	db.gcBehind.Store(true)
	db.slowForGC(gcDebtLimit) // at the limit: no wait
	done := make(chan struct{})
	go func() {
		defer close(done)
		db.slowForGC(gcDebtLimit) // twice the limit: waits
	}()
	// Once the writer has added its debt, pay in small steps until it is
	// released: it must wait until the debt is back under the limit, not
	// leave at the first payment.
	for {
		db.gcDebt.Lock()
		b := db.gcDebt.bytes
		db.gcDebt.Unlock()
		if b > gcDebtLimit {
			break
		}
		runtime.Gosched()
	}
	var paid int64
	for released := false; !released; {
		select {
		case <-done:
			released = true
		default:
			db.payGCDebt(4096, false)
			paid += 4096
		}
	}
	require.GreaterOrEqual(t, paid, int64(gcDebtLimit), "the writer left before the debt was under the limit")
	require.LessOrEqual(t, db.gcDebt.bytes, int64(gcDebtLimit))
	require.Equal(t, uint64(1), db.Metrics().GC.WriteSlowdowns)

	db.gcBehind.Store(false)
	db.payGCDebt(0, true)
	require.Zero(t, db.gcDebt.bytes)
}

// TestGCBehindOnGrowth: a log that grows past the headroom the last GC pass
// left is behind at once, without waiting for the next pass.
func TestGCBehindOnGrowth(t *testing.T) {
	opts := tinyOptions(vfs.NewMem())
	db, err := Open("db", opts)
	require.NoError(t, err)
	defer db.Close()
	db.gcBehind.Store(false)
	db.gcHeadroom.Store(1000)
	db.endLinear.Store(999)
	db.slowForGC(10)
	require.False(t, db.gcBehind.Load())
	db.endLinear.Store(1001)
	db.slowForGC(10)
	require.True(t, db.gcBehind.Load())
	require.Zero(t, db.gcHeadroom.Load())
}

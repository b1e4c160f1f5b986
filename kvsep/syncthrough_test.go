package kvsep

import (
	"errors"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/cockroachdb/pebble/v2/vfs/errorfs"
	"github.com/stretchr/testify/require"
)

// TestSyncThroughDurable: what SyncThrough covered survives a crash (the
// crash clone keeps only synced data), across segment seals, while other
// goroutines append; a position already covered needs no fsync.
func TestSyncThroughDurable(t *testing.T) {
	rng := seed(t)
	mem := vfs.NewCrashableMem()
	opts := Options{FS: mem, SegmentSize: testSegSize}
	l, err := Open("vlog", opts)
	require.NoError(t, err)
	seq := uint64(1)
	var want []rec
	for round := range 40 {
		var got []rec
		got, seq = appendRandom(t, l, rng, seq, 1+rng.IntN(4))
		want = append(want, got...)
		end := l.End()
		// Several syncers of the same position: at most one fsyncs.
		var wg sync.WaitGroup
		var fsyncs atomic.Int32
		for range 3 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				synced, err := l.SyncThrough(end)
				if err != nil {
					t.Error(err)
				}
				if synced {
					fsyncs.Add(1)
				}
			}()
		}
		wg.Wait()
		require.LessOrEqual(t, fsyncs.Load(), int32(1), "round %d", round)
		synced, err := l.SyncThrough(end)
		require.NoError(t, err)
		require.False(t, synced, "a covered position must not fsync again")

		clone := mem.CrashClone(vfs.CrashCloneCfg{})
		cl, err := Open("vlog", Options{FS: clone, SegmentSize: testSegSize})
		require.NoError(t, err)
		require.Equal(t, want, replayAll(t, cl, Pos{Segment: 1}), "round %d", round)
		require.NoError(t, cl.Close())
	}
	require.NoError(t, l.Close())
}

// TestSyncThroughFailure: a failed fsync is returned and stops the log.
func TestSyncThroughFailure(t *testing.T) {
	rng := seed(t)
	var fail atomic.Bool
	errSync := errors.New("injected fsync failure")
	fs := errorfs.Wrap(vfs.NewMem(), errorfs.InjectorFunc(func(op errorfs.Op) error {
		if fail.Load() && op.Kind == errorfs.OpFileSync {
			return errSync
		}
		return nil
	}))
	l, err := Open("vlog", Options{FS: fs, SegmentSize: testSegSize})
	require.NoError(t, err)
	_, seq := appendRandom(t, l, rng, 1, 3)
	fail.Store(true)
	_, err = l.SyncThrough(l.End())
	require.ErrorIs(t, err, errSync)
	require.ErrorIs(t, err, ErrStopped)
	var b Records
	b.Add(KindSet, []byte("k"), []byte("v"))
	require.ErrorIs(t, l.Append([]*Records{&b}, seq, make([]FramePos, 1), nil), ErrStopped)
	_, err = l.SyncThrough(l.End())
	require.ErrorIs(t, err, ErrStopped)
	l.Close()
}

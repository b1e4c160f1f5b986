package index

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/stretchr/testify/require"
	"github.com/talos-kv/talos/internal/iostat"
)

// blockingSink holds a flush inside its first Write until released.
type blockingSink struct {
	entered chan struct{}
	release chan struct{}
	once    bool
}

func (s *blockingSink) Write(p []byte) error {
	if !s.once {
		s.once = true
		close(s.entered)
		<-s.release
	}
	return nil
}
func (s *blockingSink) Finish(TableMeta) error { return nil }
func (s *blockingSink) Abort()                 {}

// TestWriteStopWhileFlushBlocked holds the flush inside a table sink and
// fills memtables until MakeRoom must stop the writer: the WriteStall
// listener fires, MakeRoom blocks until its context ends, and writes resume
// once the flush proceeds. Memory stays bounded by MaxImmutableMemtables.
func TestWriteStopWhileFlushBlocked(t *testing.T) {
	sink := &blockingSink{entered: make(chan struct{}), release: make(chan struct{})}
	first := true
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	stalls := 0
	opts := Options{
		FS:                    vfs.NewMem(),
		MemtableSize:          4 << 10,
		MaxImmutableMemtables: 2,
		Listener: Listener{
			TableCreated: func(TableCreateInfo) TableSink {
				if first {
					first = false
					return sink
				}
				return nil
			},
			WriteStall: func(stalled bool, reason string) {
				if stalled {
					stalls++
					cancel() // MakeRoom is blocked: end its wait
				}
			},
		},
	}
	x, err := Open("db", opts)
	require.NoError(t, err)
	defer x.Close()
	var stopErr error
	seq := uint64(0)
	for i := 0; i < 10000 && stopErr == nil; i++ {
		if stopErr = x.MakeRoom(ctx); stopErr != nil {
			break
		}
		seq++
		x.Apply(seq, []Entry{{Kind: KindSet, Key: fmt.Appendf(nil, "k%05d", i), Value: make([]byte, 100)}}, LogPos{}, nil)
	}
	require.True(t, errors.Is(stopErr, context.Canceled), "MakeRoom: %v", stopErr)
	require.Equal(t, 1, stalls)
	<-sink.entered
	m := x.Metrics()
	require.Equal(t, 2, m.ImmutableMemtables)
	require.LessOrEqual(t, m.MemtableSize+m.ImmutableSize, int64(3*(4<<10+200)))
	close(sink.release)
	require.NoError(t, x.MakeRoom(context.Background()))
	require.NoError(t, x.Flush(context.Background()))
	v, ok, err := x.Get([]byte("k00000"), seq)
	require.NoError(t, err)
	require.True(t, ok)
	require.Len(t, v, 100)
}

// TestIOAttribution checks that the index counts its I/O under the right
// kinds.
func TestIOAttribution(t *testing.T) {
	var c iostat.Counters
	x, err := Open("db", Options{FS: vfs.NewMem(), Counters: &c, MemtableSize: 8 << 10, L0CompactionThreshold: 2, BlockCacheSize: 1})
	require.NoError(t, err)
	defer x.Close()
	ctx := context.Background()
	for i := 0; i < 1000; i++ {
		require.NoError(t, x.MakeRoom(ctx))
		x.Apply(uint64(i+1), []Entry{{Kind: KindSet, Key: fmt.Appendf(nil, "k%05d", i%400), Value: make([]byte, 50)}}, LogPos{}, nil)
	}
	require.NoError(t, x.Flush(ctx))
	require.NoError(t, x.Compact(ctx))
	s := c.Snapshot()
	require.Positive(t, s.Written[iostat.Flush])
	require.Positive(t, s.Written[iostat.Compaction])
	require.Positive(t, s.Read[iostat.Compaction])
	require.Positive(t, s.Written[iostat.Manifest])
	require.Zero(t, s.Read[iostat.Get], "compaction reads counted as Get")
	require.Zero(t, s.Read[iostat.Scan], "compaction reads counted as Scan")
	before := c.Snapshot()
	_, _, err = x.Get([]byte("k00001"), 2000)
	require.NoError(t, err)
	d := c.Snapshot().Sub(before)
	require.Positive(t, d.Read[iostat.Get])
	require.Zero(t, d.Read[iostat.Scan])
	before = c.Snapshot()
	it := x.NewIter(IterOptions{Seq: 2000})
	for ok := it.First(); ok; ok = it.Next() {
	}
	require.NoError(t, it.Close())
	d = c.Snapshot().Sub(before)
	require.Positive(t, d.Read[iostat.Scan])
	require.Zero(t, d.Read[iostat.Get])
}

package engine

import (
	"errors"
	"testing"

	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/stretchr/testify/require"
	"github.com/talos-kv/talos/index"
	"github.com/talos-kv/talos/internal/iostat"
	"github.com/talos-kv/talos/kvsep"
)

func TestOptionsValidate(t *testing.T) {
	var o Options
	o.EnsureDefaults()
	require.NoError(t, o.Validate())
	require.Equal(t, SyncAlways, o.Sync)
	require.EqualValues(t, kvsep.DefaultSegmentSize, o.SegmentSize)

	bad := Options{
		SegmentSize:   3000,
		Sync:          9,
		GC:            GCOptions{MinGarbageRatio: 2},
		MaxGroupBytes: -1,
		Index:         index.Options{GrowthFactor: 20, Counters: new(iostat.Counters)},
	}
	bad.EnsureDefaults()
	err := bad.Validate()
	require.ErrorIs(t, err, ErrInvalidOptions)
	for _, want := range []string{"SegmentSize", "Sync policy", "MinGarbageRatio", "MaxGroupBytes", "GrowthFactor", "Index.Counters"} {
		require.Contains(t, err.Error(), want)
	}
	_, err = Open("db", Options{FS: vfs.NewMem(), Sync: 9})
	require.ErrorIs(t, err, ErrInvalidOptions)

	p, err := ParseSyncPolicy("interval")
	require.NoError(t, err)
	require.Equal(t, SyncInterval, p)
	_, err = ParseSyncPolicy("sometimes")
	require.ErrorIs(t, err, ErrInvalidOptions)
}

// TestIOStatsPersist: counters survive a restart and grow from there.
func TestIOStatsPersist(t *testing.T) {
	fs := vfs.NewMem()
	db, err := Open("db", tinyOptions(fs))
	require.NoError(t, err)
	for i := range 200 {
		require.NoError(t, db.Put([]byte{byte(i)}, make([]byte, 100)))
	}
	require.NoError(t, db.Flush(t.Context()))
	_, err = db.Get([]byte{7})
	require.NoError(t, err)
	before := db.Metrics().IO
	require.NotZero(t, before.Written[iostat.Vlog])
	require.NotZero(t, before.Written[iostat.Flush])
	require.NotZero(t, before.Read[iostat.Get])
	require.NoError(t, db.Close())
	db, err = Open("db", tinyOptions(fs))
	require.NoError(t, err)
	after := db.Metrics().IO
	for k := range iostat.NumKinds {
		require.GreaterOrEqual(t, after.Read[k], before.Read[k], "%v read", k)
		require.GreaterOrEqual(t, after.Written[k], before.Written[k], "%v written", k)
	}
	require.NoError(t, db.Close())
}

// TestCommitHook: the hook sees every appended byte in log order, before
// the seal of its segment; an error fails the write and stops the engine.
func TestCommitHook(t *testing.T) {
	fs := vfs.NewMem()
	opts := tinyOptions(fs)
	var events []string
	type at struct{ seg, end uint64 }
	var last at
	var hookErr error
	opts.CommitHook = func(r kvsep.Range) error {
		if r.Segment == last.seg && uint64(r.Offset) != last.end {
			t.Errorf("range %d@%d does not continue %d@%d", r.Segment, r.Offset, last.seg, last.end)
		}
		last = at{r.Segment, uint64(r.Offset) + uint64(len(r.Data))}
		events = append(events, "range")
		return hookErr
	}
	opts.Listener.SegmentSealed = func(n uint64, buf []byte) {
		require.Equal(t, last.seg, n, "sealed before its last range was seen")
		events = append(events, "sealed")
	}
	db, err := Open("db", opts)
	require.NoError(t, err)
	for i := range 300 {
		require.NoError(t, db.Put([]byte{byte(i)}, make([]byte, 200)))
	}
	require.Contains(t, events, "sealed")
	hookErr = errors.New("backups unreachable")
	err = db.Put([]byte("xx"), []byte("y"))
	require.ErrorIs(t, err, ErrStopped)
	require.ErrorContains(t, err, "backups unreachable")
	require.ErrorIs(t, db.Put([]byte("z"), []byte("y")), ErrStopped)
	_, err = db.Get([]byte("xx"))
	require.ErrorIs(t, err, ErrNotFound, "an unacknowledged write must not be visible")
	require.Error(t, db.Close())
}

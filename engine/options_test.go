package engine

import (
	"errors"
	"sync/atomic"
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
	opts.CommitHook = func(r kvsep.Range) (func() error, error) {
		if r.Segment == last.seg && uint64(r.Offset) != last.end {
			t.Errorf("range %d@%d does not continue %d@%d", r.Segment, r.Offset, last.seg, last.end)
		}
		last = at{r.Segment, uint64(r.Offset) + uint64(len(r.Data))}
		events = append(events, "range")
		return nil, hookErr
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

// TestCommitPipeline: a group appends and posts while an earlier one waits
// for its backups; groups are published in append order, so when the
// earlier group's wait fails, the later one fails too although its own
// wait succeeded, and neither write becomes visible.
func TestCommitPipeline(t *testing.T) {
	fs := vfs.NewMem()
	opts := tinyOptions(fs)
	opts.CommitPipeline = 2
	type posted struct {
		key     string
		release chan error
	}
	var armed atomic.Bool
	posts := make(chan posted)
	opts.CommitHook = func(r kvsep.Range) (func() error, error) {
		if !armed.Load() {
			return nil, nil
		}
		p := posted{key: string(r.Data[len(r.Data)-2:]), release: make(chan error, 1)}
		posts <- p
		return func() error { return <-p.release }, nil
	}
	db, err := Open("db", opts)
	require.NoError(t, err)
	require.NoError(t, db.Put([]byte("k0"), []byte("v0")))
	armed.Store(true)

	results := map[string]chan error{"a": make(chan error, 1), "b": make(chan error, 1)}
	put := func(k string) {
		go func() { results[k] <- db.Put([]byte(k), []byte(k+k)) }()
	}
	// Ranges end with the value; "aa" and "bb" identify the two writes.
	put("a")
	pa := <-posts
	require.Equal(t, "aa", pa.key)
	put("b")
	pb := <-posts // b appended and posted while a still waits: the pipeline overlaps
	require.Equal(t, "bb", pb.key)

	pb.release <- nil
	pa.release <- errors.New("backup lost")
	errA, errB := <-results["a"], <-results["b"]
	require.ErrorIs(t, errA, ErrStopped)
	require.ErrorContains(t, errA, "backup lost")
	require.ErrorIs(t, errB, ErrStopped, "a group behind a failed one must fail")
	for _, k := range []string{"a", "b"} {
		_, err := db.Get([]byte(k))
		require.ErrorIs(t, err, ErrNotFound, "unacknowledged write %q is visible", k)
	}
	v, err := db.Get([]byte("k0"))
	require.NoError(t, err)
	require.Equal(t, "v0", string(v))
	require.Error(t, db.Close())
}

// TestCommitPipelineOrder: waits that return out of order still publish in
// order, and every acknowledged write is readable at once and after reopen.
func TestCommitPipelineOrder(t *testing.T) {
	fs := vfs.NewMem()
	opts := tinyOptions(fs)
	var armed atomic.Bool
	posts := make(chan chan error)
	opts.CommitHook = func(r kvsep.Range) (func() error, error) {
		if !armed.Load() {
			return nil, nil
		}
		release := make(chan error, 1)
		posts <- release
		return func() error { return <-release }, nil
	}
	depth := 4
	opts.CommitPipeline = depth
	db, err := Open("db", opts)
	require.NoError(t, err)
	armed.Store(true)
	done := make(chan error, depth)
	var releases []chan error
	for i := range depth {
		go func() { done <- db.Put([]byte{'k', byte(i)}, []byte{'v', byte(i)}) }()
		releases = append(releases, <-posts)
	}
	// Release newest first; all four were in flight at once.
	for i := depth - 1; i >= 0; i-- {
		releases[i] <- nil
	}
	for range depth {
		require.NoError(t, <-done)
	}
	for i := range depth {
		v, err := db.Get([]byte{'k', byte(i)})
		require.NoError(t, err)
		require.Equal(t, []byte{'v', byte(i)}, v)
	}
	armed.Store(false)
	require.NoError(t, db.Close())
	db, err = Open("db", opts)
	require.NoError(t, err)
	for i := range depth {
		v, err := db.Get([]byte{'k', byte(i)})
		require.NoError(t, err)
		require.Equal(t, []byte{'v', byte(i)}, v)
	}
	require.NoError(t, db.Close())
}

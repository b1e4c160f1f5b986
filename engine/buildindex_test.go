package engine

import (
	"context"
	"fmt"
	"github.com/talos-kv/talos/index"
	"math/rand/v2"
	"testing"

	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/stretchr/testify/require"
	"github.com/talos-kv/talos/internal/iostat"
	"github.com/talos-kv/talos/kvsep"
)

// biOptions are tinyOptions in mode, with the segment size of a test that
// ships segments.
func biOptions(fs vfs.FS, mode Mode) Options {
	o := tinyOptions(fs)
	o.Mode, o.SegmentSize, o.Sync = mode, 64<<10, SyncNever
	return o
}

// shipSegments writes the primary's segments from next on into the
// build-index engine and replays each, as a build-index backup does when
// the primary seals them; with tail it also ships the active segment's
// prefix. It returns the next segment to ship.
func shipSegments(t *testing.T, p, b *DB, next uint64, tail bool) uint64 {
	t.Helper()
	require.NoError(t, p.log.Sync())
	for _, n := range p.log.Segments() {
		if n < next || (!p.log.IsSealed(n) && !tail) {
			continue
		}
		data, err := p.log.ReadSegment(context.Background(), n, nil)
		require.NoError(t, err)
		require.NoError(t, b.WriteSegment(n, data))
		require.NoError(t, b.ReplaySegment(n))
		if p.log.IsSealed(n) {
			next = n + 1
		}
	}
	return next
}

// openPrimaryAndBuildIndex opens a primary and a build-index engine on fs;
// dropped collects the segments the primary's GC deletes.
func openPrimaryAndBuildIndex(t *testing.T, fs vfs.FS) (p, b *DB, dropped *[]uint64) {
	t.Helper()
	dropped = new([]uint64)
	po := biOptions(fs, ModePrimary)
	po.Listener.SegmentDeleted = func(n uint64) { *dropped = append(*dropped, n) }
	p, err := Open("primary", po)
	require.NoError(t, err)
	b, err = Open("backup", biOptions(fs, ModeBuildIndex))
	require.NoError(t, err)
	return p, b, dropped
}

func checkModel(t *testing.T, db *DB, model map[string]string, seed uint64, what string) {
	t.Helper()
	for k, v := range model {
		got, err := db.Get([]byte(k))
		require.NoError(t, err, "seed %d %s key %s", seed, what, k)
		require.Equal(t, v, string(got), "seed %d %s key %s", seed, what, k)
	}
	kvs, err := db.Scan(nil, nil)
	require.NoError(t, err)
	require.Len(t, kvs, len(model), "seed %d %s", seed, what)
}

func TestBuildIndexReplaysPrimarySegments(t *testing.T) {
	seed := uint64(20261122)
	rng := rand.New(rand.NewPCG(seed, seed))
	fs := vfs.NewMem()
	p, err := Open("primary", biOptions(fs, ModePrimary))
	require.NoError(t, err)
	b, err := Open("backup", biOptions(fs, ModeBuildIndex))
	require.NoError(t, err)
	require.ErrorIs(t, b.Put([]byte("k"), []byte("v")), ErrReadOnly)
	_, err = b.RunGC(context.Background())
	require.ErrorIs(t, err, ErrReadOnly)

	model := map[string]string{}
	next := uint64(1)
	for i := range 8000 {
		k := fmt.Sprintf("key-%05d", rng.IntN(1500))
		if rng.IntN(10) == 0 {
			require.NoError(t, p.Delete([]byte(k)))
			delete(model, k)
		} else {
			v := fmt.Sprintf("%s-v%d-%s", k, i, make([]byte, rng.IntN(120)))
			require.NoError(t, p.Put([]byte(k), []byte(v)))
			model[k] = v
		}
		if i%700 == 0 {
			next = shipSegments(t, p, b, next, false)
		}
	}
	shipSegments(t, p, b, next, true)
	require.Equal(t, p.Metrics().VisibleSeq, b.Metrics().VisibleSeq, "seed %d", seed)
	checkModel(t, b, model, seed, "build-index")
	require.NoError(t, b.WaitIdle(context.Background()))

	m := b.Metrics()
	require.NotZero(t, m.IO.Written[iostat.Flush], "seed %d: the build-index engine never flushed", seed)
	require.NotZero(t, m.IO.Written[iostat.Compaction], "seed %d: the build-index engine never compacted", seed)
	require.NotZero(t, m.IO.Read[iostat.Compaction], "seed %d", seed)
	require.Zero(t, m.IO.Written[iostat.Vlog], "a build-index engine appends nothing to its value log")
	t.Logf("build-index IO: %v", m.IO.Map())
	require.NoError(t, p.Close())

	// Reopened, it replays the persisted segments past its checkpoint.
	require.NoError(t, b.Close())
	b, err = Open("backup", biOptions(fs, ModeBuildIndex))
	require.NoError(t, err)
	checkModel(t, b, model, seed, "reopened build-index")
	require.NoError(t, b.Close())

	// Promotion: the directory opens as a primary and takes writes.
	b, err = Open("backup", biOptions(fs, ModePrimary))
	require.NoError(t, err)
	checkModel(t, b, model, seed, "promoted")
	require.NoError(t, b.Put([]byte("after"), []byte("promotion")))
	model["after"] = "promotion"
	require.NoError(t, b.Flush(context.Background()))
	require.NoError(t, b.Close())
	b, err = Open("backup", biOptions(fs, ModePrimary))
	require.NoError(t, err)
	checkModel(t, b, model, seed, "promoted, reopened")
	require.NoError(t, b.Close())
}

func TestBuildIndexRefusesGaps(t *testing.T) {
	fs := vfs.NewMem()
	p, err := Open("primary", biOptions(fs, ModePrimary))
	require.NoError(t, err)
	for i := range 3000 {
		require.NoError(t, p.Put(fmt.Appendf(nil, "key-%05d", i), make([]byte, 64)))
	}
	require.NoError(t, p.log.Sync())
	segs := p.log.Segments()
	require.Greater(t, len(segs), 3)

	b, err := Open("backup", biOptions(fs, ModeBuildIndex))
	require.NoError(t, err)
	// Segment 2 without segment 1: its records do not continue the store's.
	data, err := p.log.ReadSegment(context.Background(), 2, nil)
	require.NoError(t, err)
	require.NoError(t, b.WriteSegment(2, data))
	require.ErrorIs(t, b.ReplaySegment(2), ErrNeedsCatchUp)
	require.ErrorIs(t, b.ReplaySegment(7), ErrNeedsCatchUp)
	// A prefix of segment 3.
	data, err = p.log.ReadSegment(context.Background(), 3, nil)
	require.NoError(t, err)
	// Backups persist whole frames: cut at the last frame boundary in the
	// first half (a torn frame is refused as corruption).
	end, err := kvsep.ScanSegment(data[:len(data)/2], 3, int64(len(data)), 0, false, nil)
	require.NoError(t, err)
	require.ErrorIs(t, b.WriteSegment(3, data[:end+8]), ErrCorrupt)
	require.NoError(t, b.WriteSegment(3, data[:end]))
	require.NoError(t, b.Close())

	// Only build-index engines replay.
	require.Error(t, p.ReplaySegment(1))
	require.NoError(t, p.Close())
	require.ErrorIs(t, (&Options{Mode: ModeBuildIndex + 1}).Validate(), ErrInvalidOptions)
}

// TestBuildIndexCrash crashes a build-index engine (keeping only synced
// data, or a random part of the unsynced) while it replays and flushes:
// reopened, it replays the persisted segments past its checkpoint, then
// takes the rest of the primary's segments and returns the primary's data.
func TestBuildIndexCrash(t *testing.T) {
	seed := uint64(99)
	rng := rand.New(rand.NewPCG(seed, seed))
	p, err := Open("primary", biOptions(vfs.NewMem(), ModePrimary))
	require.NoError(t, err)
	mem := vfs.NewCrashableMem()
	b, err := Open("backup", biOptions(mem, ModeBuildIndex))
	require.NoError(t, err)
	type crash struct {
		fs   *vfs.MemFS
		next uint64
	}
	var crashes []crash
	model := map[string]string{}
	next := uint64(1)
	for i := range 6000 {
		k := fmt.Sprintf("key-%05d", rng.IntN(1000))
		if rng.IntN(8) == 0 {
			require.NoError(t, p.Delete([]byte(k)))
			delete(model, k)
		} else {
			v := fmt.Sprintf("%s-v%d-%s", k, i, make([]byte, rng.IntN(100)))
			require.NoError(t, p.Put([]byte(k), []byte(v)))
			model[k] = v
		}
		if i%500 == 499 {
			next = shipSegments(t, p, b, next, false)
			cfg := vfs.CrashCloneCfg{UnsyncedDataPercent: rng.IntN(100), RNG: rand.New(rand.NewPCG(rng.Uint64(), 1))}
			crashes = append(crashes, crash{fs: mem.CrashClone(cfg), next: next})
		}
	}
	require.NoError(t, b.Close())
	for i, c := range crashes {
		db, err := Open("backup", biOptions(c.fs, ModeBuildIndex))
		require.NoError(t, err, "seed %d crash %d", seed, i)
		shipSegments(t, p, db, c.next, true)
		checkModel(t, db, model, seed, fmt.Sprintf("crash %d", i))
		require.NoError(t, db.Close())
	}
	require.NoError(t, p.Close())
}

// TestBuildIndexFollowsPrimaryGC: a build-index engine told of the
// primary's GC deletions (DropSegmentAfter with the primary's checkpoint)
// deletes its copies once its own checkpoint passes them, keeps every
// value readable, and its store checks clean and reopens.
func TestBuildIndexFollowsPrimaryGC(t *testing.T) {
	seed := uint64(20261123)
	rng := rand.New(rand.NewPCG(seed, seed))
	fs := vfs.NewMem()
	p, b, dropped := openPrimaryAndBuildIndex(t, fs)

	model := map[string]string{}
	next := uint64(1)
	told := 0
	for i := range 12000 {
		k := fmt.Sprintf("key-%04d", rng.IntN(400))
		v := fmt.Sprintf("%s-v%d-%s", k, i, make([]byte, 100+rng.IntN(200)))
		require.NoError(t, p.Put([]byte(k), []byte(v)))
		model[k] = v
		if i%1000 == 999 {
			next = shipSegments(t, p, b, next, false)
			_, err := p.RunGC(context.Background())
			require.NoError(t, err)
			// As on the wire: the Seal of every segment the GC could
			// collect precedes its SegmentGone.
			next = shipSegments(t, p, b, next, false)
			after := kvsep.Pos(p.Index().Checkpoint())
			for ; told < len(*dropped); told++ {
				require.NoError(t, b.DropSegmentAfter((*dropped)[told], after))
			}
		}
	}
	require.NotEmpty(t, *dropped, "seed %d: the primary's GC deleted nothing", seed)
	shipSegments(t, p, b, next, true)
	// The backup's checkpoint passes every position once it flushes; the
	// next replay (here of the active segment again, a no-op) deletes.
	require.NoError(t, b.Flush(context.Background()))
	active, _ := b.log.Active()
	require.NoError(t, b.ReplaySegment(active))
	held := b.log.Segments()
	for _, n := range *dropped {
		require.NotContains(t, held, n, "seed %d: segment %d the primary dropped is still on the backup", seed, n)
	}
	require.Zero(t, b.Metrics().IO.Read[iostat.GC], "a build-index engine reads nothing for GC")
	checkModel(t, b, model, seed, "build-index after GC")
	require.NoError(t, p.Close())
	require.NoError(t, b.Close())

	rep, err := Check(fs, "backup")
	require.NoError(t, err, "seed %d", seed)
	require.True(t, rep.OK(), "seed %d: %v", seed, rep)
	b, err = Open("backup", biOptions(fs, ModeBuildIndex))
	require.NoError(t, err)
	checkModel(t, b, model, seed, "build-index after GC, reopened")
	require.ErrorIs(t, b.DropSegmentAfter((*dropped)[0], kvsep.Pos{}), nil, "a segment already gone is not an error")
	require.NoError(t, b.Close())
}

// TestBuildIndexDropsNewestSegmentLater: the primary's GC deletes a
// segment nothing points into (inline values) as soon as its checkpoint
// passes it, which may be before the backup holds a later segment. The
// backup accepts the SegmentGone for its newest file and deletes it once
// its own checkpoint passes the position named, which lies in a later
// segment; a position not past the segment is refused as corrupt.
func TestBuildIndexDropsNewestSegmentLater(t *testing.T) {
	fs := vfs.NewMem()
	p, b, dropped := openPrimaryAndBuildIndex(t, fs)
	model := map[string]string{}
	for i := range 6000 {
		k, v := fmt.Sprintf("key-%05d", i), fmt.Sprintf("v%d", i)
		require.NoError(t, p.Put([]byte(k), []byte(v)))
		model[k] = v
	}
	next := shipSegments(t, p, b, 1, false) // the sealed ones only
	newest := next - 1
	require.NoError(t, p.Flush(context.Background()))
	res, err := p.RunGC(context.Background())
	require.NoError(t, err)
	require.Contains(t, res.Segments, newest, "the primary collects the backup's newest segment")
	require.Contains(t, *dropped, newest)
	after := kvsep.Pos(p.Index().Checkpoint())
	require.Greater(t, after.Segment, newest)

	require.ErrorIs(t, b.DropSegmentAfter(newest, kvsep.Pos{Segment: newest, Offset: 1 << 20}), ErrCorrupt)
	for _, n := range *dropped {
		require.NoError(t, b.DropSegmentAfter(n, after))
	}
	require.Contains(t, b.log.Segments(), newest, "kept until the backup's checkpoint passes the position")
	shipSegments(t, p, b, next, true)
	require.NoError(t, b.Flush(context.Background()))
	active, _ := b.log.Active()
	require.NoError(t, b.ReplaySegment(active))
	for _, n := range *dropped {
		require.NotContains(t, b.log.Segments(), n)
	}
	checkModel(t, b, model, 0, "after the drops")
	require.NoError(t, p.Close())
	require.NoError(t, b.Close())
	rep, err := Check(fs, "backup")
	require.NoError(t, err)
	require.True(t, rep.OK(), "%v", rep)
}

// TestBuildIndexSnapshotOnlyWhenEmpty: a build-index engine installs a
// primary's edit only as the catch-up snapshot of an empty store; once it
// has replayed records of its own it refuses one, and only build-index
// engines run CatchUpReplay.
func TestBuildIndexSnapshotOnlyWhenEmpty(t *testing.T) {
	fs := vfs.NewMem()
	p, err := Open("primary", biOptions(fs, ModePrimary))
	require.NoError(t, err)
	for i := range 3000 {
		require.NoError(t, p.Put(fmt.Appendf(nil, "key-%05d", i), make([]byte, 64)))
	}
	data, err := p.log.ReadSegment(context.Background(), 1, nil)
	require.NoError(t, err)
	require.ErrorContains(t, p.CatchUpReplay(2), "only build-index")

	b, err := Open("backup", biOptions(fs, ModeBuildIndex))
	require.NoError(t, err)
	require.NoError(t, b.WriteSegment(1, data))
	require.NoError(t, b.ReplaySegment(1))
	err = b.InstallEdit(&index.VersionEdit{LastSeq: 1})
	require.ErrorContains(t, err, "only an empty (reset) store")
	require.NoError(t, b.Close())
	require.NoError(t, p.Close())
}

package primary_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"sync"
	"testing"

	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/stretchr/testify/require"
	"github.com/talos-kv/talos/backup"
	"github.com/talos-kv/talos/engine"
	"github.com/talos-kv/talos/internal/iostat"
	"github.com/talos-kv/talos/primary"
	"github.com/talos-kv/talos/replication"
)

// modeRun is one primary with two backups in a replication mode, driven
// through the same random load.
type modeRun struct {
	dirs    []string
	model   map[string]string
	backups []iostat.Snapshot // each backup's IOSTATS after the run
	// gcSegments counts the segments the primary's GC collected.
	gcSegments uint64
}

// segmentFiles lists the value-log segment files in dir.
func segmentFiles(t *testing.T, dir string) []string {
	t.Helper()
	names, err := filepath.Glob(filepath.Join(dir, "vlog", "*.vlog"))
	require.NoError(t, err)
	for i, n := range names {
		names[i] = filepath.Base(n)
	}
	return names
}

// runMode applies ops operations of a seeded random load to a primary with two backups in
// mode and ack level, flushes and compacts the primary, stops the primary, persists each
// backup's received tail (PrepareTakeover) and closes the backups.
func runMode(t *testing.T, mode replication.Mode, ack replication.Ack, ops int, seed uint64) modeRun {
	t.Helper()
	rng := rand.New(rand.NewPCG(seed, seed))
	root := t.TempDir()
	r := modeRun{model: map[string]string{}}
	var provs = []interface{ Close() error }{}
	for i := 0; i <= 2; i++ {
		r.dirs = append(r.dirs, filepath.Join(root, fmt.Sprintf("node%d", i)))
	}
	pp := openProvider(t)
	provs = append(provs, pp)
	p, err := primary.Open(r.dirs[0], smallEngine(), primary.Options{
		Listen: "127.0.0.1:0", Provider: pp, Mode: mode, Ack: ack, MinReplicas: 2, ChunkSize: 16 << 10,
		Logger: testLogger(t, "primary"),
	})
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var wg sync.WaitGroup
	runErrs := make([]error, 2)
	var bs []*backup.Node
	for i := 1; i <= 2; i++ {
		bp := openProvider(t)
		provs = append(provs, bp)
		b, err := backup.Open(r.dirs[i], smallEngine(), backup.Options{
			ID: fmt.Sprintf("backup-%d", i), Primary: p.Addr(), Provider: bp, Mode: mode, ChunkSize: 16 << 10,
			Logger: testLogger(t, fmt.Sprintf("backup-%d", i)),
		})
		require.NoError(t, err)
		bs = append(bs, b)
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			runErrs[i] = b.Run(ctx)
		}(i - 1)
	}
	c := &cluster{t: t, p: p}
	c.waitMembers(2)

	for i := 0; i < ops; i++ {
		k := fmt.Sprintf("key-%05d", rng.IntN(2000))
		b := new(engine.Batch)
		if rng.IntN(10) == 0 {
			b.Delete([]byte(k))
			require.NoError(t, p.Apply(b), "seed %d op %d", seed, i)
			delete(r.model, k)
			continue
		}
		v := fmt.Sprintf("%s-v%d-%s", k, i, make([]byte, rng.IntN(200)))
		b.Set([]byte(k), []byte(v))
		require.NoError(t, p.Apply(b), "seed %d op %d", seed, i)
		r.model[k] = v
		if i%1500 == 1499 {
			_, err := p.DB().RunGC(context.Background())
			require.NoError(t, err, "seed %d op %d", seed, i)
		}
	}
	require.NoError(t, p.DB().Flush(context.Background()))
	require.NoError(t, p.DB().Compact(context.Background()))
	r.gcSegments = p.DB().Metrics().GC.Segments
	require.NoError(t, p.Close())
	wg.Wait()
	for i, b := range bs {
		if err := runErrs[i]; err != nil {
			require.ErrorIs(t, err, backup.ErrDisconnected, "backup %d", i+1)
		}
		require.NoError(t, b.PrepareTakeover())
		require.NoError(t, b.Close())
	}
	for _, pr := range provs {
		require.NoError(t, pr.Close())
	}
	for i := 1; i <= 2; i++ {
		s, err := iostat.Load(vfs.Default, filepath.Join(r.dirs[i], "IOSTATS"))
		require.NoError(t, err)
		r.backups = append(r.backups, s)
	}
	return r
}

// TestBuildIndexBackupsBuildTheirOwnIndex: build-index backups receive only
// the value log, replay it into their own engines, flush and compact on
// their own (unlike ship-index backups, which never compact), and serve the
// primary's data when opened as engines (promotion).
func TestBuildIndexBackupsBuildTheirOwnIndex(t *testing.T) {
	seed := uint64(20261122)
	bi := runMode(t, replication.ModeBuildIndex, replication.AckMemory, 6000, seed)
	si := runMode(t, replication.ModeShipIndex, replication.AckMemory, 6000, seed)
	for i := range 2 {
		b, s := bi.backups[i], si.backups[i]
		t.Logf("backup %d build-index: %v", i+1, b.Map())
		t.Logf("backup %d ship-index:  %v", i+1, s.Map())
		require.NotZero(t, b.Written[iostat.Flush], "seed %d: build-index backup %d never flushed", seed, i+1)
		require.NotZero(t, b.Written[iostat.Compaction], "seed %d: build-index backup %d never compacted", seed, i+1)
		require.NotZero(t, b.Read[iostat.Compaction], "seed %d: build-index backup %d", seed, i+1)
		require.NotZero(t, b.Written[iostat.Replication], "seed %d: build-index backup %d received nothing", seed, i+1)
		require.Zero(t, s.Written[iostat.Compaction], "seed %d: ship-index backup %d compacted", seed, i+1)
		require.Zero(t, s.Read[iostat.Compaction], "seed %d: ship-index backup %d", seed, i+1)
		bw := b.Written[iostat.Flush] + b.Written[iostat.Compaction] + b.Read[iostat.Compaction]
		sw := s.Written[iostat.Flush] + s.Written[iostat.Compaction] + s.Read[iostat.Compaction]
		t.Logf("backup %d index-maintenance bytes (flush+compaction written, compaction read): build-index %d, ship-index %d",
			i+1, bw, sw)
	}
	bi.checkBackups(t, seed)
	// The primary's GC collected segments, and build-index backups, which
	// never run GC, followed it: they hold the primary's segments, no more.
	require.NotZero(t, bi.gcSegments, "seed %d: the primary's GC collected nothing", seed)
	for i := 1; i <= 2; i++ {
		require.Equal(t, segmentFiles(t, bi.dirs[0]), segmentFiles(t, bi.dirs[i]),
			"seed %d: build-index backup %d's segments differ from the primary's", seed, i)
	}
}

// checkBackups opens each backup as a primary's engine (promotion) and
// compares it with the model.
func (r modeRun) checkBackups(t *testing.T, seed uint64) {
	t.Helper()
	for i := 1; i <= 2; i++ {
		db, err := engine.Open(r.dirs[i], smallEngine())
		require.NoError(t, err)
		for k, v := range r.model {
			got, err := db.Get([]byte(k))
			require.NoError(t, err, "seed %d backup %d key %s", seed, i, k)
			require.Equal(t, v, string(got), "seed %d backup %d key %s", seed, i, k)
		}
		kvs, err := db.Scan(nil, nil)
		require.NoError(t, err)
		require.Len(t, kvs, len(r.model), "seed %d backup %d", seed, i)
		require.NoError(t, db.Close())
	}
}

// TestBuildIndexAckDisk: under ack disk, build-index backups persist the
// prefixes of the segment being filled as commits arrive, then the sealed
// segment, and replay each sealed segment once. (Every commit rewrites and
// syncs the segment's prefix on each backup, so the load is small.)
func TestBuildIndexAckDisk(t *testing.T) {
	seed := uint64(7)
	r := runMode(t, replication.ModeBuildIndex, replication.AckDisk, 1000, seed)
	for i, s := range r.backups {
		require.NotZero(t, s.Written[iostat.Replication], "seed %d: build-index backup %d received nothing", seed, i+1)
	}
	r.checkBackups(t, seed)
}

// TestBuildIndexBackupCatchesUp: a build-index backup that joins a primary
// with a history (flushed tables, compactions, segments GC deleted) copies
// the primary's snapshot as its base, replays the segments past the
// snapshot's checkpoint, then tails the live stream and builds its own
// index on top; opened as an engine afterwards it returns the primary's
// data, and it holds the same value-log segments as the primary.
func TestBuildIndexBackupCatchesUp(t *testing.T) {
	const seed = 11
	rng := rand.New(rand.NewPCG(seed, seed))
	root := t.TempDir()
	pdir, bdir := filepath.Join(root, "primary"), filepath.Join(root, "backup")
	pp := openProvider(t)
	p, err := primary.Open(pdir, smallEngine(), primary.Options{
		Listen: "127.0.0.1:0", Provider: pp, Mode: replication.ModeBuildIndex, ChunkSize: 16 << 10,
		Logger: testLogger(t, "primary"),
	})
	require.NoError(t, err)
	model := map[string]string{}
	write := func(n int) {
		for i := range n {
			k := fmt.Sprintf("key-%05d", rng.IntN(2000))
			b := new(engine.Batch)
			if rng.IntN(10) == 0 {
				b.Delete([]byte(k))
				delete(model, k)
			} else {
				v := fmt.Sprintf("%s-v%d-%s", k, i, make([]byte, rng.IntN(200)))
				b.Set([]byte(k), []byte(v))
				model[k] = v
			}
			require.NoError(t, p.Apply(b), "seed %d op %d", seed, i)
		}
	}
	write(4000)
	res, err := p.DB().RunGC(context.Background())
	require.NoError(t, err)
	require.NotEmpty(t, res.Segments, "the backup must not be able to replay the whole log from segment 1")
	write(1000) // records past the flushed checkpoint, in the primary's memtable
	require.NotZero(t, p.DB().Index().Metrics().Compactions, "the snapshot should hold compacted tables")

	bp := openProvider(t)
	b, err := backup.Open(bdir, smallEngine(), backup.Options{
		ID: "late", Primary: p.Addr(), Provider: bp, Mode: replication.ModeBuildIndex, ChunkSize: 16 << 10,
		Logger: testLogger(t, "late"),
	})
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	runErr := make(chan error, 1)
	go func() { runErr <- b.Run(ctx) }()
	c := &cluster{t: t, p: p}
	c.waitMembers(1)

	write(4000)
	res, err = p.DB().RunGC(context.Background())
	require.NoError(t, err)
	t.Logf("GC after the join collected %d segments", len(res.Segments))
	write(500)
	require.NoError(t, p.DB().Flush(context.Background()))
	gcTotal := p.DB().Metrics().GC.Segments
	require.NoError(t, p.Close())
	if err := <-runErr; err != nil {
		require.ErrorIs(t, err, backup.ErrDisconnected)
	}
	require.NoError(t, b.PrepareTakeover())
	require.NoError(t, b.Close())
	require.NoError(t, bp.Close())
	require.NoError(t, pp.Close())
	require.NotZero(t, gcTotal)

	require.Equal(t, segmentFiles(t, pdir), segmentFiles(t, bdir), "seed %d: the backup follows the primary's GC", seed)
	db, err := engine.Open(bdir, smallEngine())
	require.NoError(t, err)
	for k, v := range model {
		got, err := db.Get([]byte(k))
		require.NoError(t, err, "seed %d key %s", seed, k)
		require.Equal(t, v, string(got), "seed %d key %s", seed, k)
	}
	kvs, err := db.Scan(nil, nil)
	require.NoError(t, err)
	require.Len(t, kvs, len(model), "seed %d", seed)
	require.NoError(t, db.Close())
	s, err := iostat.Load(vfs.Default, filepath.Join(bdir, "IOSTATS"))
	require.NoError(t, err)
	require.NotZero(t, s.Written[iostat.Flush], "the backup flushes its own memtables after the catch-up")
}

package primary_test

import (
	"context"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/stretchr/testify/require"
	"github.com/talos-kv/talos/backup"
	"github.com/talos-kv/talos/engine"
	"github.com/talos-kv/talos/index"
	"github.com/talos-kv/talos/internal/dirdiff"
	"github.com/talos-kv/talos/internal/iostat"
	"github.com/talos-kv/talos/primary"
	"github.com/talos-kv/talos/rdma"
)

const token = 0x7a105

func openProvider(t *testing.T) rdma.Provider {
	p, err := rdma.Open("tcp", rdma.Options{ClusterToken: token})
	require.NoError(t, err)
	return p
}

// smallEngine makes many segments, flushes and compactions from a small load.
func smallEngine() engine.Options {
	return engine.Options{
		SegmentSize:    64 << 10,
		ValueThreshold: 32,
		Sync:           engine.SyncNever,
		Index: index.Options{
			MemtableSize: 64 << 10, BaseLevelSize: 128 << 10, TargetFileSize: 32 << 10,
			GrowthFactor: 4, L0CompactionThreshold: 2,
		},
		GC: engine.GCOptions{Disable: true},
	}
}

type cluster struct {
	t       *testing.T
	dirs    []string
	p       *primary.Node
	backups []*backup.Node
	provs   []rdma.Provider
	cancel  context.CancelFunc
	wg      sync.WaitGroup
	runErrs []error
}

func startCluster(t *testing.T, nBackups int) *cluster {
	return startClusterMin(t, nBackups, nBackups)
}

// startClusterMin starts a primary requiring minReplicas and nBackups
// backups, and waits until they are members.
func startClusterMin(t *testing.T, nBackups, minReplicas int) *cluster {
	c := &cluster{t: t}
	root := t.TempDir()
	for i := 0; i <= nBackups; i++ {
		c.dirs = append(c.dirs, filepath.Join(root, fmt.Sprintf("node%d", i)))
		c.provs = append(c.provs, openProvider(t))
	}
	var err error
	c.p, err = primary.Open(c.dirs[0], smallEngine(), primary.Options{
		Listen: "127.0.0.1:0", Provider: c.provs[0], MinReplicas: minReplicas, ChunkSize: 16 << 10, Logger: testLogger(t, "primary"),
	})
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	c.cancel = cancel
	c.runErrs = make([]error, nBackups)
	for i := 1; i <= nBackups; i++ {
		b, err := backup.Open(c.dirs[i], smallEngine(), backup.Options{
			ID: fmt.Sprintf("backup-%d", i), Primary: c.p.Addr(), Provider: c.provs[i], ChunkSize: 16 << 10,
			Logger: testLogger(t, fmt.Sprintf("backup-%d", i)),
		})
		require.NoError(t, err)
		c.backups = append(c.backups, b)
		c.wg.Add(1)
		go func(i int) {
			defer c.wg.Done()
			c.runErrs[i-1] = b.Run(ctx)
		}(i)
	}
	c.waitMembers(nBackups)
	return c
}

// waitMembers waits (bounded) until k backups are caught up members.
func (c *cluster) waitMembers(k int) {
	deadline := time.Now().Add(60 * time.Second)
	for len(c.p.Members()) < k {
		require.True(c.t, time.Now().Before(deadline), "backups did not join: members %v of %v", c.p.Members(), c.p.Backups())
		time.Sleep(5 * time.Millisecond) // polling a bounded wait for a remote event
	}
}

// stop closes the primary (which flushes and waits for backups to
// acknowledge), then the backups.
func (c *cluster) stop() {
	require.NoError(c.t, c.p.Close())
	c.cancel()
	c.wg.Wait()
	for i, b := range c.backups {
		// The primary closing ends each backup's connection.
		if err := c.runErrs[i]; err != nil {
			require.ErrorIs(c.t, err, backup.ErrDisconnected, "backup %d", i+1)
		}
		require.NoError(c.t, b.Close())
	}
	for _, p := range c.provs {
		require.NoError(c.t, p.Close())
	}
}

func TestShipIndexByteIdentical(t *testing.T) {
	seed := uint64(20261122)
	rng := rand.New(rand.NewPCG(seed, seed))
	c := startCluster(t, 2)
	model := map[string]string{}
	for i := 0; i < 6000; i++ {
		k := fmt.Sprintf("key-%05d", rng.IntN(2000))
		if rng.IntN(10) == 0 {
			b := new(engine.Batch)
			b.Delete([]byte(k))
			require.NoError(t, c.p.Apply(b))
			delete(model, k)
			continue
		}
		v := fmt.Sprintf("%s-v%d-%s", k, i, make([]byte, rng.IntN(200)))
		b := new(engine.Batch)
		b.Set([]byte(k), []byte(v))
		require.NoError(t, c.p.Apply(b), "seed %d op %d", seed, i)
		model[k] = v
	}
	require.NoError(t, c.p.DB().Flush(context.Background()))
	require.NoError(t, c.p.DB().Compact(context.Background()))
	c.stop()

	reps := []dirdiff.Replica{{Name: "backup-1", Dir: c.dirs[1]}, {Name: "backup-2", Dir: c.dirs[2]}}
	diffs, err := dirdiff.Compare(vfs.Default, dirdiff.Replica{Name: "primary", Dir: c.dirs[0]}, reps)
	require.NoError(t, err)
	require.Empty(t, diffs, "seed %d", seed)

	// In ship-index mode a backup never read anything to maintain its
	// index; it wrote only what replication brought.
	for i := 1; i <= 2; i++ {
		s, err := iostat.Load(vfs.Default, filepath.Join(c.dirs[i], "IOSTATS"))
		require.NoError(t, err)
		require.Zero(t, s.Read[iostat.Compaction], "backup %d read for compaction", i)
		require.Zero(t, s.Read[iostat.Flush], "backup %d read for flush", i)
		require.Zero(t, s.Written[iostat.Compaction], "backup %d wrote for compaction", i)
		require.NotZero(t, s.Written[iostat.Replication], "backup %d wrote nothing it received", i)
		// Tables were checked as they arrived: installing reads nothing back.
		require.Zero(t, s.Read[iostat.Replication], "backup %d read back what it received", i)
		t.Logf("backup %d: %v", i, s.Map())
	}
	// A backup opened as an engine returns the primary's data.
	for i := 1; i <= 2; i++ {
		db, err := engine.Open(c.dirs[i], smallEngine())
		require.NoError(t, err)
		for k, v := range model {
			got, err := db.Get([]byte(k))
			require.NoError(t, err, "seed %d backup %d key %s", seed, i, k)
			require.Equal(t, v, string(got))
		}
		kvs, err := db.Scan(nil, nil)
		require.NoError(t, err)
		require.Len(t, kvs, len(model))
		require.NoError(t, db.Close())
	}
}

// testLogger logs through t, so a failing test shows what each node said.
func testLogger(t *testing.T, node string) *slog.Logger {
	return slog.New(slog.NewTextHandler(tWriter{t}, &slog.HandlerOptions{Level: slog.LevelInfo})).With("node", node)
}

type tWriter struct{ t *testing.T }

func (w tWriter) Write(p []byte) (int, error) {
	w.t.Helper()
	w.t.Log(strings.TrimSpace(string(p)))
	return len(p), nil
}

// TestTakeoverKeepsAcknowledgedWrites: under ack memory a write is
// acknowledged once it is in the backups' memory. When the primary is lost,
// a backup that persists what it received and opens its directory as the
// next primary serves every acknowledged write.
func TestTakeoverKeepsAcknowledgedWrites(t *testing.T) {
	c := startCluster(t, 2)
	acked := map[string]string{}
	for i := 0; i < 3000; i++ {
		k, v := fmt.Sprintf("key-%05d", i%1200), fmt.Sprintf("value-%d-%s", i, strings.Repeat("x", i%90))
		b := new(engine.Batch)
		b.Set([]byte(k), []byte(v))
		require.NoError(t, c.p.Apply(b))
		acked[k] = v
	}
	// The primary is lost: backups stop hearing from it.
	c.cancel()
	c.wg.Wait()
	b := c.backups[0]
	require.NoError(t, b.PrepareTakeover())
	require.NoError(t, b.Close())
	require.NoError(t, c.backups[1].Close())

	// The old primary cannot acknowledge any more writes.
	nb := new(engine.Batch)
	nb.Set([]byte("late"), []byte("write"))
	require.Error(t, c.p.Apply(nb))

	prov := openProvider(t)
	np, err := primary.Open(c.dirs[1], smallEngine(), primary.Options{Listen: "127.0.0.1:0", Provider: prov})
	require.NoError(t, err)
	require.Equal(t, uint64(2), np.Epoch(), "the promoted backup takes the next epoch")
	for k, v := range acked {
		got, err := np.DB().Get([]byte(k))
		require.NoError(t, err, "acknowledged key %s lost", k)
		require.Equal(t, v, string(got))
	}
	nb = new(engine.Batch)
	nb.Set([]byte("after"), []byte("promotion"))
	require.NoError(t, np.Apply(nb))
	require.NoError(t, np.Close())
	require.NoError(t, prov.Close())
	// The old primary's engine stopped when a commit could not be held by
	// enough backups; closing it reports that.
	if err := c.p.Close(); err != nil {
		require.ErrorIs(t, err, engine.ErrStopped)
	}
	for _, p := range c.provs {
		require.NoError(t, p.Close())
	}
}

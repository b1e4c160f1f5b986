package primary_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/stretchr/testify/require"
	"github.com/talos-kv/talos/backup"
	"github.com/talos-kv/talos/engine"
	"github.com/talos-kv/talos/internal/dirdiff"
	"github.com/talos-kv/talos/internal/iostat"
	"github.com/talos-kv/talos/internal/testseed"
	"github.com/talos-kv/talos/primary"
	"github.com/talos-kv/talos/rdma"
)

// writer applies random writes to the primary until stopped, recording
// every acknowledged one in a model.
type writer struct {
	p     *primary.Node
	seed  uint64
	mu    sync.Mutex
	model map[string]string
	n     int
	stop  chan struct{}
	done  chan error
}

func startWriter(p *primary.Node, seed uint64, model map[string]string) *writer {
	w := &writer{p: p, seed: seed, model: model, stop: make(chan struct{}), done: make(chan error, 1)}
	go func() {
		rng := rand.New(rand.NewPCG(seed, seed+1))
		for i := 0; ; i++ {
			select {
			case <-w.stop:
				w.done <- nil
				return
			default:
			}
			k := fmt.Sprintf("key-%05d", rng.IntN(3000))
			v := fmt.Sprintf("%s-w%d-%s", k, i, make([]byte, rng.IntN(300)))
			b := new(engine.Batch)
			b.Set([]byte(k), []byte(v))
			if err := p.Apply(b); err != nil {
				w.done <- fmt.Errorf("seed %d write %d: %w", seed, i, err)
				return
			}
			w.mu.Lock()
			w.model[k] = v
			w.n++
			w.mu.Unlock()
		}
	}()
	return w
}

func (w *writer) count() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.n
}

// waitWrites waits (bounded) until the writer made at least k more writes.
func (w *writer) waitWrites(t *testing.T, k int) {
	target := w.count() + k
	deadline := time.Now().Add(60 * time.Second)
	for w.count() < target {
		require.True(t, time.Now().Before(deadline), "writer stalled at %d writes", w.count())
		select {
		case err := <-w.done:
			require.NoError(t, err)
			t.Fatal("writer stopped")
		case <-time.After(2 * time.Millisecond): // polling a bounded wait for another goroutine's progress
		}
	}
}

func (w *writer) halt(t *testing.T) {
	close(w.stop)
	require.NoError(t, <-w.done)
}

// addBackup opens backup i of c on its directory and runs it until ctx
// ends; stop closes it. done reports Run's result.
func (c *cluster) addBackup(ctx context.Context, i int) (b *backup.Node, done chan error) {
	b, err := backup.Open(c.dirs[i], smallEngine(), backup.Options{
		ID: fmt.Sprintf("backup-%d", i), Primary: c.p.Addr(), Provider: c.provs[i], ChunkSize: 16 << 10,
		Logger: testLogger(c.t, fmt.Sprintf("backup-%d", i)),
	})
	require.NoError(c.t, err)
	c.backups = append(c.backups, b)
	c.runErrs = append(c.runErrs, nil)
	idx := len(c.backups) - 1
	done = make(chan error, 1)
	c.wg.Add(1)
	go func() {
		defer c.wg.Done()
		err := b.Run(ctx)
		c.runErrs[idx] = err
		done <- err
	}()
	return b, done
}

// forget removes the last backup added from c (it was stopped and closed).
func (c *cluster) forget() {
	c.backups = c.backups[:len(c.backups)-1]
	c.runErrs = c.runErrs[:len(c.runErrs)-1]
}

// checkIdentical compares the stopped primary's and backups' directories
// and reads the model from each backup opened as an engine.
func checkIdentical(t *testing.T, seed uint64, dirs []string, model map[string]string) {
	var reps []dirdiff.Replica
	for i, d := range dirs[1:] {
		reps = append(reps, dirdiff.Replica{Name: fmt.Sprintf("backup-%d", i+1), Dir: d})
	}
	diffs, err := dirdiff.Compare(vfs.Default, dirdiff.Replica{Name: "primary", Dir: dirs[0]}, reps)
	require.NoError(t, err)
	require.Empty(t, diffs, "seed %d", seed)
	for i, d := range dirs[1:] {
		s, err := iostat.Load(vfs.Default, filepath.Join(d, "IOSTATS"))
		require.NoError(t, err)
		require.Zero(t, s.Read[iostat.Compaction], "backup %d read for compaction", i+1)
		db, err := engine.Open(d, smallEngine())
		require.NoError(t, err)
		for k, v := range model {
			got, err := db.Get([]byte(k))
			require.NoError(t, err, "seed %d backup %d key %s", seed, i+1, k)
			require.Equal(t, v, string(got), "seed %d backup %d key %s", seed, i+1, k)
		}
		kvs, err := db.Scan(nil, nil)
		require.NoError(t, err)
		require.Len(t, kvs, len(model), "seed %d backup %d", seed, i+1)
		require.NoError(t, db.Close())
	}
}

// TestJoinWhileServing: a backup joins a primary that already has many
// segments, tables and compactions, while a writer keeps writing. It copies
// the snapshot, tails the live stream, and ends byte-identical.
func TestJoinWhileServing(t *testing.T) {
	seed := testseed.Seed(t, 20261123)
	c := startCluster(t, 1)
	c.provs = append(c.provs, openProvider(t))
	c.dirs = append(c.dirs, filepath.Join(filepath.Dir(c.dirs[0]), "node2"))
	model := map[string]string{}
	w := startWriter(c.p, seed, model)
	w.waitWrites(t, 8000)
	require.NoError(t, c.p.DB().Flush(context.Background()))
	lv := c.p.DB().Index().Levels()
	tables := 0
	for _, l := range lv {
		tables += len(l.Tables)
	}
	segs := len(c.p.DB().Log().Segments())
	t.Logf("before the join: %d segments, %d tables, %d compactions", segs, tables, c.p.DB().Index().Metrics().Compactions)
	require.Greater(t, segs, 10)
	require.NotZero(t, tables)
	require.NotZero(t, c.p.DB().Index().Metrics().Compactions)

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	start := time.Now()
	c.addBackup(ctx, 2)
	c.waitMembers(2)
	t.Logf("backup-2 caught up %d segments of %d bytes and %d tables in %v", segs, c.p.DB().Log().SegmentSize(), tables, time.Since(start))
	w.waitWrites(t, 4000)
	w.halt(t)

	require.NoError(t, c.p.DB().Flush(context.Background()))
	require.NoError(t, c.p.DB().Compact(context.Background()))
	c.stop()
	checkIdentical(t, seed, c.dirs, model)
	s, err := iostat.Load(vfs.Default, filepath.Join(c.dirs[0], "IOSTATS"))
	require.NoError(t, err)
	require.NotZero(t, s.Read[iostat.Replication], "the primary's snapshot reads count as replication")
}

// TestRestartedBackupCatchesUp: a backup stopped in the middle of a load
// (its Run context cancelled and the node closed) is reopened on the same
// directory, runs again, catches up and ends byte-identical.
func TestRestartedBackupCatchesUp(t *testing.T) {
	seed := testseed.Seed(t, 20261124)
	c := startClusterMin(t, 1, 1)
	c.provs = append(c.provs, openProvider(t))
	c.dirs = append(c.dirs, filepath.Join(filepath.Dir(c.dirs[0]), "node2"))
	model := map[string]string{}
	ctx1, cancel1 := context.WithCancel(context.Background())
	defer cancel1()
	b, done := c.addBackup(ctx1, 2)
	c.waitMembers(2)
	w := startWriter(c.p, seed, model)
	w.waitWrites(t, 3000)

	// Stop backup-2 mid-load; MinReplicas is 1, so writes go on.
	cancel1()
	require.NoError(t, <-done)
	require.NoError(t, b.Close())
	c.forget()
	w.waitWrites(t, 5000)

	ctx2, cancel2 := context.WithCancel(context.Background())
	defer cancel2()
	start := time.Now()
	c.addBackup(ctx2, 2)
	c.waitMembers(2)
	t.Logf("restarted backup caught up in %v", time.Since(start))
	w.waitWrites(t, 3000)
	w.halt(t)
	require.NoError(t, c.p.DB().Flush(context.Background()))

	c.stop()
	checkIdentical(t, seed, c.dirs, model)
}

// TestJoinReopenedPrimary: a primary reopened on a directory with data
// (its newest segment partly filled) admits an empty backup, which joins at
// the reopened log's end, catches up while writes go on, and ends
// byte-identical.
func TestJoinReopenedPrimary(t *testing.T) {
	seed := testseed.Seed(t, 20261125)
	root := t.TempDir()
	dirs := []string{filepath.Join(root, "node0"), filepath.Join(root, "node1")}
	prov := openProvider(t)
	p, err := primary.Open(dirs[0], smallEngine(), primary.Options{Listen: "127.0.0.1:0", Provider: prov, Logger: testLogger(t, "primary")})
	require.NoError(t, err)
	model := map[string]string{}
	w := startWriter(p, seed, model)
	w.waitWrites(t, 3000)
	w.halt(t)
	require.NoError(t, p.Close())
	require.NoError(t, prov.Close())

	c := &cluster{t: t, dirs: dirs, provs: []rdma.Provider{openProvider(t), openProvider(t)}}
	c.p, err = primary.Open(dirs[0], smallEngine(), primary.Options{
		Listen: "127.0.0.1:0", Provider: c.provs[0], MinReplicas: 1, ChunkSize: 16 << 10, Logger: testLogger(t, "primary"),
	})
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	c.cancel = cancel
	c.addBackup(ctx, 1)
	c.waitMembers(1)
	w = startWriter(c.p, seed+1, model)
	w.waitWrites(t, 3000)
	w.halt(t)
	require.NoError(t, c.p.DB().Flush(context.Background()))
	c.stop()
	checkIdentical(t, seed, c.dirs, model)
}

// TestBackupCloseWhileRunning: closing a backup while its Run serves a
// busy primary stops Run before the rings and the store are released.
func TestBackupCloseWhileRunning(t *testing.T) {
	seed := testseed.Seed(t, 20261126)
	c := startClusterMin(t, 1, 0)
	model := map[string]string{}
	w := startWriter(c.p, seed, model)
	w.waitWrites(t, 2000)
	b := c.backups[0]
	require.NoError(t, b.Close())
	c.wg.Wait()
	if err := c.runErrs[0]; err != nil {
		require.ErrorIs(t, err, backup.ErrDisconnected)
	}
	w.waitWrites(t, 500)
	w.halt(t)
	c.forget()
	c.stop()
}

// TestCommitWaitsForReplicas: a commit in flight when the replica set falls
// below MinReplicas is not failed (which would stop the engine: its bytes
// are in the log); it waits until a backup that joined after it has caught
// up, and is then acknowledged. The primary keeps serving afterwards.
func TestCommitWaitsForReplicas(t *testing.T) {
	c := startClusterMin(t, 1, 1)
	for i := 0; i < 200; i++ {
		require.NoError(t, c.p.DB().Put([]byte(fmt.Sprintf("before-%03d", i)), []byte("v")))
	}
	// backup-1 goes away.
	c.cancel()
	c.wg.Wait()
	require.NoError(t, c.backups[0].Close())
	c.forget()
	deadline := time.Now().Add(60 * time.Second)
	for len(c.p.Backups()) > 0 {
		require.True(t, time.Now().Before(deadline), "the primary did not drop the backup")
		time.Sleep(5 * time.Millisecond) // polling a bounded wait for a remote event
	}
	require.ErrorIs(t, c.p.CheckWritable(), primary.ErrTooFewReplicas)

	// A write that reaches the log anyway (it was queued before the loss)
	// waits instead of failing.
	done := make(chan error, 1)
	go func() { done <- c.p.DB().Put([]byte("in-flight"), []byte("kept")) }()

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	c.cancel = cancel
	c.addBackup(ctx, 1)
	require.NoError(t, <-done, "the in-flight commit must be acknowledged once backup-1 caught up")
	require.NoError(t, c.p.DB().Err())
	c.waitMembers(1)
	require.NoError(t, c.p.CheckWritable())
	require.NoError(t, c.p.DB().Put([]byte("after"), []byte("v")))
	require.NoError(t, c.p.DB().Flush(context.Background()))
	c.stop()
	model := map[string]string{"in-flight": "kept", "after": "v"}
	for i := 0; i < 200; i++ {
		model[fmt.Sprintf("before-%03d", i)] = "v"
	}
	checkIdentical(t, 1, c.dirs, model)
}

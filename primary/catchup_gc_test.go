package primary_test

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"github.com/talos-kv/talos/engine"
	"github.com/talos-kv/talos/internal/testseed"
	"github.com/talos-kv/talos/primary"
	"github.com/talos-kv/talos/rdma"
)

// TestJoinWithValueLogGC: a backup joins while the primary's value-log GC
// deletes segments; pinned segments stay until the snapshot is sent, and
// deletions after the pin reach the backup as edits.
func TestJoinWithValueLogGC(t *testing.T) {
	seed := testseed.Seed(t, 20261123)
	eo := smallEngine()
	eo.GC = engine.GCOptions{Interval: 5 * time.Millisecond, MinGarbageRatio: 0.2, BytesPerSecond: -1}
	root := t.TempDir()
	c := &cluster{t: t, dirs: []string{filepath.Join(root, "node0"), filepath.Join(root, "node1")},
		provs: []rdma.Provider{openProvider(t), openProvider(t)}}
	var err error
	c.p, err = primary.Open(c.dirs[0], eo, primary.Options{
		Listen: "127.0.0.1:0", Provider: c.provs[0], ChunkSize: 16 << 10, Logger: testLogger(t, "primary"),
	})
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	c.cancel = cancel
	model := map[string]string{}
	w := startWriter(c.p, seed, model)
	w.waitWrites(t, 8000)
	c.addBackup(ctx, 1)
	c.waitMembers(1)
	w.waitWrites(t, 4000)
	w.halt(t)
	require.NoError(t, c.p.DB().Flush(context.Background()))
	t.Logf("gc: %+v", c.p.DB().Metrics().GC)
	c.stop()
	checkIdentical(t, seed, c.dirs, model)
}

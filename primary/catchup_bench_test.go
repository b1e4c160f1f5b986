package primary_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"github.com/talos-kv/talos/backup"
	"github.com/talos-kv/talos/engine"
	"github.com/talos-kv/talos/primary"
	"github.com/talos-kv/talos/rdma"
)

// BenchmarkCatchUp measures how long an empty backup takes to join an idle
// primary holding about 16 MB of value log and tables, over the TCP
// provider (snapshot copy, install, membership). Bytes are the primary's
// segment and table bytes.
func BenchmarkCatchUp(b *testing.B) {
	for _, seg := range []int64{64 << 10, 4 << 20} {
		b.Run(fmt.Sprintf("segment=%dKiB", seg>>10), func(b *testing.B) {
			eo := smallEngine()
			eo.SegmentSize = seg
			benchmarkCatchUp(b, eo)
		})
	}
}

func benchmarkCatchUp(b *testing.B, eo engine.Options) {
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	open := func() rdma.Provider {
		p, err := rdma.Open("tcp", rdma.Options{ClusterToken: token})
		require.NoError(b, err)
		return p
	}
	root := b.TempDir()
	pprov := open()
	defer pprov.Close()
	p, err := primary.Open(filepath.Join(root, "primary"), eo, primary.Options{
		Listen: "127.0.0.1:0", Provider: pprov, ChunkSize: 64 << 10, Logger: quiet,
	})
	require.NoError(b, err)
	defer p.Close()
	val := make([]byte, 1000)
	for i := 0; i < 16000; i++ {
		batch := new(engine.Batch)
		batch.Set([]byte(fmt.Sprintf("key-%07d", i)), val)
		require.NoError(b, p.Apply(batch))
	}
	require.NoError(b, p.DB().Flush(context.Background()))
	var size int64
	for _, l := range p.DB().Index().Levels() {
		size += int64(l.Size)
	}
	size += int64(len(p.DB().Log().Segments())) * p.DB().Log().SegmentSize()
	b.SetBytes(size)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		prov := open()
		bk, err := backup.Open(filepath.Join(root, fmt.Sprintf("b%d", i)), eo, backup.Options{
			ID: "joiner", Primary: p.Addr(), Provider: prov, ChunkSize: 64 << 10, Logger: quiet,
		})
		require.NoError(b, err)
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- bk.Run(ctx) }()
		deadline := time.Now().Add(120 * time.Second)
		for len(p.Members()) == 0 {
			require.True(b, time.Now().Before(deadline), "backup did not catch up")
			time.Sleep(time.Millisecond) // polling a bounded wait for a remote event
		}
		b.StopTimer()
		cancel()
		require.NoError(b, <-done)
		require.NoError(b, bk.Close())
		require.NoError(b, prov.Close())
		for len(p.Backups()) > 0 {
			require.True(b, time.Now().Before(deadline), "primary did not notice the backup leave")
			time.Sleep(time.Millisecond) // polling a bounded wait for a remote event
		}
		b.StartTimer()
	}
}

package engine

import (
	"context"
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/stretchr/testify/require"
	"github.com/talos-kv/talos/index"
	"github.com/talos-kv/talos/internal/testseed"
)

// tinyOptions make a store that crosses many flushes, compactions, seals
// and GCs with little data.
func tinyOptions(fs vfs.FS) Options {
	return Options{
		FS:             fs,
		SegmentSize:    16 << 10,
		ValueThreshold: 32,
		MaxGroupBytes:  4 << 10,
		Index: index.Options{
			MemtableSize:          8 << 10,
			L0CompactionThreshold: 2,
			L0SlowdownThreshold:   4,
			L0StopThreshold:       8,
			BaseLevelSize:         32 << 10,
			TargetFileSize:        8 << 10,
			GrowthFactor:          4,
			BlockCacheSize:        1 << 20,
		},
		GC: GCOptions{Disable: true, BytesPerSecond: -1},
	}
}

// testSeed returns the test's random source: a fixed seed, so runs
// repeat, or TALOS_SEED's.
func testSeed(t testing.TB) *rand.Rand {
	s := testseed.Seed(t, 20261122)
	return rand.New(rand.NewPCG(s, s^0x9e3779b97f4a7c15))
}

func TestBasic(t *testing.T) {
	fs := vfs.NewMem()
	db, err := Open("db", tinyOptions(fs))
	require.NoError(t, err)
	require.NoError(t, db.Put([]byte("a"), []byte("small")))
	big := make([]byte, 100)
	for i := range big {
		big[i] = byte(i)
	}
	require.NoError(t, db.Put([]byte("b"), big))
	v, err := db.Get([]byte("a"))
	require.NoError(t, err)
	require.Equal(t, "small", string(v))
	v, err = db.Get([]byte("b"))
	require.NoError(t, err)
	require.Equal(t, big, v)
	_, err = db.Get([]byte("c"))
	require.ErrorIs(t, err, ErrNotFound)
	require.NoError(t, db.Delete([]byte("a")))
	_, err = db.Get([]byte("a"))
	require.ErrorIs(t, err, ErrNotFound)
	var b Batch
	for i := range 10 {
		b.Set(fmt.Appendf(nil, "k%02d", i), big)
	}
	require.NoError(t, db.Apply(&b))
	kvs, err := db.Scan([]byte("k03"), []byte("k07"))
	require.NoError(t, err)
	require.Len(t, kvs, 4)
	require.Equal(t, "k03", string(kvs[0].Key))
	require.Equal(t, big, kvs[0].Value)
	require.NoError(t, db.Flush(context.Background()))
	require.NoError(t, db.Close())

	db, err = Open("db", tinyOptions(fs))
	require.NoError(t, err)
	v, err = db.Get([]byte("b"))
	require.NoError(t, err)
	require.Equal(t, big, v)
	_, err = db.Get([]byte("a"))
	require.ErrorIs(t, err, ErrNotFound)
	kvs, err = db.Scan(nil, nil)
	require.NoError(t, err)
	require.Len(t, kvs, 11)
	m := db.Metrics()
	require.NotZero(t, m.IO.Written[0])
	require.NoError(t, db.Close())
}

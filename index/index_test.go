package index

import (
	"context"
	"fmt"
	"testing"

	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/stretchr/testify/require"
)

func smallOpts(fs vfs.FS) Options {
	return Options{
		FS:                    fs,
		MemtableSize:          4 << 10,
		TargetFileSize:        4 << 10,
		BaseLevelSize:         16 << 10,
		GrowthFactor:          4,
		NumLevels:             5,
		L0CompactionThreshold: 2,
		L0SlowdownThreshold:   4,
		L0StopThreshold:       8,
		BlockSize:             512,
		BlockCacheSize:        1 << 20,
	}
}

func TestBasic(t *testing.T) {
	fs := vfs.NewMem()
	x, err := Open("db", smallOpts(fs))
	require.NoError(t, err)
	ctx := context.Background()
	seq := uint64(1)
	for i := 0; i < 2000; i++ {
		require.NoError(t, x.MakeRoom(ctx))
		x.Apply(seq, []Entry{{Kind: KindSet, Key: []byte(fmt.Sprintf("k%05d", i%700)), Value: []byte(fmt.Sprintf("v%d", i))}}, LogPos{1, seq})
		seq++
	}
	v, ok, err := x.Get([]byte("k00005"), seq)
	require.NoError(t, err)
	require.True(t, ok)
	require.Equal(t, "v1405", string(v))
	require.NoError(t, x.Flush(ctx))
	require.NoError(t, x.Compact(ctx))
	v, ok, err = x.Get([]byte("k00005"), seq)
	require.NoError(t, err)
	require.True(t, ok)
	require.Equal(t, "v1405", string(v))
	it := x.NewIter(IterOptions{Seq: seq})
	n := 0
	for ok := it.First(); ok; ok = it.Next() {
		n++
	}
	require.NoError(t, it.Close())
	require.Equal(t, 700, n)
	t.Logf("%+v", x.Metrics())
	for _, l := range x.Levels() {
		t.Logf("L%d: %d tables %d bytes target %d", l.Level, len(l.Tables), l.Size, l.TargetSize)
	}
	require.NoError(t, x.Close())
	x, err = Open("db", smallOpts(fs))
	require.NoError(t, err)
	v, ok, err = x.Get([]byte("k00005"), seq)
	require.NoError(t, err)
	require.True(t, ok)
	require.Equal(t, "v1405", string(v))
	require.NoError(t, x.VerifyTables())
	require.NoError(t, x.Close())
}

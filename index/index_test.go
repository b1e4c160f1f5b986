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
		x.Apply(seq, []Entry{{Kind: KindSet, Key: []byte(fmt.Sprintf("k%05d", i%700)), Value: []byte(fmt.Sprintf("v%d", i))}}, LogPos{1, seq}, nil)
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

// TestApplyPlan applies entries through plans: joined from several
// writers' plans, made before other entries of the same keys went in, and
// made on a memtable that a flush rotated away before Apply (the plan is
// then ignored). Every key reads its newest value, and Apply drops the
// plan's hold on the memtable.
func TestApplyPlan(t *testing.T) {
	fs := vfs.NewMem()
	x, err := Open("db", smallOpts(fs))
	require.NoError(t, err)
	ctx := context.Background()
	seq := uint64(1)
	put := func(plan *ApplyPlan, keys ...string) {
		t.Helper()
		es := make([]Entry, len(keys))
		for i, k := range keys {
			es[i] = Entry{Kind: KindSet, Key: []byte(k), Value: fmt.Appendf(nil, "v%d", seq+uint64(i))}
		}
		require.NoError(t, x.MakeRoom(ctx))
		x.Apply(seq, es, LogPos{1, seq}, plan)
		seq += uint64(len(keys))
	}
	plan := func(keys ...string) *ApplyPlan {
		p := new(ApplyPlan)
		x.StartPlan(p)
		for _, k := range keys {
			p.Add([]byte(k))
		}
		return p
	}
	want := func(key string, s uint64) {
		t.Helper()
		v, ok, err := x.Get([]byte(key), seq)
		require.NoError(t, err)
		require.True(t, ok, key)
		require.Equal(t, fmt.Sprintf("v%d", s), string(v), key)
	}

	put(nil, "b", "d", "f")
	// Two writers' plans, then entries of the same keys before they apply.
	p1, p2 := plan("a", "d"), plan("f", "g")
	put(nil, "d", "f")
	var joined ApplyPlan
	joined.Join(p1, p2)
	require.Len(t, joined.hints, 4)
	put(&joined, "a", "d", "f", "g")
	require.Nil(t, joined.m, "Apply drops the memtable")
	want("a", 6)
	want("d", 7)
	want("f", 8)
	want("g", 9)

	// A plan made on a memtable rotated away before Apply is ignored.
	stale := plan("c", "e")
	require.NoError(t, x.Flush(ctx))
	var j2 ApplyPlan
	j2.Join(stale)
	put(&j2, "c", "e")
	want("c", 10)
	want("e", 11)

	// Plans made on two memtables do not join.
	fresh := plan("h")
	var j3 ApplyPlan
	j3.Join(fresh, stale)
	require.Nil(t, j3.m)
	require.Empty(t, j3.hints)
	put(&j3, "h", "i")
	want("h", 12)
	want("i", 13)

	it := x.NewIter(IterOptions{Seq: seq})
	var got []string
	for ok := it.First(); ok; ok = it.Next() {
		got = append(got, string(it.Key()))
	}
	require.NoError(t, it.Close())
	require.Equal(t, []string{"a", "b", "c", "d", "e", "f", "g", "h", "i"}, got)
	require.NoError(t, x.Close())
}

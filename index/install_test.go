package index

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"sync"
	"testing"

	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/stretchr/testify/require"
)

// copySink copies a table being written by the primary into the backup's
// directory on another file system.
type copySink struct {
	fs   vfs.FS
	name string
	f    vfs.File
	err  error
}

func (s *copySink) Write(p []byte) error {
	if s.err != nil {
		return s.err
	}
	_, s.err = s.f.Write(p)
	return s.err
}

func (s *copySink) Finish(meta TableMeta) error {
	if s.err != nil {
		return s.err
	}
	if err := s.f.Sync(); err != nil {
		return err
	}
	return s.f.Close()
}

func (s *copySink) Abort() {
	_ = s.f.Close()
	_ = s.fs.Remove(s.name)
}

func readAll(t *testing.T, fs vfs.FS, name string) []byte {
	f, err := fs.Open(name)
	require.NoError(t, err)
	defer f.Close()
	b, err := io.ReadAll(f)
	require.NoError(t, err)
	return b
}

func TestInstallEditShipsIndex(t *testing.T) {
	fsA, fsB := vfs.NewMem(), vfs.NewMem()
	optsB := smallOpts(fsB)
	optsB.DisableCompactions = true
	optsB.ValueRef = testValueRef
	b, err := Open("b", optsB)
	require.NoError(t, err)
	defer b.Close()

	var mu sync.Mutex
	var installErr error
	installed := 0
	optsA := smallOpts(fsA)
	optsA.ValueRef = testValueRef
	optsA.MaxConcurrentCompactions = 2
	optsA.Listener = Listener{
		TableCreated: func(info TableCreateInfo) TableSink {
			name := fsB.PathJoin("b", tableFileName(info.Num))
			f, err := fsB.Create(name, vfs.WriteCategoryUnspecified)
			if err != nil {
				return &copySink{err: err}
			}
			return &copySink{fs: fsB, name: name, f: f}
		},
		EditApplied: func(e EditInfo) {
			mu.Lock()
			defer mu.Unlock()
			if err := b.InstallEdit(e.Edit); err != nil && installErr == nil {
				installErr = fmt.Errorf("install %s edit: %w", e.Reason, err)
			}
			installed++
		},
	}
	a, err := Open("a", optsA)
	require.NoError(t, err)
	defer a.Close()

	ctx := context.Background()
	rng := rand.New(rand.NewPCG(5, 5))
	seq := uint64(0)
	for i := 0; i < 5000; i++ {
		require.NoError(t, a.MakeRoom(ctx))
		v := make([]byte, 1+rng.IntN(80))
		v[0] = byte(i)
		kind := KindSet
		if rng.IntN(6) == 0 {
			kind = KindDelete
		}
		seq++
		a.Apply(seq, []Entry{{Kind: kind, Key: fmt.Appendf(nil, "k%04d", rng.IntN(1500)), Value: v}}, LogPos{1, seq}, nil)
	}
	require.NoError(t, a.Flush(ctx))
	require.NoError(t, a.Compact(ctx))
	require.NoError(t, a.WaitIdle(ctx))
	mu.Lock()
	require.NoError(t, installErr)
	require.Greater(t, installed, 20)
	mu.Unlock()

	// Same levels, same tables, byte for byte.
	la, lb := a.Levels(), b.Levels()
	require.Equal(t, len(la), len(lb))
	for l := range la {
		require.Equal(t, la[l].Tables, lb[l].Tables, "level %d", l)
		for _, tm := range la[l].Tables {
			require.True(t, bytes.Equal(
				readAll(t, fsA, fsA.PathJoin("a", tableFileName(tm.Num))),
				readAll(t, fsB, fsB.PathJoin("b", tableFileName(tm.Num)))), "table %d differs", tm.Num)
		}
	}
	require.Equal(t, a.Checkpoint(), b.Checkpoint())
	require.Equal(t, a.LastSeq(), b.LastSeq())
	require.Equal(t, a.SegmentLive(), b.SegmentLive())
	// B holds no table A does not (removed tables were deleted).
	names, err := fsB.List("b")
	require.NoError(t, err)
	ssts := 0
	for _, n := range names {
		if len(n) > 4 && n[len(n)-4:] == ".sst" {
			ssts++
		}
	}
	total := 0
	for _, l := range la {
		total += len(l.Tables)
	}
	require.Equal(t, total, ssts)

	// Same data.
	scan := func(x *Index) []string {
		it := x.NewIter(IterOptions{Seq: seq})
		defer it.Close()
		var out []string
		for ok := it.First(); ok; ok = it.Next() {
			out = append(out, string(it.Key())+"="+string(it.Value()))
		}
		require.NoError(t, it.Error())
		return out
	}
	require.Equal(t, scan(a), scan(b))
	for i := 0; i < 1500; i += 7 {
		k := fmt.Appendf(nil, "k%04d", i)
		va, oka, err := a.Get(k, seq)
		require.NoError(t, err)
		vb, okb, err := b.Get(k, seq)
		require.NoError(t, err)
		require.Equal(t, oka, okb)
		require.Equal(t, va, vb)
	}
	require.NoError(t, b.VerifyTables())

	// The backup survives a restart and stays identical.
	require.NoError(t, b.Close())
	b, err = Open("b", optsB)
	require.NoError(t, err)
	require.Equal(t, scan(a), scan(b))
}

func TestInstallEditRejectsBadTable(t *testing.T) {
	fs := vfs.NewMem()
	x, err := Open("db", Options{FS: fs, DisableCompactions: true})
	require.NoError(t, err)
	defer x.Close()
	// A table that is not there.
	e := &VersionEdit{Added: []NewTable{{Level: 0, Meta: TableMeta{Num: 50, Size: 10, Smallest: []byte("a"), Largest: []byte("b")}}}}
	require.True(t, errors.Is(x.InstallEdit(e), ErrCorrupt))
	// A table with the wrong checksum.
	f, err := fs.Create(fs.PathJoin("db", tableFileName(50)), vfs.WriteCategoryUnspecified)
	require.NoError(t, err)
	_, err = f.Write(make([]byte, 10))
	require.NoError(t, err)
	require.NoError(t, f.Close())
	require.True(t, errors.Is(x.InstallEdit(e), ErrCorrupt))
	require.Empty(t, x.Levels()[0].Tables)
	// Deleting a table that is not there.
	require.True(t, errors.Is(x.InstallEdit(&VersionEdit{Deleted: []DeletedTable{{Level: 1, Num: 3}}}), ErrCorrupt))
}

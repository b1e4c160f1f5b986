package dirdiff

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/stretchr/testify/require"
	"github.com/talos-kv/talos/engine"
	"github.com/talos-kv/talos/index"
)

// makeStore writes a small store in dir on fs and closes it.
func makeStore(t *testing.T, fs vfs.FS, dir string) {
	db, err := engine.Open(dir, engine.Options{
		FS: fs, SegmentSize: 16 << 10, ValueThreshold: 16, Sync: engine.SyncNever,
		Index: index.Options{MemtableSize: 16 << 10},
		GC:    engine.GCOptions{Disable: true},
	})
	require.NoError(t, err)
	for i := 0; i < 500; i++ {
		require.NoError(t, db.Put([]byte(fmt.Sprintf("k%04d", i)), []byte(strings.Repeat("v", 40+i%30))))
	}
	require.NoError(t, db.Flush(context.Background()))
	require.NoError(t, db.Close())
}

func copyTree(t *testing.T, fs vfs.FS, from, to string) {
	require.NoError(t, fs.MkdirAll(to, 0o755))
	names, err := fs.List(from)
	require.NoError(t, err)
	for _, n := range names {
		src, dst := fs.PathJoin(from, n), fs.PathJoin(to, n)
		st, err := fs.Stat(src)
		require.NoError(t, err)
		if st.IsDir() {
			copyTree(t, fs, src, dst)
			continue
		}
		b, err := readAll(fs, src)
		require.NoError(t, err)
		f, err := fs.Create(dst, vfs.WriteCategoryUnspecified)
		require.NoError(t, err)
		_, err = f.Write(b)
		require.NoError(t, err)
		require.NoError(t, f.Close())
	}
}

func flipByte(t *testing.T, fs vfs.FS, name string, off int64) {
	f, err := fs.OpenReadWrite(name, vfs.WriteCategoryUnspecified)
	require.NoError(t, err)
	b := make([]byte, 1)
	_, err = f.ReadAt(b, off)
	require.NoError(t, err)
	b[0] ^= 0xff
	_, err = f.WriteAt(b, off)
	require.NoError(t, err)
	require.NoError(t, f.Close())
}

func firstFile(t *testing.T, fs vfs.FS, dir, suffix string) string {
	names, err := fs.List(dir)
	require.NoError(t, err)
	for _, n := range names {
		if strings.HasSuffix(n, suffix) {
			return fs.PathJoin(dir, n)
		}
	}
	t.Fatalf("no %s file in %s", suffix, dir)
	return ""
}

func TestCompare(t *testing.T) {
	fs := vfs.NewMem()
	makeStore(t, fs, "p")
	p := Replica{Name: "primary", Dir: "p"}

	copyTree(t, fs, "p", "same")
	diffs, err := Compare(fs, p, []Replica{{Name: "same", Dir: "same"}})
	require.NoError(t, err)
	require.Empty(t, diffs)

	// The newest segment may be a shorter prefix on a backup.
	copyTree(t, fs, "p", "prefix")
	segs, err := segments(fs, "prefix")
	require.NoError(t, err)
	newest := fs.PathJoin("prefix", "vlog", fmt.Sprintf("%06d.vlog", segs[len(segs)-1]))
	b, err := readAll(fs, newest)
	require.NoError(t, err)
	f, err := fs.Create(newest, vfs.WriteCategoryUnspecified)
	require.NoError(t, err)
	_, err = f.Write(b[:len(b)/2])
	require.NoError(t, err)
	require.NoError(t, f.Close())
	diffs, err = Compare(fs, p, []Replica{{Name: "prefix", Dir: "prefix"}})
	require.NoError(t, err)
	require.Empty(t, diffs)

	cases := []struct {
		name   string
		damage func(dir string)
		want   string
	}{
		{"table byte", func(dir string) { flipByte(t, fs, firstFile(t, fs, dir, ".sst"), 10) }, "table"},
		{"sealed segment byte", func(dir string) {
			flipByte(t, fs, fs.PathJoin(dir, "vlog", fmt.Sprintf("%06d.vlog", segs[0])), 100)
		}, "differs from the primary's first at byte 100"},
		{"missing segment", func(dir string) {
			require.NoError(t, fs.Remove(fs.PathJoin(dir, "vlog", fmt.Sprintf("%06d.vlog", segs[0]))))
		}, "missing"},
		{"missing table", func(dir string) { require.NoError(t, fs.Remove(firstFile(t, fs, dir, ".sst"))) }, "file missing"},
		{"unreadable manifest", func(dir string) { flipByte(t, fs, firstFile(t, fs, dir, "CURRENT"), 0) }, "manifest"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dir := strings.ReplaceAll(c.name, " ", "-")
			copyTree(t, fs, "p", dir)
			c.damage(dir)
			diffs, err := Compare(fs, p, []Replica{{Name: "b", Dir: dir}})
			require.NoError(t, err)
			require.NotEmpty(t, diffs)
			var all []string
			for _, d := range diffs {
				all = append(all, d.String())
			}
			require.Contains(t, strings.Join(all, "\n"), c.want)
		})
	}
}

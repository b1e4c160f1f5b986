package engine

import (
	"bytes"
	"fmt"
	"strings"
	"testing"

	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/stretchr/testify/require"
	"github.com/talos-kv/talos/kvsep"
)

// buildStore writes keys with large values (so the index holds pointers),
// flushes and closes; it returns the values written.
func buildStore(t *testing.T, fs vfs.FS) map[string][]byte {
	db, err := Open("db", tinyOptions(fs))
	require.NoError(t, err)
	want := map[string][]byte{}
	for i := range 300 {
		k := fmt.Sprintf("key%05d", i)
		v := bytes.Repeat([]byte{byte('a' + i%26)}, 100+i%50)
		require.NoError(t, db.Put([]byte(k), v))
		want[k] = v
	}
	require.NoError(t, db.Flush(t.Context()))
	require.NoError(t, db.Close())
	return want
}

func flipByte(t *testing.T, fs vfs.FS, name string, off int64) {
	f, err := fs.OpenReadWrite(name, vfs.WriteCategoryUnspecified)
	require.NoError(t, err)
	b := make([]byte, 1)
	_, err = f.ReadAt(b, off)
	require.NoError(t, err)
	b[0] ^= 0x10
	_, err = f.WriteAt(b, off)
	require.NoError(t, err)
	require.NoError(t, f.Sync())
	require.NoError(t, f.Close())
}

// readAll reads every key: each read returns the right value or a
// corruption error, never other data. It returns how many failed.
func readAll(t *testing.T, db *DB, want map[string][]byte) int {
	bad := 0
	for k, v := range want {
		got, err := db.Get([]byte(k))
		if err != nil {
			require.ErrorIs(t, err, ErrCorrupt, "key %s", k)
			bad++
			continue
		}
		require.Equal(t, v, got, "key %s", k)
	}
	return bad
}

func requireCheckFails(t *testing.T, fs vfs.FS, what string) {
	r, err := Check(fs, "db")
	require.NoError(t, err)
	require.False(t, r.OK(), "check found nothing wrong after %s", what)
	t.Logf("check after %s: %s", what, strings.Join(r.Problems, "; "))
}

func TestCheckCleanStore(t *testing.T) {
	fs := vfs.NewMem()
	want := buildStore(t, fs)
	r, err := Check(fs, "db")
	require.NoError(t, err)
	require.True(t, r.OK(), "%v", r.Problems)
	require.Equal(t, len(want), r.Keys)
	require.Equal(t, len(want), r.Pointers)
	require.NotZero(t, r.Tables)
	require.NotZero(t, r.Frames)
}

func TestCorruptSealedSegment(t *testing.T) {
	fs := vfs.NewMem()
	want := buildStore(t, fs)
	// Find a key whose value lives in a sealed segment.
	db, err := Open("db", tinyOptions(fs))
	require.NoError(t, err)
	v, found, err := db.idx.Get([]byte("key00003"), db.visibleSeq.Load())
	require.NoError(t, err)
	require.True(t, found)
	_, p, isPtr, err := decodeIndexValue(v)
	require.NoError(t, err)
	require.True(t, isPtr)
	require.True(t, db.log.IsSealed(p.Segment))
	require.NoError(t, db.Close())

	flipByte(t, fs, "db/vlog/"+kvsep.SegmentFileName(p.Segment), int64(p.Offset+p.Length-1))
	db, err = Open("db", tinyOptions(fs))
	require.NoError(t, err)
	_, err = db.Get([]byte("key00003"))
	require.ErrorIs(t, err, ErrCorrupt)
	require.NotZero(t, readAll(t, db, want))
	_, err = db.Scan(nil, nil)
	require.ErrorIs(t, err, ErrCorrupt)
	require.NoError(t, db.Close())
	requireCheckFails(t, fs, "a flipped byte in a sealed segment")
}

func TestCorruptTable(t *testing.T) {
	fs := vfs.NewMem()
	want := buildStore(t, fs)
	names, err := fs.List("db")
	require.NoError(t, err)
	var table string
	for _, n := range names {
		if strings.HasSuffix(n, ".sst") {
			table = "db/" + n
			break
		}
	}
	require.NotEmpty(t, table)
	st, err := fs.Stat(table)
	require.NoError(t, err)
	flipByte(t, fs, table, 20) // inside the first data block
	_ = st
	db, err := Open("db", tinyOptions(fs))
	require.NoError(t, err)
	require.NotZero(t, readAll(t, db, want))
	_, err = db.Scan(nil, nil)
	require.ErrorIs(t, err, ErrCorrupt)
	require.NoError(t, db.Close())
	requireCheckFails(t, fs, "a flipped byte in a table")
}

func TestCorruptManifest(t *testing.T) {
	fs := vfs.NewMem()
	buildStore(t, fs)
	names, err := fs.List("db")
	require.NoError(t, err)
	var manifest string
	for _, n := range names {
		if strings.HasPrefix(n, "MANIFEST-") {
			manifest = "db/" + n
		}
	}
	require.NotEmpty(t, manifest)
	flipByte(t, fs, manifest, 12)
	_, err = Open("db", tinyOptions(fs))
	require.ErrorIs(t, err, ErrCorrupt)
	requireCheckFails(t, fs, "a flipped byte in the manifest")
}

func TestCheckAndInspectDoNotModify(t *testing.T) {
	fs := vfs.NewMem()
	buildStore(t, fs)
	before := snapshotFiles(t, fs, "db")
	r, err := Check(fs, "db")
	require.NoError(t, err)
	require.True(t, r.OK(), "%v", r.Problems)
	ins, err := Inspect(fs, "db")
	require.NoError(t, err)
	require.NotEmpty(t, ins.Levels)
	require.NotEmpty(t, ins.Segments)
	require.EqualValues(t, 16<<10, ins.SegmentSize)
	require.NotZero(t, ins.IO.Written[0])
	require.Equal(t, before, snapshotFiles(t, fs, "db"))
}

func snapshotFiles(t *testing.T, fs vfs.FS, dir string) map[string]string {
	out := map[string]string{}
	names, err := fs.List(dir)
	require.NoError(t, err)
	for _, n := range names {
		p := fs.PathJoin(dir, n)
		st, err := fs.Stat(p)
		require.NoError(t, err)
		if st.IsDir() {
			for k, v := range snapshotFiles(t, fs, p) {
				out[k] = v
			}
			continue
		}
		f, err := fs.Open(p)
		require.NoError(t, err)
		b := make([]byte, st.Size())
		_, err = f.ReadAt(b, 0)
		if st.Size() > 0 {
			require.NoError(t, err)
		}
		f.Close()
		out[p] = string(b)
	}
	return out
}

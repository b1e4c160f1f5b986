package index

import (
	"context"
	"errors"
	"fmt"
	"io"
	"testing"

	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/stretchr/testify/require"
)

func flipByte(t *testing.T, fs vfs.FS, name string, off int64) {
	f, err := fs.OpenReadWrite(name, vfs.WriteCategoryUnspecified)
	require.NoError(t, err)
	b := make([]byte, 1)
	_, err = f.ReadAt(b, off)
	require.NoError(t, err)
	b[0] ^= 0x10
	_, err = f.WriteAt(b, off)
	require.NoError(t, err)
	require.NoError(t, f.Close())
}

func fileSize(t *testing.T, fs vfs.FS, name string) int64 {
	st, err := fs.Stat(name)
	require.NoError(t, err)
	return st.Size()
}

// loadOneTable writes n keys and flushes them into a single L0 table.
func loadOneTable(t *testing.T, fs vfs.FS, n int) (Options, TableMeta) {
	opts := Options{FS: fs, BlockSize: 512, BlockCacheSize: 1 << 20}
	x, err := Open("db", opts)
	require.NoError(t, err)
	for i := 0; i < n; i++ {
		x.Apply(uint64(i+1), []Entry{{Kind: KindSet, Key: fmt.Appendf(nil, "key%05d", i), Value: fmt.Appendf(nil, "value%05d-padding-padding", i)}}, LogPos{1, uint64(i)}, nil)
	}
	require.NoError(t, x.Flush(context.Background()))
	levels := x.Levels()
	require.Len(t, levels[0].Tables, 1)
	require.NoError(t, x.Close())
	return opts, levels[0].Tables[0]
}

func TestCorruptTable(t *testing.T) {
	const n = 2000
	fs := vfs.NewMem()
	opts, meta := loadOneTable(t, fs, n)
	name := fs.PathJoin("db", tableFileName(meta.Num))
	// Flip a byte in a data block (the first quarter of the file is data).
	flipByte(t, fs, name, int64(meta.Size/4))

	x, err := Open("db", opts)
	require.NoError(t, err)
	defer x.Close()
	corrupt := 0
	for i := 0; i < n; i++ {
		v, ok, err := x.Get(fmt.Appendf(nil, "key%05d", i), n+1)
		if err != nil {
			require.True(t, errors.Is(err, ErrCorrupt), "Get error is not ErrCorrupt: %v", err)
			corrupt++
			continue
		}
		require.True(t, ok)
		require.Equal(t, fmt.Sprintf("value%05d-padding-padding", i), string(v))
	}
	require.Greater(t, corrupt, 0, "no Get saw the corruption")

	it := x.NewIter(IterOptions{Seq: n + 1})
	for ok := it.First(); ok; ok = it.Next() {
	}
	require.True(t, errors.Is(it.Error(), ErrCorrupt), "scan error: %v", it.Error())
	require.True(t, errors.Is(it.Close(), ErrCorrupt))

	err = x.VerifyTables()
	require.True(t, errors.Is(err, ErrCorrupt), "VerifyTables: %v", err)
}

func TestCorruptTableFooter(t *testing.T) {
	fs := vfs.NewMem()
	opts, meta := loadOneTable(t, fs, 100)
	flipByte(t, fs, fs.PathJoin("db", tableFileName(meta.Num)), int64(meta.Size-3))
	x, err := Open("db", opts)
	require.NoError(t, err)
	defer x.Close()
	_, _, err = x.Get([]byte("key00001"), 1000)
	require.True(t, errors.Is(err, ErrCorrupt), "Get: %v", err)
	require.True(t, errors.Is(x.VerifyTables(), ErrCorrupt))
}

func TestTruncatedTable(t *testing.T) {
	fs := vfs.NewMem()
	opts, meta := loadOneTable(t, fs, 100)
	name := fs.PathJoin("db", tableFileName(meta.Num))
	f, err := fs.Open(name)
	require.NoError(t, err)
	b, err := io.ReadAll(f)
	require.NoError(t, err)
	require.NoError(t, f.Close())
	f, err = fs.Create(name, vfs.WriteCategoryUnspecified)
	require.NoError(t, err)
	_, err = f.Write(b[:len(b)/2])
	require.NoError(t, err)
	require.NoError(t, f.Close())
	_, err = Open("db", opts)
	require.True(t, errors.Is(err, ErrCorrupt), "Open: %v", err)
	require.NoError(t, fs.Remove(name))
	_, err = Open("db", opts)
	require.True(t, errors.Is(err, ErrCorrupt), "Open with a missing table: %v", err)
}

// TestCorruptManifest flips every byte of the manifest in turn: Open must
// report ErrCorrupt every time (the records are all complete).
func TestCorruptManifest(t *testing.T) {
	fs := vfs.NewMem()
	opts, _ := loadOneTable(t, fs, 50)
	// Add a few more edits so the manifest has several records.
	x, err := Open("db", opts)
	require.NoError(t, err)
	for i := 0; i < 3; i++ {
		x.Apply(uint64(100+i), []Entry{{Kind: KindSet, Key: []byte("k"), Value: []byte("v")}}, LogPos{2, uint64(i)}, nil)
		require.NoError(t, x.Flush(context.Background()))
	}
	require.NoError(t, x.ApplyEdit(&VersionEdit{DeletedSegments: []uint64{1}}))
	require.NoError(t, x.Close())

	num, ok, err := readCurrent(fs, "db")
	require.NoError(t, err)
	require.True(t, ok)
	name := fs.PathJoin("db", manifestFileName(num))
	edits, err := ReadManifest(fs, "db")
	require.NoError(t, err)
	require.GreaterOrEqual(t, len(edits), 5)
	size := fileSize(t, fs, name)
	for off := int64(0); off < size; off++ {
		flipByte(t, fs, name, off)
		_, err := Open("db", opts)
		require.True(t, errors.Is(err, ErrCorrupt), "flip at %d of %d: Open: %v", off, size, err)
		_, err = ReadManifest(fs, "db")
		require.True(t, errors.Is(err, ErrCorrupt), "flip at %d: ReadManifest: %v", off, err)
		flipByte(t, fs, name, off)
	}
	// A torn tail (an unsynced, partial last record) is not corruption.
	f, err := fs.OpenReadWrite(name, vfs.WriteCategoryUnspecified)
	require.NoError(t, err)
	_, err = f.WriteAt(frameRecord((&VersionEdit{LastSeq: 1 << 30}).Encode())[:12], size)
	require.NoError(t, err)
	require.NoError(t, f.Close())
	x, err = Open("db", opts)
	require.NoError(t, err)
	require.Equal(t, uint64(102), x.LastSeq())
	require.NoError(t, x.Close())
}

func TestCorruptCurrent(t *testing.T) {
	fs := vfs.NewMem()
	opts, _ := loadOneTable(t, fs, 10)
	f, err := fs.Create(fs.PathJoin("db", currentName), vfs.WriteCategoryUnspecified)
	require.NoError(t, err)
	_, err = io.WriteString(f, "garbage")
	require.NoError(t, err)
	require.NoError(t, f.Close())
	_, err = Open("db", opts)
	require.True(t, errors.Is(err, ErrCorrupt), "Open: %v", err)
	// CURRENT naming a manifest that is not there.
	f, err = fs.Create(fs.PathJoin("db", currentName), vfs.WriteCategoryUnspecified)
	require.NoError(t, err)
	_, err = io.WriteString(f, manifestFileName(999)+"\n")
	require.NoError(t, err)
	require.NoError(t, f.Close())
	_, err = Open("db", opts)
	require.True(t, errors.Is(err, ErrCorrupt), "Open with a missing manifest: %v", err)
}

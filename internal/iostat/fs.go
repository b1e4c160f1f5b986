package iostat

import (
	"context"

	"github.com/cockroachdb/pebble/v2/vfs"
)

// FS returns a vfs.FS over base whose files count every byte they read or
// write under kind k. Directory operations are passed through uncounted.
func (c *Counters) FS(base vfs.FS, k Kind) vfs.FS {
	return &countingFS{FS: base, c: c, k: k}
}

type countingFS struct {
	vfs.FS
	c *Counters
	k Kind
}

func (fs *countingFS) wrap(f vfs.File, err error) (vfs.File, error) {
	if err != nil {
		return nil, err
	}
	return &countingFile{File: f, c: fs.c, k: fs.k}, nil
}

func (fs *countingFS) Create(name string, cat vfs.DiskWriteCategory) (vfs.File, error) {
	return fs.wrap(fs.FS.Create(name, cat))
}

func (fs *countingFS) Open(name string, opts ...vfs.OpenOption) (vfs.File, error) {
	return fs.wrap(fs.FS.Open(name, opts...))
}

func (fs *countingFS) OpenReadWrite(
	name string, cat vfs.DiskWriteCategory, opts ...vfs.OpenOption,
) (vfs.File, error) {
	return fs.wrap(fs.FS.OpenReadWrite(name, cat, opts...))
}

func (fs *countingFS) ReuseForWrite(
	oldname, newname string, cat vfs.DiskWriteCategory,
) (vfs.File, error) {
	return fs.wrap(fs.FS.ReuseForWrite(oldname, newname, cat))
}

func (fs *countingFS) Unwrap() vfs.FS { return fs.FS }

// countingFile counts under its own kind. ReadAtContext lets a caller that
// shares the file between kinds attribute a read by context instead.
type countingFile struct {
	vfs.File
	c *Counters
	k Kind
}

func (f *countingFile) Read(p []byte) (int, error) {
	n, err := f.File.Read(p)
	f.c.AddRead(f.k, n)
	return n, err
}

func (f *countingFile) ReadAt(p []byte, off int64) (int, error) {
	n, err := f.File.ReadAt(p, off)
	f.c.AddRead(f.k, n)
	return n, err
}

// ReadAtContext reads like ReadAt and counts under the kind ctx carries,
// falling back to the file's own kind.
func (f *countingFile) ReadAtContext(ctx context.Context, p []byte, off int64) (int, error) {
	n, err := f.File.ReadAt(p, off)
	f.c.AddRead(KindFrom(ctx, f.k), n)
	return n, err
}

func (f *countingFile) Write(p []byte) (int, error) {
	n, err := f.File.Write(p)
	f.c.AddWritten(f.k, n)
	return n, err
}

func (f *countingFile) WriteAt(p []byte, off int64) (int, error) {
	n, err := f.File.WriteAt(p, off)
	f.c.AddWritten(f.k, n)
	return n, err
}

// ContextReaderAt is implemented by files from Counters.FS.
type ContextReaderAt interface {
	ReadAtContext(ctx context.Context, p []byte, off int64) (int, error)
}

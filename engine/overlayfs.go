package engine

import (
	"errors"
	"io"
	"os"
	"slices"
	"sync"

	"github.com/cockroachdb/pebble/v2/vfs"
)

// overlayFS lets talosd check and inspect open a stopped store as an engine
// without changing a byte of it: reads come from the base FS, and every
// change (new manifest, CURRENT, a torn tail zeroed, IOSTATS, a lock) goes
// to an in-memory FS layered on top and is dropped afterwards. A file is
// copied up into memory the first time it is opened for writing.
type overlayFS struct {
	base vfs.FS
	mem  vfs.FS

	mu      sync.Mutex
	deleted map[string]bool // removed in the overlay; hidden in base
}

func newOverlayFS(base vfs.FS) *overlayFS {
	return &overlayFS{base: base, mem: vfs.NewMem(), deleted: make(map[string]bool)}
}

func notExist(op, name string) error {
	return &os.PathError{Op: op, Path: name, Err: os.ErrNotExist}
}

func (o *overlayFS) inMem(name string) bool {
	_, err := o.mem.Stat(name)
	return err == nil
}

func (o *overlayFS) isDeleted(name string) bool {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.deleted[name]
}

func (o *overlayFS) setDeleted(name string, d bool) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if d {
		o.deleted[name] = true
	} else {
		delete(o.deleted, name)
	}
}

// copyUp makes name present in the memory layer.
func (o *overlayFS) copyUp(name string) error {
	if o.inMem(name) {
		return nil
	}
	if o.isDeleted(name) {
		return notExist("open", name)
	}
	src, err := o.base.Open(name)
	if err != nil {
		return err
	}
	defer src.Close()
	if err := o.mem.MkdirAll(o.mem.PathDir(name), 0o755); err != nil {
		return err
	}
	dst, err := o.mem.Create(name, vfs.WriteCategoryUnspecified)
	if err != nil {
		return err
	}
	if _, err := io.Copy(dst, src); err != nil {
		dst.Close()
		return err
	}
	return dst.Close()
}

func (o *overlayFS) Create(name string, cat vfs.DiskWriteCategory) (vfs.File, error) {
	if err := o.mem.MkdirAll(o.mem.PathDir(name), 0o755); err != nil {
		return nil, err
	}
	o.setDeleted(name, false)
	return o.mem.Create(name, cat)
}

func (o *overlayFS) Link(oldname, newname string) error {
	if err := o.copyUp(oldname); err != nil {
		return err
	}
	o.setDeleted(newname, false)
	return o.mem.Link(oldname, newname)
}

func (o *overlayFS) Open(name string, opts ...vfs.OpenOption) (vfs.File, error) {
	if o.inMem(name) {
		return o.mem.Open(name, opts...)
	}
	if o.isDeleted(name) {
		return nil, notExist("open", name)
	}
	return o.base.Open(name, opts...)
}

func (o *overlayFS) OpenReadWrite(name string, cat vfs.DiskWriteCategory, opts ...vfs.OpenOption) (vfs.File, error) {
	if err := o.copyUp(name); err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, err
	}
	if err := o.mem.MkdirAll(o.mem.PathDir(name), 0o755); err != nil {
		return nil, err
	}
	o.setDeleted(name, false)
	return o.mem.OpenReadWrite(name, cat, opts...)
}

func (o *overlayFS) OpenDir(name string) (vfs.File, error) {
	if err := o.mem.MkdirAll(name, 0o755); err != nil {
		return nil, err
	}
	return o.mem.OpenDir(name)
}

func (o *overlayFS) Remove(name string) error {
	inMem := o.inMem(name)
	if inMem {
		if err := o.mem.Remove(name); err != nil {
			return err
		}
	}
	if _, err := o.base.Stat(name); err == nil && !o.isDeleted(name) {
		o.setDeleted(name, true)
		return nil
	}
	if !inMem {
		return notExist("remove", name)
	}
	return nil
}

func (o *overlayFS) RemoveAll(name string) error {
	_ = o.mem.RemoveAll(name)
	o.setDeleted(name, true)
	return nil
}

func (o *overlayFS) Rename(oldname, newname string) error {
	if err := o.copyUp(oldname); err != nil {
		return err
	}
	if err := o.mem.MkdirAll(o.mem.PathDir(newname), 0o755); err != nil {
		return err
	}
	if err := o.mem.Rename(oldname, newname); err != nil {
		return err
	}
	o.setDeleted(newname, false)
	if _, err := o.base.Stat(oldname); err == nil {
		o.setDeleted(oldname, true)
	}
	return nil
}

func (o *overlayFS) ReuseForWrite(oldname, newname string, cat vfs.DiskWriteCategory) (vfs.File, error) {
	if err := o.Rename(oldname, newname); err != nil {
		return nil, err
	}
	return o.OpenReadWrite(newname, cat)
}

func (o *overlayFS) MkdirAll(dir string, perm os.FileMode) error { return o.mem.MkdirAll(dir, perm) }

func (o *overlayFS) Lock(name string) (io.Closer, error) {
	if err := o.mem.MkdirAll(o.mem.PathDir(name), 0o755); err != nil {
		return nil, err
	}
	return o.mem.Lock(name)
}

func (o *overlayFS) List(dir string) ([]string, error) {
	names, berr := o.base.List(dir)
	mnames, merr := o.mem.List(dir)
	if berr != nil && merr != nil {
		return nil, berr
	}
	var out []string
	for _, n := range names {
		if !o.isDeleted(o.base.PathJoin(dir, n)) || o.inMem(o.base.PathJoin(dir, n)) {
			out = append(out, n)
		}
	}
	for _, n := range mnames {
		if !slices.Contains(out, n) {
			out = append(out, n)
		}
	}
	return out, nil
}

func (o *overlayFS) Stat(name string) (vfs.FileInfo, error) {
	if fi, err := o.mem.Stat(name); err == nil && !fi.IsDir() {
		return fi, nil
	}
	if o.isDeleted(name) {
		return nil, notExist("stat", name)
	}
	fi, err := o.base.Stat(name)
	if err != nil {
		if mfi, merr := o.mem.Stat(name); merr == nil {
			return mfi, nil
		}
	}
	return fi, err
}

func (o *overlayFS) PathBase(p string) string                     { return o.base.PathBase(p) }
func (o *overlayFS) PathJoin(elem ...string) string               { return o.base.PathJoin(elem...) }
func (o *overlayFS) PathDir(p string) string                      { return o.base.PathDir(p) }
func (o *overlayFS) Unwrap() vfs.FS                               { return nil }
func (o *overlayFS) GetDiskUsage(p string) (vfs.DiskUsage, error) { return o.base.GetDiskUsage(p) }

package bench

import (
	"path/filepath"
	"strings"

	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/talos-kv/talos/internal/iostat"
)

// File categories counted by a classifying file system, for stores (Pebble)
// that do not count their own I/O by kind.
const (
	fileWAL      = "wal"
	fileTable    = "table"
	fileManifest = "manifest"
	fileOther    = "other"
)

var fileCategories = []string{fileWAL, fileTable, fileManifest, fileOther}

// classifyFile returns the category of a Pebble file by its name.
func classifyFile(name string) string {
	base := filepath.Base(name)
	switch {
	case strings.HasSuffix(base, ".log"):
		return fileWAL
	case strings.HasSuffix(base, ".sst"), strings.HasSuffix(base, ".blob"):
		return fileTable
	case strings.HasPrefix(base, "MANIFEST"), base == "CURRENT", strings.HasPrefix(base, "marker."):
		return fileManifest
	default:
		return fileOther
	}
}

// categoryFS counts every byte read from or written to a file under the
// category of the file's name, using one iostat.Counters per category.
// It is safe for concurrent use.
type categoryFS struct {
	vfs.FS
	counters map[string]*iostat.Counters
	fss      map[string]vfs.FS
}

func newCategoryFS(base vfs.FS) *categoryFS {
	c := &categoryFS{FS: base, counters: map[string]*iostat.Counters{}, fss: map[string]vfs.FS{}}
	for _, cat := range fileCategories {
		ctr := &iostat.Counters{}
		c.counters[cat] = ctr
		c.fss[cat] = ctr.FS(base, iostat.Flush)
	}
	return c
}

func (c *categoryFS) fs(name string) vfs.FS { return c.fss[classifyFile(name)] }

func (c *categoryFS) Create(name string, cat vfs.DiskWriteCategory) (vfs.File, error) {
	return c.fs(name).Create(name, cat)
}

func (c *categoryFS) Open(name string, opts ...vfs.OpenOption) (vfs.File, error) {
	return c.fs(name).Open(name, opts...)
}

func (c *categoryFS) OpenReadWrite(name string, cat vfs.DiskWriteCategory, opts ...vfs.OpenOption) (vfs.File, error) {
	return c.fs(name).OpenReadWrite(name, cat, opts...)
}

func (c *categoryFS) ReuseForWrite(oldname, newname string, cat vfs.DiskWriteCategory) (vfs.File, error) {
	return c.fs(newname).ReuseForWrite(oldname, newname, cat)
}

func (c *categoryFS) Unwrap() vfs.FS { return c.FS }

// io returns bytes read and written per category so far.
func (c *categoryFS) io() (read, written map[string]uint64) {
	read, written = map[string]uint64{}, map[string]uint64{}
	for cat, ctr := range c.counters {
		s := ctr.Snapshot()
		for k := iostat.Kind(0); k < iostat.NumKinds; k++ {
			read[cat] += s.Read[k]
			written[cat] += s.Written[k]
		}
	}
	return read, written
}

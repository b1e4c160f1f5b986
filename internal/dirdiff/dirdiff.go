package dirdiff

import (
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"os"
	"slices"

	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/talos-kv/talos/index"
	"github.com/talos-kv/talos/kvsep"
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// Replica is one directory to compare, with a name for the report.
type Replica struct {
	Name string // "primary", "backup-1", or the path
	Dir  string
}

// Difference is one way a backup differs from the primary.
type Difference struct {
	Replica string // the backup, or the primary for a self-inconsistency
	What    string // "table 000012.sst", "segment 000003.vlog", "manifest"
	Detail  string
}

func (d Difference) String() string { return fmt.Sprintf("%s: %s: %s", d.Replica, d.What, d.Detail) }

// version is a manifest folded into the tables at each level.
type version struct {
	tables     map[uint64]index.TableMeta
	levels     map[uint64]int
	checkpoint index.LogPos
}

func readVersion(fs vfs.FS, dir string) (*version, error) {
	edits, err := index.ReadManifest(fs, dir)
	if err != nil {
		return nil, err
	}
	v := &version{tables: map[uint64]index.TableMeta{}, levels: map[uint64]int{}}
	for _, e := range edits {
		for _, d := range e.Deleted {
			delete(v.tables, d.Num)
			delete(v.levels, d.Num)
		}
		for _, a := range e.Added {
			v.tables[a.Meta.Num] = a.Meta
			v.levels[a.Meta.Num] = a.Level
		}
		if e.Checkpoint != nil {
			v.checkpoint = *e.Checkpoint
		}
	}
	return v, nil
}

func tableName(num uint64) string { return fmt.Sprintf("%06d.sst", num) }

// fileSum returns the size and crc32c of a file, or ok=false if it is absent.
func fileSum(fs vfs.FS, name string) (size uint64, sum uint32, ok bool, err error) {
	f, err := fs.Open(name)
	if errors.Is(err, os.ErrNotExist) {
		return 0, 0, false, nil
	}
	if err != nil {
		return 0, 0, false, err
	}
	defer f.Close()
	buf := make([]byte, 1<<20)
	for {
		n, err := f.Read(buf)
		sum = crc32.Update(sum, castagnoli, buf[:n])
		size += uint64(n)
		if err == io.EOF {
			return size, sum, true, nil
		}
		if err != nil {
			return 0, 0, false, fmt.Errorf("read %s: %w", name, err)
		}
	}
}

func segments(fs vfs.FS, dir string) ([]uint64, error) {
	names, err := fs.List(fs.PathJoin(dir, "vlog"))
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var segs []uint64
	for _, n := range names {
		if s, ok := kvsep.ParseSegmentFileName(n); ok {
			segs = append(segs, s)
		}
	}
	slices.Sort(segs)
	return segs, nil
}

func readAll(fs vfs.FS, name string) ([]byte, error) {
	f, err := fs.Open(name)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return io.ReadAll(f)
}

// Compare compares each backup with the primary and returns every
// difference found. An error means a directory could not be read at all.
func Compare(fs vfs.FS, primary Replica, backups []Replica) ([]Difference, error) {
	pv, err := readVersion(fs, primary.Dir)
	if err != nil {
		return nil, fmt.Errorf("dirdiff: %s (%s): %w", primary.Name, primary.Dir, err)
	}
	var diffs []Difference
	add := func(r, what, format string, args ...any) {
		diffs = append(diffs, Difference{Replica: r, What: what, Detail: fmt.Sprintf(format, args...)})
	}
	// The primary's own tables must match its manifest.
	pnums := sortedKeys(pv.tables)
	type sum struct {
		size uint64
		crc  uint32
	}
	psums := map[uint64]sum{}
	for _, n := range pnums {
		m := pv.tables[n]
		size, crc, ok, err := fileSum(fs, fs.PathJoin(primary.Dir, tableName(n)))
		if err != nil {
			return nil, fmt.Errorf("dirdiff: %s: %w", primary.Name, err)
		}
		switch {
		case !ok:
			add(primary.Name, "table "+tableName(n), "in the manifest but missing")
		case size != m.Size || crc != m.Checksum:
			add(primary.Name, "table "+tableName(n), "%d bytes crc32c %08x, manifest says %d bytes %08x", size, crc, m.Size, m.Checksum)
		}
		psums[n] = sum{size, crc}
	}
	psegs, err := segments(fs, primary.Dir)
	if err != nil {
		return nil, fmt.Errorf("dirdiff: %s: %w", primary.Name, err)
	}
	for _, b := range backups {
		bv, err := readVersion(fs, b.Dir)
		if err != nil {
			add(b.Name, "manifest", "cannot be read: %v", err)
			continue
		}
		if bv.checkpoint != pv.checkpoint {
			add(b.Name, "manifest", "value-log checkpoint %d/%d, primary %d/%d",
				bv.checkpoint.Segment, bv.checkpoint.Offset, pv.checkpoint.Segment, pv.checkpoint.Offset)
		}
		for _, n := range pnums {
			bm, ok := bv.tables[n]
			what := "table " + tableName(n)
			if !ok {
				add(b.Name, what, "at level %d on the primary, absent from this manifest", pv.levels[n])
				continue
			}
			if bv.levels[n] != pv.levels[n] {
				add(b.Name, what, "at level %d, primary has it at level %d", bv.levels[n], pv.levels[n])
			}
			pm := pv.tables[n]
			if bm.Size != pm.Size || bm.Checksum != pm.Checksum {
				add(b.Name, what, "manifest says %d bytes %08x, primary's %d bytes %08x", bm.Size, bm.Checksum, pm.Size, pm.Checksum)
			}
			size, crc, ok, err := fileSum(fs, fs.PathJoin(b.Dir, tableName(n)))
			switch {
			case err != nil:
				add(b.Name, what, "cannot be read: %v", err)
			case !ok:
				add(b.Name, what, "file missing")
			case size != psums[n].size || crc != psums[n].crc:
				add(b.Name, what, "%d bytes crc32c %08x, primary's file %d bytes %08x", size, crc, psums[n].size, psums[n].crc)
			}
		}
		for _, n := range sortedKeys(bv.tables) {
			if _, ok := pv.tables[n]; !ok {
				add(b.Name, "table "+tableName(n), "at level %d here, not in the primary's manifest", bv.levels[n])
			}
		}
		diffs = append(diffs, compareSegments(fs, primary, b, psegs)...)
	}
	return diffs, nil
}

func compareSegments(fs vfs.FS, primary, b Replica, psegs []uint64) []Difference {
	var diffs []Difference
	add := func(what, format string, args ...any) {
		diffs = append(diffs, Difference{Replica: b.Name, What: what, Detail: fmt.Sprintf(format, args...)})
	}
	bsegs, err := segments(fs, b.Dir)
	if err != nil {
		add("value log", "cannot be listed: %v", err)
		return diffs
	}
	for _, s := range bsegs {
		if _, ok := slices.BinarySearch(psegs, s); !ok {
			add("segment "+kvsep.SegmentFileName(s), "present here, not on the primary")
		}
	}
	for i, s := range psegs {
		what := "segment " + kvsep.SegmentFileName(s)
		pname := fs.PathJoin(primary.Dir, "vlog", kvsep.SegmentFileName(s))
		bname := fs.PathJoin(b.Dir, "vlog", kvsep.SegmentFileName(s))
		newest := i == len(psegs)-1
		if _, ok := slices.BinarySearch(bsegs, s); !ok {
			if !newest {
				add(what, "missing")
			}
			continue
		}
		pdata, err := readAll(fs, pname)
		if err != nil {
			add(what, "primary's copy cannot be read: %v", err)
			continue
		}
		bdata, err := readAll(fs, bname)
		if err != nil {
			add(what, "cannot be read: %v", err)
			continue
		}
		if newest && len(bdata) < len(pdata) {
			pdata = pdata[:len(bdata)] // a backup persists the newest segment's prefix
		}
		if len(bdata) != len(pdata) {
			add(what, "%d bytes, primary's %d", len(bdata), len(pdata))
			continue
		}
		for j := range bdata {
			if bdata[j] != pdata[j] {
				add(what, "differs from the primary's first at byte %d", j)
				break
			}
		}
	}
	return diffs
}

func sortedKeys[V any](m map[uint64]V) []uint64 {
	ks := make([]uint64, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	slices.Sort(ks)
	return ks
}

package engine

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/talos-kv/talos/index"
	"github.com/talos-kv/talos/internal/iostat"
	"github.com/talos-kv/talos/kvsep"
)

// CheckReport is what Check found.
type CheckReport struct {
	Segments int // segment files read whole
	Frames   int // frames whose checksums were verified
	Tables   int // tables verified
	Keys     int // live keys visited
	Pointers int // value pointers followed to a valid record
	// Problems describes each damage found; empty means the store is sound.
	Problems []string
}

// OK reports whether no problem was found.
func (r *CheckReport) OK() bool { return len(r.Problems) == 0 }

const maxProblems = 200

func (r *CheckReport) problem(err error) {
	if len(r.Problems) < maxProblems {
		for _, line := range strings.Split(err.Error(), "\n") {
			r.Problems = append(r.Problems, line)
		}
	} else if len(r.Problems) == maxProblems {
		r.Problems = append(r.Problems, "... more problems not listed")
	}
}

// Check verifies the stopped store in dir without modifying it: the
// checksums of every value-log segment (every frame and record), of the
// manifest, of every table (whole-file crc32c and every block) and of
// IOSTATS, and that every live index pointer lands on a valid value-log
// record of the same key. It returns an error only when it cannot run at
// all; damage goes in the report.
func Check(fs vfs.FS, dir string) (*CheckReport, error) {
	if _, err := fs.Stat(dir); err != nil {
		return nil, fmt.Errorf("engine: %w", err)
	}
	r := &CheckReport{}
	if _, err := iostat.Load(fs, fs.PathJoin(dir, ioStatsFile)); err != nil {
		r.problem(err)
	}
	vdir := fs.PathJoin(dir, vlogDir)
	segSize, haveSegs, err := kvsep.DetectSegmentSize(fs, vdir)
	if err != nil {
		return nil, err
	}
	if !haveSegs {
		segSize = kvsep.DefaultSegmentSize
	}
	checkSegments(fs, vdir, segSize, r)
	if _, err := index.ReadManifest(fs, dir); err != nil {
		r.problem(err)
		return r, nil
	}
	opts := Options{
		FS:          newOverlayFS(fs),
		SegmentSize: segSize,
		Sync:        SyncNever,
		GC:          GCOptions{Disable: true},
		Index:       index.Options{DisableCompactions: true, BlockCacheSize: 8 << 20},
	}
	db, err := Open(dir, opts)
	if err != nil {
		r.problem(fmt.Errorf("open: %w", err))
		return r, nil
	}
	defer db.Close()
	if err := db.idx.VerifyTables(); err != nil {
		r.problem(err)
	}
	for _, l := range db.idx.Levels() {
		r.Tables += len(l.Tables)
	}
	it := db.idx.NewIter(index.IterOptions{Seq: db.visibleSeq.Load()})
	ctx := context.Background()
	var buf []byte
	for ok := it.First(); ok; ok = it.Next() {
		r.Keys++
		_, p, prefix, isPtr, err := decodeIndexValuePrefix(it.Value())
		if err != nil {
			r.problem(fmt.Errorf("key %q: %w", it.Key(), err))
			continue
		}
		if !isPtr {
			continue
		}
		v, err := db.readPointer(ctx, it.Key(), p, buf)
		if err != nil {
			r.problem(err)
			continue
		}
		if !bytes.HasPrefix(v, prefix) {
			r.problem(fmt.Errorf("%w: key %q: the index keeps value prefix %q, the value log has %q",
				ErrCorrupt, it.Key(), prefix, v[:min(len(v), len(prefix))]))
			continue
		}
		buf = v[:0]
		r.Pointers++
	}
	if err := it.Close(); err != nil {
		r.problem(err)
	}
	return r, nil
}

// checkSegments reads every segment whole and verifies every frame.
func checkSegments(fs vfs.FS, vdir string, size int64, r *CheckReport) {
	names, err := fs.List(vdir)
	if err != nil {
		if !errors.Is(err, os.ErrNotExist) {
			r.problem(err)
		}
		return
	}
	var nums []uint64
	for _, name := range names {
		if n, ok := kvsep.ParseSegmentFileName(name); ok {
			nums = append(nums, n)
		}
	}
	newest := uint64(0)
	for _, n := range nums {
		newest = max(newest, n)
	}
	buf := make([]byte, size)
	for _, n := range nums {
		r.Segments++
		f, err := fs.Open(fs.PathJoin(vdir, kvsep.SegmentFileName(n)))
		if err != nil {
			r.problem(err)
			continue
		}
		st, err := f.Stat()
		if err != nil {
			f.Close()
			r.problem(err)
			continue
		}
		if st.Size() > size {
			f.Close()
			r.problem(fmt.Errorf("%w: segment %06d is %d bytes, more than the segment size %d", kvsep.ErrCorrupt, n, st.Size(), size))
			continue
		}
		data := buf[:st.Size()]
		_, err = f.ReadAt(data, 0)
		f.Close()
		if err != nil {
			r.problem(fmt.Errorf("segment %06d: %w", n, err))
			continue
		}
		sealed := n != newest
		if len(data) < 16 && !sealed {
			continue // created, nothing written yet
		}
		_, err = kvsep.ScanSegment(data, n, size, 0, sealed, func(*kvsep.Frame) error {
			r.Frames++
			return nil
		})
		if err != nil {
			r.problem(err)
		}
	}
}

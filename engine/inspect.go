package engine

import (
	"errors"
	"fmt"
	"os"
	"slices"

	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/talos-kv/talos/index"
	"github.com/talos-kv/talos/internal/iostat"
	"github.com/talos-kv/talos/kvsep"
)

// Inspection describes a stopped store, read without changing it.
type Inspection struct {
	Dir         string
	SegmentSize int64
	Manifest    ManifestState
	Levels      []LevelState
	Segments    []SegmentState
	// IO is the persisted I/O counters (DIR/IOSTATS).
	IO iostat.Snapshot
}

// ManifestState is the state the manifest's edits add up to.
type ManifestState struct {
	Edits       int
	LastSeq     uint64
	NextFileNum uint64
	Checkpoint  index.LogPos
}

// LevelState is one level of the index.
type LevelState struct {
	Level  int
	Size   uint64
	Keys   uint64 // entries in its tables (every version and tombstone)
	Tables []index.TableMeta
}

// SegmentState is one value-log segment file.
type SegmentState struct {
	Num     uint64
	Size    int64 // file size
	Live    int64 // bytes the index still points at
	Garbage int64 // Size minus Live
	// AboveCheckpoint: the segment holds records not yet flushed to tables,
	// which the live counts do not include.
	AboveCheckpoint bool
}

// Inspect reads the store in dir (stopped: nothing else may have it open)
// from its manifest, segment files and IOSTATS, without modifying them.
func Inspect(fs vfs.FS, dir string) (*Inspection, error) {
	if _, err := fs.Stat(dir); err != nil {
		return nil, fmt.Errorf("engine: %w", err)
	}
	ins := &Inspection{Dir: dir}
	edits, err := index.ReadManifest(fs, dir)
	if err != nil {
		return nil, markCorrupt(err)
	}
	levels := map[int]map[uint64]index.TableMeta{}
	live := map[uint64]int64{}
	for _, e := range edits {
		ins.Manifest.Edits++
		if e.LastSeq > ins.Manifest.LastSeq {
			ins.Manifest.LastSeq = e.LastSeq
		}
		if e.NextFileNum != 0 {
			ins.Manifest.NextFileNum = e.NextFileNum
		}
		if e.Checkpoint != nil {
			ins.Manifest.Checkpoint = *e.Checkpoint
		}
		for _, d := range e.Deleted {
			delete(levels[d.Level], d.Num)
		}
		for _, a := range e.Added {
			if levels[a.Level] == nil {
				levels[a.Level] = map[uint64]index.TableMeta{}
			}
			levels[a.Level][a.Meta.Num] = a.Meta
		}
		for s, d := range e.SegmentLive {
			live[s] += d
		}
		for _, s := range e.DeletedSegments {
			delete(live, s)
		}
	}
	maxLevel := -1
	for l := range levels {
		maxLevel = max(maxLevel, l)
	}
	for l := 0; l <= maxLevel; l++ {
		ls := LevelState{Level: l}
		for _, m := range levels[l] {
			ls.Tables = append(ls.Tables, m)
			ls.Size += m.Size
			ls.Keys += m.Entries
		}
		slices.SortFunc(ls.Tables, func(a, b index.TableMeta) int {
			if l == 0 {
				return int(b.Num) - int(a.Num)
			}
			return compareBytes(a.Smallest, b.Smallest)
		})
		ins.Levels = append(ins.Levels, ls)
	}
	vdir := fs.PathJoin(dir, vlogDir)
	if size, ok, err := kvsep.DetectSegmentSize(fs, vdir); err != nil {
		return nil, err
	} else if ok {
		ins.SegmentSize = size
	}
	names, err := fs.List(vdir)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("engine: list %s: %w", vdir, err)
	}
	for _, name := range names {
		n, ok := kvsep.ParseSegmentFileName(name)
		if !ok {
			continue
		}
		st, err := fs.Stat(fs.PathJoin(vdir, name))
		if err != nil {
			return nil, fmt.Errorf("engine: stat %s: %w", name, err)
		}
		s := SegmentState{Num: n, Size: st.Size(), Live: max(live[n], 0), AboveCheckpoint: n >= ins.Manifest.Checkpoint.Segment}
		s.Garbage = max(s.Size-s.Live, 0)
		ins.Segments = append(ins.Segments, s)
	}
	slices.SortFunc(ins.Segments, func(a, b SegmentState) int { return int(a.Num) - int(b.Num) })
	ins.IO, err = iostat.Load(fs, fs.PathJoin(dir, ioStatsFile))
	if err != nil {
		return nil, &corruptErr{cause: err}
	}
	return ins, nil
}

func compareBytes(a, b []byte) int {
	return slices.Compare(a, b)
}

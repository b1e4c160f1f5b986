package index

// Metrics is a point-in-time summary of the index.
type Metrics struct {
	Flushes              uint64
	RequestedFlushes     uint64 // memtables RequestFlush rotated before they were full
	FlushBytes           uint64 // table bytes written by flushes
	Compactions          uint64
	TrivialMoves         uint64
	RequestedCompactions uint64 // L0 compactions RequestL0Compaction asked for
	CompactionBytesIn    uint64 // table bytes read by compactions
	CompactionBytesOut   uint64 // table bytes written by compactions
	FilterTombstoned     uint64 // set entries Options.CompactionFilter deleted, written as tombstones
	FilterDropped        uint64 // set entries Options.CompactionFilter deleted, dropped outright (bottom)
	WriteStalls          uint64 // times MakeRoom blocked
	WriteSlowdowns       uint64 // times MakeRoom delayed a writer
	ManifestRollovers    uint64
	MemtableSize         int64 // bytes in the mutable memtable
	ImmutableMemtables   int
	ImmutableSize        int64 // bytes in immutable memtables
	Tables               int
	TableBytes           uint64
	Snapshots            int
}

// LevelInfo describes one level.
type LevelInfo struct {
	Level      int
	Tables     []TableMeta
	Size       uint64
	TargetSize uint64 // 0 for L0 (counted in files) and the last level
	Score      float64
}

// Metrics returns the current metrics.
func (x *Index) Metrics() Metrics {
	x.applyMu.Lock()
	memSize := x.mem.size.Load()
	x.applyMu.Unlock()
	x.mu.Lock()
	defer x.mu.Unlock()
	m := x.mu.m
	m.MemtableSize = memSize
	m.ImmutableMemtables = len(x.mu.imm)
	for _, mt := range x.mu.imm {
		m.ImmutableSize += mt.size.Load()
	}
	for _, lvl := range x.mu.v.levels {
		for _, t := range lvl {
			m.Tables++
			m.TableBytes += t.meta.Size
		}
	}
	for _, n := range x.mu.snapshots {
		m.Snapshots += n
	}
	return m
}

// Levels describes every level of the current version.
func (x *Index) Levels() []LevelInfo {
	x.mu.Lock()
	defer x.mu.Unlock()
	out := make([]LevelInfo, len(x.mu.v.levels))
	for l, lvl := range x.mu.v.levels {
		li := LevelInfo{Level: l, Size: x.mu.v.levelSize(l)}
		for _, t := range lvl {
			li.Tables = append(li.Tables, t.meta)
		}
		if l > 0 && l < len(x.mu.v.levels)-1 {
			li.TargetSize = uint64(x.levelTarget(l))
		}
		li.Score = x.levelScoreLocked(x.mu.v, l)
		out[l] = li
	}
	return out
}

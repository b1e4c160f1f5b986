package index

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"time"

	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/talos-kv/talos/internal/iostat"
)

// Kind is the kind of an entry. The numbers are pebble's internal key kinds.
type Kind uint8

// The entry kinds.
const (
	KindDelete Kind = 0 // same number as pebble's InternalKeyKindDelete
	KindSet    Kind = 1 // same number as pebble's InternalKeyKindSet
)

// LogPos is a position in the value log: the byte after the last record a
// memtable holds.
type LogPos struct {
	Segment uint64
	Offset  uint64
}

// Less reports whether p is before q.
func (p LogPos) Less(q LogPos) bool {
	return p.Segment < q.Segment || (p.Segment == q.Segment && p.Offset < q.Offset)
}

// Entry is one write handed to Apply. Apply copies what it keeps.
type Entry struct {
	Kind  Kind
	Key   []byte
	Value []byte
}

// Options configures an Index. The zero value of every field means its
// default; call EnsureDefaults then Validate (Open does both).
type Options struct {
	// FS holds the files. Zero: vfs.Default.
	FS vfs.FS
	// Counters receives the I/O attribution. Zero: a private one. The index
	// attributes flush table writes to Flush, compaction reads and writes to
	// Compaction, manifest and CURRENT I/O to Manifest, and table reads to Get
	// or Scan (by the operation that reads).
	Counters *iostat.Counters
	// MemtableSize: the memtable rotates once its size passes this. Zero: 64 MiB.
	MemtableSize int64
	// MaxImmutableMemtables: writers stop (MakeRoom blocks) while this many
	// memtables await flush. Zero: 2.
	MaxImmutableMemtables int
	// L0CompactionThreshold: L0 is compacted once it has this many files. Zero: 4.
	L0CompactionThreshold int
	// L0SlowdownThreshold: MakeRoom delays each writer ~1ms while L0 has this
	// many files. Zero: 12.
	L0SlowdownThreshold int
	// L0StopThreshold: MakeRoom blocks while L0 has this many files. Zero: 20.
	L0StopThreshold int
	// GrowthFactor is the size ratio between adjacent levels. Zero: 10; valid 4..16.
	GrowthFactor int
	// BaseLevelSize is the target size of L1; Ln's target is
	// BaseLevelSize * GrowthFactor^(n-1). Zero: MemtableSize *
	// L0CompactionThreshold (RocksDB's advice for max_bytes_for_level_base),
	// so that one L0 compaction moves about as much as L1 holds instead of
	// rewriting an L1 many times larger than its input.
	BaseLevelSize int64
	// NumLevels counts L0..L(n-1). Zero: 7.
	NumLevels int
	// TargetFileSize: compaction output is split at this size. Zero:
	// BaseLevelSize/4, at most 8 MiB, so that L1 has several files to
	// pick from and one L1 compaction overlaps a small part of L2.
	TargetFileSize int64
	// MaxConcurrentCompactions bounds background compactions. Zero: 1.
	MaxConcurrentCompactions int
	// BlockSize is the table data block size. Zero: 4 KiB.
	BlockSize int
	// BloomBitsPerKey sizes the tables' bloom filters. Zero: 10.
	BloomBitsPerKey int
	// BlockCacheSize is the size of the block cache. Zero: 64 MiB.
	BlockCacheSize int64
	// DisableCompactions turns off automatic compaction (ship-index backups,
	// whose tables arrive from a primary). Compact still compacts when asked.
	DisableCompactions bool
	// ValueRef tells the index which value-log segment a value points into and
	// how many bytes of that segment it keeps alive. The index sums these per
	// segment over the live tree (flush adds, compaction subtracts what it
	// drops) and records the deltas in each version edit. Zero: no accounting.
	ValueRef func(value []byte) (segment uint64, bytes int64, ok bool)
	// CompactionFilter, if set, is called when a compaction starts
	// rewriting entries (not for trivial moves, never for flushes) and
	// returns the filter of that compaction's entries, or nil for none. The
	// filter sees every set entry the compaction would keep and may delete
	// it: the entry becomes a tombstone with the same seq, or is dropped
	// outright at the bottom when no snapshot is older (see FilterDecision
	// and doc.go, invariant 9). The factory may be called from several
	// compaction goroutines at once. Zero: no filtering. An index whose
	// tables must stay another index's (a ship-index backup) leaves it zero.
	CompactionFilter func(info CompactionInfo) EntryFilter
	// Listener receives events. Zero: none.
	Listener Listener
	// Logger receives background errors and notable events. Zero: discard.
	Logger *slog.Logger

	// manifestRollover: once the manifest passes this size, the next edit
	// starts a new manifest with a snapshot. Zero: 4 MiB. Tests lower it.
	manifestRollover int64
}

// Listener holds event callbacks; nil fields are not called. Callbacks run on
// the goroutine doing the work and must not call back into the Index.
type Listener struct {
	// TableCreated is called when index starts writing table Num (flush or
	// compaction output). If it returns a non-nil sink, every byte written to
	// the table file is also passed to sink.Write in order, then
	// sink.Finish(meta) once the file is synced, or sink.Abort() if the table
	// is abandoned. A sink error fails the flush/compaction.
	TableCreated func(info TableCreateInfo) TableSink
	// EditApplied is called after a version edit is durable in the manifest
	// (Reason: "flush", "compaction", "install", "external"), before obsolete
	// files are deleted.
	EditApplied func(e EditInfo)
	// TableDeleted is called after a table file is removed.
	TableDeleted func(num uint64)
	// WriteStall is called when writers start (true) and stop (false) being
	// held up by MakeRoom.
	WriteStall func(stalled bool, reason string)
}

// TableCreateInfo describes a table about to be written.
type TableCreateInfo struct {
	Num    uint64
	Level  int
	Reason string
}

// TableSink receives the bytes of a table as they are written.
type TableSink interface {
	Write(p []byte) error
	Finish(meta TableMeta) error
	Abort()
}

// EditInfo describes an applied version edit.
type EditInfo struct {
	Reason   string
	Edit     *VersionEdit
	Duration time.Duration
}

// EnsureDefaults replaces zero fields by their defaults.
func (o *Options) EnsureDefaults() {
	if o.FS == nil {
		o.FS = vfs.Default
	}
	if o.Counters == nil {
		o.Counters = new(iostat.Counters)
	}
	if o.MemtableSize == 0 {
		o.MemtableSize = 64 << 20
	}
	if o.MaxImmutableMemtables == 0 {
		o.MaxImmutableMemtables = 2
	}
	if o.L0CompactionThreshold == 0 {
		o.L0CompactionThreshold = 4
	}
	if o.L0SlowdownThreshold == 0 {
		o.L0SlowdownThreshold = 12
	}
	if o.L0StopThreshold == 0 {
		o.L0StopThreshold = 20
	}
	if o.GrowthFactor == 0 {
		o.GrowthFactor = 10
	}
	if o.BaseLevelSize == 0 {
		o.BaseLevelSize = o.MemtableSize * int64(o.L0CompactionThreshold)
	}
	if o.NumLevels == 0 {
		o.NumLevels = 7
	}
	if o.TargetFileSize == 0 {
		o.TargetFileSize = min(8<<20, o.BaseLevelSize/4)
	}
	if o.MaxConcurrentCompactions == 0 {
		o.MaxConcurrentCompactions = 1
	}
	if o.BlockSize == 0 {
		o.BlockSize = 4 << 10
	}
	if o.BloomBitsPerKey == 0 {
		o.BloomBitsPerKey = 10
	}
	if o.BlockCacheSize == 0 {
		o.BlockCacheSize = 64 << 20
	}
	if o.manifestRollover == 0 {
		o.manifestRollover = manifestRollover
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
}

// Validate reports every invalid or conflicting field, joined.
func (o *Options) Validate() error {
	var errs []error
	bad := func(format string, args ...any) {
		errs = append(errs, fmt.Errorf("index: invalid options: "+format, args...))
	}
	if o.MemtableSize < 1<<10 {
		bad("MemtableSize %d < 1 KiB", o.MemtableSize)
	}
	if o.MaxImmutableMemtables < 1 {
		bad("MaxImmutableMemtables %d < 1", o.MaxImmutableMemtables)
	}
	if o.L0CompactionThreshold < 1 {
		bad("L0CompactionThreshold %d < 1", o.L0CompactionThreshold)
	}
	if o.L0SlowdownThreshold < o.L0CompactionThreshold {
		bad("L0SlowdownThreshold %d < L0CompactionThreshold %d", o.L0SlowdownThreshold, o.L0CompactionThreshold)
	}
	if o.L0StopThreshold < o.L0SlowdownThreshold {
		bad("L0StopThreshold %d < L0SlowdownThreshold %d", o.L0StopThreshold, o.L0SlowdownThreshold)
	}
	if o.GrowthFactor < 4 || o.GrowthFactor > 16 {
		bad("GrowthFactor %d not in 4..16", o.GrowthFactor)
	}
	if o.BaseLevelSize < 1<<10 {
		bad("BaseLevelSize %d < 1 KiB", o.BaseLevelSize)
	}
	if o.NumLevels < 2 || o.NumLevels > maxLevels {
		bad("NumLevels %d not in 2..%d", o.NumLevels, maxLevels)
	}
	if o.TargetFileSize < 1<<10 {
		bad("TargetFileSize %d < 1 KiB", o.TargetFileSize)
	}
	if o.MaxConcurrentCompactions < 1 {
		bad("MaxConcurrentCompactions %d < 1", o.MaxConcurrentCompactions)
	}
	if o.BlockSize < 256 {
		bad("BlockSize %d < 256", o.BlockSize)
	}
	if o.BloomBitsPerKey < 1 {
		bad("BloomBitsPerKey %d < 1", o.BloomBitsPerKey)
	}
	if o.BlockCacheSize < 0 {
		bad("BlockCacheSize %d < 0", o.BlockCacheSize)
	}
	if o.FS == nil {
		bad("FS is nil (call EnsureDefaults)")
	}
	return errors.Join(errs...)
}

// maxLevels bounds NumLevels and the level numbers a manifest may name.
const maxLevels = 16

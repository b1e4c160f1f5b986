package engine

import (
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/talos-kv/talos/index"
	"github.com/talos-kv/talos/kvsep"
)

// SyncPolicy says when the value log (the write-ahead log) is synced.
type SyncPolicy uint8

const (
	// SyncAlways syncs each group commit before acknowledging it: an
	// acknowledged write survives a machine crash. Costs one fsync per group
	// (group commit shares it among concurrent writers).
	SyncAlways SyncPolicy = iota
	// SyncInterval writes and syncs the value log every
	// Options.SyncInterval in the background: a machine or process crash
	// loses up to the last interval of acknowledged writes (appended bytes
	// wait in the mmap'd segment buffer until 64 KiB are pending or the
	// next sync).
	SyncInterval
	// SyncNever syncs only when a segment is sealed, before a flush, and at
	// Close: a machine crash may lose every write since the last of those; a
	// process crash loses the writes still in the segment buffer (under
	// 64 KiB, written to the file as they accumulate).
	SyncNever
)

func (p SyncPolicy) String() string {
	switch p {
	case SyncAlways:
		return "always"
	case SyncInterval:
		return "interval"
	case SyncNever:
		return "never"
	}
	return fmt.Sprintf("SyncPolicy(%d)", uint8(p))
}

// ParseSyncPolicy parses "always", "interval" or "never".
func ParseSyncPolicy(s string) (SyncPolicy, error) {
	for _, p := range []SyncPolicy{SyncAlways, SyncInterval, SyncNever} {
		if p.String() == s {
			return p, nil
		}
	}
	return 0, fmt.Errorf("%w: unknown sync policy %q (always, interval, never)", ErrInvalidOptions, s)
}

// Mode is what the engine does with its directory.
type Mode uint8

const (
	// ModePrimary (the default) serves reads and writes, flushes, compacts
	// and collects value-log garbage.
	ModePrimary Mode = iota
	// ModeShipIndex is a ship-index backup: no writes, no replay, no
	// compaction, no GC. Tables, segments and version edits arrive from a
	// primary (CreateTable, WriteSegment, InstallEdit). Reads see what the
	// installed version holds. Promotion is Close and Open as ModePrimary.
	ModeShipIndex
	// ModeBuildIndex is a build-index backup (the baseline): no writes of
	// its own and no value-log GC; segments arrive from a primary
	// (WriteSegment) and ReplaySegment applies their records to the
	// memtable, which flushes and compacts as a primary's does. Promotion
	// is Close and Open as ModePrimary. See buildindex.go.
	ModeBuildIndex
)

// GCOptions configures value-log garbage collection.
type GCOptions struct {
	// Disable turns off the background GC goroutine (RunGC still works).
	Disable bool
	// Interval is the pause between background GC passes when there is
	// nothing to collect. Zero: 1s.
	Interval time.Duration
	// MinGarbageRatio: a sealed segment is collected once this fraction of
	// it is garbage. Zero: 0.3. Valid (0, 1].
	MinGarbageRatio float64
	// BytesPerSecond limits the bytes GC reads plus rewrites. Zero: 64 MiB/s.
	// Negative: unlimited.
	BytesPerSecond int64
	// MaxSpaceRatio bounds the value log's size against its live value
	// bytes: the index's counts, or GC's smaller measurements of them
	// (gcmeasure.go); segments the index has not flushed past count as
	// live. Above it GC is behind: its passes ignore BytesPerSecond, and
	// writers are paced to GC (a writer that finds more than 1 MiB
	// written since GC fell behind, net of what GC has since removed,
	// waits up to 1 ms for GC to remove more). A log that grows past the
	// bound between two passes is behind at once. Zero: 1.3 (records'
	// keys and headers are not counted, so the log's files run higher;
	// measured peaks under uniform updates: 1.5-1.85x the live records).
	// Negative: never behind.
	MaxSpaceRatio float64
	// MaxUnflushedRatio bounds the value log above the index checkpoint,
	// which GC cannot collect, against the live data below it (the live
	// bytes the index counts, plus its tables, which hold the inline
	// values): past that, if 2% of the memtable's entries replaced
	// a version of their key it held, the memtable is flushed before it
	// is full (as RocksDB's max_total_wal_size does), so that a key set
	// the memtable covers cannot hold the log at many times its size. The log may
	// always run 4 segments past the checkpoint. Zero: 0.25. Negative:
	// flush only full memtables.
	MaxUnflushedRatio float64
}

// Options configures an engine. The zero value is valid: every zero field
// means its default.
type Options struct {
	// FS holds the store's files. Zero: vfs.Default.
	FS vfs.FS
	// Mode: zero is ModePrimary.
	Mode Mode
	// SegmentSize is the value-log segment size (power of two, page
	// aligned). Zero: kvsep.DefaultSegmentSize (2 MiB).
	SegmentSize int64
	// ValueThreshold: values shorter than this live inline in the index;
	// others live only in the value log, the index holding their pointer.
	// Zero: 512. Negative: every value lives in the value log.
	ValueThreshold int
	// ValuePrefix: the first ValuePrefix bytes of a value that lives in
	// the value log are also kept in its index entry, beside the pointer,
	// so that a compaction filter can judge the value from them without a
	// value-log read (FilterEntry.ValuePrefix); reads still return the
	// whole value from the log. Zero: none. At most MaxValuePrefix. It
	// may change between opens: entries written with another setting stay
	// readable.
	ValuePrefix int
	// Sync is the value-log sync policy. Zero: SyncAlways.
	Sync SyncPolicy
	// SyncInterval is the period of SyncInterval. Zero: 100ms.
	SyncInterval time.Duration
	// MaxGroupBytes bounds the frames one group commit appends. Zero: 1 MiB
	// (and at most half a segment).
	MaxGroupBytes int
	// CommitPipeline is how many group commits may be appended and waiting
	// for durability (the local sync and the CommitHook's waits) at once:
	// while one group waits for its backups, the next appends and posts.
	// Writes are still published in log order. Within one group the local
	// fsync always overlaps the wait for the backups. Zero: 1 under
	// SyncAlways, else 4. Measured (engine, 16 writers, 100 B values): with
	// a 1.3 ms simulated round trip and SyncNever, depth 4 commits 1.5x
	// what depth 1 does; under SyncAlways the fsync is the bottleneck, and
	// deeper pipelines only split it into more, smaller fsyncs (depth 4:
	// 0.65-0.8x of depth 1).
	CommitPipeline int
	// Index configures the LSM index. Its FS, Counters, ValueRef,
	// CompactionFilter and Listener are set by the engine and must be left
	// zero.
	Index index.Options
	// GC configures value-log garbage collection.
	GC GCOptions
	// Listener receives engine events. Zero: none.
	Listener Listener
	// CompactionFilter, if set, makes the filter of each compaction that
	// rewrites entries, which may delete live entries (expired ones, for
	// example): see CompactionFilter. The engine gives the filter each
	// entry's value (read from the value log when it lives there) and a
	// lookup of other keys at the newest seq. Ignored in ModeShipIndex,
	// which never compacts. Zero: no filtering.
	CompactionFilter CompactionFilter
	// CommitHook, if set, is called for every run of bytes a group commit
	// appends to the value log, in log order, before the group is
	// acknowledged (see CommitHook).
	CommitHook CommitHook
	// Logger receives background errors and notable events. Zero: discard.
	Logger *slog.Logger
}

// ErrInvalidOptions is wrapped by every error Validate returns.
var ErrInvalidOptions = errors.New("engine: invalid options")

const defaultValueThreshold = 512

// lazyWriteBytes is how much SyncInterval and SyncNever let accumulate in
// the segment buffer before writing it to the file.
const lazyWriteBytes = 64 << 10

// EnsureDefaults fills zero fields with their defaults.
func (o *Options) EnsureDefaults() {
	if o.FS == nil {
		o.FS = vfs.Default
	}
	if o.SegmentSize == 0 {
		o.SegmentSize = kvsep.DefaultSegmentSize
	}
	if o.ValueThreshold == 0 {
		o.ValueThreshold = defaultValueThreshold
	}
	if o.SyncInterval == 0 {
		o.SyncInterval = 100 * time.Millisecond
	}
	if o.CommitPipeline == 0 {
		o.CommitPipeline = 4
		if o.Sync == SyncAlways {
			o.CommitPipeline = 1
		}
	}
	if o.MaxGroupBytes == 0 {
		o.MaxGroupBytes = min(1<<20, int(o.SegmentSize/2))
	}
	if o.GC.Interval == 0 {
		o.GC.Interval = time.Second
	}
	if o.GC.MinGarbageRatio == 0 {
		o.GC.MinGarbageRatio = 0.3
	}
	if o.GC.MaxSpaceRatio == 0 {
		o.GC.MaxSpaceRatio = 1.3
	}
	if o.GC.MaxUnflushedRatio == 0 {
		o.GC.MaxUnflushedRatio = 0.25
	}
	if o.GC.BytesPerSecond == 0 {
		o.GC.BytesPerSecond = 64 << 20
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Index.Logger == nil {
		o.Index.Logger = o.Logger
	}
}

// Validate reports every conflict in o (after EnsureDefaults), joined.
func (o *Options) Validate() error {
	var errs []error
	bad := func(format string, args ...any) {
		errs = append(errs, fmt.Errorf("%w: "+format, append([]any{ErrInvalidOptions}, args...)...))
	}
	if o.Mode > ModeBuildIndex {
		bad("unknown Mode %d", o.Mode)
	}
	if o.Sync > SyncNever {
		bad("unknown Sync policy %d", o.Sync)
	}
	if o.SyncInterval < 0 {
		bad("SyncInterval %v is negative", o.SyncInterval)
	}
	if o.ValuePrefix < 0 || o.ValuePrefix > MaxValuePrefix {
		bad("ValuePrefix %d not in 0..%d", o.ValuePrefix, MaxValuePrefix)
	}
	if o.CommitPipeline < 0 || o.CommitPipeline > 64 {
		bad("CommitPipeline %d not in 0..64", o.CommitPipeline)
	}
	if o.MaxGroupBytes < 0 || int64(o.MaxGroupBytes) > o.SegmentSize {
		bad("MaxGroupBytes %d not in 0..SegmentSize (%d)", o.MaxGroupBytes, o.SegmentSize)
	}
	if r := o.GC.MinGarbageRatio; !(r > 0 && r <= 1) {
		bad("GC.MinGarbageRatio %v not in (0, 1]", r)
	}
	if o.GC.Interval < 0 {
		bad("GC.Interval %v is negative", o.GC.Interval)
	}
	if r := o.GC.MaxSpaceRatio; r >= 0 && r <= 1 {
		bad("GC.MaxSpaceRatio %v: want more than 1 (or negative: no bound)", r)
	}
	if o.Index.FS != nil {
		bad("Index.FS is set by the engine (use Options.FS)")
	}
	if o.Index.Counters != nil {
		bad("Index.Counters is set by the engine")
	}
	if o.Index.ValueRef != nil {
		bad("Index.ValueRef is set by the engine")
	}
	if o.Index.CompactionFilter != nil {
		bad("Index.CompactionFilter is set by the engine (use Options.CompactionFilter)")
	}
	if l := o.Index.Listener; l.TableCreated != nil || l.EditApplied != nil || l.TableDeleted != nil || l.WriteStall != nil {
		bad("Index.Listener is set by the engine (use Options.Listener)")
	}
	ko := o.logOptions()
	if err := ko.Validate(); err != nil {
		errs = append(errs, fmt.Errorf("%w: value log: %w", ErrInvalidOptions, err))
	}
	io := o.Index
	io.EnsureDefaults()
	if err := io.Validate(); err != nil {
		errs = append(errs, fmt.Errorf("%w: %w", ErrInvalidOptions, err))
	}
	return errors.Join(errs...)
}

func (o *Options) logOptions() kvsep.Options {
	ko := kvsep.Options{FS: o.FS, SegmentSize: o.SegmentSize, Logger: o.Logger}
	if o.Sync != SyncAlways {
		ko.LazyWrite = int(min(lazyWriteBytes, o.SegmentSize/4))
	}
	ko.EnsureDefaults()
	return ko
}

package engine

import (
	"github.com/talos-kv/talos/index"
	"github.com/talos-kv/talos/internal/iostat"
)

// Metrics is a point-in-time view of the engine.
type Metrics struct {
	// IO holds bytes read and written per kind since the store was created
	// (persisted in DIR/IOSTATS at every flush and at Close).
	IO    iostat.Snapshot
	Index index.Metrics
	// Commits counts acknowledged batches, CommitGroups the group commits
	// that carried them, Syncs the value-log syncs.
	Commits, CommitGroups, Syncs uint64
	// VisibleSeq is the newest sequence number readers see.
	VisibleSeq uint64
	// Segments is the number of value-log segment files.
	Segments int
	// SegmentLive is the live bytes per segment, as the index counts them.
	SegmentLive map[uint64]int64
	GC          GCMetrics
}

// GCMetrics counts value-log GC work.
type GCMetrics struct {
	Runs, Segments, KeysRewritten, KeysDropped, BytesRewritten uint64
	// PendingSegments are collected segments whose deletion waits for the
	// checkpoint to pass their rewrites, or whose files wait for readers.
	PendingSegments int
	// Behind: the value log is over GC.MaxSpaceRatio of the live data;
	// WriteSlowdowns counts the writes delayed because of it.
	Behind         bool
	WriteSlowdowns uint64
	// SegmentsMeasured counts segments read to measure their live bytes
	// when the index's counts offered GC no candidate (gcmeasure.go).
	SegmentsMeasured uint64
	// IndexMeasures counts passes over the index that measured every
	// segment below the checkpoint at once (gcmeasure.go).
	IndexMeasures uint64
	// DeadSegments counts the collected segments (of Segments) into which
	// no index entry pointed, deleted without being read: typically
	// segments whose values all live inline in the index.
	DeadSegments uint64
}

// Metrics returns the engine's metrics.
func (db *DB) Metrics() Metrics {
	m := Metrics{
		IO:           db.counters.Snapshot(),
		Index:        db.idx.Metrics(),
		Commits:      db.commits.Load(),
		CommitGroups: db.groups.Load(),
		Syncs:        db.syncs.Load(),
		VisibleSeq:   db.visibleSeq.Load(),
		Segments:     len(db.log.Segments()),
		SegmentLive:  db.idx.SegmentLive(),
		GC: GCMetrics{
			Runs:             db.gcStats.runs.Load(),
			Segments:         db.gcStats.segments.Load(),
			KeysRewritten:    db.gcStats.keysRewritten.Load(),
			KeysDropped:      db.gcStats.keysDropped.Load(),
			BytesRewritten:   db.gcStats.bytesRewritten.Load(),
			Behind:           db.gcBehind.Load(),
			WriteSlowdowns:   db.gcStats.writeSlowdowns.Load(),
			SegmentsMeasured: db.gcStats.measured.Load(),
			IndexMeasures:    db.gcStats.indexMeasures.Load(),
			DeadSegments:     db.gcStats.deadSegments.Load(),
		},
	}
	db.readers.Lock()
	m.GC.PendingSegments = len(db.readers.pending) + len(db.readers.awaiting)
	db.readers.Unlock()
	return m
}

// Counters returns the engine's live I/O counters (for replication, which
// attributes the bytes it receives under iostat.Replication).
func (db *DB) Counters() *iostat.Counters { return db.counters }

// Levels returns the index levels and their tables.
func (db *DB) Levels() []index.LevelInfo { return db.idx.Levels() }

// Dir returns the store's directory.
func (db *DB) Dir() string { return db.dir }

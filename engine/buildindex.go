package engine

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"

	"github.com/talos-kv/talos/index"
	"github.com/talos-kv/talos/kvsep"
)

// Build-index mode (the baseline that ship-index is measured against). A
// ModeBuildIndex engine never appends to its value log: segments arrive
// from a primary (WriteSegment) under the primary's numbers, and
// ReplaySegment decodes a persisted segment's frames and applies their
// records to the memtable exactly as the primary's commit did (a value
// shorter than ValueThreshold inline, else a pointer into that segment;
// the records' own sequence numbers). The index then flushes and compacts
// on its own, its I/O counted under iostat.Flush and iostat.Compaction as
// on a primary. A flush's checkpoint is the position after the last
// replayed frame, always inside a persisted segment, so Open replays the
// persisted segments past it, as a primary does.
//
// Value-log GC never runs on a build-index engine. It follows its
// primary's instead: DropSegmentAfter names a segment the primary's GC
// deleted and the log position after its live values' rewrites; the
// engine records the deletion in its own manifest and deletes the file
// once its own index checkpoint has passed that position (the logs are
// byte-identical, so by then the rewrites are replayed and flushed and no
// visible entry points into the segment).

// ErrNeedsCatchUp: a build-index engine was asked to continue from a
// segment or sequence number it does not reach; it lacks part of the
// primary's value log and must catch up from a snapshot (a reset store,
// InstallEdit of the snapshot, CatchUpReplay).
var ErrNeedsCatchUp = errors.New("engine: build-index store lacks part of the value log")

// checkEmptyForSnapshot allows a build-index engine to install a catch-up
// snapshot only while it holds no table and has applied no record.
func (db *DB) checkEmptyForSnapshot() error {
	if db.visibleSeq.Load() != 0 || db.idx.LastSeq() != 0 {
		return fmt.Errorf("engine: build-index store at seq %d cannot install a snapshot: only an empty (reset) store can", db.visibleSeq.Load())
	}
	for _, l := range db.idx.Levels() {
		if len(l.Tables) > 0 {
			return fmt.Errorf("engine: build-index store holds tables: only an empty (reset) store can install a snapshot")
		}
	}
	return nil
}

// CatchUpReplay replays, after a catch-up snapshot was installed, every
// segment from the snapshot's checkpoint up to (not including) segment
// upTo, the first one the primary streams live: the records the primary
// held in its memtables at the snapshot. Each must be held (the snapshot
// carries every segment below upTo). ModeBuildIndex only.
func (db *DB) CatchUpReplay(upTo uint64) error {
	if db.opts.Mode != ModeBuildIndex {
		return fmt.Errorf("engine: CatchUpReplay on a %v engine: only build-index backups replay segments", db.opts.Mode)
	}
	from := db.idx.Checkpoint().Segment
	if from == 0 {
		from = 1
	}
	for n := from; n < upTo; n++ {
		if err := db.ReplaySegment(n); err != nil {
			return fmt.Errorf("catch-up replay of segment %06d: %w", n, err)
		}
	}
	return nil
}

// buildIndexState is ReplaySegment's state.
type buildIndexState struct {
	mu  sync.Mutex // serialises ReplaySegment
	buf []byte     // segment read buffer
	eb  entryBuilder
}

// ReplaySegment applies to the memtable the records of segment num that
// it does not hold yet (frames at or below the last applied seq are
// skipped). The segment must have been written (WriteSegment) or found
// at Open. Its first new frame must continue the sequence exactly (else
// ErrNeedsCatchUp): records are never skipped. It waits (MakeRoom) while
// flushes or L0 compactions are behind, which is how a slow build-index
// backup slows its primary. ModeBuildIndex only.
func (db *DB) ReplaySegment(num uint64) error {
	if db.opts.Mode != ModeBuildIndex {
		return fmt.Errorf("engine: ReplaySegment on a %v engine: only build-index backups replay segments", db.opts.Mode)
	}
	if db.closed.Load() {
		return ErrClosed
	}
	if err := db.Err(); err != nil {
		return err
	}
	s := &db.bi
	s.mu.Lock()
	defer s.mu.Unlock()
	// The newest segment is in the log's buffer (WriteSegment keeps it
	// current); an older one is read back from its file.
	var data []byte
	sealed := false
	if active, buf := db.log.Active(); active == num {
		data = buf
	} else {
		if !db.log.IsSealed(num) {
			return fmt.Errorf("%w: replay of segment %06d, which this store does not hold", ErrNeedsCatchUp, num)
		}
		var err error
		if s.buf, err = db.log.ReadSegment(context.Background(), num, s.buf); err != nil {
			return markCorrupt(err)
		}
		data, sealed = s.buf, true
	}
	last := db.visibleSeq.Load()
	_, err := kvsep.ScanSegment(data, num, db.log.SegmentSize(), 0, sealed, func(f *kvsep.Frame) error {
		n := uint64(len(f.Records))
		if n == 0 || f.FirstSeq+n-1 <= last {
			return nil // already applied
		}
		if f.FirstSeq <= last {
			return fmt.Errorf("%w: segment %06d frame at offset %d (seqs %d..%d) straddles the last applied seq %d",
				ErrCorrupt, num, f.Pos.Offset, f.FirstSeq, f.FirstSeq+n-1, last)
		}
		if f.FirstSeq != last+1 {
			return fmt.Errorf("%w: segment %06d starts at seq %d, the store holds up to seq %d",
				ErrNeedsCatchUp, num, f.FirstSeq, last)
		}
		if err := db.idx.MakeRoom(context.Background()); err != nil {
			if errors.Is(err, index.ErrClosed) {
				return ErrClosed
			}
			return err
		}
		s.eb.reset()
		for i := range f.Records {
			r := &f.Records[i]
			s.eb.add(db.opts.ValueThreshold, r.Kind, r.Key, r.Value, f.Pointers[i])
		}
		db.idx.Apply(f.FirstSeq, s.eb.finish(), index.LogPos(f.End()), nil)
		last = f.FirstSeq + n - 1
		db.nextSeq = last + 1
		db.visibleSeq.Store(last)
		return nil
	})
	if err != nil && !errors.Is(err, ErrClosed) && !errors.Is(err, ErrNeedsCatchUp) {
		return db.fail(markCorrupt(err))
	}
	if err != nil {
		return err
	}
	// Flushes since the last replay may have moved the checkpoint past
	// the rewrites of segments the primary dropped.
	return db.dropCollected()
}

// DropSegmentAfter deletes segment num, which the primary's GC deleted,
// once this engine's index checkpoint has passed after: at once if it
// already has, else after a later ReplaySegment finds it has. The deletion
// is recorded in the manifest before the file goes. ModeBuildIndex only.
func (db *DB) DropSegmentAfter(num uint64, after kvsep.Pos) error {
	if db.opts.Mode != ModeBuildIndex {
		return fmt.Errorf("engine: DropSegmentAfter on a %v engine: only build-index backups follow a primary's GC", db.opts.Mode)
	}
	if db.closed.Load() {
		return ErrClosed
	}
	if err := db.Err(); err != nil {
		return err
	}
	if !slices.Contains(db.log.Segments(), num) {
		return nil // already gone: deletion is idempotent
	}
	// The segment may still be this store's newest file: the primary's GC
	// deletes a segment nothing points into as soon as its checkpoint
	// passes it, which can be before the next segment is sealed. It goes
	// only once this store's checkpoint passes after, which lies in a
	// later segment: by then that segment is here too.
	if after.Segment <= num {
		return fmt.Errorf("%w: the primary dropped segment %06d at position %d/%d, which is not past it", ErrCorrupt, num, after.Segment, after.Offset)
	}
	db.readers.Lock()
	for _, a := range db.readers.awaiting {
		if a.num == num {
			db.readers.Unlock()
			return nil // told twice (a reconnect): once is enough
		}
	}
	db.readers.awaiting = append(db.readers.awaiting, awaitSegment{num: num, end: after})
	db.readers.Unlock()
	return db.dropCollected()
}

// dropCollected records and deletes the dropped segments whose position
// the checkpoint has passed.
func (db *DB) dropCollected() error {
	if err := db.recordCollected(); err != nil {
		return err
	}
	db.removeReadySegments(false)
	return nil
}

var errStopScan = errors.New("engine: scan stopped")

// FinishDrops, when segments the primary dropped wait for the checkpoint,
// replays what is persisted of the segment being received, flushes the
// memtable and deletes the segments the checkpoint then passes. The waiting list
// lives in memory: a build-index backup calls it before Close so that the
// segments do not outlive a restart. ModeBuildIndex only.
func (db *DB) FinishDrops(ctx context.Context) error {
	if db.opts.Mode != ModeBuildIndex {
		return fmt.Errorf("engine: FinishDrops on a %v engine: only build-index backups follow a primary's GC", db.opts.Mode)
	}
	db.readers.Lock()
	waiting := len(db.readers.awaiting)
	db.readers.Unlock()
	if waiting == 0 {
		return nil
	}
	// The rewrites may lie in the segment still being received: replay
	// what of it is persisted (frames already applied are skipped).
	if active, _ := db.log.Active(); active != 0 {
		if err := db.ReplaySegment(active); err != nil {
			return err
		}
	}
	if err := db.Flush(ctx); err != nil {
		return err
	}
	return db.dropCollected()
}

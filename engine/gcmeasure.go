package engine

import (
	"context"

	"github.com/talos-kv/talos/index"
	"github.com/talos-kv/talos/kvsep"
)

// The index's live counts keep a version live until a compaction drops it
// (index invariant 7). With a key set that a few memtables cover, L0 and
// the levels below hold a version of most keys each, and the counts call
// old segments mostly live when most of their versions are shadowed
// (measured with 20k keys and a 1 MiB memtable: the counts said 1.2-1.5x
// the live data below the checkpoint, the truth was 0.7-0.9x). GC then
// finds no candidate while the log runs past 2x.
//
// So while GC is behind it measures, in two ways:
//   - measureByIndex: when L0 is large against the levels below, one pass
//     over the index gives every segment's live bytes;
//   - measureSegments: when the counts offer no candidate, GC reads the
//     oldest sealed segments below the checkpoint that it has not measured
//     lately and looks each record's key up, as a collection would
//     (WiscKey's GC reads its log this way), and collects those with
//     enough garbage from the bytes just read.
//
// A segment below the checkpoint only loses live bytes (no new pointer
// into it is ever written), so a measurement stays an upper bound and GC
// takes the smaller of it and the count (liveEstimate). A measurement is
// redone once the log has grown by a quarter of the live data.

// measureByIndex measures every segment below the checkpoint at once, from
// one pass over the index, when GC is behind and L0 holds more than
// l0ShadowRatio entries per entry below it: the regime where the counts
// run furthest from the truth, and where the index is small against the
// log (a key set a few memtables cover), so that reading it costs little
// next to a segment. Not again until the log grows by a quarter of the
// live data. Called by runGC with gcMu held.
func (db *DB) measureByIndex(cp index.LogPos) error {
	if !db.gcBehind.Load() {
		return nil
	}
	end := db.linear(db.log.End())
	if db.gcIndexMeasured != 0 && end-db.gcIndexMeasured < db.gcMeasureStale {
		return nil
	}
	if l0, below := db.idx.L0Entries(); float64(l0) <= l0ShadowRatio*float64(below) {
		return nil
	}
	it := db.idx.NewIter(index.IterOptions{Seq: db.visibleSeq.Load(), Ctx: db.gcCtx})
	live := map[uint64]int64{}
	for ok := it.First(); ok; ok = it.Next() {
		_, p, isPtr, err := decodeIndexValue(it.Value())
		if err != nil {
			it.Close()
			return markCorrupt(err)
		}
		if isPtr {
			live[p.Segment] += int64(p.Length)
		}
	}
	if err := it.Close(); err != nil {
		return markCorrupt(err)
	}
	for _, n := range db.log.Segments() {
		if n >= cp.Segment {
			break
		}
		db.gcMeasured[n] = gcMeasured{live: live[n], at: end}
	}
	db.gcIndexMeasured = end
	db.gcStats.indexMeasures.Add(1)
	return nil
}

// forgetMeasured drops the measurements of segments that are gone.
// Called by runGC with gcMu held.
func (db *DB) forgetMeasured() {
	for n := range db.gcMeasured {
		if !db.log.IsSealed(n) {
			delete(db.gcMeasured, n)
		}
	}
}

// gcMeasured is what a measurement found in a segment.
type gcMeasured struct {
	live int64  // bytes of values keys still pointed at
	at   uint64 // the log's end (linear) when measured
}

// maxMeasurePerPass bounds the segments one pass reads to measure.
const maxMeasurePerPass = 4

// liveEstimate is GC's best upper bound on segment n's live bytes: the
// index's count, or a smaller measurement. Called with gcMu held.
func (db *DB) liveEstimate(n uint64, live map[uint64]int64) int64 {
	est := max(live[n], 0)
	if m, ok := db.gcMeasured[n]; ok && m.live < est {
		est = m.live
	}
	return est
}

// measureSegments measures up to maxMeasurePerPass sealed segments below
// the checkpoint, oldest first, skipping those measured since the log grew
// by a quarter of the live data (remeasuring sooner finds little: under
// uniform updates a quarter of the key set's rewrites shadow about a fifth
// of a segment's versions). It collects each one whose measured garbage
// reaches GC.MinGarbageRatio, adding it to res, and skips those in skip
// (already collected). Called by runGC with gcMu held, when GC is behind
// and has no candidate.
func (db *DB) measureSegments(ctx context.Context, cp index.LogPos, skip map[uint64]bool, res *GCResult) error {
	end := db.linear(db.log.End())
	stale := db.gcMeasureStale
	measured := 0
	var buf []byte
	for _, n := range db.log.Segments() {
		if measured == maxMeasurePerPass || n >= cp.Segment || db.awaitingOverLimit() {
			break
		}
		if skip[n] || !db.log.IsSealed(n) {
			continue
		}
		if m, ok := db.gcMeasured[n]; ok && end-m.at < stale {
			continue
		}
		var err error
		if buf, err = db.log.ReadSegment(db.gcCtx, n, buf); err != nil {
			return markCorrupt(err)
		}
		res.BytesRead += int64(len(buf))
		measured++
		db.gcStats.measured.Add(1)
		live, err := db.measureLive(buf, n)
		if err != nil {
			return err
		}
		db.gcMeasured[n] = gcMeasured{live: live, at: end}
		if float64(db.opts.SegmentSize-live) < db.opts.GC.MinGarbageRatio*float64(db.opts.SegmentSize) {
			continue
		}
		if err := db.collectSegment(ctx, n, buf, res); err != nil {
			return err
		}
		res.Segments = append(res.Segments, n)
		db.gcStats.segments.Add(1)
	}
	return nil
}

// measureLive returns the bytes of the values in segment n (its bytes in
// buf) that keys still point at, in the units of the index's live counts.
func (db *DB) measureLive(buf []byte, n uint64) (int64, error) {
	seq := db.visibleSeq.Load()
	var live int64
	_, err := kvsep.ScanSegment(buf, n, db.opts.SegmentSize, 0, true, func(f *kvsep.Frame) error {
		for i := range f.Records {
			r := &f.Records[i]
			if r.Kind != kvsep.KindSet {
				continue
			}
			ok, err := db.pointsAt(r.Key, f.Pointers[i], seq)
			if err != nil {
				return err
			}
			if ok {
				live += int64(f.Pointers[i].Length)
			}
		}
		return nil
	})
	if err != nil {
		return 0, markCorrupt(err)
	}
	return live, nil
}

// pointsAt reports whether key's newest version at seq is a value-log
// pointer equal to p: whether the record p points at is live (GC's
// filter and its measurements). The entry may carry a value prefix beside
// the pointer: the pointers are compared.
func (db *DB) pointsAt(key []byte, p kvsep.Pointer, seq uint64) (bool, error) {
	cur, found, err := db.idx.Get(key, seq)
	if err != nil || !found {
		return false, markCorrupt(err)
	}
	_, q, isPtr, err := decodeIndexValue(cur)
	if err != nil {
		return false, markCorrupt(err)
	}
	return isPtr && q == p, nil
}

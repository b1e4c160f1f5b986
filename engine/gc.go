package engine

import (
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"sync"
	"time"

	"github.com/talos-kv/talos/index"
	"github.com/talos-kv/talos/kvsep"
)

// gcRewrite is a batch of live values GC re-appends. Each record is kept
// only if its key still points at old[i] when the commit leader applies it.
type gcRewrite struct {
	recs    kvsep.Records
	old     []kvsep.Pointer
	lastSeq uint64
	kept    int
	dropped int
}

// awaitSegment is a collected segment whose deletion waits for the index
// checkpoint to pass end (the log's end after its rewrites). reclaim goes
// on to its pendingSegment.
type awaitSegment struct {
	num     uint64
	end     kvsep.Pos
	reclaim int64
}

// awaitDeletion records a collected segment, to be deleted once the
// checkpoint passes a.end.
func (db *DB) awaitDeletion(a awaitSegment) {
	db.readers.Lock()
	db.readers.awaiting = append(db.readers.awaiting, a)
	db.readers.Unlock()
}

// GCResult describes one GC pass.
type GCResult struct {
	Segments       []uint64 // segments collected (deleted, or awaiting readers)
	KeysRewritten  int
	KeysDropped    int // records no key pointed at any more
	BytesRead      int64
	BytesRewritten int64
}

// filterGC puts in out the records whose key still points at the old copy.
// Run by the commit leader with the pipeline empty (every earlier write is
// in the index), so no write can slip between check and append.
func (db *DB) filterGC(gc *gcRewrite, out *kvsep.Records) (*kvsep.Records, error) {
	out.Reset()
	out.SetGC(true)
	seq := db.visibleSeq.Load()
	for i := range gc.recs.Count() {
		_, key, value := gc.recs.At(i)
		live, err := db.pointsAt(key, gc.old[i], seq)
		if err != nil {
			return nil, err
		}
		if live {
			out.Add(kvsep.KindSet, key, value)
			gc.kept++
		} else {
			gc.dropped++
		}
	}
	if out.Count() == 0 {
		return nil, nil
	}
	return out, nil
}

// RunGC runs one value-log GC pass: it picks sealed segments entirely below
// the index checkpoint whose garbage (segment size minus the live bytes the
// index counts) is at least GC.MinGarbageRatio, most garbage first,
// re-appends the values keys still point at, makes them durable, records
// the segments' deletion in a version edit and deletes their files once no
// reader can need them. It flushes the memtable after rewriting, so that
// the space comes back within the call; the background goroutine does not
// (see runGC).
func (db *DB) RunGC(ctx context.Context) (GCResult, error) {
	return db.runGC(ctx, true)
}

// runGC is one GC pass. With flush false the collected segments are deleted
// once a natural flush carries the index checkpoint past their rewrites:
// forcing a flush on every pass made many small L0 tables, and each L0
// compaction then rewrote L1 for a fraction of its size (measured: the
// primary's compaction writes were 2.5-4x a build-index backup's for the
// same flushed bytes). The space a collected segment holds is reclaimed at
// most one memtable later.
func (db *DB) runGC(ctx context.Context, flush bool) (GCResult, error) {
	var res GCResult
	if db.opts.Mode != ModePrimary {
		return res, ErrReadOnly
	}
	if err := db.checkWritable(); err != nil {
		return res, err
	}
	db.gcMu.Lock()
	defer db.gcMu.Unlock()
	db.gcStats.runs.Add(1)
	if err := db.recordCollected(); err != nil {
		return res, err
	}
	db.removeReadySegments(false)
	cp, live := db.idx.Checkpoint(), db.idx.SegmentLive()
	db.forgetMeasured()
	if err := db.measureByIndex(cp); err != nil {
		return res, err
	}
	sp := db.logSpace(cp, live)
	db.updateBehind(sp)
	cands, skip := db.gcCandidates(cp, live)
	for _, n := range cands {
		// Past the limit, collecting more would only grow the log: the
		// space comes back with the flush maybeFlushForCollected requests.
		if db.awaitingOverLimit() {
			break
		}
		if live[n] <= 0 {
			db.collectDeadSegment(n, cp)
		} else if err := db.collectSegment(ctx, n, nil, &res); err != nil {
			return res, err
		}
		res.Segments = append(res.Segments, n)
		db.gcStats.segments.Add(1)
	}
	if len(cands) == 0 && db.gcBehind.Load() && !db.awaitingOverLimit() {
		// The counts may hide the garbage (gcmeasure.go): measure.
		if err := db.measureSegments(ctx, cp, skip, &res); err != nil {
			return res, err
		}
		if len(res.Segments) == 0 {
			db.maybeCompactL0(sp)
		}
	}
	if flush && len(res.Segments) > 0 {
		// Flush so that the checkpoint passes the rewrites now rather than
		// at the next natural flush: the space is reclaimed in this pass.
		if err := db.idx.Flush(ctx); err != nil {
			if errors.Is(err, index.ErrClosed) {
				return res, ErrClosed
			}
			return res, markCorrupt(err)
		}
	}
	if err := db.recordCollected(); err != nil {
		return res, err
	}
	db.removeReadySegments(false)
	db.maybeFlushForCollected()
	return res, nil
}

// maybeFlushForCollected requests an early flush when the collected
// segments that wait for one (their rewrites are in the memtable) hold
// more than the log may run past the checkpoint (GC.MaxUnflushedRatio):
// with a key set that a memtable covers, they reached the live data's size
// between natural flushes (measured with 20k keys, a 1 MiB memtable).
func (db *DB) maybeFlushForCollected() {
	if db.awaitingOverLimit() {
		db.idx.RequestFlush(0)
	}
}

// awaitingOverLimit reports whether the collected segments that wait for
// a flush hold more than GC.MaxUnflushedRatio allows the log to run past
// the checkpoint.
func (db *DB) awaitingOverLimit() bool {
	lim := db.unflushedLimit.Load()
	db.readers.Lock()
	waiting := uint64(len(db.readers.awaiting)) * uint64(db.opts.SegmentSize)
	db.readers.Unlock()
	return lim > 0 && waiting > lim
}

// recordCollected logs the deletion of collected segments whose rewrites
// the index checkpoint has passed: every flushed table then points at the
// new copies, so a ship-index backup, which sees only flushed tables, never
// installs a deletion while its tables still point into the segment.
func (db *DB) recordCollected() error {
	cp := kvsep.Pos(db.idx.Checkpoint())
	db.readers.Lock()
	var ready []awaitSegment
	var nums []uint64
	keep := db.readers.awaiting[:0]
	for _, a := range db.readers.awaiting {
		if !cp.Less(a.end) {
			ready = append(ready, a)
			nums = append(nums, a.num)
		} else {
			keep = append(keep, a)
		}
	}
	db.readers.awaiting = keep
	db.readers.Unlock()
	if len(ready) == 0 {
		return nil
	}
	if err := db.idx.ApplyEdit(&index.VersionEdit{DeletedSegments: nums}); err != nil {
		if errors.Is(err, index.ErrClosed) {
			return ErrClosed
		}
		return db.fail(fmt.Errorf("gc: record deletion of segments %v: %w", nums, err))
	}
	db.readers.Lock()
	for _, a := range ready {
		db.readers.pending = append(db.readers.pending, pendingSegment{num: a.num, seq: db.visibleSeq.Load(), reclaim: a.reclaim})
	}
	db.readers.Unlock()
	return nil
}

// minShadowedForFlush: an early flush (GC.MaxUnflushedRatio) needs this
// fraction of the memtable's entries to have replaced a version of their key
// that it held: the unflushed log then holds garbage that only a flush lets
// GC collect. A load of new keys has none, and early flushes would only add
// compaction work.
const minShadowedForFlush = 0.02

// l0ShadowRatio: GC asks for an L0 compaction once L0 holds this many
// entries per entry below it.
const l0ShadowRatio = 0.25

// maxSegmentsPerPass bounds the work of one pass so that Close stays prompt.
const maxSegmentsPerPass = 8

// gcCandidates picks the segments to collect, from the checkpoint and the
// index's live counts (read once per pass by runGC) or GC's measurements.
// skip holds the segments already collected (awaiting a flush or readers).
func (db *DB) gcCandidates(cp index.LogPos, live map[uint64]int64) (cands []uint64, skip map[uint64]bool) {
	active, _ := db.log.Active()
	db.readers.Lock()
	pending := make(map[uint64]bool, len(db.readers.pending))
	for _, p := range db.readers.pending {
		pending[p.num] = true
	}
	for _, a := range db.readers.awaiting {
		pending[a.num] = true
	}
	for n := range db.readers.removing {
		pending[n] = true
	}
	db.readers.Unlock()
	size := db.opts.SegmentSize
	type cand struct {
		num     uint64
		garbage int64
	}
	var found []cand
	for _, n := range db.log.Segments() {
		if n >= cp.Segment || n == active || pending[n] || !db.log.IsSealed(n) {
			continue
		}
		g := size - db.liveEstimate(n, live)
		if float64(g) >= db.opts.GC.MinGarbageRatio*float64(size) {
			found = append(found, cand{n, g})
		}
	}
	slices.SortFunc(found, func(a, b cand) int {
		if a.garbage != b.garbage {
			return int(b.garbage - a.garbage)
		}
		return int(a.num) - int(b.num)
	})
	cands = make([]uint64, 0, min(len(found), maxSegmentsPerPass))
	for i := 0; i < len(found) && i < maxSegmentsPerPass; i++ {
		cands = append(cands, found[i].num)
	}
	return cands, pending
}

// collectSegment rewrites the live values of sealed segment n and records
// its deletion. buf holds the segment's bytes if the caller read them;
// nil: collectSegment reads them.
func (db *DB) collectSegment(ctx context.Context, n uint64, buf []byte, res *GCResult) error {
	if buf == nil {
		var err error
		if buf, err = db.log.ReadSegment(db.gcCtx, n, nil); err != nil {
			return markCorrupt(err)
		}
		res.BytesRead += int64(len(buf))
	}
	rewrittenBefore := res.BytesRewritten
	if err := db.throttle(ctx, len(buf)); err != nil {
		return err
	}
	limit := min(db.opts.MaxGroupBytes, int(db.opts.SegmentSize/4))
	rw := new(gcRewrite)
	flushRW := func() error {
		if rw.recs.Count() == 0 {
			return nil
		}
		size := rw.recs.Len()
		if err := db.commit(&commitReq{gc: rw, wake: make(chan struct{}, 1)}); err != nil {
			return err
		}
		res.KeysRewritten += rw.kept
		res.KeysDropped += rw.dropped
		res.BytesRewritten += int64(size) * int64(rw.kept) / int64(rw.kept+rw.dropped)
		db.gcStats.keysRewritten.Add(uint64(rw.kept))
		db.gcStats.keysDropped.Add(uint64(rw.dropped))
		if err := db.throttle(ctx, size); err != nil {
			return err
		}
		rw = new(gcRewrite)
		return nil
	}
	_, err := kvsep.ScanSegment(buf, n, db.opts.SegmentSize, 0, true, func(f *kvsep.Frame) error {
		for i := range f.Records {
			r := &f.Records[i]
			if r.Kind != kvsep.KindSet {
				continue
			}
			if rw.recs.FrameLen()+kvsep.RecordLen(len(r.Key), len(r.Value)) > limit {
				if err := flushRW(); err != nil {
					return err
				}
			}
			rw.recs.Add(kvsep.KindSet, r.Key, r.Value)
			rw.old = append(rw.old, f.Pointers[i])
		}
		return nil
	})
	if err == nil {
		err = flushRW()
	}
	if err != nil {
		return markCorrupt(err)
	}
	rewritten := res.BytesRewritten - rewrittenBefore
	db.gcStats.bytesRewritten.Add(uint64(rewritten))
	// The rewrites must be durable before the old copies may go.
	if db.opts.Sync != SyncAlways {
		if err := db.log.Sync(); err != nil {
			return db.fail(fmt.Errorf("gc: sync value log: %w", err))
		}
	}
	// Its deletion is logged once the checkpoint passes the rewrites.
	// The writers' debt is paid when the file goes (removeReadySegments):
	// paying now let writers run a memtable ahead of the space coming back.
	db.awaitDeletion(awaitSegment{num: n, end: db.log.End(), reclaim: int64(len(buf)) - rewritten})
	return nil
}

// collectDeadSegment records the deletion of sealed segment n, below
// checkpoint cp, into which no table entry points: the index's count of
// its live bytes, which covers every version in the tables, shadowed ones
// too, is zero. (Not a measurement's zero: a measurement reads the
// memtable too, and while the version that shadows a value is only there,
// the tables, which ship-index backups hold and serve reads from, still
// point into the segment.) Reading it and looking its keys up would find
// nothing to rewrite. This is the common case of a segment whose values
// all live inline in the index, for which the log was only the
// write-ahead log.
//
// With nothing rewritten, its deletion need not wait for a flush: it is
// recorded at the end of this pass (end = cp, which the checkpoint has
// passed). Every version that shadowed one of its values is in a flushed
// table, below cp (a compaction drops a version only under a newer one),
// so a build-index backup, told the segment is gone at cp, deletes it once
// its own index has flushed past those versions too (invariant 9 of
// package replication).
func (db *DB) collectDeadSegment(n uint64, cp index.LogPos) {
	db.awaitDeletion(awaitSegment{num: n, end: kvsep.Pos(cp), reclaim: db.opts.SegmentSize})
	db.gcStats.deadSegments.Add(1)
}

// maybeCompactL0 asks the index for an L0 compaction when GC is behind and
// finds nothing to collect, though the counts call most of the flushed log
// live and L0 is large against the levels below (a key set that a few
// memtables cover). The live counts include the versions that L0's entries
// shadow until a compaction drops them, which then hides most of the
// garbage from GC. The compaction (cheap: entries hold pointers, not
// values) kicks a GC pass that sees it. Not otherwise: the extra
// compactions would cost more than they find, and a ship-index backup
// receives every table they write.
func (db *DB) maybeCompactL0(sp logSpace) {
	// Only when the counts say the flushed log is mostly live: a log
	// that is behind with segments the counts call garbage (collected,
	// awaiting a flush; inline values' records) has nothing to gain.
	if !db.gcBehind.Load() || float64(sp.liveBelow) <= 0.5*float64(sp.below) {
		return
	}
	if l0, below := db.idx.L0Entries(); float64(l0) > l0ShadowRatio*float64(below) {
		db.idx.RequestL0Compaction()
	}
}

// logSpace is the value log's size against the live bytes the index counts
// in it, from one GC pass's checkpoint and live counts.
type logSpace struct {
	total     int64 // every segment file
	live      int64 // below the checkpoint by their counts, the rest whole (unknown)
	below     int64 // segments below the checkpoint
	liveBelow int64 // their live counts
}

func (db *DB) logSpace(cp index.LogPos, live map[uint64]int64) logSpace {
	size := db.opts.SegmentSize
	var s logSpace
	for _, n := range db.log.Segments() {
		s.total += size
		if n >= cp.Segment {
			s.live += size
			continue
		}
		s.below += size
		s.liveBelow += db.liveEstimate(n, live)
	}
	s.live += s.liveBelow
	return s
}

// updateBehind sets gcBehind (and the headroom and debt limit that go with
// it) from sp.total against sp.live, and unflushedLimit from the live data
// below the checkpoint.
func (db *DB) updateBehind(sp logSpace) {
	if r := db.opts.GC.MaxUnflushedRatio; r > 0 && !db.opts.GC.Disable {
		// Inline values are live data too: they live in the tables.
		base := sp.liveBelow + int64(db.idx.Metrics().TableBytes)
		db.unflushedLimit.Store(uint64(max(4*db.opts.SegmentSize, int64(r*float64(base)))))
	}
	// A measurement of live bytes (gcmeasure.go) is redone once the log
	// has grown by a quarter of the live data.
	db.gcMeasureStale = uint64(max(sp.live/4, db.opts.SegmentSize))
	ratio := db.opts.GC.MaxSpaceRatio
	if ratio < 0 || db.opts.GC.Disable {
		db.gcBehind.Store(false)
		return
	}
	// Writes after this pass count as garbage-to-be until the next pass
	// says otherwise: the log may grow by headroom before GC is behind.
	headroom := int64(ratio*float64(sp.live)) - sp.total
	db.gcHeadroom.Store(db.linear(db.log.End()) + uint64(max(headroom, 0)))
	behind := headroom < 0
	db.gcDebt.Lock()
	db.gcDebt.limit = max(gcDebtLimit, sp.live/10)
	db.gcDebt.Unlock()
	db.gcBehind.Store(behind)
	if !behind {
		db.payGCDebt(0, true)
	}
}

// linear maps a log position to a byte count from the log's start.
func (db *DB) linear(p kvsep.Pos) uint64 {
	return p.Segment*uint64(db.opts.SegmentSize) + p.Offset
}

// gcDebt paces writers to GC while GC is behind (GC.MaxSpaceRatio): each
// write adds its bytes, each collected segment pays off the garbage it
// reclaimed once its file is removed, and a writer that finds the debt over its limit waits for a
// payment (at most gcMaxWait, so that a GC that can collect nothing never
// stops writes).
type gcDebt struct {
	sync.Mutex
	bytes int64
	limit int64         // gcDebtLimit or a tenth of the live bytes, if more
	paid  chan struct{} // closed and replaced at each payment
}

// gcDebtLimit is the least that writers may run ahead of GC while it is
// behind; the limit grows with the live data (a tenth of it).
const gcDebtLimit = 1 << 20

var gcMaxWait = time.Millisecond

// slowForGC makes a write of n bytes wait while GC is behind and the
// writers' debt to it is over its limit, until GC pays some of it off.
func (db *DB) slowForGC(n int) {
	if !db.gcBehind.Load() {
		if h := db.gcHeadroom.Load(); h == 0 || db.endLinear.Load() <= h {
			return
		}
		// The log grew past what the last pass allowed: behind until a
		// pass, kicked now, counts again.
		db.gcHeadroom.Store(0)
		db.gcBehind.Store(true)
		db.kickGC()
	}
	d := &db.gcDebt
	d.Lock()
	d.bytes += int64(n)
	if d.bytes <= d.limit {
		d.Unlock()
		return
	}
	db.gcStats.writeSlowdowns.Add(1)
	t := time.NewTimer(gcMaxWait)
	defer t.Stop()
	for d.bytes > d.limit {
		paid := d.paid
		d.Unlock()
		select {
		case <-paid:
		case <-t.C:
			return
		case <-db.quit:
			return
		}
		d.Lock()
	}
	d.Unlock()
}

// payGCDebt records n bytes reclaimed (or, with reset, that GC is no
// longer behind) and wakes the writers waiting for it.
func (db *DB) payGCDebt(n int64, reset bool) {
	d := &db.gcDebt
	d.Lock()
	defer d.Unlock()
	if reset {
		if d.bytes == 0 {
			return
		}
		d.bytes = 0
	} else {
		d.bytes = max(d.bytes-n, 0)
	}
	close(d.paid)
	d.paid = make(chan struct{})
}

// throttle waits so that GC stays under GC.BytesPerSecond, except while
// it is behind (GC.MaxSpaceRatio).
func (db *DB) throttle(ctx context.Context, n int) error {
	rate := db.opts.GC.BytesPerSecond
	if rate < 0 || n == 0 || db.gcBehind.Load() {
		return nil
	}
	d := time.Duration(float64(n) / float64(rate) * float64(time.Second))
	if d <= 0 {
		return nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	case <-db.quit:
		return ErrClosed
	}
}

// removeReadySegments deletes the files of GC'd segments that no open
// snapshot or iterator can read. Point reads in flight are waited for with
// a readMu barrier.
func (db *DB) removeReadySegments(closing bool) {
	db.readers.Lock()
	minSeq := uint64(math.MaxUint64)
	for s := range db.readers.seqs {
		minSeq = min(minSeq, s)
	}
	var ready []pendingSegment
	keep := db.readers.pending[:0]
	for _, p := range db.readers.pending {
		if p.seq <= minSeq {
			ready = append(ready, p)
			db.readers.removing[p.num] = true
		} else {
			keep = append(keep, p)
		}
	}
	db.readers.pending = keep
	db.readers.Unlock()
	if len(ready) == 0 {
		return
	}
	if !closing {
		db.readMu.Lock()
		db.readMu.Unlock() // an empty critical section: the barrier

	}
	defer func() {
		db.readers.Lock()
		for _, p := range ready {
			delete(db.readers.removing, p.num)
		}
		db.readers.Unlock()
	}()
	for _, p := range ready {
		if err := db.log.Remove(p.num); err != nil {
			// The deletion is recorded; a file left behind is collected
			// again by a later pass (no key points into it any more).
			db.opts.Logger.Warn("gc: remove segment", "segment", p.num, "err", err)
			continue
		}
		if p.reclaim > 0 {
			db.payGCDebt(p.reclaim, false)
		}
		if fn := db.opts.Listener.SegmentDeleted; fn != nil {
			fn(p.num)
		}
	}
}

// gcLoop runs GC passes in the background until Close.
func (db *DB) gcLoop() {
	defer db.wg.Done()
	ctx := db.bgCtx
	t := time.NewTimer(db.opts.GC.Interval)
	defer t.Stop()
	for {
		select {
		case <-db.quit:
			return
		case <-t.C:
		case <-db.gcKick:
		}
		res, err := db.runGC(ctx, false)
		switch {
		case err == nil:
		case errors.Is(err, ErrClosed), errors.Is(err, ErrStopped), errors.Is(err, context.Canceled):
			return
		default:
			db.opts.Logger.Error("gc pass failed", "err", err)
			if fn := db.opts.Listener.BackgroundError; fn != nil {
				fn(err)
			}
		}
		wait := db.opts.GC.Interval
		if len(res.Segments) > 0 {
			wait = 0
		}
		if !t.Stop() {
			select {
			case <-t.C:
			default:
			}
		}
		t.Reset(wait)
	}
}

// kickGC wakes the GC goroutine (after a flush changed the live counts).
func (db *DB) kickGC() {
	select {
	case db.gcKick <- struct{}{}:
	default:
	}
}

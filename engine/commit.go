package engine

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/talos-kv/talos/index"
	"github.com/talos-kv/talos/kvsep"
)

// commitReq is one writer waiting in the group commit queue.
type commitReq struct {
	recs *kvsep.Records
	gc   *gcRewrite // non-nil: a GC rewrite, committed in a group of its own
	// wake is signalled when the request becomes the leader (lead) or its
	// group finished (done, with err). Guarded by db.cq.
	wake       chan struct{}
	lead, done bool
	err        error
	// plan is where recs go in the memtable, found by the writer before
	// it queued (index.ApplyPlan): the searches of writers waiting in the
	// queue run in parallel, and publish, one group at a time, only links.
	plan index.ApplyPlan
}

var reqPool = sync.Pool{New: func() any { return &commitReq{wake: make(chan struct{}, 1)} }}

// inflight is one group commit from its append to its publication, with
// the memory it needs (recycled through db.cq.free).
type inflight struct {
	group   []*commitReq
	batches []*kvsep.Records
	pos     []kvsep.FramePos
	waits   []func() error // CommitHook waits of the group's ranges
	post    func(kvsep.Range) error
	eb      entryBuilder
	plan    index.ApplyPlan // where eb's entries go: the writers' plans joined
	plans   []*index.ApplyPlan
	gcRecs  kvsep.Records
	seq     uint64 // first seq of the group
	last    uint64
	end     kvsep.Pos // the value log's end after the group's frames
	// turn receives a token when the group is at the head of the pipe:
	// its turn to publish.
	turn chan struct{}
}

var batchPool = sync.Pool{New: func() any { return new(Batch) }}

// Put sets key to value.
func (db *DB) Put(key, value []byte) error {
	b := batchPool.Get().(*Batch)
	b.Set(key, value)
	err := db.Apply(b)
	b.Reset()
	batchPool.Put(b)
	return err
}

// Delete removes key.
func (db *DB) Delete(key []byte) error {
	b := batchPool.Get().(*Batch)
	b.Delete(key)
	err := db.Apply(b)
	b.Reset()
	batchPool.Put(b)
	return err
}

// Apply commits b atomically. When it returns nil the writes are visible
// and, under SyncAlways, durable; the CommitHook (if any) has accepted them.
func (db *DB) Apply(b *Batch) error {
	if b.err != nil {
		return b.err
	}
	if b.recs.Count() == 0 {
		return nil
	}
	if err := db.checkWritable(); err != nil {
		return err
	}
	if int64(b.recs.FrameLen()) > db.opts.SegmentSize-64 {
		return fmt.Errorf("%w: batch of %d bytes does not fit a value-log segment of %d bytes",
			ErrTooLarge, b.recs.FrameLen(), db.opts.SegmentSize)
	}
	db.slowForGC(b.recs.FrameLen())
	req := reqPool.Get().(*commitReq)
	req.recs = &b.recs
	db.idx.StartPlan(&req.plan)
	for i := range b.recs.Count() {
		_, key, _ := b.recs.At(i)
		req.plan.Add(key)
	}
	err := db.commit(req)
	req.plan.Clear()
	*req = commitReq{wake: req.wake, plan: req.plan}
	reqPool.Put(req)
	return err
}

// commit runs req through the pipelined group commit:
//
//  1. Append. The writer at the head of the queue becomes the leader when
//     the pipeline has room (a GC rewrite waits for it to be empty: its
//     filter must read the index with every earlier write applied). It
//     takes the requests queued behind it (up to MaxGroupBytes), appends
//     their frames with one write and posts them through the CommitHook,
//     then leaves the queue: the next leader may append while this group
//     waits.
//  2. Durability, concurrently with other groups: one SyncThrough
//     (SyncAlways; an fsync in progress for an earlier group is not
//     repeated if it covered this one) and the CommitHook's waits (the
//     backups hold the bytes).
//  3. Publication, in append order: the group's records go to the index
//     and visibleSeq moves past them, then its writers wake. A group that
//     failed in step 2 stops the engine, and every group behind it fails.
func (db *DB) commit(req *commitReq) error {
	db.cq.Lock()
	if db.cq.closing {
		db.cq.Unlock()
		return ErrClosed
	}
	db.cq.queue = append(db.cq.queue, req)
	if len(db.cq.queue) == 1 && db.pipeRoomLocked(req) {
		req.lead = true
	}
	for !req.lead && !req.done {
		db.cq.Unlock()
		db.cq.spin.await(req.wake)
		db.cq.Lock()
	}
	if req.done {
		err := req.err
		db.cq.Unlock()
		return err
	}
	n := 1
	if req.gc == nil {
		bytes := req.recs.FrameLen()
		for n < len(db.cq.queue) {
			next := db.cq.queue[n]
			if next.gc != nil || bytes+next.recs.FrameLen() > db.opts.MaxGroupBytes {
				break
			}
			bytes += next.recs.FrameLen()
			n++
		}
	}
	f := db.takeInflightLocked()
	f.group = append(f.group[:0], db.cq.queue[:n]...)
	db.cq.Unlock()

	appended, err := db.appendGroup(f)

	db.cq.Lock()
	k := copy(db.cq.queue, db.cq.queue[n:])
	clear(db.cq.queue[k:])
	db.cq.queue = db.cq.queue[:k]
	if err != nil || !appended {
		db.finishLocked(f, err)
		db.nextLeaderLocked()
		db.cq.Unlock()
		return err
	}
	db.cq.pipe = append(db.cq.pipe, f)
	if len(db.cq.pipe) == 1 {
		f.turn <- struct{}{}
	}
	db.nextLeaderLocked()
	db.cq.Unlock()

	err = db.makeDurable(f)

	db.cq.spin.await(f.turn)
	if err == nil {
		// A group ahead of this one failed (and stopped the engine):
		// publishing this one would leave a gap in the index.
		err = db.Err()
	}
	if err == nil {
		db.publish(f)
	}
	db.cq.Lock()
	k = copy(db.cq.pipe, db.cq.pipe[1:])
	db.cq.pipe[k] = nil
	db.cq.pipe = db.cq.pipe[:k]
	if k > 0 {
		db.cq.pipe[0].turn <- struct{}{}
	}
	db.finishLocked(f, err)
	db.nextLeaderLocked()
	db.cq.Unlock()
	return err
}

// pipeRoomLocked reports whether req, at the head of the queue, may lead.
func (db *DB) pipeRoomLocked(req *commitReq) bool {
	if req.gc != nil {
		return len(db.cq.pipe) == 0
	}
	return len(db.cq.pipe) < db.opts.CommitPipeline
}

// nextLeaderLocked wakes the head of the queue if it may lead now and no
// leader is appending (a leader leaves the queue only after its append).
func (db *DB) nextLeaderLocked() {
	if len(db.cq.queue) == 0 {
		if len(db.cq.pipe) == 0 {
			db.cq.cond.Broadcast() // Close waits for an empty pipeline
		}
		return
	}
	head := db.cq.queue[0]
	if !head.lead && db.pipeRoomLocked(head) {
		head.lead = true
		head.wake <- struct{}{}
	}
}

func (db *DB) takeInflightLocked() *inflight {
	if k := len(db.cq.free); k > 0 {
		f := db.cq.free[k-1]
		db.cq.free = db.cq.free[:k-1]
		return f
	}
	f := &inflight{turn: make(chan struct{}, 1)}
	f.eb.prefix = db.opts.ValuePrefix
	f.post = func(r kvsep.Range) error {
		wait, err := db.opts.CommitHook(r)
		if wait != nil {
			f.waits = append(f.waits, wait)
		}
		return err
	}
	return f
}

// finishLocked wakes f's writers with err and recycles f. The leader (the
// caller) is not woken: it returns err itself.
func (db *DB) finishLocked(f *inflight, err error) {
	for i, r := range f.group {
		r.done, r.err = true, err
		if i > 0 {
			r.wake <- struct{}{}
		}
	}
	clear(f.group)
	f.group = f.group[:0]
	clear(f.batches)
	f.batches = f.batches[:0]
	clear(f.waits)
	f.waits = f.waits[:0]
	// Apply cleared the plan of a group that published; one that did not
	// would hold its memtable here. A GC group is never planned: its plan
	// stays empty from here.
	f.plan.Clear()
	db.cq.free = append(db.cq.free, f)
}

// appendGroup is step 1, run by the leader alone: it makes room in the
// index, appends the group's frames (a GC rewrite: the records keys still
// point at) and posts them through the CommitHook. appended is false if a
// GC rewrite had nothing left to write.
func (db *DB) appendGroup(f *inflight) (appended bool, err error) {
	if err := db.Err(); err != nil {
		return false, err
	}
	if err := db.idx.MakeRoom(context.Background()); err != nil {
		if errors.Is(err, index.ErrClosed) {
			return false, ErrClosed
		}
		return false, db.fail(markCorrupt(err))
	}
	if gc := f.group[0].gc; gc != nil {
		recs, err := db.filterGC(gc, &f.gcRecs)
		if err != nil || recs == nil {
			return false, err
		}
		f.batches = append(f.batches, recs)
	} else {
		for _, r := range f.group {
			f.batches = append(f.batches, r.recs)
		}
	}
	if cap(f.pos) < len(f.batches) {
		f.pos = make([]kvsep.FramePos, len(f.batches))
	}
	f.pos = f.pos[:len(f.batches)]
	var post func(kvsep.Range) error
	if db.opts.CommitHook != nil {
		post = f.post
	}
	f.seq = db.nextSeq
	if err := db.log.Append(f.batches, f.seq, f.pos, post); err != nil {
		if errors.Is(err, kvsep.ErrTooLarge) {
			return false, fmt.Errorf("%w: %w", ErrTooLarge, err)
		}
		return false, db.fail(err)
	}
	f.end = db.log.End()
	var records uint64
	for _, b := range f.batches {
		records += uint64(b.Count())
	}
	f.last = f.seq + records - 1
	db.nextSeq = f.last + 1
	return true, nil
}

// makeDurable is step 2: the group's index entries are built while its
// bytes travel, then the local sync and the backups' acknowledgements are
// awaited.
func (db *DB) makeDurable(f *inflight) error {
	f.eb.reset()
	for i, b := range f.batches {
		for j := range b.Count() {
			kind, key, value := b.At(j)
			f.eb.add(db.opts.ValueThreshold, kind, key, value, b.Pointer(f.pos[i], j))
		}
	}
	if f.group[0].gc == nil {
		f.plans = f.plans[:0]
		for _, r := range f.group {
			f.plans = append(f.plans, &r.plan)
		}
		f.plan.Join(f.plans...)
		clear(f.plans)
	}
	if db.opts.Sync == SyncAlways {
		synced, err := db.log.SyncThrough(f.end)
		if err != nil {
			return db.fail(err)
		}
		if synced {
			db.syncs.Add(1)
		}
	}
	for _, wait := range f.waits {
		if err := wait(); err != nil {
			return db.fail(fmt.Errorf("commit hook: %w", err))
		}
	}
	return nil
}

// publish is step 3, run in append order.
func (db *DB) publish(f *inflight) {
	db.idx.Apply(f.seq, f.eb.finish(), index.LogPos(f.end), &f.plan)
	db.visibleSeq.Store(f.last)
	if gc := f.group[0].gc; gc != nil {
		gc.lastSeq = f.last
	}
	db.commits.Add(uint64(len(f.group)))
	db.groups.Add(1)
	end := db.linear(f.end)
	db.endLinear.Store(end)
	if lim := db.unflushedLimit.Load(); lim > 0 && end > db.cpLinear.Load()+lim {
		db.idx.RequestFlush(minShadowedForFlush)
	}
}

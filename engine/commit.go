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
	done bool
	err  error
}

// leaderScratch is memory reused by successive commit leaders.
type leaderScratch struct {
	batches []*kvsep.Records
	pos     []kvsep.FramePos
	eb      entryBuilder
	gcRecs  kvsep.Records
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
	db.slowForGC()
	return db.commit(&commitReq{recs: &b.recs})
}

// commit queues req. The writer at the head of the queue becomes the
// leader: it takes the requests queued behind it (up to MaxGroupBytes),
// appends their frames with one write, syncs once, applies them to the
// index and wakes their writers.
func (db *DB) commit(req *commitReq) error {
	db.cq.Lock()
	if db.cq.closing {
		db.cq.Unlock()
		return ErrClosed
	}
	db.cq.queue = append(db.cq.queue, req)
	for !req.done && db.cq.queue[0] != req {
		db.cq.cond.Wait()
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
	group := db.cq.queue[:n:n]
	db.cq.Unlock()

	err := db.commitGroup(group)

	db.cq.Lock()
	for _, r := range group {
		r.done, r.err = true, err
	}
	k := copy(db.cq.queue, db.cq.queue[n:])
	clear(db.cq.queue[k:])
	db.cq.queue = db.cq.queue[:k]
	db.cq.cond.Broadcast()
	db.cq.Unlock()
	return err
}

// commitGroup is run by the leader only.
func (db *DB) commitGroup(group []*commitReq) error {
	if err := db.Err(); err != nil {
		return err
	}
	if err := db.idx.MakeRoom(context.Background()); err != nil {
		if errors.Is(err, index.ErrClosed) {
			return ErrClosed
		}
		return db.fail(markCorrupt(err))
	}
	s := &db.scratch
	s.batches = s.batches[:0]
	if gc := group[0].gc; gc != nil {
		recs, err := db.filterGCLocked(gc)
		if err != nil || recs == nil {
			return err
		}
		s.batches = append(s.batches, recs)
	} else {
		for _, r := range group {
			s.batches = append(s.batches, r.recs)
		}
	}
	if cap(s.pos) < len(s.batches) {
		s.pos = make([]kvsep.FramePos, len(s.batches))
	}
	s.pos = s.pos[:len(s.batches)]
	seq := db.nextSeq
	if err := db.log.Append(s.batches, seq, s.pos, db.opts.CommitHook); err != nil {
		if errors.Is(err, kvsep.ErrTooLarge) {
			return fmt.Errorf("%w: %w", ErrTooLarge, err)
		}
		return db.fail(err)
	}
	if db.opts.Sync == SyncAlways {
		if err := db.log.Sync(); err != nil {
			return db.fail(err)
		}
		db.syncs.Add(1)
	}
	s.eb.reset()
	for i, b := range s.batches {
		for j := range b.Count() {
			kind, key, value := b.At(j)
			s.eb.add(db.opts.ValueThreshold, kind, key, value, b.Pointer(s.pos[i], j))
		}
	}
	entries := s.eb.finish()
	db.idx.Apply(seq, entries, index.LogPos(db.log.End()))
	last := seq + uint64(len(entries)) - 1
	db.nextSeq = last + 1
	db.visibleSeq.Store(last)
	if gc := group[0].gc; gc != nil {
		gc.lastSeq = last
	}
	db.commits.Add(uint64(len(group)))
	db.groups.Add(1)
	return nil
}

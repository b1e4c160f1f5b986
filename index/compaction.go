package index

import (
	"bytes"
	"context"
	"fmt"
	"slices"

	"github.com/cockroachdb/pebble/v2/sstable/block"
	"github.com/talos-kv/talos/internal/iostat"
)

// maybeScheduleCompactionLocked starts background compactions while there
// is work and the concurrency limit allows.
func (x *Index) maybeScheduleCompactionLocked() {
	if x.opts.DisableCompactions {
		return
	}
	for x.errLocked() == nil && x.mu.compactions < x.opts.MaxConcurrentCompactions {
		c := x.pickLocked()
		if c == nil {
			return
		}
		x.mu.compactions++
		x.wg.Add(1)
		go func() {
			defer x.wg.Done()
			x.runCompaction(c)
		}()
	}
}

// RequestL0Compaction compacts L0 into the level below as soon as L0's
// inputs are free, however few files it holds. Value-log GC asks for it
// when it is behind: an entry in L0 that shadows one below keeps the older
// value counted live (SegmentLive) until a compaction drops it, and with a
// key set that a few memtables cover, that overcount hides most of the
// garbage. Index compaction is cheap next to value-log GC (entries hold
// pointers, not values). No-op with DisableCompactions or an empty L0.
func (x *Index) RequestL0Compaction() {
	x.mu.Lock()
	defer x.mu.Unlock()
	if x.opts.DisableCompactions || len(x.mu.v.levels[0]) == 0 {
		return
	}
	if !x.mu.forceL0 {
		x.mu.forceL0 = true
		x.mu.m.RequestedCompactions++
	}
	x.maybeScheduleCompactionLocked()
}

// L0Entries returns the entries in L0 and in the levels below it.
func (x *Index) L0Entries() (l0, below uint64) {
	x.mu.Lock()
	defer x.mu.Unlock()
	for l, ts := range x.mu.v.levels {
		for _, t := range ts {
			if l == 0 {
				l0 += t.meta.Entries
			} else {
				below += t.meta.Entries
			}
		}
	}
	return l0, below
}

// runCompaction runs c and reschedules; its errors stop the index when they
// concern durable state.
func (x *Index) runCompaction(c *compaction) {
	err := x.compact(c)
	x.mu.Lock()
	x.mu.compactions--
	x.finishCompactionLocked(c)
	if err != nil {
		x.failLocked(err)
	}
	x.maybeScheduleCompactionLocked()
	x.notifyLocked()
	x.mu.Unlock()
	x.deleteObsolete(c.v.unref())
}

func (x *Index) finishCompactionLocked(c *compaction) {
	for _, in := range c.inputs {
		for _, t := range in {
			t.compacting = false
		}
	}
	if c.level > 0 && len(c.inputs[0]) > 0 {
		x.mu.compactPointer[c.level] = slices.Clone(c.inputs[0][len(c.inputs[0])-1].meta.Largest)
	}
}

// compact writes c's outputs and logs the edit.
func (x *Index) compact(c *compaction) error {
	out := c.level + 1
	e := &VersionEdit{}
	for i, in := range c.inputs {
		for _, t := range in {
			e.Deleted = append(e.Deleted, DeletedTable{Level: c.level + i, Num: t.meta.Num})
		}
	}
	if c.trivial {
		for _, t := range c.inputs[0] {
			e.Added = append(e.Added, NewTable{Level: out, Meta: t.meta})
		}
		return x.logAndApply(e, "compaction", func() { x.mu.m.TrivialMoves++ })
	}
	var pool block.BufferPool
	pool.Init(8)
	defer pool.Release() // after m is closed (below)
	ctx := context.WithValue(x.compCtx, bufferPoolKey{}, &pool)
	m := &mergingIter{}
	var inBytes uint64
	for i, in := range c.inputs {
		for _, t := range in {
			inBytes += t.meta.Size
		}
		if i == 0 && c.level == 0 {
			for _, t := range in {
				m.children = append(m.children, &levelIter{x: x, ctx: ctx, tables: []*table{t}})
			}
		} else if len(in) > 0 {
			m.children = append(m.children, &levelIter{x: x, ctx: ctx, tables: in})
		}
	}
	delta := segDelta{}
	unref := func(kind Kind, v []byte) { x.addRef(delta, kind, v, -1) }
	// The filter runs on every entry the shadowing rules keep; a deleted
	// entry becomes a tombstone at its seq, or nothing at the bottom
	// (filter.go, doc.go invariant 9). Flushes never filter.
	filter := x.newCompactionFilter(c)
	var (
		b       *tableBuilder
		outputs []TableMeta
		dels    []int64
		lastKey []byte
	)
	finish := func() error {
		if b == nil {
			return nil
		}
		meta, err := b.finish()
		if err != nil {
			b.abort()
			b = nil
			return err
		}
		outputs = append(outputs, meta)
		dels = append(dels, b.deletions)
		b = nil
		return nil
	}
	err := compactEntries(m, c.snaps, c.bottom,
		func(k []byte, tr uint64, v []byte) error {
			if filter != nil {
				var keep bool
				if tr, v, keep = filter.apply(k, tr, v, unref); !keep {
					return nil
				}
			}
			if b != nil && b.estimatedSize() >= uint64(x.opts.TargetFileSize) && !bytes.Equal(k, lastKey) {
				if err := finish(); err != nil {
					return err
				}
			}
			if b == nil {
				nb, err := x.newTableBuilder(x.nextFileNum.Add(1)-1, out, "compaction", iostat.Compaction)
				if err != nil {
					return err
				}
				b = nb
			}
			lastKey = append(lastKey[:0], k...)
			if err := b.add(k, tr, v); err != nil {
				return fmt.Errorf("index: compaction write table %d: %w", b.num, err)
			}
			return nil
		},
		unref)
	if err == nil {
		err = finish()
	}
	if cerr := m.close(); err == nil && cerr != nil {
		err = cerr
	}
	if err != nil {
		if b != nil {
			b.abort()
		}
		for _, o := range outputs {
			_ = x.opts.FS.Remove(x.opts.FS.PathJoin(x.dir, tableFileName(o.Num)))
		}
		// A failed table write is fatal, and so is a bad input table:
		// retrying would fail the same way, and the tree cannot progress.
		return err
	}
	if len(outputs) > 0 {
		if err := syncDir(x.opts.FS, x.dir); err != nil {
			return err
		}
	}
	var outBytes uint64
	for _, o := range outputs {
		e.Added = append(e.Added, NewTable{Level: out, Meta: o})
		outBytes += o.Size
	}
	if len(delta) > 0 {
		e.SegmentLive = delta
	}
	return x.logAndApply(e, "compaction", func() {
		x.mu.m.Compactions++
		x.mu.m.CompactionBytesIn += inBytes
		x.mu.m.CompactionBytesOut += outBytes
		if filter != nil {
			x.mu.m.FilterTombstoned += filter.tombstoned
			x.mu.m.FilterDropped += filter.dropped
		}
		for i, o := range outputs {
			x.mu.tables[o.Num].deletions = dels[i]
		}
	})
}

// Compact runs compactions until no level scores >= 1 (for tests and
// benchmarks; it compacts even with DisableCompactions).
func (x *Index) Compact(ctx context.Context) error {
	for {
		x.mu.Lock()
		if err := x.errLocked(); err != nil {
			x.mu.Unlock()
			return err
		}
		c := x.pickLocked()
		if c == nil {
			busy := x.mu.compactions > 0 || x.mu.flushing || len(x.mu.imm) > 0
			if !busy {
				x.mu.Unlock()
				return nil
			}
			ch := x.mu.changed
			x.mu.Unlock()
			select {
			case <-ch:
				continue
			case <-ctx.Done():
				return ctx.Err()
			}
		}
		x.mu.compactions++
		x.mu.Unlock()
		err := x.compact(c)
		x.mu.Lock()
		x.mu.compactions--
		x.finishCompactionLocked(c)
		if err != nil {
			x.failLocked(err)
		}
		x.notifyLocked()
		x.mu.Unlock()
		x.deleteObsolete(c.v.unref())
		if err != nil {
			return x.fail(err)
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
	}
}

// WaitIdle waits until no flush or compaction is running or due.
func (x *Index) WaitIdle(ctx context.Context) error {
	return x.waitFor(ctx, func() bool {
		if len(x.mu.imm) > 0 || x.mu.flushing || x.mu.compactions > 0 {
			return false
		}
		if x.opts.DisableCompactions {
			return true
		}
		for l := 0; l < len(x.mu.v.levels)-1; l++ {
			if x.levelScoreLocked(x.mu.v, l) >= 1 {
				// Due but not started: only possible while inputs are busy,
				// which the checks above exclude; kick the scheduler.
				x.maybeScheduleCompactionLocked()
				return x.mu.compactions == 0
			}
		}
		return true
	})
}

// CompactAll flushes, then rewrites every level in turn into the next one,
// down to the last level, whatever the scores, and the last level whole:
// afterwards all data is in the last level, with shadowed versions,
// tombstones and what the compaction filter deletes dropped (except what
// open snapshots need). For tests, benchmarks and maintenance.
func (x *Index) CompactAll(ctx context.Context) error {
	if err := x.Flush(ctx); err != nil {
		return err
	}
	for l := 0; l < x.opts.NumLevels-1; l++ {
		var c *compaction
		for {
			x.mu.Lock()
			if err := x.errLocked(); err != nil {
				x.mu.Unlock()
				return err
			}
			if x.mu.compactions == 0 {
				c = x.pickAllLocked(l)
				if c != nil {
					x.mu.compactions++
				}
				x.mu.Unlock()
				break
			}
			ch := x.mu.changed
			x.mu.Unlock()
			select {
			case <-ch:
			case <-ctx.Done():
				return ctx.Err()
			}
		}
		if c == nil {
			continue
		}
		err := x.compact(c)
		x.mu.Lock()
		x.mu.compactions--
		x.finishCompactionLocked(c)
		if err != nil {
			x.failLocked(err)
		}
		x.notifyLocked()
		x.mu.Unlock()
		x.deleteObsolete(c.v.unref())
		if err != nil {
			return x.fail(err)
		}
	}
	return nil
}

// pickAllLocked returns a compaction of every table of level l with the
// tables they overlap in l+1, or nil if l is empty. Into the last level it
// takes every table of the last level, so that the last step of CompactAll
// rewrites all of it, even tables nothing above overlaps (an empty l then
// rewrites the last level in place): versions kept for snapshots since
// closed, and entries the compaction filter now deletes, go too. No
// compaction may be running.
func (x *Index) pickAllLocked(l int) *compaction {
	v := x.mu.v
	last := len(v.levels) - 1
	if len(v.levels[l]) == 0 && (l+1 != last || len(v.levels[last]) == 0) {
		return nil
	}
	start := append([]*table(nil), v.levels[l]...)
	var next []*table
	if l+1 == last {
		next = append([]*table(nil), v.levels[last]...)
	} else {
		lo, hi := hull(start)
		next = v.overlapping(l+1, lo, hi)
	}
	c := &compaction{level: l, inputs: [2][]*table{start, next}, v: v}
	c.lo, c.hi = hull(append(append([]*table(nil), start...), next...))
	c.bottom = true
	for below := l + 2; below < len(v.levels); below++ {
		if len(v.overlapping(below, c.lo, c.hi)) > 0 {
			c.bottom = false
			break
		}
	}
	for _, in := range c.inputs {
		for _, t := range in {
			t.compacting = true
		}
	}
	v.ref()
	c.snaps = x.snapshotSeqsLocked()
	return c
}

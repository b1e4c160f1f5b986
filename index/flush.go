package index

import (
	"bytes"
	"context"
	"fmt"
	"slices"

	"github.com/talos-kv/talos/internal/iostat"
)

// flushLoop is the flush goroutine: it flushes immutable memtables, oldest
// first, whenever it is kicked. Owned by the Index; stopped by Close.
func (x *Index) flushLoop() {
	defer x.wg.Done()
	for {
		select {
		case <-x.quit:
			return
		case <-x.flushKick:
		}
		for {
			x.mu.Lock()
			if x.errLocked() != nil || len(x.mu.imm) == 0 {
				x.mu.Unlock()
				break
			}
			m := x.mu.imm[0]
			x.mu.flushing = true
			x.mu.Unlock()
			err := x.flush(m)
			x.mu.Lock()
			x.mu.flushing = false
			if err != nil {
				x.failLocked(err)
			}
			x.maybeScheduleCompactionLocked()
			x.notifyLocked()
			x.mu.Unlock()
			if err != nil {
				break
			}
			select {
			case <-x.quit:
				return
			default:
			}
		}
	}
}

// dropper accumulates the value-log bytes that entries keep alive.
type segDelta map[uint64]int64

func (x *Index) addRef(d segDelta, kind Kind, value []byte, sign int64) {
	if x.opts.ValueRef == nil || kind != KindSet {
		return
	}
	if seg, n, ok := x.opts.ValueRef(value); ok {
		d[seg] += sign * n
	}
}

// compactEntries runs the shadowing rules over in (see doc.go, invariant 4):
// in each snapshot stripe only the newest version of a key survives, and a
// tombstone in the oldest stripe is dropped too when elide is set (nothing
// older lies below). emit receives survivors, drop the rest.
func compactEntries(in internalIter, snaps []uint64, elide bool,
	emit func(key []byte, trailer uint64, value []byte) error,
	drop func(kind Kind, value []byte),
) error {
	var prev []byte
	lastStripe := -1
	for in.first(); in.valid(); in.next() {
		k, tr := in.key(), in.trailer()
		seq, kind := tr>>8, Kind(tr&0xff)
		stripe, _ := slices.BinarySearch(snaps, seq)
		if prev == nil || !bytes.Equal(k, prev) {
			prev = append(prev[:0], k...)
			if prev == nil {
				prev = []byte{}
			}
			lastStripe = -1
		}
		v, err := in.value()
		if err != nil {
			return err
		}
		if stripe == lastStripe {
			drop(kind, v)
			continue
		}
		lastStripe = stripe
		if kind == KindDelete && elide && stripe == 0 {
			drop(kind, v)
			continue
		}
		if err := emit(k, tr, v); err != nil {
			return err
		}
	}
	return in.err()
}

// flush writes memtable m to an L0 table and logs the edit.
func (x *Index) flush(m *memtable) error {
	delta := segDelta{}
	var b *tableBuilder
	var meta *TableMeta
	if !m.empty() {
		num := x.nextFileNum.Add(1) - 1
		var err error
		b, err = x.newTableBuilder(num, 0, "flush", iostat.Flush)
		if err != nil {
			return err
		}
		// A flush keeps every version (see doc.go, invariant 4): a reader
		// may hold a seq older than the newest entries of the memtable.
		it := &memIter{m: m}
		for it.first(); it.valid() && err == nil; it.next() {
			v, _ := it.value()
			x.addRef(delta, Kind(it.trailer()&0xff), v, +1)
			err = b.add(it.key(), it.trailer(), v)
		}
		if err != nil {
			b.abort()
			return fmt.Errorf("index: flush table %d: %w", num, err)
		}
		mt, err := b.finish()
		if err != nil {
			b.abort()
			return err
		}
		meta = &mt
		if err := syncDir(x.opts.FS, x.dir); err != nil {
			return err
		}
	}
	e := &VersionEdit{LastSeq: m.maxSeq}
	if meta != nil {
		e.Added = []NewTable{{Level: 0, Meta: *meta}}
	}
	if m.hasEnd {
		end := m.end
		e.Checkpoint = &end
	}
	if len(delta) > 0 {
		e.SegmentLive = delta
	}
	err := x.logAndApply(e, "flush", func() {
		if len(x.mu.imm) == 0 || x.mu.imm[0] != m {
			panic("index: flushed memtable is not the oldest immutable memtable")
		}
		x.mu.imm = x.mu.imm[1:]
		x.mu.m.Flushes++
		if meta != nil {
			x.mu.m.FlushBytes += meta.Size
			x.mu.tables[meta.Num].deletions = b.deletions
		}
	})
	return err
}

// RequestFlush rotates the mutable memtable, scheduling its flush, unless
// it is empty, fewer than minShadowed of its entries replaced a version of
// their key that it already held (a load of new keys gains nothing from an
// early flush), or an earlier memtable still awaits its flush (so that
// early requests never pile up small memtables). It does not wait. It
// reports whether it rotated.
func (x *Index) RequestFlush(minShadowed float64) bool {
	x.applyMu.Lock()
	defer x.applyMu.Unlock()
	x.mu.Lock()
	defer x.mu.Unlock()
	m := x.mem
	if x.errLocked() != nil || m.empty() || len(x.mu.imm) > 0 || x.mu.flushing ||
		float64(m.shadowed) < minShadowed*float64(m.count) {
		return false
	}
	x.rotateLocked()
	x.mu.m.RequestedFlushes++
	return true
}

// Flush rotates the memtable (if non-empty) and waits until every
// immutable memtable is flushed.
func (x *Index) Flush(ctx context.Context) error {
	x.applyMu.Lock()
	x.mu.Lock()
	if err := x.errLocked(); err != nil {
		x.mu.Unlock()
		x.applyMu.Unlock()
		return err
	}
	if !x.mem.empty() {
		x.rotateLocked()
	}
	x.mu.Unlock()
	x.applyMu.Unlock()
	return x.waitFor(ctx, func() bool { return len(x.mu.imm) == 0 && !x.mu.flushing })
}

// waitFor waits until cond (evaluated under mu) holds, the index fails or
// closes, or ctx ends.
func (x *Index) waitFor(ctx context.Context, cond func() bool) error {
	for {
		x.mu.Lock()
		if err := x.errLocked(); err != nil {
			x.mu.Unlock()
			return err
		}
		if cond() {
			x.mu.Unlock()
			return nil
		}
		ch := x.mu.changed
		x.mu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

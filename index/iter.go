package index

import (
	"bytes"
	"context"
	"errors"
	"slices"
)

// internalIter walks internal entries in (user key asc, seq desc) order.
type internalIter interface {
	first()
	seekGE(key []byte)
	next()
	valid() bool
	key() []byte
	trailer() uint64
	value() ([]byte, error)
	err() error
	close() error
}

func sortUint64(s []uint64) { slices.Sort(s) }

// cmpInternal orders (key a, trailer ta) against (b, tb).
func cmpInternal(a []byte, ta uint64, b []byte, tb uint64) int {
	if c := bytes.Compare(a, b); c != 0 {
		return c
	}
	switch {
	case ta > tb:
		return -1
	case ta < tb:
		return 1
	}
	return 0
}

// levelIter concatenates the tables of one sorted level, opening each
// table's iterator only when the walk reaches it.
type levelIter struct {
	x            *Index
	ctx          context.Context
	tables       []*table
	lower, upper []byte
	i            int
	cur          *tableIter
	e            error
}

func (li *levelIter) open(i int) {
	if li.cur != nil {
		if err := li.cur.close(); err != nil && li.e == nil {
			li.e = err
		}
		li.cur = nil
	}
	li.i = i
	if i >= len(li.tables) || li.e != nil {
		return
	}
	t := li.tables[i]
	if li.upper != nil && cmpKey(t.meta.Smallest, li.upper) >= 0 {
		li.i = len(li.tables)
		return
	}
	it, err := li.x.newTableIter(li.ctx, t, li.lower, li.upper)
	if err != nil {
		li.e = err
		return
	}
	li.cur = it
}

// skipEmpty moves to following tables while the current one is exhausted.
func (li *levelIter) skipEmpty() {
	for li.cur != nil && !li.cur.valid() {
		if err := li.cur.err(); err != nil {
			li.e = err
			return
		}
		li.open(li.i + 1)
		if li.cur != nil {
			li.cur.first()
		}
	}
}

func (li *levelIter) first() {
	li.open(0)
	if li.cur != nil {
		li.cur.first()
	}
	li.skipEmpty()
}

func (li *levelIter) seekGE(key []byte) {
	i, _ := slices.BinarySearchFunc(li.tables, key, func(t *table, k []byte) int { return cmpKey(t.meta.Largest, k) })
	li.open(i)
	if li.cur != nil {
		li.cur.seekGE(key)
	}
	li.skipEmpty()
}

func (li *levelIter) next() {
	li.cur.next()
	li.skipEmpty()
}

func (li *levelIter) valid() bool            { return li.e == nil && li.cur != nil && li.cur.valid() }
func (li *levelIter) key() []byte            { return li.cur.key() }
func (li *levelIter) trailer() uint64        { return li.cur.trailer() }
func (li *levelIter) value() ([]byte, error) { return li.cur.value() }
func (li *levelIter) err() error {
	if li.e != nil {
		return li.e
	}
	if li.cur != nil {
		return li.cur.err()
	}
	return nil
}
func (li *levelIter) close() error {
	if li.cur != nil {
		err := li.cur.close()
		li.cur = nil
		if li.e == nil {
			li.e = err
		}
	}
	if errors.Is(li.e, errIterClosed) {
		return nil
	}
	e := li.e
	li.e = errIterClosed
	return e
}

var errIterClosed = errors.New("index: iterator closed")

// mergingIter merges children with a binary min-heap.
type mergingIter struct {
	children []internalIter
	heap     []internalIter
	e        error
}

func (m *mergingIter) less(i, j int) bool {
	a, b := m.heap[i], m.heap[j]
	return cmpInternal(a.key(), a.trailer(), b.key(), b.trailer()) < 0
}

func (m *mergingIter) down(i int) {
	n := len(m.heap)
	for {
		l := 2*i + 1
		if l >= n {
			return
		}
		s := l
		if r := l + 1; r < n && m.less(r, l) {
			s = r
		}
		if !m.less(s, i) {
			return
		}
		m.heap[i], m.heap[s] = m.heap[s], m.heap[i]
		i = s
	}
}

func (m *mergingIter) init() {
	m.heap = m.heap[:0]
	for _, c := range m.children {
		if c.valid() {
			m.heap = append(m.heap, c)
		} else if err := c.err(); err != nil && m.e == nil {
			m.e = err
		}
	}
	for i := len(m.heap)/2 - 1; i >= 0; i-- {
		m.down(i)
	}
}

func (m *mergingIter) first() {
	for _, c := range m.children {
		c.first()
	}
	m.init()
}

func (m *mergingIter) seekGE(key []byte) {
	for _, c := range m.children {
		c.seekGE(key)
	}
	m.init()
}

func (m *mergingIter) next() {
	top := m.heap[0]
	top.next()
	if top.valid() {
		m.down(0)
		return
	}
	if err := top.err(); err != nil && m.e == nil {
		m.e = err
	}
	last := len(m.heap) - 1
	m.heap[0] = m.heap[last]
	m.heap = m.heap[:last]
	if last > 0 {
		m.down(0)
	}
}

func (m *mergingIter) valid() bool            { return m.e == nil && len(m.heap) > 0 }
func (m *mergingIter) key() []byte            { return m.heap[0].key() }
func (m *mergingIter) trailer() uint64        { return m.heap[0].trailer() }
func (m *mergingIter) value() ([]byte, error) { return m.heap[0].value() }
func (m *mergingIter) err() error             { return m.e }
func (m *mergingIter) close() error {
	var err error
	for _, c := range m.children {
		if e := c.close(); e != nil && err == nil {
			err = e
		}
	}
	m.children = nil
	m.heap = nil
	return err
}

// newMergedIter builds the merged iterator over a read state's memtables and
// tables restricted to [lower, upper).
func (x *Index) newMergedIter(ctx context.Context, rs *readState, lower, upper []byte) *mergingIter {
	m := &mergingIter{}
	m.children = append(m.children, &memIter{m: rs.mem})
	for i := len(rs.imm) - 1; i >= 0; i-- {
		m.children = append(m.children, &memIter{m: rs.imm[i]})
	}
	for _, t := range rs.v.levels[0] {
		if (upper != nil && cmpKey(t.meta.Smallest, upper) >= 0) || (lower != nil && cmpKey(t.meta.Largest, lower) < 0) {
			continue
		}
		m.children = append(m.children, &levelIter{x: x, ctx: ctx, tables: []*table{t}, lower: lower, upper: upper})
	}
	for l := 1; l < len(rs.v.levels); l++ {
		if len(rs.v.levels[l]) == 0 {
			continue
		}
		m.children = append(m.children, &levelIter{x: x, ctx: ctx, tables: rs.v.levels[l], lower: lower, upper: upper})
	}
	return m
}

// IterOptions bounds an iterator: user keys in [Lower, Upper) (nil:
// unbounded) as of Seq.
type IterOptions struct {
	Lower, Upper []byte
	Seq          uint64
	// Visible, if not nil, replaces Seq: it is called once the iterator's
	// state is pinned (see GetVisible for why that order matters).
	Visible func() uint64
	// Ctx, if not nil, carries the I/O kind the iterator's table reads
	// count under (iostat.WithKind); default iostat.Scan.
	Ctx context.Context
}

// Iter iterates the newest version of each user key as of a seq, tombstones
// hidden, over one consistent read state pinned until Close. An Iter is not
// safe for concurrent use.
type Iter struct {
	x      *Index
	rs     *readState
	m      *mergingIter
	o      IterOptions
	k      []byte
	v      []byte
	ok     bool
	e      error
	closed bool
}

// NewIter returns an iterator; it must be closed.
func (x *Index) NewIter(o IterOptions) *Iter {
	rs := x.loadReadState()
	it := &Iter{x: x, rs: rs, o: o}
	if o.Visible != nil {
		it.o.Seq = o.Visible()
	}
	it.o.Lower = slices.Clone(o.Lower)
	it.o.Upper = slices.Clone(o.Upper)
	ctx := x.scanCtx
	if it.o.Ctx != nil {
		ctx = it.o.Ctx
	}
	it.m = x.newMergedIter(ctx, rs, it.o.Lower, it.o.Upper)
	return it
}

// First moves to the first key; it reports whether there is one.
func (it *Iter) First() bool {
	if it.o.Lower != nil {
		return it.SeekGE(it.o.Lower)
	}
	if it.closed || it.e != nil {
		return false
	}
	it.m.first()
	return it.findNext()
}

// SeekGE moves to the first key >= key.
func (it *Iter) SeekGE(key []byte) bool {
	if it.closed || it.e != nil {
		return false
	}
	if it.o.Lower != nil && cmpKey(key, it.o.Lower) < 0 {
		key = it.o.Lower
	}
	it.m.seekGE(key)
	return it.findNext()
}

// Next moves to the next key.
func (it *Iter) Next() bool {
	if it.closed || it.e != nil || !it.ok {
		return false
	}
	for it.m.valid() && bytes.Equal(it.m.key(), it.k) {
		it.m.next()
	}
	return it.findNext()
}

func (it *Iter) findNext() bool {
	it.ok = false
	for it.m.valid() {
		k := it.m.key()
		if it.o.Upper != nil && cmpKey(k, it.o.Upper) >= 0 {
			break
		}
		tr := it.m.trailer()
		if tr>>8 > it.o.Seq {
			it.m.next()
			continue
		}
		it.k = append(it.k[:0], k...)
		if Kind(tr&0xff) != KindSet {
			for it.m.valid() && bytes.Equal(it.m.key(), it.k) {
				it.m.next()
			}
			continue
		}
		v, err := it.m.value()
		if err != nil {
			it.e = err
			return false
		}
		it.v = v
		it.ok = true
		return true
	}
	if err := it.m.err(); err != nil {
		it.e = err
	}
	return false
}

// Valid reports whether the iterator is at a key.
func (it *Iter) Valid() bool { return it.ok }

// Key returns the current key, valid until the next move.
func (it *Iter) Key() []byte { return it.k }

// Value returns the current value, valid until the next move.
func (it *Iter) Value() []byte { return it.v }

// Error returns the error that stopped the iterator, if any.
func (it *Iter) Error() error { return it.e }

// Close releases the iterator's read state. It is idempotent.
func (it *Iter) Close() error {
	if it.closed {
		return nil
	}
	it.closed = true
	it.ok = false
	err := it.m.close()
	it.x.unrefReadState(it.rs)
	if it.e != nil {
		return it.e
	}
	return err
}

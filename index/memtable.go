package index

import (
	"bytes"
	"sync/atomic"
)

// memtable is a skiplist ordered by (user key asc, seq desc). It has one
// writer (Apply, serialised by the caller and by Index.applyMu) and any
// number of concurrent readers: a node is fully built before the writer
// publishes it with an atomic store into its predecessors, bottom level
// first, so a reader sees either the old or the new list at every level.
//
// Keys and values are copied into arena chunks; nodes are allocated in slabs.
// Nothing is freed until the whole memtable is dropped.
type memtable struct {
	head   mnode
	height atomic.Int32
	size   atomic.Int64 // approximate memory use in bytes

	// Writer-only state (read by flush after the memtable is immutable,
	// ordered by Index.applyMu / Index.mu).
	rnd     uint64
	arena   []byte
	slab    []mnode
	entries uint64
	minSeq  uint64
	maxSeq  uint64
	end     LogPos
	hasEnd  bool
	id      uint64 // creation order, for logging and ordering
}

const (
	memMaxHeight  = 20
	memArenaChunk = 256 << 10
	memSlab       = 128
	memNodeBytes  = 64 // accounted per node besides key and value
)

type mnode struct {
	key     []byte
	value   []byte
	trailer uint64 // seq<<8 | kind
	next0   atomic.Pointer[mnode]
	upper   []atomic.Pointer[mnode] // levels 1..height-1
}

func (n *mnode) next(level int) *mnode {
	if level == 0 {
		return n.next0.Load()
	}
	return n.upper[level-1].Load()
}

func (n *mnode) setNext(level int, m *mnode) {
	if level == 0 {
		n.next0.Store(m)
	} else {
		n.upper[level-1].Store(m)
	}
}

func (n *mnode) seq() uint64 { return n.trailer >> 8 }
func (n *mnode) kind() Kind  { return Kind(n.trailer & 0xff) }

func newMemtable(id uint64) *memtable {
	m := &memtable{rnd: 0x9e3779b97f4a7c15 ^ id, id: id}
	m.head.upper = make([]atomic.Pointer[mnode], memMaxHeight-1)
	m.height.Store(1)
	return m
}

func makeTrailer(seq uint64, k Kind) uint64 { return seq<<8 | uint64(k) }

// cmpNode orders (key, trailer) against node n: user key ascending, trailer
// descending.
func cmpNode(key []byte, trailer uint64, n *mnode) int {
	if c := bytes.Compare(key, n.key); c != 0 {
		return c
	}
	switch {
	case trailer > n.trailer:
		return -1
	case trailer < n.trailer:
		return 1
	}
	return 0
}

func (m *memtable) randomHeight() int {
	// xorshift64*; a level is added with probability 1/4.
	m.rnd ^= m.rnd >> 12
	m.rnd ^= m.rnd << 25
	m.rnd ^= m.rnd >> 27
	r := m.rnd * 2685821657736338717
	h := 1
	for h < memMaxHeight && r&3 == 0 {
		h++
		r >>= 2
	}
	return h
}

func (m *memtable) alloc(n int) []byte {
	if n > memArenaChunk/4 {
		return make([]byte, n)
	}
	if len(m.arena)+n > cap(m.arena) {
		m.arena = make([]byte, 0, memArenaChunk)
	}
	b := m.arena[len(m.arena) : len(m.arena)+n : len(m.arena)+n]
	m.arena = m.arena[:len(m.arena)+n]
	return b
}

func (m *memtable) newNode(height int) *mnode {
	if len(m.slab) == 0 {
		m.slab = make([]mnode, memSlab)
	}
	n := &m.slab[0]
	m.slab = m.slab[1:]
	if height > 1 {
		n.upper = make([]atomic.Pointer[mnode], height-1)
	}
	return n
}

// add inserts one entry. Only the single writer calls it.
func (m *memtable) add(seq uint64, kind Kind, key, value []byte) {
	trailer := makeTrailer(seq, kind)
	var prev [memMaxHeight]*mnode
	h := int(m.height.Load())
	x := &m.head
	for level := h - 1; level >= 0; level-- {
		for {
			nx := x.next(level)
			if nx == nil || cmpNode(key, trailer, nx) <= 0 {
				break
			}
			x = nx
		}
		prev[level] = x
	}
	height := m.randomHeight()
	if height > h {
		for level := h; level < height; level++ {
			prev[level] = &m.head
		}
		m.height.Store(int32(height))
	}
	n := m.newNode(height)
	buf := m.alloc(len(key) + len(value))
	copy(buf, key)
	copy(buf[len(key):], value)
	n.key = buf[:len(key):len(key)]
	n.value = buf[len(key):]
	n.trailer = trailer
	for level := 0; level < height; level++ {
		n.setNext(level, prev[level].next(level))
	}
	for level := 0; level < height; level++ {
		prev[level].setNext(level, n)
	}
	if m.entries == 0 || seq < m.minSeq {
		m.minSeq = seq
	}
	if seq > m.maxSeq {
		m.maxSeq = seq
	}
	m.entries++
	m.size.Add(int64(len(key) + len(value) + memNodeBytes))
}

// seekGE returns the first node at or after (key, trailer), or nil.
func (m *memtable) seekGE(key []byte, trailer uint64) *mnode {
	x := &m.head
	for level := int(m.height.Load()) - 1; level >= 0; level-- {
		for {
			nx := x.next(level)
			if nx == nil || cmpNode(key, trailer, nx) <= 0 {
				break
			}
			x = nx
		}
	}
	return x.next(0)
}

// get returns the newest version of key with seq <= seq.
func (m *memtable) get(key []byte, seq uint64) (n *mnode, ok bool) {
	n = m.seekGE(key, makeTrailer(seq, 0xff))
	if n == nil || !bytes.Equal(n.key, key) {
		return nil, false
	}
	return n, true
}

func (m *memtable) empty() bool { return m.head.next0.Load() == nil }

// memIter walks a memtable in order. It implements internalIter.
type memIter struct {
	m *memtable
	n *mnode
}

func (it *memIter) first() {
	it.n = it.m.head.next0.Load()
}

func (it *memIter) seekGE(key []byte) {
	it.n = it.m.seekGE(key, makeTrailer(maxSeq, 0xff))
}

func (it *memIter) next() {
	it.n = it.n.next0.Load()
}

func (it *memIter) valid() bool { return it.n != nil }
func (it *memIter) key() []byte { return it.n.key }
func (it *memIter) trailer() uint64 {
	return it.n.trailer
}
func (it *memIter) value() ([]byte, error) { return it.n.value, nil }
func (it *memIter) err() error             { return nil }
func (it *memIter) close() error           { return nil }

// maxSeq is larger than any sequence number (seqs fit in 56 bits).
const maxSeq = 1<<56 - 1

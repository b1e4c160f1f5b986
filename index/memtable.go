package index

import (
	"bytes"
	"encoding/binary"
	"sync/atomic"
	"unsafe"
)

// memtable is a skiplist ordered by (user key asc, seq desc). It has one
// writer (Apply, serialised by the caller and by Index.applyMu) and any
// number of concurrent readers: a node is fully built before the writer
// publishes it with an atomic store into its predecessors, bottom level
// first, so a reader sees either the old or the new list at every level.
//
// Nodes, keys and values live in arena chunks of bytes that hold no Go
// pointers (links are 32-bit arena offsets), so the garbage collector never
// scans a memtable. Nothing is freed until the whole memtable is dropped.
type memtable struct {
	head   uint32 // offset of the head node
	height atomic.Int32
	size   atomic.Int64 // approximate memory use in bytes

	// chunks[i] is published (atomically) before any node in it is linked.
	chunks [memMaxChunks]atomic.Pointer[[]byte]

	// Writer-only state (read by flush after the memtable is immutable,
	// ordered by Index.applyMu / Index.mu).
	rnd      uint64
	chunk    uint32 // index of the chunk being filled
	chunkOff uint32 // bytes used in it
	chunkCap uint32 // its size
	entries  uint64
	minSeq   uint64
	maxSeq   uint64
	end      LogPos
	hasEnd   bool
	id       uint64
}

// Arena references: the top bits select the chunk, the low memChunkShift
// bits are the offset inside it. Zero is nil.
const (
	memMaxHeight  = 20
	memChunkShift = 22
	memChunkSize  = 1 << memChunkShift // 4 MiB
	memMaxChunks  = 1 << (32 - memChunkShift)
	memNodeHeader = 28 // prefix 8, trailer 8, keyLen 4, valueLen 4, height 4
)

// newMemtable returns an empty memtable whose first arena chunk is sized
// for sizeHint bytes (at most 4 MiB; more chunks follow as needed).
func newMemtable(id uint64, sizeHint int64) *memtable {
	m := &memtable{rnd: 0x9e3779b97f4a7c15 ^ (id + 1), id: id}
	first := min(int64(memChunkSize), max(64<<10, sizeHint+sizeHint/4))
	c := make([]byte, first)
	m.chunks[0].Store(&c)
	m.chunkCap = uint32(first)
	m.chunkOff = 8 // offset 0 is nil
	m.head = m.allocNode(memMaxHeight, nil, nil, 0, 0)
	m.height.Store(1)
	return m
}

func makeTrailer(seq uint64, k Kind) uint64 { return seq<<8 | uint64(k) }

// keyPrefix returns the first 8 bytes of key as a big-endian number, so
// that comparing prefixes orders keys like bytes.Compare does up to the
// eighth byte.
func keyPrefix(key []byte) uint64 {
	if len(key) >= 8 {
		return binary.BigEndian.Uint64(key)
	}
	var b [8]byte
	copy(b[:], key)
	return binary.BigEndian.Uint64(b[:])
}

// node returns the bytes of the node at ref (from its start to the end of
// its chunk).
func (m *memtable) node(ref uint32) []byte {
	c := *m.chunks[ref>>memChunkShift].Load()
	return c[ref&(memChunkSize-1):]
}

func nodePrefix(n []byte) uint64  { return *(*uint64)(unsafe.Pointer(&n[0])) }
func nodeTrailer(n []byte) uint64 { return *(*uint64)(unsafe.Pointer(&n[8])) }
func nodeHeight(n []byte) uint32  { return *(*uint32)(unsafe.Pointer(&n[24])) }

func nodeKey(n []byte) []byte {
	kl := *(*uint32)(unsafe.Pointer(&n[16]))
	off := memNodeHeader + 4*nodeHeight(n)
	return n[off : off+kl : off+kl]
}

func nodeValue(n []byte) []byte {
	kl := *(*uint32)(unsafe.Pointer(&n[16]))
	vl := *(*uint32)(unsafe.Pointer(&n[20]))
	off := memNodeHeader + 4*nodeHeight(n) + kl
	return n[off : off+vl : off+vl]
}

func nodeNext(n []byte, level int) uint32 {
	return atomic.LoadUint32((*uint32)(unsafe.Pointer(&n[memNodeHeader+4*level])))
}

func setNodeNext(n []byte, level int, ref uint32) {
	atomic.StoreUint32((*uint32)(unsafe.Pointer(&n[memNodeHeader+4*level])), ref)
}

// allocNode copies a node into the arena and returns its reference. Only
// the writer calls it.
func (m *memtable) allocNode(height int, key, value []byte, trailer, prefix uint64) uint32 {
	size := uint32(memNodeHeader + 4*height + len(key) + len(value))
	size = (size + 7) &^ 7
	if uint64(m.chunkOff)+uint64(size) > uint64(m.chunkCap) {
		m.chunk++
		if m.chunk >= memMaxChunks {
			panic("index: memtable arena exhausted (1024 chunks)")
		}
		// An entry larger than a chunk gets a chunk of its own, starting
		// at offset 0; the next entry starts a new chunk.
		n := max(uint32(memChunkSize), size)
		c := make([]byte, n)
		m.chunks[m.chunk].Store(&c)
		m.chunkOff = 0
		m.chunkCap = n
	}
	ref := m.chunk<<memChunkShift | m.chunkOff
	m.chunkOff += size
	if m.chunkOff > memChunkSize {
		m.chunkOff = m.chunkCap // oversized: the chunk is full
	}
	n := m.node(ref)
	*(*uint64)(unsafe.Pointer(&n[0])) = prefix
	*(*uint64)(unsafe.Pointer(&n[8])) = trailer
	*(*uint32)(unsafe.Pointer(&n[16])) = uint32(len(key))
	*(*uint32)(unsafe.Pointer(&n[20])) = uint32(len(value))
	*(*uint32)(unsafe.Pointer(&n[24])) = uint32(height)
	off := memNodeHeader + 4*height
	copy(n[off:], key)
	copy(n[off+len(key):], value)
	return ref
}

// cmpNode orders (key with prefix p, trailer) against node n: user key
// ascending, trailer descending.
func cmpNode(key []byte, p uint64, trailer uint64, n []byte) int {
	if np := nodePrefix(n); p != np {
		if p < np {
			return -1
		}
		return 1
	}
	if c := bytes.Compare(key, nodeKey(n)); c != 0 {
		return c
	}
	nt := nodeTrailer(n)
	switch {
	case trailer > nt:
		return -1
	case trailer < nt:
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

// add inserts one entry. Only the single writer calls it.
func (m *memtable) add(seq uint64, kind Kind, key, value []byte) {
	trailer := makeTrailer(seq, kind)
	p := keyPrefix(key)
	var prev [memMaxHeight]uint32
	h := int(m.height.Load())
	x := m.head
	xn := m.node(x)
	for level := h - 1; level >= 0; level-- {
		for {
			nx := nodeNext(xn, level)
			if nx == 0 {
				break
			}
			nn := m.node(nx)
			if cmpNode(key, p, trailer, nn) <= 0 {
				break
			}
			x, xn = nx, nn
		}
		prev[level] = x
	}
	height := m.randomHeight()
	if height > h {
		for level := h; level < height; level++ {
			prev[level] = m.head
		}
		m.height.Store(int32(height))
	}
	ref := m.allocNode(height, key, value, trailer, p)
	n := m.node(ref)
	for level := 0; level < height; level++ {
		setNodeNext(n, level, nodeNext(m.node(prev[level]), level))
	}
	for level := 0; level < height; level++ {
		setNodeNext(m.node(prev[level]), level, ref)
	}
	if m.entries == 0 || seq < m.minSeq {
		m.minSeq = seq
	}
	if seq > m.maxSeq {
		m.maxSeq = seq
	}
	m.entries++
	m.size.Add(int64(memNodeHeader + 4*height + len(key) + len(value)))
}

// seekGE returns the first node at or after (key, trailer), or 0.
func (m *memtable) seekGE(key []byte, trailer uint64) uint32 {
	p := keyPrefix(key)
	xn := m.node(m.head)
	for level := int(m.height.Load()) - 1; level >= 0; level-- {
		for {
			nx := nodeNext(xn, level)
			if nx == 0 {
				break
			}
			nn := m.node(nx)
			if cmpNode(key, p, trailer, nn) <= 0 {
				break
			}
			xn = nn
		}
	}
	return nodeNext(xn, 0)
}

// get returns the node of the newest version of key with seq <= seq.
func (m *memtable) get(key []byte, seq uint64) (n []byte, ok bool) {
	ref := m.seekGE(key, makeTrailer(seq, 0xff))
	if ref == 0 {
		return nil, false
	}
	n = m.node(ref)
	if !bytes.Equal(nodeKey(n), key) {
		return nil, false
	}
	return n, true
}

func (m *memtable) empty() bool { return nodeNext(m.node(m.head), 0) == 0 }

// memIter walks a memtable in order. It implements internalIter.
type memIter struct {
	m   *memtable
	ref uint32
	n   []byte
}

func (it *memIter) set(ref uint32) {
	it.ref = ref
	if ref != 0 {
		it.n = it.m.node(ref)
	} else {
		it.n = nil
	}
}

func (it *memIter) first()            { it.set(nodeNext(it.m.node(it.m.head), 0)) }
func (it *memIter) seekGE(key []byte) { it.set(it.m.seekGE(key, makeTrailer(maxSeq, 0xff))) }
func (it *memIter) next()             { it.set(nodeNext(it.n, 0)) }
func (it *memIter) valid() bool       { return it.ref != 0 }
func (it *memIter) key() []byte       { return nodeKey(it.n) }
func (it *memIter) trailer() uint64   { return nodeTrailer(it.n) }
func (it *memIter) value() ([]byte, error) {
	return nodeValue(it.n), nil
}
func (it *memIter) err() error   { return nil }
func (it *memIter) close() error { return nil }

// maxSeq is larger than any sequence number (seqs fit in 56 bits).
const maxSeq = 1<<56 - 1

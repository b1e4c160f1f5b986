package index

import (
	"bytes"
	"encoding/binary"
	"sync/atomic"
	"unsafe"
)

// memtable is a skiplist ordered by (user key asc, seq desc). It has one
// writer (Apply, serialised by the caller and by Index.applyMu) and any
// number of concurrent readers and plans: a node is fully built before the
// writer publishes it with an atomic store into its predecessors, bottom
// level first, so a reader sees either the old or the new list at every
// level. A plan (Index.StartPlan, ApplyPlan.Add) is a writer's search
// made before it takes its turn, concurrently with the others': the
// writer then only checks the places it found and links.
//
// A node is two pieces in two arenas. The search walks only towers: a
// tower holds the first sixteen key bytes, the links and a reference to
// the entry, which holds the rest (trailer, key, value). Towers are small
// (48 bytes for half the nodes, at most a line for all but 1 in 4) and sit
// together, so the part of the list a search touches stays in the CPU
// caches and TLB far longer than it would if every step also dragged a
// value past; an entry is read only when two keys share their first
// sixteen bytes. Beside each link a tower keeps the prefix of the node it
// links to, so the writer (and, to stop early, a plan) decides "stop
// here" from the tower it stands on without loading the next one.
// Readers never read those prefixes: they are not published atomically
// with the link.
//
//	tower (8-aligned; one of at most 64 bytes never straddles a line):
//	+--------+---------+--------+---------+-----+-----------+-----+
//	| prefix | entry   | height | next[0] | ... | next[h-1] | pad |
//	| 2 u64  | ref u32 | u32    | ref u32 |     | ref u32   | to 8|
//	+--------+---------+--------+---------+-----+-----------+-----+
//	| prefix of next[0] 2 u64 | ... | prefix of next[h-1] 2 u64 |
//	+-------------------------+-----+---------------------------+
//
//	entry (8-aligned):
//	+---------+--------+----------+-----+-------+
//	| trailer | keyLen | valueLen | key | value |
//	| u64     | u32    | u32      |     |       |
//	+---------+--------+----------+-----+-------+
//
// Heights are drawn with p = 1/2 (Pebble's arenaskl uses 1/e): with the
// prefixes beside the links a level costs about one tower load, and the
// lower levels, which miss the caches, are the ones that count.
//
// Both arenas are chunks of bytes that hold no Go pointers (references are
// 32-bit offsets), so the garbage collector never scans a memtable.
// Nothing is freed until the whole memtable is dropped.
type memtable struct {
	head   uint32 // reference of the head tower
	height atomic.Int32
	size   atomic.Int64 // approximate memory use in bytes

	towers  arena
	entries arena

	// Writer-only state (read by flush after the memtable is immutable,
	// ordered by Index.applyMu / Index.mu).
	rnd   uint64
	count uint64
	// shadowed counts entries added while the memtable already held their
	// key (an older version here is garbage once no snapshot needs it).
	shadowed uint64
	minSeq   uint64
	maxSeq   uint64
	end      LogPos
	hasEnd   bool
	id       uint64
}

// arena is a bump allocator over chunks. References: the top bits select
// the chunk, the low memChunkShift bits are the offset inside it; zero is
// nil. Only the writer allocates; chunks[i] is published (atomically)
// before anything in it is linked, so readers may resolve any reference
// they were handed.
type arena struct {
	chunks [memMaxChunks]atomic.Pointer[[]byte]
	chunk  uint32 // index of the chunk being filled
	off    uint32 // bytes used in it
	cap    uint32 // its size
}

const (
	memMaxHeight   = 20
	memChunkShift  = 22
	memChunkSize   = 1 << memChunkShift // 4 MiB
	memMaxChunks   = 1 << (32 - memChunkShift)
	memTowerHeader = 24 // prefix 16, entry ref 4, height 4
	memEntryHeader = 16 // trailer 8, keyLen 4, valueLen 4
	memCacheLine   = 64
)

// init gives the arena its first chunk of size bytes. Offset 0 stays
// unused so that reference 0 is nil.
func (a *arena) init(size int64) {
	c := make([]byte, size)
	a.chunks[0].Store(&c)
	a.cap = uint32(size)
	a.off = memCacheLine
}

// alloc returns a reference to size fresh bytes (size a multiple of 8) and
// the bytes it used up, counting the padding skipped before the block.
// With line set, a block of at most a cache line does not straddle one.
func (a *arena) alloc(size uint32, line bool) (ref, used uint32) {
	off := a.off
	if line && size <= memCacheLine && off&(memCacheLine-1)+size > memCacheLine {
		off = (off + memCacheLine - 1) &^ (memCacheLine - 1)
	}
	if uint64(off)+uint64(size) > uint64(a.cap) {
		a.chunk++
		if a.chunk >= memMaxChunks {
			panic("index: memtable arena exhausted (1024 chunks)")
		}
		// A block larger than a chunk gets a chunk of its own, starting at
		// offset 0; the next block starts a new chunk.
		n := max(uint32(memChunkSize), size)
		c := make([]byte, n)
		a.chunks[a.chunk].Store(&c)
		off = 0
		a.cap = n
	}
	ref = a.chunk<<memChunkShift | off
	used = size
	if off > a.off {
		used += off - a.off
	}
	a.off = off + size
	if a.off > memChunkSize {
		a.off = a.cap // oversized: the chunk is full
	}
	return ref, used
}

// at returns the bytes from ref to the end of its chunk.
func (a *arena) at(ref uint32) []byte {
	c := *a.chunks[ref>>memChunkShift].Load()
	return c[ref&(memChunkSize-1):]
}

// newMemtable returns an empty memtable whose first arena chunks are sized
// for sizeHint bytes of entries (at most 4 MiB each; more chunks follow as
// needed).
func newMemtable(id uint64, sizeHint int64) *memtable {
	m := &memtable{rnd: 0x9e3779b97f4a7c15 ^ (id + 1), id: id}
	m.entries.init(min(int64(memChunkSize), max(64<<10, sizeHint+sizeHint/4)))
	m.towers.init(min(int64(memChunkSize), max(16<<10, sizeHint/4)))
	m.head, _ = m.towers.alloc(towerSize(memMaxHeight), false)
	putU32(m.towers.at(m.head)[20:], memMaxHeight)
	m.height.Store(1)
	return m
}

func makeTrailer(seq uint64, k Kind) uint64 { return seq<<8 | uint64(k) }

// prefix is the first 16 bytes of a key as two big-endian numbers (zero
// padded), so that comparing prefixes orders keys like bytes.Compare does
// up to the sixteenth byte. Sixteen, not eight: keys often share their
// first bytes (a table or type name, YCSB's "user" and leading digits),
// and every tie costs the load of an entry.
type prefix struct{ hi, lo uint64 }

func keyPrefix(key []byte) prefix {
	if len(key) >= 16 {
		return prefix{binary.BigEndian.Uint64(key), binary.BigEndian.Uint64(key[8:])}
	}
	var b [16]byte
	copy(b[:], key)
	return prefix{binary.BigEndian.Uint64(b[:]), binary.BigEndian.Uint64(b[8:])}
}

// cmp orders prefixes.
func (p prefix) cmp(q prefix) int {
	switch {
	case p.hi < q.hi:
		return -1
	case p.hi > q.hi:
		return 1
	case p.lo < q.lo:
		return -1
	case p.lo > q.lo:
		return 1
	}
	return 0
}

func putU32(b []byte, v uint32) { *(*uint32)(unsafe.Pointer(&b[0])) = v }
func putU64(b []byte, v uint64) { *(*uint64)(unsafe.Pointer(&b[0])) = v }

func towerPrefix(t []byte) prefix { return *(*prefix)(unsafe.Pointer(&t[0])) }
func towerEntry(t []byte) uint32  { return *(*uint32)(unsafe.Pointer(&t[16])) }
func towerHeight(t []byte) uint32 { return *(*uint32)(unsafe.Pointer(&t[20])) }

func towerNext(t []byte, level int) uint32 {
	return atomic.LoadUint32((*uint32)(unsafe.Pointer(&t[memTowerHeader+4*level])))
}

func setTowerNext(t []byte, level int, ref uint32) {
	atomic.StoreUint32((*uint32)(unsafe.Pointer(&t[memTowerHeader+4*level])), ref)
}

// towerPrefixesOff is where a tower of height h keeps its successors'
// prefixes, and towerSize its size.
func towerPrefixesOff(h uint32) uint32 { return memTowerHeader + (4*h+7)&^7 }
func towerSize(h uint32) uint32        { return towerPrefixesOff(h) + 16*h }

// towerNextPrefix is the prefix of the successor at level, as the writer
// reads it. setTowerNextPrefix sets it in a tower not yet linked,
// storeTowerNextPrefix in a linked one, where plans may load it
// (loadTowerNextPrefix) at the same time: each half is stored and loaded
// atomically, but the two halves and the link are not one atomic unit, so
// a plan may see a mix of the prefixes of the successors a slot has held.
// Successors only get smaller (a node inserted after a tower comes before
// its old successor), but a mix of two halves may not be, so a plan uses a
// loaded prefix only to stop early, which costs the writer a step forward,
// never to move past a node (see plan).
func towerNextPrefix(t []byte, level int) prefix { return *nextPrefixAt(t, level) }

func setTowerNextPrefix(t []byte, level int, p prefix) { *nextPrefixAt(t, level) = p }

func storeTowerNextPrefix(t []byte, level int, p prefix) {
	q := nextPrefixAt(t, level)
	atomic.StoreUint64(&q.hi, p.hi)
	atomic.StoreUint64(&q.lo, p.lo)
}

func loadTowerNextPrefix(t []byte, level int) prefix {
	q := nextPrefixAt(t, level)
	return prefix{atomic.LoadUint64(&q.hi), atomic.LoadUint64(&q.lo)}
}

// nextPrefixAt is where tower t keeps the prefix of its successor at level.
func nextPrefixAt(t []byte, level int) *prefix {
	return (*prefix)(unsafe.Pointer(&t[towerPrefixesOff(towerHeight(t))+16*uint32(level)]))
}

// entry returns the entry of the tower at ref.
func (m *memtable) entry(ref uint32) []byte {
	return m.entries.at(towerEntry(m.towers.at(ref)))
}

// nodeTrailer, nodeKey and nodeValue read an entry (what get returns).
func nodeTrailer(n []byte) uint64 { return *(*uint64)(unsafe.Pointer(&n[0])) }

func nodeKey(n []byte) []byte {
	kl := *(*uint32)(unsafe.Pointer(&n[8]))
	return n[memEntryHeader : memEntryHeader+kl : memEntryHeader+kl]
}

func nodeValue(n []byte) []byte {
	kl := *(*uint32)(unsafe.Pointer(&n[8]))
	vl := *(*uint32)(unsafe.Pointer(&n[12]))
	off := memEntryHeader + kl
	return n[off : off+vl : off+vl]
}

// cmpTower orders (key with prefix p, trailer) against the node of tower
// t: user key ascending, trailer descending. It reads the node's entry
// only when the prefixes are equal.
func (m *memtable) cmpTower(key []byte, p prefix, trailer uint64, t []byte) int {
	if c := p.cmp(towerPrefix(t)); c != 0 {
		return c
	}
	n := m.entries.at(towerEntry(t))
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
	// xorshift64*; a level is added with probability 1/2.
	m.rnd ^= m.rnd >> 12
	m.rnd ^= m.rnd << 25
	m.rnd ^= m.rnd >> 27
	r := m.rnd * 2685821657736338717
	h := 1
	for h < memMaxHeight && r&1 == 0 {
		h++
		r >>= 1
	}
	return h
}

// memHint is where an entry goes, as a search that ran concurrently with
// the writer found it (plan): the last tower before the entry at each
// level below h. Towers are never removed and never move, so each still
// lies before the entry when the writer inserts it; the writer only walks
// forward past towers inserted since (find).
type memHint struct {
	prev [memMaxHeight]uint32
	h    int
}

// plan fills hint with the place of a new version of key: before every
// version the memtable holds (a new entry's seq is newer than theirs), so
// the search runs at (key, maxSeq). It is safe to run concurrently
// with the writer and with other plans: it moves past a node only after
// comparing the node itself, as readers do, so every tower it records
// lies before the entry. It stops at a level without loading the next
// tower when the prefix beside the link is above the key's; that prefix
// may be stale or mixed (storeTowerNextPrefix), and then the plan stops
// early, which is safe: the writer walks forward from where it stopped.
func (m *memtable) plan(key []byte, hint *memHint) {
	trailer := makeTrailer(maxSeq, 0xff)
	p := keyPrefix(key)
	h := int(m.height.Load())
	x := m.head
	xt := m.towers.at(x)
	for level := h - 1; level >= 0; level-- {
		for {
			nx := towerNext(xt, level)
			if nx == 0 || p.cmp(loadTowerNextPrefix(xt, level)) < 0 {
				break
			}
			nt := m.towers.at(nx)
			if m.cmpTower(key, p, trailer, nt) <= 0 {
				break
			}
			x, xt = nx, nt
		}
		hint.prev[level] = x
	}
	hint.h = h
}

// find fills prev[level] with the last tower before (key, trailer) at
// each level below the list's height h, and returns h. It starts each
// level from the level above's result or, below hint.h, from the tower a
// plan found there (any tower before the entry is a valid start: the walk
// only moves forward); hint may be nil. Only the writer calls it: it
// decides "stop here" from the prefixes beside the links.
func (m *memtable) find(key []byte, p prefix, trailer uint64, hint *memHint, prev *[memMaxHeight]uint32) int {
	h := int(m.height.Load())
	x := m.head
	for level := h - 1; level >= 0; level-- {
		if hint != nil && level < hint.h {
			x = hint.prev[level]
		}
		xt := m.towers.at(x)
		for {
			nx := towerNext(xt, level)
			if nx == 0 {
				break
			}
			c := p.cmp(towerNextPrefix(xt, level))
			if c < 0 {
				break
			}
			nt := m.towers.at(nx)
			if c == 0 && m.cmpTower(key, p, trailer, nt) <= 0 {
				break
			}
			x, xt = nx, nt
		}
		prev[level] = x
	}
	return h
}

// add inserts one entry. Only the single writer calls it. hint, if not
// nil, is a plan for this entry made on this memtable.
func (m *memtable) add(seq uint64, kind Kind, key, value []byte, hint *memHint) {
	trailer := makeTrailer(seq, kind)
	p := keyPrefix(key)
	var prev [memMaxHeight]uint32
	h := m.find(key, p, trailer, hint, &prev)
	height := m.randomHeight()
	if height > h {
		for level := h; level < height; level++ {
			prev[level] = m.head
		}
		m.height.Store(int32(height))
	}

	esize := (uint32(memEntryHeader+len(key)+len(value)) + 7) &^ 7
	eref, eused := m.entries.alloc(esize, false)
	n := m.entries.at(eref)
	putU64(n[0:], trailer)
	putU32(n[8:], uint32(len(key)))
	putU32(n[12:], uint32(len(value)))
	copy(n[memEntryHeader:], key)
	copy(n[memEntryHeader+len(key):], value)

	tsize := towerSize(uint32(height))
	ref, tused := m.towers.alloc(tsize, true)
	t := m.towers.at(ref)
	*(*prefix)(unsafe.Pointer(&t[0])) = p
	putU32(t[16:], eref)
	putU32(t[20:], uint32(height))
	for level := 0; level < height; level++ {
		pt := m.towers.at(prev[level])
		setTowerNext(t, level, towerNext(pt, level))
		setTowerNextPrefix(t, level, towerNextPrefix(pt, level))
	}
	for level := 0; level < height; level++ {
		pt := m.towers.at(prev[level])
		storeTowerNextPrefix(pt, level, p)
		setTowerNext(pt, level, ref)
	}
	// Versions of a key sort newest first, so an older one is next.
	if nx := towerNext(t, 0); nx != 0 {
		if nt := m.towers.at(nx); towerPrefix(nt) == p && bytes.Equal(nodeKey(m.entries.at(towerEntry(nt))), key) {
			m.shadowed++
		}
	}
	if m.count == 0 || seq < m.minSeq {
		m.minSeq = seq
	}
	if seq > m.maxSeq {
		m.maxSeq = seq
	}
	m.count++
	m.size.Add(int64(tused + eused))
}

// seekGE returns the tower of the first node at or after (key, trailer),
// or 0.
func (m *memtable) seekGE(key []byte, trailer uint64) uint32 {
	p := keyPrefix(key)
	xt := m.towers.at(m.head)
	for level := int(m.height.Load()) - 1; level >= 0; level-- {
		for {
			nx := towerNext(xt, level)
			if nx == 0 {
				break
			}
			nt := m.towers.at(nx)
			if m.cmpTower(key, p, trailer, nt) <= 0 {
				break
			}
			xt = nt
		}
	}
	return towerNext(xt, 0)
}

// get returns the entry of the newest version of key with seq <= seq.
func (m *memtable) get(key []byte, seq uint64) (n []byte, ok bool) {
	ref := m.seekGE(key, makeTrailer(seq, 0xff))
	if ref == 0 {
		return nil, false
	}
	n = m.entry(ref)
	if !bytes.Equal(nodeKey(n), key) {
		return nil, false
	}
	return n, true
}

func (m *memtable) empty() bool { return towerNext(m.towers.at(m.head), 0) == 0 }

// memIter walks a memtable in order. It implements internalIter.
type memIter struct {
	m   *memtable
	ref uint32 // tower of the current node, 0 when exhausted
	t   []byte // that tower
	n   []byte // its entry
}

func (it *memIter) set(ref uint32) {
	it.ref = ref
	if ref != 0 {
		it.t = it.m.towers.at(ref)
		it.n = it.m.entries.at(towerEntry(it.t))
	} else {
		it.t, it.n = nil, nil
	}
}

func (it *memIter) first()            { it.set(towerNext(it.m.towers.at(it.m.head), 0)) }
func (it *memIter) seekGE(key []byte) { it.set(it.m.seekGE(key, makeTrailer(maxSeq, 0xff))) }
func (it *memIter) next()             { it.set(towerNext(it.t, 0)) }
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

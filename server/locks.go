package server

import (
	"hash/maphash"
	"slices"
	"sync"
)

const numStripes = 1024

// keyLocks serialises read-modify-write commands per user key: a key maps to
// one of numStripes mutexes. Safe for concurrent use.
type keyLocks struct {
	seed    maphash.Seed
	stripes [numStripes]sync.Mutex
}

func newKeyLocks() *keyLocks { return &keyLocks{seed: maphash.MakeSeed()} }

func (l *keyLocks) stripe(key []byte) int {
	return int(maphash.Bytes(l.seed, key) % numStripes)
}

// lock locks the stripe of key and returns its unlock function.
func (l *keyLocks) lock(key []byte) func() {
	m := &l.stripes[l.stripe(key)]
	m.Lock()
	return m.Unlock
}

// lockMany locks the stripes of all keys in stripe order (no deadlock
// between two multi-key commands) and returns the unlock function.
func (l *keyLocks) lockMany(keys [][]byte) func() {
	idx := make([]int, 0, len(keys))
	for _, k := range keys {
		idx = append(idx, l.stripe(k))
	}
	slices.Sort(idx)
	idx = slices.Compact(idx)
	for _, i := range idx {
		l.stripes[i].Lock()
	}
	return func() {
		for _, i := range idx {
			l.stripes[i].Unlock()
		}
	}
}

// lockAll locks every stripe (FLUSHDB).
func (l *keyLocks) lockAll() func() {
	for i := range l.stripes {
		l.stripes[i].Lock()
	}
	return func() {
		for i := range l.stripes {
			l.stripes[i].Unlock()
		}
	}
}

package server

import (
	"hash/maphash"
	"slices"
	"sync"
)

const numStripes = 1024

// keyLocks serialises commands per user key: a key maps to one of
// numStripes stripes.
//
// A read-modify-write command locks its stripes (lock, lockMany, lockAll)
// and holds them until its batch is written; locking waits until no blind
// write is in flight on the stripe, so what it reads includes every write
// acknowledged or pending before it.
//
// A blind write (a run of plain SETs, whose outcome does not depend on the
// value it replaces) locks its stripes only to read what it must clean up
// and to register itself as in flight (beginBlind), then writes without
// the lock, so that blind writes to one hot key from many connections reach
// the store together and share its group commit; endBlind ends it.
//
// Safe for concurrent use.
type keyLocks struct {
	seed    maphash.Seed
	stripes [numStripes]stripe
}

type stripe struct {
	mu       sync.Mutex
	idle     sync.Cond // broadcast when inflight or waiting drops to zero; uses mu
	inflight int       // blind writes registered and not yet ended; guarded by mu
	waiting  int       // read-modify-writes waiting for inflight to drain; guarded by mu
}

func newKeyLocks() *keyLocks {
	l := &keyLocks{seed: maphash.MakeSeed()}
	for i := range l.stripes {
		l.stripes[i].idle.L = &l.stripes[i].mu
	}
	return l
}

func (l *keyLocks) stripe(key []byte) int {
	return int(maphash.Bytes(l.seed, key) % numStripes)
}

// lockStripe locks stripe i once no blind write is in flight on it. While
// it waits, new blind writes on the stripe wait behind it, so a stream of
// blind writes to a hot key cannot starve a read-modify-write.
func (l *keyLocks) lockStripe(i int) {
	s := &l.stripes[i]
	s.mu.Lock()
	if s.inflight == 0 {
		return
	}
	s.waiting++
	for s.inflight > 0 {
		s.idle.Wait()
	}
	if s.waiting--; s.waiting == 0 {
		s.idle.Broadcast()
	}
}

// lock locks the stripe of key for a read-modify-write and returns its
// unlock function.
func (l *keyLocks) lock(key []byte) func() {
	i := l.stripe(key)
	l.lockStripe(i)
	return l.stripes[i].mu.Unlock
}

func (l *keyLocks) stripesOf(keys [][]byte) []int {
	idx := make([]int, 0, len(keys))
	for _, k := range keys {
		idx = append(idx, l.stripe(k))
	}
	slices.Sort(idx)
	return slices.Compact(idx)
}

// lockMany locks the stripes of all keys in stripe order (no deadlock
// between two multi-key commands) and returns the unlock function.
func (l *keyLocks) lockMany(keys [][]byte) func() {
	idx := l.stripesOf(keys)
	for _, i := range idx {
		l.lockStripe(i)
	}
	return func() {
		for _, i := range idx {
			l.stripes[i].mu.Unlock()
		}
	}
}

// lockAll locks every stripe (FLUSHDB).
func (l *keyLocks) lockAll() func() {
	for i := range l.stripes {
		l.lockStripe(i)
	}
	return func() {
		for i := range l.stripes {
			l.stripes[i].mu.Unlock()
		}
	}
}

// beginBlind locks the stripes of keys (without waiting for other blind
// writes, but behind read-modify-writes already waiting), runs prepare
// under the locks, and, if prepare succeeds,
// registers a blind write on them before unlocking. The caller must call
// the returned end function once its write has returned (nil if prepare
// failed).
func (l *keyLocks) beginBlind(keys [][]byte, prepare func() error) (end func(), err error) {
	idx := l.stripesOf(keys)
	for _, i := range idx {
		s := &l.stripes[i]
		s.mu.Lock()
		for s.waiting > 0 {
			s.idle.Wait()
		}
	}
	err = prepare()
	for _, i := range idx {
		if err == nil {
			l.stripes[i].inflight++
		}
		l.stripes[i].mu.Unlock()
	}
	if err != nil {
		return nil, err
	}
	return func() {
		for _, i := range idx {
			s := &l.stripes[i]
			s.mu.Lock()
			if s.inflight--; s.inflight == 0 {
				s.idle.Broadcast()
			}
			s.mu.Unlock()
		}
	}, nil
}

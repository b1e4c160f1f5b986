package server

import "sync"

// cursorTable remembers where SCAN cursors stand. Redis clients treat a
// cursor as an unsigned integer, so an in-order cursor over arbitrary keys
// cannot be the key itself: SCAN hands out a number that maps to the last
// key it returned. The table keeps the newest max entries. Safe for
// concurrent use.
type cursorTable struct {
	mu struct {
		sync.Mutex
		next  uint64
		max   int
		keys  map[uint64][]byte
		order []uint64 // FIFO of ids, oldest first
	}
}

func newCursorTable(max int) *cursorTable {
	t := &cursorTable{}
	t.mu.next = 1
	t.mu.max = max
	t.mu.keys = make(map[uint64][]byte)
	return t
}

// put remembers key (copied) and returns its cursor (never 0).
func (t *cursorTable) put(key []byte) uint64 {
	t.mu.Lock()
	defer t.mu.Unlock()
	id := t.mu.next
	t.mu.next++
	t.mu.keys[id] = append([]byte(nil), key...)
	t.mu.order = append(t.mu.order, id)
	for len(t.mu.order) > t.mu.max {
		delete(t.mu.keys, t.mu.order[0])
		t.mu.order = t.mu.order[1:]
	}
	return id
}

// get returns the key cursor id stands after.
func (t *cursorTable) get(id uint64) ([]byte, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	k, ok := t.mu.keys[id]
	return k, ok
}

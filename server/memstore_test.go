package server

import (
	"bytes"
	"slices"
	"sort"
	"sync"
	"time"
)

// memStore is an ordered in-memory Store for tests. Safe for concurrent use.
type memStore struct {
	mu      sync.RWMutex
	keys    [][]byte // sorted
	vals    map[string][]byte
	primary string
	ro      bool
	// beforeWrite, if set, is called at the start of Write (outside mu).
	beforeWrite func()
	writeErr    error
}

func newMemStore() *memStore { return &memStore{vals: map[string][]byte{}} }

func (m *memStore) Get(key []byte) ([]byte, error) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	v, ok := m.vals[string(key)]
	if !ok {
		return nil, ErrNotFound
	}
	return append([]byte(nil), v...), nil
}

func (m *memStore) Write(b *Batch) error {
	if m.beforeWrite != nil {
		m.beforeWrite()
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.writeErr != nil {
		return m.writeErr
	}
	if m.ro {
		return ErrReadOnly
	}
	for _, op := range b.Ops() {
		k := string(op.Key)
		i, found := slices.BinarySearchFunc(m.keys, op.Key, bytes.Compare)
		if op.Delete {
			if found {
				m.keys = slices.Delete(m.keys, i, i+1)
				delete(m.vals, k)
			}
			continue
		}
		if !found {
			m.keys = slices.Insert(m.keys, i, append([]byte(nil), op.Key...))
		}
		m.vals[k] = append([]byte(nil), op.Value...)
	}
	return nil
}

func (m *memStore) Scan(lower, upper []byte, fn func(k, v []byte) bool) error {
	m.mu.RLock()
	// A consistent view: copy the range, then call fn without the lock
	// (fn may call Get).
	i := 0
	if lower != nil {
		i = sort.Search(len(m.keys), func(j int) bool { return bytes.Compare(m.keys[j], lower) >= 0 })
	}
	var ks, vs [][]byte
	for ; i < len(m.keys); i++ {
		if upper != nil && bytes.Compare(m.keys[i], upper) >= 0 {
			break
		}
		ks = append(ks, m.keys[i])
		vs = append(vs, m.vals[string(m.keys[i])])
	}
	m.mu.RUnlock()
	for j := range ks {
		if !fn(ks[j], vs[j]) {
			break
		}
	}
	return nil
}

func (m *memStore) ReadOnly() (string, bool) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	return m.primary, m.ro
}

func (m *memStore) setReadOnly(primary string) {
	m.mu.Lock()
	m.primary, m.ro = primary, true
	m.mu.Unlock()
}

// count returns the number of raw keys with the given first byte.
func (m *memStore) count(prefix byte) int {
	m.mu.RLock()
	defer m.mu.RUnlock()
	n := 0
	for _, k := range m.keys {
		if k[0] == prefix {
			n++
		}
	}
	return n
}

// testClock is a Clock that tests move.
type testClock struct {
	mu  sync.Mutex
	now time.Time
}

func newTestClock() *testClock {
	return &testClock{now: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)}
}

func (c *testClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *testClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

package engine

import (
	"github.com/talos-kv/talos/index"
)

// registerReader records a reader at the current visible seq, atomically
// with respect to GC's check of which segments readers may still need, and
// returns that seq.
func (db *DB) registerReader() uint64 {
	db.readers.Lock()
	seq := db.visibleSeq.Load()
	db.readers.seqs[seq]++
	db.readers.Unlock()
	return seq
}

func (db *DB) unregisterReader(seq uint64) {
	db.readers.Lock()
	if db.readers.seqs[seq]--; db.readers.seqs[seq] <= 0 {
		delete(db.readers.seqs, seq)
	}
	db.readers.Unlock()
	db.removeReadySegments(false)
}

// Snapshot is a consistent read-only view of the store as of one seq. It
// keeps every version and value-log segment it may read. Close it when
// done. A Snapshot is safe for concurrent use.
type Snapshot struct {
	db   *DB
	seq  uint64
	snap *index.Snapshot
	done bool
}

// NewSnapshot returns a snapshot of the current state.
func (db *DB) NewSnapshot() *Snapshot {
	seq := db.registerReader()
	return &Snapshot{db: db, seq: seq, snap: db.idx.NewSnapshot(seq)}
}

// Seq returns the snapshot's sequence number.
func (s *Snapshot) Seq() uint64 { return s.seq }

// Get reads key as of the snapshot.
func (s *Snapshot) Get(key []byte) ([]byte, error) {
	if s.db.closed.Load() {
		return nil, ErrClosed
	}
	return s.db.getAt(s.db.getCtx, key, s.seq)
}

// NewIter iterates the snapshot's keys in [lower, upper) (nil: unbounded).
func (s *Snapshot) NewIter(lower, upper []byte) *Iterator {
	return s.db.newIter(lower, upper, s.seq, false)
}

// Scan returns the snapshot's pairs in [lower, upper).
func (s *Snapshot) Scan(lower, upper []byte) ([]KV, error) {
	return scan(s.NewIter(lower, upper))
}

// Close releases the snapshot. It is idempotent but not safe to call
// concurrently with itself.
func (s *Snapshot) Close() {
	if s.done {
		return
	}
	s.done = true
	s.snap.Close()
	s.db.unregisterReader(s.seq)
}

// Iterator walks keys in order over one consistent state: the newest
// version of each key as of its seq, deletions hidden. It is not safe for
// concurrent use; Close it when done.
type Iterator struct {
	db      *DB
	it      *index.Iter
	seq     uint64
	owned   bool // registered its own reader seq
	val     []byte
	err     error
	closed  bool
	hasVal  bool
	scratch []byte
}

// NewIter returns an iterator over [lower, upper) (nil: unbounded) of the
// current state.
func (db *DB) NewIter(lower, upper []byte) *Iterator {
	return db.newIter(lower, upper, db.registerReader(), true)
}

func (db *DB) newIter(lower, upper []byte, seq uint64, owned bool) *Iterator {
	return &Iterator{
		db:    db,
		seq:   seq,
		owned: owned,
		it:    db.idx.NewIter(index.IterOptions{Lower: lower, Upper: upper, Seq: seq}),
	}
}

func (it *Iterator) moved(ok bool) bool {
	it.hasVal = false
	if !ok {
		if err := it.it.Error(); err != nil && it.err == nil {
			it.err = markCorrupt(err)
		}
	}
	return ok && it.err == nil
}

// First moves to the first key; it reports whether there is one.
func (it *Iterator) First() bool { return it.moved(it.it.First()) }

// SeekGE moves to the first key >= key.
func (it *Iterator) SeekGE(key []byte) bool { return it.moved(it.it.SeekGE(key)) }

// Next moves to the next key.
func (it *Iterator) Next() bool { return it.moved(it.it.Next()) }

// Valid reports whether the iterator is at a key.
func (it *Iterator) Valid() bool { return it.err == nil && it.it.Valid() }

// Key returns the current key, valid until the next move.
func (it *Iterator) Key() []byte { return it.it.Key() }

// Value returns the current value (reading the value log if needed), valid
// until the next move. On failure it returns nil and Error reports why.
func (it *Iterator) Value() []byte {
	if it.hasVal {
		return it.val
	}
	v, err := it.db.resolve(it.db.scanCtx, it.it.Key(), it.it.Value(), it.scratch)
	if err != nil {
		if it.err == nil {
			it.err = err
		}
		return nil
	}
	it.val, it.hasVal = v, true
	if cap(v) > cap(it.scratch) {
		it.scratch = v[:0]
	}
	return v
}

// Error returns the error that stopped the iterator, if any.
func (it *Iterator) Error() error { return it.err }

// Close releases the iterator; it returns Error.
func (it *Iterator) Close() error {
	if it.closed {
		return it.err
	}
	it.closed = true
	if err := it.it.Close(); err != nil && it.err == nil {
		it.err = markCorrupt(err)
	}
	if it.owned {
		it.db.unregisterReader(it.seq)
	}
	return it.err
}

// KV is one key and its value.
type KV struct {
	Key, Value []byte
}

// Scan returns every pair in [lower, upper) (nil: unbounded) from one
// consistent snapshot.
func (db *DB) Scan(lower, upper []byte) ([]KV, error) {
	return scan(db.NewIter(lower, upper))
}

func scan(it *Iterator) ([]KV, error) {
	var out []KV
	for ok := it.First(); ok; ok = it.Next() {
		v := it.Value()
		if v == nil && it.Error() != nil {
			break
		}
		out = append(out, KV{Key: append([]byte(nil), it.Key()...), Value: append([]byte(nil), v...)})
	}
	if err := it.Close(); err != nil {
		return nil, err
	}
	return out, nil
}

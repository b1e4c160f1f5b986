package bench

import (
	"errors"
	"fmt"
	"os"

	"github.com/dgraph-io/badger/v4"
)

// BadgerTarget is a Badger v4 store with default options (except the level
// size multiplier, set to the growth factor, and no logging), on real
// files. Badger does not count its file I/O (its metrics are estimates made
// before bytes reach a file), so its I/O figures come from /proc/PID/io.
//
// A BadgerTarget is safe for concurrent use.
type BadgerTarget struct {
	db    *badger.DB
	nodes []Node
}

// OpenBadger opens (creating) a Badger store in dir.
func OpenBadger(dir string, o PeerOptions) (*BadgerTarget, error) {
	o.EnsureDefaults()
	if err := o.Validate(); err != nil {
		return nil, err
	}
	opts := badger.DefaultOptions(dir).
		WithLogger(nil).
		WithLevelSizeMultiplier(o.GrowthFactor).
		WithSyncWrites(o.Sync)
	db, err := badger.Open(opts)
	if err != nil {
		return nil, fmt.Errorf("%w: badger open %s: %w", ErrTarget, dir, err)
	}
	return &BadgerTarget{db: db, nodes: []Node{&ProcNode{NodeName: "node", PID: os.Getpid()}}}, nil
}

// Put implements Target.
func (t *BadgerTarget) Put(key, value []byte) error {
	return t.db.Update(func(txn *badger.Txn) error {
		// Badger keeps the slices until the transaction commits; Update
		// commits before returning, so the caller's buffers are free after.
		return txn.Set(key, value)
	})
}

// Get implements Target.
func (t *BadgerTarget) Get(dst, key []byte) ([]byte, bool, error) {
	found := false
	err := t.db.View(func(txn *badger.Txn) error {
		it, err := txn.Get(key)
		if errors.Is(err, badger.ErrKeyNotFound) {
			return nil
		}
		if err != nil {
			return err
		}
		found = true
		return it.Value(func(v []byte) error {
			dst = append(dst, v...)
			return nil
		})
	})
	return dst, found, err
}

// Delete implements Target.
func (t *BadgerTarget) Delete(key []byte) error {
	return t.db.Update(func(txn *badger.Txn) error { return txn.Delete(key) })
}

// Scan implements Target.
func (t *BadgerTarget) Scan(start []byte, limit int, fn func(k, v []byte) bool) (int, error) {
	n := 0
	err := t.db.View(func(txn *badger.Txn) error {
		o := badger.DefaultIteratorOptions
		o.PrefetchSize = min(limit, o.PrefetchSize)
		it := txn.NewIterator(o)
		defer it.Close()
		for it.Seek(start); it.Valid() && n < limit; it.Next() {
			item := it.Item()
			stop := false
			if err := item.Value(func(v []byte) error {
				stop = !fn(item.Key(), v)
				return nil
			}); err != nil {
				return err
			}
			n++
			if stop {
				break
			}
		}
		return nil
	})
	return n, err
}

// Nodes implements Target.
func (t *BadgerTarget) Nodes() []Node { return t.nodes }

// Close implements Target.
func (t *BadgerTarget) Close() error { return t.db.Close() }

package server

import (
	"errors"
	"fmt"
	"sync"

	"github.com/talos-kv/talos/engine"
)

// EngineStore is the Store of a Talos engine: a single node, or a
// read-only backup (engine.ModeShipIndex) whose writes are answered with
// READONLY naming its primary. It does not own the DB: its owner closes
// the DB after the Server has shut down. Safe for concurrent use.
type EngineStore struct {
	db       *engine.DB
	primary  string
	readOnly bool
	gate     func() error
	batches  sync.Pool
}

// NewEngineStore returns a writable Store over db.
func NewEngineStore(db *engine.DB) *EngineStore {
	return &EngineStore{db: db}
}

// NewGatedEngineStore returns a writable Store over db whose writes are
// first checked by gate: a replication primary refuses a write it could not
// replicate (too few backups, fenced) before it reaches the value log.
func NewGatedEngineStore(db *engine.DB, gate func() error) *EngineStore {
	return &EngineStore{db: db, gate: gate}
}

// NewReadOnlyEngineStore returns a Store over db that refuses writes,
// naming primary (the address clients should write to) in its errors.
func NewReadOnlyEngineStore(db *engine.DB, primary string) *EngineStore {
	return &EngineStore{db: db, primary: primary, readOnly: true}
}

// DB returns the engine.
func (s *EngineStore) DB() *engine.DB { return s.db }

// Get implements Store.
func (s *EngineStore) Get(key []byte) ([]byte, error) {
	v, err := s.db.Get(key)
	if errors.Is(err, engine.ErrNotFound) {
		return nil, ErrNotFound
	}
	return v, err
}

// Write implements Store: one engine batch, so the writes are atomic and
// acknowledged under the engine's sync policy.
func (s *EngineStore) Write(b *Batch) error {
	if s.readOnly {
		return ErrReadOnly
	}
	if s.gate != nil {
		if err := s.gate(); err != nil {
			return err
		}
	}
	eb, _ := s.batches.Get().(*engine.Batch)
	if eb == nil {
		eb = new(engine.Batch)
	}
	defer func() {
		eb.Reset()
		s.batches.Put(eb)
	}()
	for _, op := range b.Ops() {
		if op.Delete {
			eb.Delete(op.Key)
		} else {
			eb.Set(op.Key, op.Value)
		}
	}
	err := s.db.Apply(eb)
	switch {
	case errors.Is(err, engine.ErrReadOnly):
		return fmt.Errorf("%w: %w", ErrReadOnly, err)
	case errors.Is(err, engine.ErrTooLarge):
		return fmt.Errorf("%w: %w", ErrTooLarge, err)
	}
	return err
}

// Scan implements Store over one engine iterator (one consistent state).
func (s *EngineStore) Scan(lower, upper []byte, fn func(key, value []byte) bool) error {
	it := s.db.NewIter(lower, upper)
	for ok := it.First(); ok; ok = it.Next() {
		v := it.Value()
		if v == nil && it.Error() != nil {
			break
		}
		if !fn(it.Key(), v) {
			break
		}
	}
	return it.Close()
}

// ReadOnly implements Store.
func (s *EngineStore) ReadOnly() (string, bool) { return s.primary, s.readOnly }

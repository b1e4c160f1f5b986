package engine

import (
	"bytes"
	"context"
	"fmt"

	"github.com/talos-kv/talos/kvsep"
)

// Get returns the value of key, or ErrNotFound. The value is the caller's.
func (db *DB) Get(key []byte) ([]byte, error) {
	if db.closed.Load() {
		return nil, ErrClosed
	}
	db.readMu.RLock()
	defer db.readMu.RUnlock()
	return db.getAt(db.getCtx, key, db.visibleSeq.Load())
}

// getAt reads key as of seq; the caller keeps the segments readable
// (readMu or a registered reader).
func (db *DB) getAt(ctx context.Context, key []byte, seq uint64) ([]byte, error) {
	v, found, err := db.idx.Get(key, seq)
	if err != nil {
		return nil, markCorrupt(err)
	}
	if !found {
		return nil, ErrNotFound
	}
	return db.resolve(ctx, key, v, nil)
}

// resolve turns an index value into the user's value, reading the value log
// for a pointer. The result is in buf (grown as needed) or a fresh slice.
func (db *DB) resolve(ctx context.Context, key, v, buf []byte) ([]byte, error) {
	inline, p, isPtr, err := decodeIndexValue(v)
	if err != nil {
		return nil, fmt.Errorf("key %q: %w", key, err)
	}
	if !isPtr {
		return append(buf[:0], inline...), nil
	}
	return db.readPointer(ctx, key, p, buf)
}

// readPointer reads the record p points at and checks it belongs to key.
func (db *DB) readPointer(ctx context.Context, key []byte, p kvsep.Pointer, buf []byte) ([]byte, error) {
	r, _, err := db.log.ReadRecord(ctx, p, buf)
	if err != nil {
		return nil, markCorrupt(fmt.Errorf("engine: value of key %q: %w", key, err))
	}
	if r.Kind != kvsep.KindSet || !bytes.Equal(r.Key, key) {
		return nil, fmt.Errorf("%w: pointer %s of key %q lands on a record of key %q (kind %d)",
			ErrCorrupt, p, key, r.Key, r.Kind)
	}
	return r.Value, nil
}

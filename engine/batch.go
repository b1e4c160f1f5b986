package engine

import (
	"fmt"

	"github.com/talos-kv/talos/kvsep"
)

// Batch is an atomic group of writes: Apply makes all of them visible at
// once, and after a crash either all or none are replayed (one value-log
// frame). The zero value is an empty batch. A Batch is not safe for
// concurrent use and must not be changed while Apply runs.
type Batch struct {
	recs kvsep.Records
	err  error
}

// Set records a write of value under key.
func (b *Batch) Set(key, value []byte) {
	if b.check(key, value) {
		b.recs.Add(kvsep.KindSet, key, value)
	}
}

// Delete records a deletion of key.
func (b *Batch) Delete(key []byte) {
	if b.check(key, nil) {
		b.recs.Add(kvsep.KindDelete, key, nil)
	}
}

func (b *Batch) check(key, value []byte) bool {
	if b.err != nil {
		return false
	}
	if len(key) > kvsep.MaxKeyLen || len(value) > kvsep.MaxValueLen {
		b.err = fmt.Errorf("%w: key of %d bytes (max %d), value of %d bytes (max %d)",
			ErrTooLarge, len(key), kvsep.MaxKeyLen, len(value), kvsep.MaxValueLen)
		return false
	}
	return true
}

// Count returns the number of writes in the batch.
func (b *Batch) Count() int { return b.recs.Count() }

// Reset empties the batch, keeping its memory.
func (b *Batch) Reset() {
	b.recs.Reset()
	b.err = nil
}

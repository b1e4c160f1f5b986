package server

import "errors"

// ErrNotFound is returned by Store.Get for a key that is absent.
var ErrNotFound = errors.New("server: key not found")

// ErrReadOnly may be returned by Store.Write when the store refuses writes;
// the server answers such writes with a READONLY error naming the primary.
var ErrReadOnly = errors.New("server: store is read-only")

// Store is the ordered keyspace the server serves: a single-node engine, a
// replication primary, or a read-only backup. Keys and values are raw bytes
// in the encoding drawn in doc.go; the store does not interpret them.
//
// Implementations must be safe for concurrent use. The server serialises
// read-modify-write commands itself (striped per-key locks), so a Store needs
// no compare-and-set; every write of the server goes through one Store.
type Store interface {
	// Get returns the value of key, or ErrNotFound. The returned slice is
	// owned by the caller.
	Get(key []byte) ([]byte, error)
	// Write applies every put and delete of b atomically: a reader sees all
	// of them or none. It returns once the write is durable as the store's
	// sync policy promises. Write must not retain b or its slices.
	Write(b *Batch) error
	// Scan calls fn for each key in [lower, upper) in increasing order
	// (nil lower: from the first key; nil upper: to the last), over one
	// consistent view of the store, until fn returns false. key and value are
	// valid only during the call.
	Scan(lower, upper []byte, fn func(key, value []byte) bool) error
	// ReadOnly reports whether the store refuses writes, and if so the
	// address of the primary that takes them (may be empty when unknown).
	ReadOnly() (primary string, readOnly bool)
}

// Batch is an ordered list of puts and deletes applied atomically by
// Store.Write. The zero value is an empty batch. A Batch refers to the
// slices passed to Put and Delete without copying them. Not safe for
// concurrent use.
type Batch struct {
	ops []BatchOp
}

// BatchOp is one operation of a Batch.
type BatchOp struct {
	Delete bool
	Key    []byte
	Value  []byte // nil for a delete
}

// Put adds a put of key=value.
func (b *Batch) Put(key, value []byte) { b.ops = append(b.ops, BatchOp{Key: key, Value: value}) }

// Delete adds a delete of key.
func (b *Batch) Delete(key []byte) { b.ops = append(b.ops, BatchOp{Delete: true, Key: key}) }

// Len returns the number of operations.
func (b *Batch) Len() int { return len(b.ops) }

// Ops returns the operations in order; the slice is owned by the batch.
func (b *Batch) Ops() []BatchOp { return b.ops }

// Reset empties the batch, keeping its capacity.
func (b *Batch) Reset() {
	clear(b.ops)
	b.ops = b.ops[:0]
}

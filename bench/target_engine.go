package bench

import (
	"context"
	"errors"
	"fmt"
	"os"

	"github.com/talos-kv/talos/engine"
	"github.com/talos-kv/talos/index"
	"github.com/talos-kv/talos/internal/iostat"
)

// EngineTarget is a Talos engine (package engine) in-process, with default
// options except the index growth factor and the sync policy: writes are
// synced per group commit with Sync, otherwise the value log is synced only
// when a segment is sealed, before a flush and at Close (engine.SyncNever),
// which matches the peers' unsynced writes. Its store counters are the
// engine's own iostat counters by kind; index maintenance reads are its
// flush and compaction reads.
//
// An EngineTarget is safe for concurrent use.
type EngineTarget struct {
	db    *engine.DB
	nodes []Node
}

// OpenEngine opens (creating) an engine in dir.
func OpenEngine(dir string, o PeerOptions) (*EngineTarget, error) {
	o.EnsureDefaults()
	if err := o.Validate(); err != nil {
		return nil, err
	}
	opts := engine.Options{Sync: engine.SyncNever, Index: index.Options{GrowthFactor: o.GrowthFactor}}
	if o.Sync {
		opts.Sync = engine.SyncAlways
	}
	db, err := engine.Open(dir, opts)
	if err != nil {
		return nil, fmt.Errorf("%w: engine open %s: %w", ErrTarget, dir, err)
	}
	t := &EngineTarget{db: db}
	t.nodes = []Node{&ProcNode{NodeName: "node", PID: os.Getpid(), StoreIO: t.storeIO}}
	return t, nil
}

// EngineStoreIO converts engine I/O counters into StoreIO: bytes by iostat
// kind name, index maintenance = flush and compaction reads.
func EngineStoreIO(s iostat.Snapshot) StoreIO {
	io := StoreIO{Known: true, Read: map[string]uint64{}, Written: map[string]uint64{}}
	for k := iostat.Kind(0); k < iostat.NumKinds; k++ {
		io.Read[k.String()] = s.Read[k]
		io.Written[k.String()] = s.Written[k]
	}
	io.IndexMaintenanceRead = s.Read[iostat.Flush] + s.Read[iostat.Compaction]
	return io
}

func (t *EngineTarget) storeIO() (StoreIO, error) { return EngineStoreIO(t.db.Metrics().IO), nil }

// Put implements Target.
func (t *EngineTarget) Put(key, value []byte) error { return t.db.Put(key, value) }

// Get implements Target.
func (t *EngineTarget) Get(dst, key []byte) ([]byte, bool, error) {
	v, err := t.db.Get(key)
	if errors.Is(err, engine.ErrNotFound) {
		return dst, false, nil
	}
	if err != nil {
		return dst, false, err
	}
	return append(dst, v...), true, nil
}

// Delete implements Target.
func (t *EngineTarget) Delete(key []byte) error { return t.db.Delete(key) }

// Scan implements Target.
func (t *EngineTarget) Scan(start []byte, limit int, fn func(k, v []byte) bool) (int, error) {
	it := t.db.NewIter(start, nil)
	n := 0
	for ok := it.First(); ok && n < limit; ok = it.Next() {
		v := it.Value()
		if v == nil && it.Error() != nil {
			break
		}
		n++
		if !fn(it.Key(), v) {
			break
		}
	}
	return n, it.Close()
}

// Nodes implements Target.
func (t *EngineTarget) Nodes() []Node { return t.nodes }

// Settle flushes the memtable and waits for background flushes and
// compactions.
func (t *EngineTarget) Settle(ctx context.Context) error {
	if err := t.db.Flush(ctx); err != nil {
		return err
	}
	return t.db.WaitIdle(ctx)
}

// Close implements Target.
func (t *EngineTarget) Close() error { return t.db.Close() }

func init() {
	RegisterTarget(singleStore("engine", "the Talos engine, default options, in-process",
		func(dir string, o PeerOptions) (Target, error) { return OpenEngine(dir, o) }))
}

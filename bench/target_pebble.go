package bench

import (
	"context"
	"errors"
	"fmt"
	"log"
	"os"
	"time"

	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/vfs"
)

// PeerOptions configure the in-process peer stores (Pebble, Badger).
type PeerOptions struct {
	// GrowthFactor is the LSM level size multiplier. Zero: 10, the default
	// of both Pebble and Badger.
	GrowthFactor int
	// Sync makes every write wait for its log to be synced. Zero (false):
	// writes are logged but not synced, each store's default.
	Sync bool
}

// EnsureDefaults fills zero fields with their defaults.
func (o *PeerOptions) EnsureDefaults() {
	if o.GrowthFactor == 0 {
		o.GrowthFactor = 10
	}
}

// Validate reports a bad growth factor.
func (o *PeerOptions) Validate() error {
	if o.GrowthFactor < 2 {
		return fmt.Errorf("%w: growth factor %d, want at least 2", ErrConfig, o.GrowthFactor)
	}
	return nil
}

// PebbleTarget is a Pebble v2 store with default options (except the
// level multiplier, set to the growth factor), on real files. Its store
// counters are the bytes read and written through Pebble's vfs, by file
// category (wal, table, manifest, other); its index maintenance reads are
// Pebble's compaction read bytes.
//
// A PebbleTarget is safe for concurrent use.
type PebbleTarget struct {
	db    *pebble.DB
	fs    *categoryFS
	wopt  *pebble.WriteOptions
	nodes []Node
}

// OpenPebble opens (creating) a Pebble store in dir.
func OpenPebble(dir string, o PeerOptions) (*PebbleTarget, error) {
	o.EnsureDefaults()
	if err := o.Validate(); err != nil {
		return nil, err
	}
	fs := newCategoryFS(vfs.Default)
	opts := &pebble.Options{FS: fs, Logger: quietLogger{}}
	opts.Experimental.LevelMultiplier = o.GrowthFactor
	db, err := pebble.Open(dir, opts)
	if err != nil {
		return nil, fmt.Errorf("%w: pebble open %s: %w", ErrTarget, dir, err)
	}
	t := &PebbleTarget{db: db, fs: fs, wopt: pebble.NoSync}
	if o.Sync {
		t.wopt = pebble.Sync
	}
	t.nodes = []Node{&ProcNode{NodeName: "node", PID: os.Getpid(), StoreIO: t.storeIO}}
	return t, nil
}

func (t *PebbleTarget) storeIO() (StoreIO, error) {
	r, w := t.fs.io()
	var maint uint64
	m := t.db.Metrics()
	for i := range m.Levels {
		maint += m.Levels[i].TableBytesRead
	}
	return StoreIO{Known: true, Read: r, Written: w, IndexMaintenanceRead: maint}, nil
}

// quietLogger drops Pebble's informational messages (which would break the
// progress line) and keeps its errors and fatal messages, which it handles
// as Pebble's default logger does.
type quietLogger struct{}

func (quietLogger) Infof(string, ...any)              {}
func (quietLogger) Errorf(format string, args ...any) { log.Printf("pebble: "+format, args...) }
func (quietLogger) Fatalf(format string, args ...any) { log.Fatalf("pebble: "+format, args...) }

// Put implements Target.
func (t *PebbleTarget) Put(key, value []byte) error { return t.db.Set(key, value, t.wopt) }

// Get implements Target.
func (t *PebbleTarget) Get(dst, key []byte) ([]byte, bool, error) {
	v, closer, err := t.db.Get(key)
	if errors.Is(err, pebble.ErrNotFound) {
		return dst, false, nil
	}
	if err != nil {
		return dst, false, err
	}
	dst = append(dst, v...)
	return dst, true, closer.Close()
}

// Delete implements Target.
func (t *PebbleTarget) Delete(key []byte) error { return t.db.Delete(key, t.wopt) }

// Scan implements Target.
func (t *PebbleTarget) Scan(start []byte, limit int, fn func(k, v []byte) bool) (int, error) {
	it, err := t.db.NewIter(&pebble.IterOptions{LowerBound: start})
	if err != nil {
		return 0, err
	}
	n := 0
	for ok := it.First(); ok && n < limit; ok = it.Next() {
		v, err := it.ValueAndErr()
		if err != nil {
			return n, errors.Join(err, it.Close())
		}
		n++
		if !fn(it.Key(), v) {
			break
		}
	}
	return n, errors.Join(it.Error(), it.Close())
}

// Nodes implements Target.
func (t *PebbleTarget) Nodes() []Node { return t.nodes }

// Settle flushes the memtable and waits until no flush or compaction runs.
func (t *PebbleTarget) Settle(ctx context.Context) error {
	if err := t.db.Flush(); err != nil {
		return err
	}
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	idle := 0
	for idle < 3 {
		m := t.db.Metrics()
		if m.Compact.NumInProgress == 0 && m.Flush.NumInProgress == 0 {
			idle++
		} else {
			idle = 0
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-tick.C:
		}
	}
	return nil
}

// Close implements Target.
func (t *PebbleTarget) Close() error { return t.db.Close() }

package engine

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/talos-kv/talos/index"
	"github.com/talos-kv/talos/internal/iostat"
	"github.com/talos-kv/talos/kvsep"
)

// File names in the engine directory (see the package doc).
const (
	lockFile    = "LOCK"
	ioStatsFile = "IOSTATS"
	vlogDir     = "vlog"
)

// DB is a KV-separated LSM store: a value log (kvsep) that is also the
// write-ahead log, and an LSM index. DB is safe for concurrent use.
type DB struct {
	opts     Options
	dir      string
	fs       vfs.FS
	counters *iostat.Counters
	lock     io.Closer
	log      *kvsep.Log
	idx      *index.Index

	getCtx, scanCtx, gcCtx context.Context

	// visibleSeq is the largest seq readers may see: every seq at or below
	// it has been applied to the index.
	visibleSeq atomic.Uint64

	// stopErr is set (once) when durable state could not be written; it
	// wraps ErrStopped.
	stopErr atomic.Pointer[error]
	closed  atomic.Bool

	// cq is the group commit queue and pipeline (commit.go).
	cq struct {
		sync.Mutex
		cond  sync.Cond
		queue []*commitReq
		// pipe holds the groups appended and not yet published, in
		// append order; free recycles them.
		pipe    []*inflight
		free    []*inflight
		closing bool
		// spin is how long a writer polls for its turn before it parks
		// (not guarded by the mutex: it is atomic).
		spin spinner
	}
	// nextSeq is the seq of the next record; owned by the commit leader.
	nextSeq uint64

	// readMu is held shared by every point read while it resolves a value
	// pointer; GC takes it exclusively once (a barrier) before deleting a
	// segment so that no read still in flight can be reading it.
	readMu sync.RWMutex

	// readers tracks open snapshots and iterators by seq, and segments GC
	// deleted whose files await the last reader that may need them.
	readers struct {
		sync.Mutex
		seqs     map[uint64]int
		pending  []pendingSegment
		awaiting []awaitSegment
		removing map[uint64]bool // taken from pending, file being removed
	}

	bi buildIndexState // ModeBuildIndex replay (buildindex.go)

	gcMu sync.Mutex // serialises GC passes
	// gcMeasured holds GC's measurements of segments' live bytes
	// (gcmeasure.go). Under gcMu.
	gcMeasured map[uint64]gcMeasured
	// gcIndexMeasured is the log's end (linear) at the last measurement
	// from the index, gcMeasureStale how far the log must grow before the
	// next. Under gcMu.
	gcIndexMeasured, gcMeasureStale uint64
	ioStatsMu                       sync.Mutex // serialises writes of IOSTATS
	gcStats                         struct {
		runs, segments, keysRewritten, keysDropped, bytesRewritten atomic.Uint64
		writeSlowdowns, measured, indexMeasures, deadSegments      atomic.Uint64
	}
	// gcBehind: the value log is over GC.MaxSpaceRatio of the live data
	// (set by each GC pass): GC runs unthrottled and writers are slowed.
	gcBehind atomic.Bool
	gcDebt   gcDebt // paces writers to GC while it is behind
	// gcHeadroom is the log position (linear) past which GC is behind
	// (0: none); endLinear is the log end as of the last published group.
	gcHeadroom, endLinear atomic.Uint64
	// unflushedLimit is how far (bytes) the log may run past the index
	// checkpoint, cpLinear, before publish requests an early flush
	// (GC.MaxUnflushedRatio). unflushedLimit is set by each GC pass,
	// cpLinear at open and by each flush only (a pass's checkpoint may be
	// older than the newest flush's).
	unflushedLimit, cpLinear atomic.Uint64
	commits, groups, syncs   atomic.Uint64

	quit     chan struct{}
	bgCtx    context.Context // cancelled by Close
	bgCancel context.CancelFunc
	gcKick   chan struct{}
	wg       sync.WaitGroup
}

type pendingSegment struct {
	num uint64
	seq uint64 // readers at a seq below this may still read num
	// reclaim is what removing the file pays off the writers' GC debt
	// (its size less its rewrites; 0 for a segment a primary dropped).
	reclaim int64
}

// Open opens or creates the store in dir.
func Open(dir string, opts Options) (*DB, error) {
	opts.EnsureDefaults()
	if err := opts.Validate(); err != nil {
		return nil, err
	}
	db := &DB{
		opts:     opts,
		dir:      dir,
		fs:       opts.FS,
		counters: new(iostat.Counters),
		quit:     make(chan struct{}),
		gcKick:   make(chan struct{}, 1),
		gcDebt:   gcDebt{limit: gcDebtLimit, paid: make(chan struct{})},
	}
	db.cq.cond.L = &db.cq.Mutex
	db.bgCtx, db.bgCancel = context.WithCancel(context.Background())
	db.readers.seqs = make(map[uint64]int)
	db.readers.removing = make(map[uint64]bool)
	db.gcMeasured = make(map[uint64]gcMeasured)
	db.getCtx = iostat.WithKind(context.Background(), iostat.Get)
	db.scanCtx = iostat.WithKind(context.Background(), iostat.Scan)
	db.gcCtx = iostat.WithKind(context.Background(), iostat.GC)
	db.bi.eb.prefix = opts.ValuePrefix
	if err := db.open(); err != nil {
		db.bgCancel()
		db.release()
		return nil, markCorrupt(err)
	}
	if opts.Mode == ModePrimary {
		if opts.Sync == SyncInterval {
			db.wg.Add(1)
			go db.syncLoop()
		}
		if !opts.GC.Disable {
			cp := db.idx.Checkpoint()
			db.cpLinear.Store(db.linear(kvsep.Pos(cp)))
			db.updateBehind(db.logSpace(cp, db.idx.SegmentLive()))
			db.wg.Add(1)
			go db.gcLoop()
		}
	}
	return db, nil
}

func (db *DB) open() error {
	fs := db.fs
	if err := fs.MkdirAll(db.dir, 0o755); err != nil {
		return fmt.Errorf("engine: create %s: %w", db.dir, err)
	}
	if err := syncDir(fs, fs.PathDir(db.dir)); err != nil {
		return err
	}
	lock, err := fs.Lock(fs.PathJoin(db.dir, lockFile))
	if err != nil {
		return fmt.Errorf("engine: lock %s: %w", db.dir, err)
	}
	db.lock = lock
	snap, err := iostat.Load(fs, fs.PathJoin(db.dir, ioStatsFile))
	if err != nil {
		return &corruptErr{cause: fmt.Errorf("engine: %w", err)}
	}
	db.counters.Restore(snap)

	ko := db.opts.logOptions()
	ko.Counters = db.counters
	ko.Listener.SegmentSealed = db.opts.Listener.SegmentSealed
	if db.log, err = kvsep.Open(fs.PathJoin(db.dir, vlogDir), ko); err != nil {
		return err
	}

	io := db.opts.Index
	io.FS = fs
	io.Counters = db.counters
	io.ValueRef = valueRef
	io.DisableCompactions = io.DisableCompactions || db.opts.Mode == ModeShipIndex
	if db.opts.CompactionFilter != nil && db.opts.Mode != ModeShipIndex {
		io.CompactionFilter = db.compactionFilter
	}
	l := db.opts.Listener
	io.Listener = index.Listener{
		TableCreated: db.tableCreated,
		EditApplied: func(e index.EditInfo) {
			if e.Reason == "flush" {
				if cp := e.Edit.Checkpoint; cp != nil {
					db.cpLinear.Store(db.linear(kvsep.Pos(*cp)))
				}
				db.persistIOStats()
			}
			if e.Reason == "flush" || e.Reason == "compaction" {
				db.kickGC()
			}
			if l.EditApplied != nil {
				l.EditApplied(e)
			}
		},
		TableDeleted: l.TableDeleted,
		WriteStall:   l.WriteStall,
	}
	if db.idx, err = index.Open(db.dir, io); err != nil {
		return err
	}
	if db.opts.Mode == ModeShipIndex {
		db.nextSeq = db.idx.LastSeq() + 1
		db.visibleSeq.Store(db.idx.LastSeq())
		return nil
	}
	return db.replay()
}

// replay applies the value log from the index checkpoint to the memtable.
func (db *DB) replay() error {
	cp := db.idx.Checkpoint()
	last := db.idx.LastSeq()
	end := db.log.End()
	if cp != (index.LogPos{}) && end.Less(kvsep.Pos(cp)) {
		return fmt.Errorf("%w: the index checkpoint %d/%d is beyond the end of the value log %d/%d",
			ErrCorrupt, cp.Segment, cp.Offset, end.Segment, end.Offset)
	}
	eb := entryBuilder{prefix: db.opts.ValuePrefix}
	err := db.log.Replay(context.Background(), kvsep.Pos(cp), func(f *kvsep.Frame) error {
		n := uint64(len(f.Records))
		if f.FirstSeq+n-1 <= last {
			return nil // already in the tables
		}
		if f.FirstSeq <= last {
			return fmt.Errorf("%w: frame at %v straddles the index's last seq %d", ErrCorrupt, f.Pos, last)
		}
		if err := db.idx.MakeRoom(context.Background()); err != nil {
			return err
		}
		eb.reset()
		for i := range f.Records {
			r := &f.Records[i]
			eb.add(db.opts.ValueThreshold, r.Kind, r.Key, r.Value, f.Pointers[i])
		}
		db.idx.Apply(f.FirstSeq, eb.finish(), index.LogPos(f.End()), nil)
		last = f.FirstSeq + n - 1
		return nil
	})
	if err != nil {
		return err
	}
	if ns := db.log.NextSeq(); ns != 0 && ns != last+1 {
		if ns < last+1 {
			return fmt.Errorf("%w: value log ends at seq %d, the index has seq %d", ErrCorrupt, ns-1, last)
		}
		last = ns - 1
	}
	db.nextSeq = last + 1
	db.visibleSeq.Store(last)
	return nil
}

// entryBuilder builds index entries whose values share one buffer.
type entryBuilder struct {
	entries []index.Entry
	vals    []byte
	spans   [][2]int
	// prefix is Options.ValuePrefix: bytes of a value-log value kept in
	// its entry beside the pointer.
	prefix int
}

func (b *entryBuilder) reset() {
	b.entries, b.vals, b.spans = b.entries[:0], b.vals[:0], b.spans[:0]
}

// add appends the index entry of record (kind, key, value) whose value-log
// pointer is p.
func (b *entryBuilder) add(threshold int, kind kvsep.Kind, key, value []byte, p kvsep.Pointer) {
	start := len(b.vals)
	if kind == kvsep.KindSet {
		switch {
		case len(value) < threshold:
			b.vals = encodeInline(b.vals, value)
		case b.prefix > 0:
			b.vals = encodePointerPrefix(b.vals, p, value[:min(b.prefix, len(value))])
		default:
			b.vals = encodePointer(b.vals, p)
		}
	}
	b.entries = append(b.entries, index.Entry{Kind: index.Kind(kind), Key: key})
	b.spans = append(b.spans, [2]int{start, len(b.vals)})
}

// finish points every entry's Value into the final buffer.
func (b *entryBuilder) finish() []index.Entry {
	for i, sp := range b.spans {
		if b.entries[i].Kind == index.KindSet {
			b.entries[i].Value = b.vals[sp[0]:sp[1]:sp[1]]
		}
	}
	return b.entries
}

// tableCreated makes the value log durable before a flush's edit can move
// the checkpoint past it, then hands the table to the listener.
func (db *DB) tableCreated(info index.TableCreateInfo) index.TableSink {
	var sink index.TableSink
	if fn := db.opts.Listener.TableCreated; fn != nil {
		sink = fn(info)
	}
	if info.Reason != "flush" || db.opts.Mode != ModePrimary {
		return sink
	}
	if err := db.log.Sync(); err != nil {
		err = db.fail(fmt.Errorf("sync value log before flush: %w", err))
		return failingSink{err: err, next: sink}
	}
	db.syncs.Add(1)
	return sink
}

// failingSink fails the table it is given (a sync before a flush failed).
type failingSink struct {
	err  error
	next index.TableSink
}

func (s failingSink) Write([]byte) error { return s.err }
func (s failingSink) Finish(index.TableMeta) error {
	return s.err
}
func (s failingSink) Abort() {
	if s.next != nil {
		s.next.Abort()
	}
}

// fail records err as the reason the engine stopped (the first one wins)
// and returns the error writers will see.
func (db *DB) fail(err error) error {
	e := fmt.Errorf("%w: %w", ErrStopped, err)
	if db.stopErr.CompareAndSwap(nil, &e) {
		db.opts.Logger.Error("engine stopped", "err", err)
		if fn := db.opts.Listener.BackgroundError; fn != nil {
			fn(e)
		}
		return e
	}
	return *db.stopErr.Load()
}

// Err returns the error that stopped the engine, or nil.
func (db *DB) Err() error {
	if p := db.stopErr.Load(); p != nil {
		return *p
	}
	return nil
}

func (db *DB) checkWritable() error {
	if db.closed.Load() {
		return ErrClosed
	}
	if db.opts.Mode != ModePrimary {
		return ErrReadOnly
	}
	return db.Err()
}

// persistIOStats stores the I/O counters in DIR/IOSTATS. A failure stops
// the engine.
func (db *DB) persistIOStats() {
	db.ioStatsMu.Lock()
	defer db.ioStatsMu.Unlock()
	if err := iostat.Store(db.fs, db.fs.PathJoin(db.dir, ioStatsFile), db.counters.Snapshot()); err != nil {
		db.fail(err)
	}
}

// syncLoop syncs the value log every SyncInterval (SyncInterval policy).
func (db *DB) syncLoop() {
	defer db.wg.Done()
	t := time.NewTicker(db.opts.SyncInterval)
	defer t.Stop()
	for {
		select {
		case <-db.quit:
			return
		case <-t.C:
			if db.Err() != nil {
				return
			}
			if err := db.log.Sync(); err != nil {
				db.fail(fmt.Errorf("interval sync: %w", err))
				return
			}
			db.syncs.Add(1)
		}
	}
}

// Flush writes the memtable to a table and waits for it, then persists the
// I/O counters.
func (db *DB) Flush(ctx context.Context) error {
	if db.closed.Load() {
		return ErrClosed
	}
	if err := db.Err(); err != nil {
		return err
	}
	if err := db.idx.Flush(ctx); err != nil {
		return markCorrupt(err)
	}
	db.persistIOStats()
	return db.Err()
}

// WaitIdle waits until background flushes and compactions are done.
func (db *DB) WaitIdle(ctx context.Context) error { return db.idx.WaitIdle(ctx) }

// Compact runs compactions until no level needs one.
func (db *DB) Compact(ctx context.Context) error { return markCorrupt(db.idx.Compact(ctx)) }

// Close waits for writes in flight, stops background work, syncs the value
// log (whatever the sync policy), persists the I/O counters and releases
// the directory. It does not flush the memtable: the next Open replays the
// value log. Snapshots and iterators must be closed first. Close is
// idempotent; it returns the error that stopped the engine, if any.
func (db *DB) Close() error {
	if db.closed.Swap(true) {
		return nil
	}
	db.cq.Lock()
	db.cq.closing = true
	for len(db.cq.queue) > 0 || len(db.cq.pipe) > 0 {
		db.cq.cond.Wait()
	}
	db.cq.Unlock()
	close(db.quit)
	db.bgCancel()
	db.wg.Wait()
	var errs []error
	if db.opts.Mode == ModePrimary && db.Err() == nil {
		if err := db.log.Sync(); err != nil {
			errs = append(errs, db.fail(fmt.Errorf("sync value log at close: %w", err)))
		}
		db.removeReadySegments(true)
	}
	db.persistIOStats()
	errs = append(errs, db.Err())
	errs = append(errs, db.release())
	return errors.Join(errs...)
}

// release closes whatever open() opened.
func (db *DB) release() error {
	var errs []error
	if db.idx != nil {
		if err := db.idx.Close(); err != nil && !errors.Is(err, index.ErrStopped) {
			errs = append(errs, err)
		}
	}
	if db.log != nil {
		errs = append(errs, db.log.Close())
	}
	if db.lock != nil {
		errs = append(errs, db.lock.Close())
	}
	return errors.Join(errs...)
}

func syncDir(fs vfs.FS, dir string) error {
	d, err := fs.OpenDir(dir)
	if err != nil {
		return fmt.Errorf("engine: open dir %s: %w", dir, err)
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("engine: sync dir %s: %w", dir, err)
	}
	return nil
}

package index

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"maps"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/bloom"
	"github.com/cockroachdb/pebble/v2/sstable"
	"github.com/talos-kv/talos/internal/iostat"
)

// Index is the LSM index: memtables, levels of tables, and the manifest.
// It is safe for concurrent use, except that Apply and MakeRoom come from
// one writer at a time (the caller serialises them).
type Index struct {
	dir        string
	opts       Options
	readerOpts sstable.ReaderOptions // template with the block cache; FileNum set per table
	cache      *pebble.Cache
	getCtx     context.Context
	scanCtx    context.Context
	compCtx    context.Context

	nextFileNum atomic.Uint64

	// applyMu serialises Apply with memtable rotation. mem is the mutable
	// memtable; it changes only with applyMu and mu both held, and memPub
	// holds it too, for StartPlan, which takes no lock.
	applyMu sync.Mutex
	mem     *memtable
	memPub  atomic.Pointer[memtable]

	// rsMu guards rs, the read state readers pin.
	rsMu sync.RWMutex
	rs   *readState

	// manifestMu serialises edits: writing the manifest and installing the
	// version that results.
	manifestMu sync.Mutex
	manifest   *manifestWriter

	mu struct {
		sync.Mutex
		imm        []*memtable // immutable memtables, oldest first
		v          *version    // current version (also in rs)
		tables     map[uint64]*table
		lastSeq    uint64
		checkpoint LogPos
		segLive    map[uint64]int64
		snapshots  map[uint64]int // open snapshot seqs and their counts
		memID      uint64

		flushing       bool
		compactions    int
		compactPointer [][]byte
		// forceL0: RequestL0Compaction asked for L0 to be compacted
		// whatever its file count; cleared when an L0 compaction starts.
		forceL0 bool
		// changed is closed (and replaced) whenever flush/compaction state
		// changes, waking MakeRoom, Flush, Compact and WaitIdle.
		changed chan struct{}
		stalled bool
		bgErr   error // wraps ErrStopped
		closed  bool

		m Metrics
	}

	flushKick chan struct{}
	quit      chan struct{}
	wg        sync.WaitGroup
}

// readState is what a reader pins: the memtables and the version.
type readState struct {
	mem  *memtable
	imm  []*memtable // oldest first
	v    *version
	refs atomic.Int32
}

func (x *Index) loadReadState() *readState {
	x.rsMu.RLock()
	rs := x.rs
	rs.refs.Add(1)
	x.rsMu.RUnlock()
	return rs
}

func (x *Index) unrefReadState(rs *readState) {
	if n := rs.refs.Add(-1); n == 0 {
		x.deleteObsolete(rs.v.unref())
	} else if n < 0 {
		panic(fmt.Sprintf("index: read state refcount %d, expected >= 0", n))
	}
}

// installReadStateLocked publishes the current memtables and version. It
// returns the replaced state, which the caller unrefs after releasing mu.
func (x *Index) installReadStateLocked() *readState {
	rs := &readState{mem: x.mem, imm: slices_clone(x.mu.imm), v: x.mu.v}
	rs.refs.Store(1)
	rs.v.ref()
	x.rsMu.Lock()
	old := x.rs
	x.rs = rs
	x.rsMu.Unlock()
	return old
}

func slices_clone(m []*memtable) []*memtable { return append([]*memtable(nil), m...) }

// notifyLocked wakes every waiter on state changes.
func (x *Index) notifyLocked() {
	close(x.mu.changed)
	x.mu.changed = make(chan struct{})
}

// Open opens or creates the index in dir. It does not replay the value log.
func Open(dir string, opts Options) (*Index, error) {
	opts.EnsureDefaults()
	if err := opts.Validate(); err != nil {
		return nil, err
	}
	x := &Index{
		dir:       dir,
		opts:      opts,
		flushKick: make(chan struct{}, 1),
		quit:      make(chan struct{}),
	}
	x.getCtx = iostat.WithKind(context.Background(), iostat.Get)
	x.scanCtx = iostat.WithKind(context.Background(), iostat.Scan)
	x.compCtx = iostat.WithKind(context.Background(), iostat.Compaction)
	x.cache = pebble.NewCache(opts.BlockCacheSize)
	x.readerOpts.CacheOpts.CacheHandle = x.cache.NewHandle()
	x.readerOpts.Filters = map[string]sstable.FilterPolicy{
		bloom.FilterPolicy(opts.BloomBitsPerKey).Name(): bloom.FilterPolicy(opts.BloomBitsPerKey),
	}
	x.mu.tables = make(map[uint64]*table)
	x.mu.segLive = make(map[uint64]int64)
	x.mu.snapshots = make(map[uint64]int)
	x.mu.changed = make(chan struct{})
	x.mu.compactPointer = make([][]byte, opts.NumLevels)
	if err := x.recover(); err != nil {
		x.releaseCache()
		return nil, err
	}
	x.mem = newMemtable(x.mu.memID, x.opts.MemtableSize)
	x.memPub.Store(x.mem)
	x.mu.memID++
	x.mu.Lock()
	x.installReadStateLocked()
	x.mu.Unlock()
	x.wg.Add(1)
	go x.flushLoop()
	x.mu.Lock()
	x.maybeScheduleCompactionLocked()
	x.mu.Unlock()
	return x, nil
}

func (x *Index) releaseCache() {
	x.readerOpts.CacheOpts.CacheHandle.Close()
	x.cache.Unref()
}

// recover replays the manifest (if any), checks the tables, and starts a
// new manifest holding a snapshot; then it removes files nothing names.
func (x *Index) recover() error {
	fs := x.opts.FS
	if err := fs.MkdirAll(x.dir, 0o755); err != nil {
		return fmt.Errorf("index: create %s: %w", x.dir, err)
	}
	// Make the directory's own entry durable (a new index's directory).
	if err := syncDir(fs, fs.PathDir(x.dir)); err != nil {
		return err
	}
	mfs := x.manifestFS()
	num, ok, err := readCurrent(mfs, x.dir)
	if err != nil {
		return err
	}
	v := &version{levels: make([][]*table, x.opts.NumLevels)}
	next := uint64(1)
	if ok {
		edits, err := readManifestFile(mfs, fs.PathJoin(x.dir, manifestFileName(num)))
		if err != nil {
			return err
		}
		for i, e := range edits {
			nv, err := applyEdit(v, e, x.opts.NumLevels, x.mu.tables)
			if err != nil {
				return fmt.Errorf("manifest %s edit %d: %w", manifestFileName(num), i, err)
			}
			x.releaseVersionQuiet(v)
			v = nv
			x.applyEditStateLocked(e)
			if e.NextFileNum > next {
				next = e.NextFileNum
			}
		}
		if num >= next {
			next = num + 1
		}
		for _, lvl := range v.levels {
			for _, t := range lvl {
				st, err := fs.Stat(fs.PathJoin(x.dir, tableFileName(t.meta.Num)))
				if err != nil {
					if errors.Is(err, os.ErrNotExist) {
						return fmt.Errorf("%w: table %s named by the manifest is missing", ErrCorrupt, tableFileName(t.meta.Num))
					}
					return fmt.Errorf("index: stat table %s: %w", tableFileName(t.meta.Num), err)
				}
				if uint64(st.Size()) != t.meta.Size {
					return fmt.Errorf("%w: table %s is %d bytes, the manifest says %d", ErrCorrupt, tableFileName(t.meta.Num), st.Size(), t.meta.Size)
				}
				if t.meta.Num >= next {
					next = t.meta.Num + 1
				}
			}
		}
	}
	x.mu.v = v
	mnum := next
	x.nextFileNum.Store(next + 1)
	m, err := createManifest(mfs, x.dir, mnum, x.snapshotEditLocked())
	if err != nil {
		x.closeTables()
		return err
	}
	x.manifest = m
	x.removeUnreferenced()
	return nil
}

// releaseVersionQuiet drops the table references of a version superseded
// during recovery, without deleting files.
func (x *Index) releaseVersionQuiet(v *version) {
	for _, lvl := range v.levels {
		for _, t := range lvl {
			if t.refs.Add(-1) == 0 {
				delete(x.mu.tables, t.meta.Num)
			}
		}
	}
}

func (x *Index) closeTables() {
	for _, t := range x.mu.tables {
		x.closeReader(t)
	}
}

// removeUnreferenced deletes tables, old manifests and temporary files in
// the directory that the current state does not name. Failures are logged:
// a leftover file is harmless.
func (x *Index) removeUnreferenced() {
	fs := x.opts.FS
	names, err := fs.List(x.dir)
	if err != nil {
		x.opts.Logger.Warn("index: list directory", "dir", x.dir, "err", err)
		return
	}
	for _, name := range names {
		remove := false
		switch {
		case strings.HasSuffix(name, ".sst"):
			n, err := strconv.ParseUint(strings.TrimSuffix(name, ".sst"), 10, 64)
			if err == nil {
				_, live := x.mu.tables[n]
				remove = !live
			}
		case strings.HasPrefix(name, manifestPrefix):
			n, err := strconv.ParseUint(strings.TrimPrefix(name, manifestPrefix), 10, 64)
			remove = err == nil && n != x.manifest.num
		case strings.HasPrefix(name, currentName+".") && strings.HasSuffix(name, ".tmp"):
			remove = true
		}
		if remove {
			if err := fs.Remove(fs.PathJoin(x.dir, name)); err != nil {
				x.opts.Logger.Warn("index: remove unreferenced file", "file", name, "err", err)
			}
		}
	}
}

// applyEditStateLocked folds the non-table parts of e into the state.
func (x *Index) applyEditStateLocked(e *VersionEdit) {
	if e.LastSeq > x.mu.lastSeq {
		x.mu.lastSeq = e.LastSeq
	}
	if e.Checkpoint != nil {
		x.mu.checkpoint = *e.Checkpoint
	}
	for s, d := range e.SegmentLive {
		// A count that falls to zero or below is dropped: a segment's
		// count is never negative (invariant 7), and missing means zero.
		// Below zero it belongs to a deleted segment whose shadowed
		// entries a compaction dropped; keeping it would leak an entry
		// per deleted segment.
		if v := x.mu.segLive[s] + d; v > 0 {
			x.mu.segLive[s] = v
		} else {
			delete(x.mu.segLive, s)
		}
	}
	for _, s := range e.DeletedSegments {
		delete(x.mu.segLive, s)
	}
}

// snapshotEditLocked returns an edit that recreates the current state.
func (x *Index) snapshotEditLocked() *VersionEdit {
	e := &VersionEdit{
		NextFileNum: x.nextFileNum.Load(),
		LastSeq:     x.mu.lastSeq,
		SegmentLive: maps.Clone(x.mu.segLive),
	}
	cp := x.mu.checkpoint
	e.Checkpoint = &cp
	for l, lvl := range x.mu.v.levels {
		for _, t := range lvl {
			e.Added = append(e.Added, NewTable{Level: l, Meta: t.meta})
		}
	}
	return e
}

// fail records a fatal error: background work stops and every later call
// that needs durable writes returns it.
func (x *Index) fail(err error) error {
	x.mu.Lock()
	defer x.mu.Unlock()
	return x.failLocked(err)
}

func (x *Index) failLocked(err error) error {
	if x.mu.bgErr == nil {
		x.mu.bgErr = fmt.Errorf("%w: %w", ErrStopped, err)
		x.opts.Logger.Error("index: stopped", "err", err)
		x.notifyLocked()
	}
	return x.mu.bgErr
}

// errLocked returns the error that stops new work, if any.
func (x *Index) errLocked() error {
	if x.mu.bgErr != nil {
		return x.mu.bgErr
	}
	if x.mu.closed {
		return ErrClosed
	}
	return nil
}

// logAndApply makes e durable in the manifest and installs the version it
// makes. install, if not nil, runs under mu before the read state is
// published (flush uses it to retire the flushed memtable). A manifest
// write failure is fatal.
func (x *Index) logAndApply(e *VersionEdit, reason string, install func()) error {
	start := time.Now()
	x.manifestMu.Lock()
	defer x.manifestMu.Unlock()
	if x.manifest.f == nil {
		return ErrClosed
	}
	x.mu.Lock()
	if err := x.errLocked(); err != nil && !errors.Is(err, ErrClosed) {
		x.mu.Unlock()
		return err
	}
	nv, err := applyEdit(x.mu.v, e, x.opts.NumLevels, x.mu.tables)
	x.mu.Unlock()
	if err != nil {
		return err
	}
	if e.NextFileNum == 0 {
		e.NextFileNum = x.nextFileNum.Load()
	}
	if err := x.manifest.append(e); err != nil {
		x.undoAdded(nv)
		return x.fail(err)
	}
	x.mu.Lock()
	x.mu.v = nv
	x.applyEditStateLocked(e)
	if install != nil {
		install()
	}
	old := x.installReadStateLocked()
	var snap *VersionEdit
	if x.manifest.size > x.opts.manifestRollover {
		snap = x.snapshotEditLocked()
	}
	x.notifyLocked()
	x.mu.Unlock()
	if snap != nil {
		if err := x.rollManifest(snap); err != nil {
			x.unrefReadState(old)
			return err
		}
	}
	if fn := x.opts.Listener.EditApplied; fn != nil {
		fn(EditInfo{Reason: reason, Edit: e, Duration: time.Since(start)})
	}
	x.unrefReadState(old)
	return nil
}

// undoAdded forgets the tables a version that was never installed added.
func (x *Index) undoAdded(nv *version) {
	x.mu.Lock()
	defer x.mu.Unlock()
	for _, lvl := range nv.levels {
		for _, t := range lvl {
			if t.refs.Add(-1) == 0 {
				delete(x.mu.tables, t.meta.Num)
			}
		}
	}
}

// rollManifest starts a new manifest with snap. Called with manifestMu held.
func (x *Index) rollManifest(snap *VersionEdit) error {
	num := x.nextFileNum.Add(1) - 1
	snap.NextFileNum = x.nextFileNum.Load()
	m, err := createManifest(x.manifestFS(), x.dir, num, snap)
	if err != nil {
		return x.fail(err)
	}
	old := x.manifest
	x.manifest = m
	_ = old.close()
	if err := x.opts.FS.Remove(x.opts.FS.PathJoin(x.dir, manifestFileName(old.num))); err != nil {
		x.opts.Logger.Warn("index: remove old manifest", "num", old.num, "err", err)
	}
	x.mu.Lock()
	x.mu.m.ManifestRollovers++
	x.mu.Unlock()
	return nil
}

// deleteObsolete removes the files of tables no version holds any more.
func (x *Index) deleteObsolete(ts []*table) {
	if len(ts) == 0 {
		return
	}
	x.mu.Lock()
	for _, t := range ts {
		if cur, ok := x.mu.tables[t.meta.Num]; ok && cur == t {
			delete(x.mu.tables, t.meta.Num)
		}
	}
	x.mu.Unlock()
	fs := x.opts.FS
	for _, t := range ts {
		x.closeReader(t)
		if err := fs.Remove(fs.PathJoin(x.dir, tableFileName(t.meta.Num))); err != nil {
			x.opts.Logger.Warn("index: remove obsolete table", "num", t.meta.Num, "err", err)
			continue
		}
		if fn := x.opts.Listener.TableDeleted; fn != nil {
			fn(t.meta.Num)
		}
	}
	if err := syncDir(fs, x.dir); err != nil {
		x.opts.Logger.Warn("index: sync directory after removals", "err", err)
	}
}

// Apply inserts entries into the mutable memtable; entry i gets seq+i. end
// is the value-log position after these records. The caller serialises
// Apply calls and makes seqs increase. plan, if not nil, holds the places
// of the same keys in the same order (StartPlan and ApplyPlan.Add, or
// ApplyPlan.Join of such plans); Apply drops its reference to the
// memtable.
func (x *Index) Apply(seq uint64, entries []Entry, end LogPos, plan *ApplyPlan) {
	x.applyMu.Lock()
	m := x.mem
	hints := plan.hintsFor(m, len(entries))
	for i := range entries {
		e := &entries[i]
		var h *memHint
		if hints != nil {
			h = &hints[i]
		}
		m.add(seq+uint64(i), e.Kind, e.Key, e.Value, h)
	}
	if !m.hasEnd || m.end.Less(end) {
		m.end = end
		m.hasEnd = true
	}
	x.applyMu.Unlock()
	if plan != nil {
		plan.Clear()
	}
}

// ApplyPlan is where a group of entries goes in the mutable memtable,
// found before Apply. The zero value is an empty plan, which Apply
// ignores.
//
// A plan lets writers search the memtable in parallel: the search misses
// the CPU caches at every level of a large memtable, while Apply runs one
// group at a time. A plan is only a hint: Apply walks forward past entries
// inserted since, and ignores a plan made on a memtable rotated away since.
type ApplyPlan struct {
	m     *memtable
	hints []memHint
}

// StartPlan empties p and starts it on the mutable memtable. It takes no
// lock: plans may be made concurrently with Apply and with each other.
func (x *Index) StartPlan(p *ApplyPlan) {
	p.m = x.memPub.Load()
	p.hints = p.hints[:0]
}

// Add appends the place of the plan's next entry, of user key key. The
// place found is before every version of key in the memtable, which is
// before the entry's own: its seq is newer than theirs.
func (p *ApplyPlan) Add(key []byte) {
	p.hints = append(p.hints, memHint{})
	p.m.plan(key, &p.hints[len(p.hints)-1])
}

// Join empties p and makes it the concatenation of qs, in order, or an
// empty plan if they were not all made on one memtable.
func (p *ApplyPlan) Join(qs ...*ApplyPlan) {
	p.Clear()
	for _, q := range qs {
		if q.m == nil || (p.m != nil && q.m != p.m) {
			p.Clear()
			return
		}
		p.m = q.m
		p.hints = append(p.hints, q.hints...)
	}
}

// Clear drops p's reference to its memtable (a rotated memtable must not
// outlive its flush in a recycled plan).
func (p *ApplyPlan) Clear() {
	p.m = nil
	p.hints = p.hints[:0]
}

// hintsFor returns the plan's hints if it was made on m for n entries.
func (p *ApplyPlan) hintsFor(m *memtable, n int) []memHint {
	if p == nil || p.m != m || len(p.hints) != n {
		return nil
	}
	return p.hints
}

// rotateLocked makes the mutable memtable immutable and schedules its
// flush. Called with applyMu and mu held.
func (x *Index) rotateLocked() {
	x.mu.imm = append(x.mu.imm, x.mem)
	x.mem = newMemtable(x.mu.memID, x.opts.MemtableSize)
	x.memPub.Store(x.mem)
	x.mu.memID++
	old := x.installReadStateLocked()
	// The replaced state holds the same version; dropping it never frees
	// tables while the new state holds them too.
	if old.refs.Add(-1) == 0 {
		if obs := old.v.unref(); len(obs) != 0 {
			panic("index: rotation released tables still in the current version")
		}
	}
	select {
	case x.flushKick <- struct{}{}:
	default:
	}
}

// MakeRoom is called by the writer before Apply: it rotates a full memtable
// (scheduling its flush) and slows or stops the writer while flushes or L0
// compactions are behind. It returns an error if the index failed or closed.
func (x *Index) MakeRoom(ctx context.Context) error {
	slowed := false
	for {
		x.applyMu.Lock()
		x.mu.Lock()
		if err := x.errLocked(); err != nil {
			x.mu.Unlock()
			x.applyMu.Unlock()
			return err
		}
		l0 := len(x.mu.v.levels[0])
		var reason string
		switch {
		case l0 >= x.opts.L0StopThreshold:
			reason = fmt.Sprintf("L0 has %d files (stop at %d)", l0, x.opts.L0StopThreshold)
		case x.mem.size.Load() >= x.opts.MemtableSize && len(x.mu.imm) >= x.opts.MaxImmutableMemtables:
			reason = fmt.Sprintf("%d memtables await flush", len(x.mu.imm))
		}
		if reason == "" {
			if x.mem.size.Load() >= x.opts.MemtableSize {
				x.rotateLocked()
			}
			if x.mu.stalled {
				x.mu.stalled = false
				if fn := x.opts.Listener.WriteStall; fn != nil {
					fn(false, "")
				}
			}
			slow := !slowed && l0 >= x.opts.L0SlowdownThreshold
			if slow {
				x.mu.m.WriteSlowdowns++
			}
			x.mu.Unlock()
			x.applyMu.Unlock()
			if slow {
				slowed = true
				t := time.NewTimer(time.Millisecond)
				select {
				case <-t.C:
				case <-ctx.Done():
					t.Stop()
					return ctx.Err()
				}
				continue
			}
			return nil
		}
		if !x.mu.stalled {
			x.mu.stalled = true
			x.mu.m.WriteStalls++
			if fn := x.opts.Listener.WriteStall; fn != nil {
				fn(true, reason)
			}
		}
		ch := x.mu.changed
		x.mu.Unlock()
		x.applyMu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// Get returns the newest version of key with seq <= seq. A tombstone or
// absence gives found=false. The value is the caller's.
func (x *Index) Get(key []byte, seq uint64) (value []byte, found bool, err error) {
	rs := x.loadReadState()
	defer x.unrefReadState(rs)
	return x.get(rs, key, seq)
}

// GetVisible is Get at the seq visible() returns, read after the index
// state is pinned. A caller reading "the latest" should use it (or hold a
// Snapshot): a compaction keeps the versions open snapshots need and the
// newest version, so a seq loaded before the state is pinned may be older
// than what the pinned tables still hold (doc.go, invariant 4).
func (x *Index) GetVisible(key []byte, visible func() uint64) (value []byte, found bool, err error) {
	rs := x.loadReadState()
	defer x.unrefReadState(rs)
	return x.get(rs, key, visible())
}

func (x *Index) get(rs *readState, key []byte, seq uint64) (value []byte, found bool, err error) {
	if n, ok := rs.mem.get(key, seq); ok {
		return memResult(n)
	}
	for i := len(rs.imm) - 1; i >= 0; i-- {
		if n, ok := rs.imm[i].get(key, seq); ok {
			return memResult(n)
		}
	}
	for _, t := range rs.v.levels[0] {
		if t.meta.SmallestSeq > seq || cmpKey(key, t.meta.Smallest) < 0 || cmpKey(key, t.meta.Largest) > 0 {
			continue
		}
		v, kind, ok, err := x.getFromTable(t, key, seq)
		if err != nil || ok {
			return v, ok && kind == KindSet, err
		}
	}
	for l := 1; l < len(rs.v.levels); l++ {
		t := rs.v.findTable(l, key)
		if t == nil || t.meta.SmallestSeq > seq {
			continue
		}
		v, kind, ok, err := x.getFromTable(t, key, seq)
		if err != nil || ok {
			return v, ok && kind == KindSet, err
		}
	}
	return nil, false, nil
}

func memResult(n []byte) ([]byte, bool, error) {
	if Kind(nodeTrailer(n)&0xff) != KindSet {
		return nil, false, nil
	}
	return append([]byte(nil), nodeValue(n)...), true, nil
}

func (x *Index) getFromTable(t *table, key []byte, seq uint64) (value []byte, kind Kind, found bool, err error) {
	it, err := x.newTableIter(x.getCtx, t, nil, nil)
	if err != nil {
		return nil, 0, false, err
	}
	for it.seekPrefixGE(key); it.valid() && bytes.Equal(it.key(), key); it.next() {
		if it.trailer()>>8 > seq {
			continue
		}
		kind = Kind(it.trailer() & 0xff)
		if kind == KindSet {
			v, err := it.value()
			if err != nil {
				_ = it.close()
				return nil, 0, false, err
			}
			value = append([]byte(nil), v...)
		}
		found = true
		break
	}
	if err := it.err(); err != nil {
		_ = it.close()
		return nil, 0, false, err
	}
	if err := it.close(); err != nil {
		return nil, 0, false, err
	}
	return value, kind, found, nil
}

// Snapshot keeps every version that a read at its seq may need.
// Close it when done; it is safe for concurrent use.
type Snapshot struct {
	x    *Index
	seq  uint64
	once sync.Once
}

// NewSnapshot registers a snapshot at seq.
func (x *Index) NewSnapshot(seq uint64) *Snapshot {
	x.mu.Lock()
	x.mu.snapshots[seq]++
	x.mu.Unlock()
	return &Snapshot{x: x, seq: seq}
}

// Seq returns the snapshot's sequence number.
func (s *Snapshot) Seq() uint64 { return s.seq }

// Close releases the snapshot. It is idempotent.
func (s *Snapshot) Close() {
	s.once.Do(func() {
		s.x.mu.Lock()
		if s.x.mu.snapshots[s.seq]--; s.x.mu.snapshots[s.seq] <= 0 {
			delete(s.x.mu.snapshots, s.seq)
		}
		s.x.mu.Unlock()
	})
}

func (x *Index) snapshotSeqsLocked() []uint64 {
	out := make([]uint64, 0, len(x.mu.snapshots))
	for s := range x.mu.snapshots {
		out = append(out, s)
	}
	sortUint64(out)
	return out
}

// Checkpoint returns the value-log position of the current version.
func (x *Index) Checkpoint() LogPos {
	x.mu.Lock()
	defer x.mu.Unlock()
	return x.mu.checkpoint
}

// LastSeq returns the largest seq recorded in the manifest.
func (x *Index) LastSeq() uint64 {
	x.mu.Lock()
	defer x.mu.Unlock()
	return x.mu.lastSeq
}

// SegmentLive returns the live bytes per value-log segment (a copy).
func (x *Index) SegmentLive() map[uint64]int64 {
	x.mu.Lock()
	defer x.mu.Unlock()
	return maps.Clone(x.mu.segLive)
}

// ApplyEdit logs an edit made by the owner (engine), e.g. value-log GC:
// {DeletedSegments, Checkpoint}. It is durable when it returns.
func (x *Index) ApplyEdit(e *VersionEdit) error {
	if len(e.Added) != 0 || len(e.Deleted) != 0 {
		return errors.New("index: ApplyEdit: an external edit may not add or delete tables (use InstallEdit)")
	}
	return x.logAndApply(e, "external", nil)
}

// Close stops background work, waits for it and releases the files. It
// does not flush the memtable. It is idempotent.
func (x *Index) Close() error {
	x.mu.Lock()
	if x.mu.closed {
		x.mu.Unlock()
		return nil
	}
	x.mu.closed = true
	x.notifyLocked()
	x.mu.Unlock()
	close(x.quit)
	x.wg.Wait()
	x.manifestMu.Lock()
	err := x.manifest.close()
	x.manifestMu.Unlock()
	x.rsMu.Lock()
	rs := x.rs
	x.rsMu.Unlock()
	if rs.refs.Add(-1) == 0 {
		rs.v.refs.Add(-1)
	}
	x.mu.Lock()
	x.closeTables()
	x.mu.Unlock()
	x.releaseCache()
	if err != nil {
		return fmt.Errorf("index: close manifest: %w", err)
	}
	return nil
}

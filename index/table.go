package index

import (
	"context"
	"fmt"
	"hash/crc32"
	"io"
	"sync"
	"sync/atomic"

	"github.com/cockroachdb/errors"
	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/bloom"
	"github.com/cockroachdb/pebble/v2/objstorage"
	"github.com/cockroachdb/pebble/v2/sstable"
	"github.com/cockroachdb/pebble/v2/sstable/block"
	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/talos-kv/talos/internal/iostat"
)

// tableFormat is the pebble sstable format index writes.
const tableFormat = sstable.TableFormatPebblev5

// tableFileName returns the file name of table num.
func tableFileName(num uint64) string { return fmt.Sprintf("%06d.sst", num) }

// setFileNum and evictFile convert a table number into pebble's internal
// DiskFileNum type, which cannot be named outside pebble.
func setFileNum[T ~uint64](p *T, n uint64)     { *p = T(n) }
func evictFile[T ~uint64](f func(T), n uint64) { f(T(n)) }

// table is one table in one or more versions. Its file is deleted when the
// last version holding it is released (refs reaches zero).
type table struct {
	meta TableMeta
	refs atomic.Int32

	// compacting and deletions are guarded by Index.mu. deletions counts
	// the table's tombstones, -1 when unknown (tables from before Open or
	// from InstallEdit); a table that may hold tombstones is rewritten, not
	// moved, into the bottom of the data so that they are dropped.
	compacting bool
	deletions  int64

	mu struct {
		sync.Mutex
		r   *sstable.Reader
		err error
	}
}

func (t *table) overlaps(lo, hi []byte) bool {
	return cmpKey(t.meta.Largest, lo) >= 0 && cmpKey(t.meta.Smallest, hi) <= 0
}

// tableWritable is the objstorage.Writable of a table being written: it
// buffers writes to the file, computes the crc32c of the whole file, and
// passes every byte to the listener's sink.
type tableWritable struct {
	f       vfs.File
	buf     []byte
	crc     uint32
	size    uint64
	sink    TableSink
	sinkBuf []byte
	err     error
}

const tableWriteBuf = 256 << 10

func (w *tableWritable) Write(p []byte) error {
	if w.err != nil {
		return w.err
	}
	w.crc = crc32.Update(w.crc, castagnoli, p)
	w.size += uint64(len(p))
	if w.sink != nil {
		// The sink gets its own copy: like a file, it may modify what it
		// is given (pebble's MemFS does in invariant builds).
		w.sinkBuf = append(w.sinkBuf[:0], p...)
		if err := w.sink.Write(w.sinkBuf); err != nil {
			w.err = fmt.Errorf("index: table sink: %w", err)
			return w.err
		}
	}
	if len(w.buf)+len(p) > tableWriteBuf {
		if err := w.flush(); err != nil {
			return err
		}
		if len(p) > tableWriteBuf {
			if _, err := w.f.Write(p); err != nil {
				w.err = err
				return err
			}
			return nil
		}
	}
	w.buf = append(w.buf, p...)
	return nil
}

func (w *tableWritable) flush() error {
	if len(w.buf) == 0 {
		return nil
	}
	if _, err := w.f.Write(w.buf); err != nil {
		w.err = err
		return err
	}
	w.buf = w.buf[:0]
	return nil
}

func (w *tableWritable) Finish() error {
	if w.err != nil {
		return w.err
	}
	if err := w.flush(); err != nil {
		return err
	}
	if err := w.f.Sync(); err != nil {
		w.err = err
		return err
	}
	err := w.f.Close()
	w.f = nil
	if err != nil {
		w.err = err
	}
	return err
}

func (w *tableWritable) Abort() {
	if w.f != nil {
		_ = w.f.Close()
		w.f = nil
	}
}

// tableBuilder writes one table.
type tableBuilder struct {
	x         *Index
	num       uint64
	w         *tableWritable
	rw        sstable.RawWriter
	meta      TableMeta
	deletions int64
	closed    bool
}

func (x *Index) writerOptions() sstable.WriterOptions {
	return sstable.WriterOptions{
		BlockSize:          x.opts.BlockSize,
		FilterPolicy:       bloom.FilterPolicy(x.opts.BloomBitsPerKey),
		FilterType:         sstable.TableFilter,
		TableFormat:        tableFormat,
		Compression:        sstable.FastestCompression,
		DisableValueBlocks: true,
	}
}

// newTableBuilder creates the file of table num, counted under kind.
func (x *Index) newTableBuilder(num uint64, level int, reason string, kind iostat.Kind) (*tableBuilder, error) {
	fs := x.opts.Counters.FS(x.opts.FS, kind)
	f, err := fs.Create(fs.PathJoin(x.dir, tableFileName(num)), vfs.WriteCategoryUnspecified)
	if err != nil {
		return nil, fmt.Errorf("index: create table %d: %w", num, err)
	}
	w := &tableWritable{f: f, buf: make([]byte, 0, tableWriteBuf)}
	if fn := x.opts.Listener.TableCreated; fn != nil {
		w.sink = fn(TableCreateInfo{Num: num, Level: level, Reason: reason})
	}
	b := &tableBuilder{x: x, num: num, w: w}
	b.rw = sstable.NewRawWriter(w, x.writerOptions())
	b.meta.Num = num
	return b, nil
}

func (b *tableBuilder) add(ukey []byte, trailer uint64, value []byte) error {
	if b.meta.Entries == 0 {
		b.meta.Smallest = append([]byte(nil), ukey...)
		b.meta.SmallestSeq = trailer >> 8
	}
	seq := trailer >> 8
	if seq < b.meta.SmallestSeq {
		b.meta.SmallestSeq = seq
	}
	if seq > b.meta.LargestSeq {
		b.meta.LargestSeq = seq
	}
	b.meta.Largest = append(b.meta.Largest[:0], ukey...)
	b.meta.Entries++
	if Kind(trailer&0xff) == KindDelete {
		b.deletions++
	}
	k := sstable.InternalKey{UserKey: ukey, Trailer: pebble.MakeInternalKeyTrailer(pebble.SeqNum(seq), pebble.InternalKeyKind(trailer&0xff))}
	return b.rw.Add(k, value, false)
}

func (b *tableBuilder) estimatedSize() uint64 { return b.rw.EstimatedSize() }

// finish closes and syncs the table and tells the sink.
func (b *tableBuilder) finish() (TableMeta, error) {
	b.closed = true
	if err := b.rw.Close(); err != nil {
		b.w.Abort()
		if b.w.sink != nil {
			b.w.sink.Abort()
		}
		return TableMeta{}, fmt.Errorf("index: write table %d: %w", b.num, err)
	}
	b.meta.Size = b.w.size
	b.meta.Checksum = b.w.crc
	if b.w.sink != nil {
		if err := b.w.sink.Finish(b.meta); err != nil {
			return TableMeta{}, fmt.Errorf("index: table sink finish %d: %w", b.num, err)
		}
	}
	return b.meta, nil
}

// abort abandons the table and removes its file.
func (b *tableBuilder) abort() {
	if !b.closed {
		b.closed = true
		_ = b.rw.Close()
		b.w.Abort()
		if b.w.sink != nil {
			b.w.sink.Abort()
		}
	}
	_ = b.x.opts.FS.Remove(b.x.opts.FS.PathJoin(b.x.dir, tableFileName(b.num)))
}

// tableReadable implements objstorage.Readable over a file from the counting
// FS, attributing each read to the iostat kind its context carries.
type tableReadable struct {
	f    vfs.File
	cr   iostat.ContextReaderAt
	size int64
}

func (r *tableReadable) ReadAt(ctx context.Context, p []byte, off int64) error {
	if iostat.KindFrom(ctx, iostat.NumKinds) == iostat.NumKinds {
		// Every read of the index carries its kind except those of pebble's
		// compaction iterators, which use a bare context.
		ctx = compactionCtx
	}
	for len(p) > 0 {
		var n int
		var err error
		if r.cr != nil {
			n, err = r.cr.ReadAtContext(ctx, p, off)
		} else {
			n, err = r.f.ReadAt(p, off)
		}
		p = p[n:]
		off += int64(n)
		if len(p) == 0 {
			return nil
		}
		if err != nil {
			if err == io.EOF {
				return io.ErrUnexpectedEOF
			}
			return err
		}
		if n == 0 {
			return io.ErrUnexpectedEOF
		}
	}
	return nil
}

func (r *tableReadable) Close() error { return r.f.Close() }
func (r *tableReadable) Size() int64  { return r.size }
func (r *tableReadable) NewReadHandle(objstorage.ReadBeforeSize) objstorage.ReadHandle {
	return &readHandle{r: r}
}

// readHandle reads through its Readable; once set up for compaction
// (pebble's compaction iterators read without a context) its reads count
// as iostat.Compaction.
type readHandle struct {
	r          *tableReadable
	compaction bool
}

func (h *readHandle) ReadAt(ctx context.Context, p []byte, off int64) error {
	if h.compaction {
		ctx = compactionCtx
	}
	return h.r.ReadAt(ctx, p, off)
}
func (h *readHandle) Close() error                                 { return nil }
func (h *readHandle) SetupForCompaction()                          { h.compaction = true }
func (h *readHandle) RecordCacheHit(context.Context, int64, int64) {}

var compactionCtx = iostat.WithKind(context.Background(), iostat.Compaction)

// corruptErr wraps an error from pebble's sstable package: a corruption
// becomes ErrCorrupt naming the table.
func corruptErr(num uint64, err error) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, pebble.ErrCorruption) || errors.Is(err, ErrCorrupt) {
		return fmt.Errorf("%w: table %s: %v", ErrCorrupt, tableFileName(num), err)
	}
	return fmt.Errorf("index: table %s: %w", tableFileName(num), err)
}

// reader returns the open reader of t, opening it on first use.
func (x *Index) reader(ctx context.Context, t *table) (*sstable.Reader, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.mu.r != nil || t.mu.err != nil {
		return t.mu.r, t.mu.err
	}
	r, err := x.openReader(ctx, t.meta.Num)
	if err != nil {
		// A missing or unreadable table stays an error for this table object;
		// corruption does not heal.
		t.mu.err = err
		return nil, err
	}
	t.mu.r = r
	return r, nil
}

func (x *Index) openReader(ctx context.Context, num uint64) (*sstable.Reader, error) {
	fs := x.opts.Counters.FS(x.opts.FS, iostat.Get)
	f, err := fs.Open(fs.PathJoin(x.dir, tableFileName(num)))
	if err != nil {
		return nil, fmt.Errorf("index: open table %s: %w", tableFileName(num), err)
	}
	st, err := f.Stat()
	if err != nil {
		_ = f.Close()
		return nil, fmt.Errorf("index: stat table %s: %w", tableFileName(num), err)
	}
	rd := &tableReadable{f: f, size: st.Size()}
	rd.cr, _ = f.(iostat.ContextReaderAt)
	ro := x.readerOpts
	setFileNum(&ro.CacheOpts.FileNum, num)
	r, err := sstable.NewReader(ctx, rd, ro)
	if err != nil {
		_ = f.Close()
		return nil, corruptErr(num, err)
	}
	return r, nil
}

// closeReader closes t's reader and evicts its blocks; t is obsolete.
func (x *Index) closeReader(t *table) {
	t.mu.Lock()
	r := t.mu.r
	t.mu.r = nil
	t.mu.err = ErrClosed
	t.mu.Unlock()
	if r != nil {
		_ = r.Close()
	}
	evictFile(x.readerOpts.CacheOpts.CacheHandle.EvictFile, t.meta.Num)
}

// bufferPoolKey carries a compaction's block buffer pool in its context.
type bufferPoolKey struct{}

// tableIter adapts a pebble sstable iterator to internalIter. Values are
// in place (value blocks are disabled), so they are extracted on each move.
type tableIter struct {
	num    uint64
	it     sstable.Iterator
	ok     bool
	ukey   []byte
	trail  uint64
	val    []byte
	valErr error
	closed bool
}

func (x *Index) newTableIter(ctx context.Context, t *table, lower, upper []byte) (*tableIter, error) {
	r, err := x.reader(ctx, t)
	if err != nil {
		return nil, err
	}
	if pool, ok := ctx.Value(bufferPoolKey{}).(*block.BufferPool); ok {
		// A compaction input: blocks go to the compaction's buffer pool,
		// not the block cache.
		it, err := r.NewCompactionIter(sstable.NoTransforms,
			sstable.ReadEnv{Block: block.ReadEnv{BufferPool: pool}},
			sstable.MakeTrivialReaderProvider(r), sstable.AssertNoBlobHandles)
		if err != nil {
			return nil, corruptErr(t.meta.Num, err)
		}
		return &tableIter{num: t.meta.Num, it: it}, nil
	}
	it, err := r.NewPointIter(ctx, sstable.IterOptions{
		Lower:                lower,
		Upper:                upper,
		Transforms:           sstable.NoTransforms,
		FilterBlockSizeLimit: sstable.AlwaysUseFilterBlock,
		Env:                  sstable.NoReadEnv,
		ReaderProvider:       sstable.MakeTrivialReaderProvider(r),
		BlobContext:          sstable.AssertNoBlobHandles,
	})
	if err != nil {
		return nil, corruptErr(t.meta.Num, err)
	}
	return &tableIter{num: t.meta.Num, it: it}, nil
}

// kvValue is satisfied by pebble's *InternalKV, which cannot be named here.
type kvValue interface {
	Value(buf []byte) ([]byte, bool, error)
}

func setKV[KV kvValue](ti *tableIter, k *sstable.InternalKey, kv KV) {
	ti.ok = true
	ti.ukey = k.UserKey
	ti.trail = uint64(k.Trailer)
	ti.val, _, ti.valErr = kv.Value(nil)
}

func (ti *tableIter) first() {
	kv := ti.it.First()
	if kv == nil {
		ti.ok = false
		return
	}
	setKV(ti, &kv.K, kv)
}

func (ti *tableIter) seekGE(key []byte) {
	kv := ti.it.SeekGE(key, 0)
	if kv == nil {
		ti.ok = false
		return
	}
	setKV(ti, &kv.K, kv)
}

// seekPrefixGE positions at key using the bloom filter; a false result may
// mean the key is absent.
func (ti *tableIter) seekPrefixGE(key []byte) {
	kv := ti.it.SeekPrefixGE(key, key, 0)
	if kv == nil {
		ti.ok = false
		return
	}
	setKV(ti, &kv.K, kv)
}

func (ti *tableIter) next() {
	kv := ti.it.Next()
	if kv == nil {
		ti.ok = false
		return
	}
	setKV(ti, &kv.K, kv)
}

func (ti *tableIter) valid() bool     { return ti.ok }
func (ti *tableIter) key() []byte     { return ti.ukey }
func (ti *tableIter) trailer() uint64 { return ti.trail }
func (ti *tableIter) value() ([]byte, error) {
	if ti.valErr != nil {
		return nil, corruptErr(ti.num, ti.valErr)
	}
	return ti.val, nil
}
func (ti *tableIter) err() error { return corruptErr(ti.num, ti.it.Error()) }
func (ti *tableIter) close() error {
	if ti.closed {
		return nil
	}
	ti.closed = true
	return corruptErr(ti.num, ti.it.Close())
}

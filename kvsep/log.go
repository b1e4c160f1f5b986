package kvsep

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"sync"
	"sync/atomic"

	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/talos-kv/talos/internal/iostat"
)

// Pos is a position in the value log (the same as index.LogPos).
type Pos struct {
	Segment uint64
	Offset  uint64
}

// Less reports whether p is before q.
func (p Pos) Less(q Pos) bool {
	return p.Segment < q.Segment || (p.Segment == q.Segment && p.Offset < q.Offset)
}

// Range is a run of bytes just appended to a segment. Data aliases the
// segment's mmap'd buffer at [Offset, Offset+len(Data)); it stays valid and
// unchanged until the buffer is reused for segment Segment+Buffers.
type Range struct {
	Segment uint64
	Offset  uint32
	Data    []byte
}

var (
	// ErrStopped is wrapped by every call after a failed write or sync, or a
	// failed append callback: the log accepts nothing more.
	ErrStopped = errors.New("kvsep: stopped")
	// ErrClosed is returned after Close.
	ErrClosed = errors.New("kvsep: closed")
	// ErrTooLarge reports a batch that does not fit in one segment.
	ErrTooLarge = errors.New("kvsep: batch larger than a segment")
)

// Log is a value log. Append, Sync, WriteSegment and Close are serialised by
// the log; ReadRecord and ReadSegment may run concurrently with them and
// with each other. Log is safe for concurrent use.
type Log struct {
	opts Options
	dir  string
	size int64
	bufs [][]byte

	// w holds the append state; guarded by w.Mutex.
	w struct {
		sync.Mutex
		started bool     // the active segment is set up (first Append)
		active  uint64   // number of the active segment (0: none yet)
		tail    int      // bytes of the active buffer that hold data
		file    vfs.File // the active segment, open for writing
		written int      // bytes of the active buffer written to its file
		pendGC  int      // GC frame bytes among the unwritten ones
		nextSeq uint64   // firstSeq the next frame must have; 0: unknown
		failed  error
		closed  bool
	}

	// durable serializes syncs of the active segment's file outside w, so
	// that appends go on while a group commit waits for its fsync
	// (SyncThrough). Lock order: w, then durable.
	durable struct {
		sync.Mutex
		file vfs.File // the active segment's file; nil once sealed or closed
		seg  uint64   // its number
		done Pos      // every byte before done is synced to its file
	}

	// activeSeg and written mirror w.active and w.written for readers that
	// must know whether a record is in the file yet (LazyWrite).
	activeSeg atomic.Uint64
	written   atomic.Int64

	// mu guards the set of segments and the open read handles.
	mu struct {
		sync.RWMutex
		segments []uint64 // sorted numbers of the segment files
		readers  map[uint64]vfs.File
	}
}

// Open opens (creating if needed) the value log in dir. It checks that every
// segment but the newest is exactly SegmentSize bytes, finds the end of the
// newest segment's valid frames and overwrites any torn tail with zeros
// (synced). It does not replay: see Replay.
func Open(dir string, opts Options) (*Log, error) {
	opts.EnsureDefaults()
	if err := opts.Validate(); err != nil {
		return nil, err
	}
	l := &Log{opts: opts, dir: dir, size: opts.SegmentSize}
	l.mu.readers = make(map[uint64]vfs.File)
	fs := opts.FS
	if err := fs.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("kvsep: create %s: %w", dir, err)
	}
	// Make the directory's own entry durable.
	if err := syncDirPath(fs, fs.PathDir(dir)); err != nil {
		return nil, fmt.Errorf("kvsep: %w", err)
	}
	names, err := fs.List(dir)
	if err != nil {
		return nil, fmt.Errorf("kvsep: list %s: %w", dir, err)
	}
	for _, name := range names {
		if n, ok := ParseSegmentFileName(name); ok {
			l.mu.segments = append(l.mu.segments, n)
		}
	}
	slices.Sort(l.mu.segments)
	for i, n := range l.mu.segments {
		st, err := fs.Stat(l.path(n))
		if err != nil {
			return nil, fmt.Errorf("kvsep: stat segment %06d: %w", n, err)
		}
		if i < len(l.mu.segments)-1 && st.Size() != l.size {
			return nil, fmt.Errorf("%w: sealed segment %06d is %d bytes, want %d", ErrCorrupt, n, st.Size(), l.size)
		}
		if st.Size() > l.size {
			return nil, fmt.Errorf("%w: segment %06d is %d bytes, more than the segment size %d", ErrCorrupt, n, st.Size(), l.size)
		}
	}
	for range opts.Buffers {
		b, err := mapBuffer(int(l.size))
		if err != nil {
			l.unmap()
			return nil, err
		}
		l.bufs = append(l.bufs, b)
	}
	if len(l.mu.segments) > 0 {
		if err := l.recoverNewest(); err != nil {
			l.unmap()
			return nil, err
		}
	}
	return l, nil
}

func (l *Log) path(n uint64) string { return l.opts.FS.PathJoin(l.dir, SegmentFileName(n)) }

func (l *Log) buf(n uint64) []byte { return l.bufs[n%uint64(len(l.bufs))] }

// recoverNewest loads the newest segment into its buffer, finds its valid end
// and zeroes what lies beyond it on disk.
func (l *Log) recoverNewest() error {
	n := l.mu.segments[len(l.mu.segments)-1]
	buf := l.buf(n)
	clear(buf)
	f, err := l.opts.FS.OpenReadWrite(l.path(n), vfs.WriteCategoryUnspecified)
	if err != nil {
		return fmt.Errorf("kvsep: open segment %06d: %w", n, err)
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return fmt.Errorf("kvsep: stat segment %06d: %w", n, err)
	}
	fileLen := int(st.Size())
	if _, err := f.ReadAt(buf[:fileLen], 0); err != nil && !errors.Is(err, io.EOF) {
		f.Close()
		return fmt.Errorf("kvsep: read segment %06d: %w", n, err)
	}
	l.opts.Counters.AddRead(iostat.Vlog, fileLen)
	end := segmentHeaderLen
	var lastSeq uint64
	if fileLen < segmentHeaderLen || isZero(buf[:segmentHeaderLen]) {
		// Created but its header never made it to disk: start it afresh.
		clear(buf)
	} else {
		if err := checkSegmentHeader(buf, n, l.size); err != nil {
			// A torn first write leaves a bad header and no valid frame; a
			// bad header before a valid frame is damage, not a torn tail.
			var fr Frame
			if ok, _ := DecodeFrame(buf[:fileLen], n, segmentHeaderLen, &fr); ok {
				f.Close()
				return err
			}
			fileLen = max(fileLen, segmentHeaderLen)
			clear(buf)
			putSegmentHeader(buf, n, l.size)
		}
		end, err = ScanSegment(buf[:fileLen], n, l.size, segmentHeaderLen, false, func(fr *Frame) error {
			lastSeq = fr.FirstSeq + uint64(len(fr.Records))
			return nil
		})
		if err != nil {
			f.Close()
			return err
		}
	}
	putSegmentHeader(buf, n, l.size)
	if end < fileLen {
		clear(buf[end:])
		l.opts.Logger.Info("kvsep: zeroing torn tail", "segment", n, "from", end, "to", fileLen)
		if _, err := f.WriteAt(buf[:fileLen], 0); err != nil {
			f.Close()
			return fmt.Errorf("kvsep: zero torn tail of segment %06d: %w", n, err)
		}
		if err := f.Sync(); err != nil {
			f.Close()
			return fmt.Errorf("kvsep: sync segment %06d: %w", n, err)
		}
	}
	if lastSeq == 0 && len(l.mu.segments) > 1 {
		// No frame in the newest segment: the sequence continues from the
		// last frame of the sealed one before it.
		prev := l.mu.segments[len(l.mu.segments)-2]
		pbuf, err := l.ReadSegment(context.Background(), prev, nil)
		if err == nil {
			_, err = ScanSegment(pbuf, prev, l.size, segmentHeaderLen, true, func(fr *Frame) error {
				lastSeq = fr.FirstSeq + uint64(len(fr.Records))
				return nil
			})
		}
		if err != nil {
			f.Close()
			return err
		}
	}
	l.w.active, l.w.tail, l.w.nextSeq = n, end, lastSeq
	l.setFileLocked(f, n, Pos{}) // reopened: not known to be synced
	if end == segmentHeaderLen && fileLen < segmentHeaderLen {
		l.w.tail = 0 // header not yet written: the next append writes it
	}
	l.setWrittenLocked(l.w.tail)
	return nil
}

// SegmentSize returns the segment size.
func (l *Log) SegmentSize() int64 { return l.size }

// Dir returns the log's directory.
func (l *Log) Dir() string { return l.dir }

// Buffers returns the mmap'd segment buffers (segment n uses buffer
// n % len(Buffers())), for registration with an RDMA NIC. The log owns them;
// they are unmapped by Close.
func (l *Log) Buffers() [][]byte { return l.bufs }

// End returns the position after the last appended frame.
func (l *Log) End() Pos {
	l.w.Lock()
	defer l.w.Unlock()
	if l.w.active == 0 {
		return Pos{Segment: 1, Offset: segmentHeaderLen}
	}
	return Pos{Segment: l.w.active, Offset: uint64(max(l.w.tail, segmentHeaderLen))}
}

// NextSeq returns the sequence number the next frame must start with, or 0
// if the log holds no frame in its newest segment.
func (l *Log) NextSeq() uint64 {
	l.w.Lock()
	defer l.w.Unlock()
	return l.w.nextSeq
}

// Segments returns the numbers of the segment files, ascending.
func (l *Log) Segments() []uint64 {
	l.mu.RLock()
	defer l.mu.RUnlock()
	return slices.Clone(l.mu.segments)
}

// Active returns the active segment's number (0 if none) and its buffer.
func (l *Log) Active() (uint64, []byte) {
	l.w.Lock()
	defer l.w.Unlock()
	if l.w.active == 0 {
		return 0, nil
	}
	return l.w.active, l.buf(l.w.active)
}

// Err returns the error that stopped the log, if any.
func (l *Log) Err() error {
	l.w.Lock()
	defer l.w.Unlock()
	return l.w.failed
}

func (l *Log) failLocked(err error) error {
	if l.w.failed == nil {
		l.w.failed = fmt.Errorf("%w: %w", ErrStopped, err)
	}
	return l.w.failed
}

func (l *Log) checkLocked() error {
	if l.w.closed {
		return ErrClosed
	}
	return l.w.failed
}

// Append writes one frame per batch, with sequence numbers seq, seq+1, ...
// across the batches' records in order, into the active segment (sealing it
// and starting the next one when a frame does not fit). pos[i] receives
// where batch i's frame starts; len(pos) must be len(batches). For each run
// of bytes written to a segment file, in log order, fn (if non-nil) is
// called with the Range before the segment is sealed; an error from fn stops
// the log and is returned. Append does not sync the active segment: see Sync.
// Any write error is fatal to the log (ErrStopped).
func (l *Log) Append(batches []*Records, seq uint64, pos []FramePos, fn func(Range) error) error {
	l.w.Lock()
	defer l.w.Unlock()
	if err := l.checkLocked(); err != nil {
		return err
	}
	if len(pos) != len(batches) {
		panic(fmt.Sprintf("kvsep: Append with %d positions for %d batches", len(pos), len(batches)))
	}
	for _, b := range batches {
		if b.Count() == 0 {
			panic("kvsep: Append of an empty batch")
		}
		if int64(b.FrameLen()) > l.size-segmentHeaderLen {
			return fmt.Errorf("%w: frame of %d bytes, segment size %d", ErrTooLarge, b.FrameLen(), l.size)
		}
	}
	if l.w.nextSeq != 0 && seq != l.w.nextSeq {
		panic(fmt.Sprintf("kvsep: Append with seq %d, want %d", seq, l.w.nextSeq))
	}
	l.w.started = true
	if l.w.active == 0 {
		if err := l.startSegmentLocked(1); err != nil {
			return err
		}
	}
	start := l.w.tail
	var gcBytes int
	for i, b := range batches {
		n := b.FrameLen()
		if int64(l.w.tail+n) > l.size {
			if err := l.writeRangeLocked(start, gcBytes, fn); err != nil {
				return err
			}
			if err := l.sealLocked(); err != nil {
				return err
			}
			start, gcBytes = l.w.tail, 0
		}
		buf := l.buf(l.w.active)
		if l.w.tail == 0 {
			putSegmentHeader(buf, l.w.active, l.size)
			l.w.tail = segmentHeaderLen
		}
		b.encodeFrame(buf[l.w.tail:l.w.tail+n], seq)
		if b.gc {
			gcBytes += n
		}
		pos[i] = FramePos{Segment: l.w.active, Offset: uint32(l.w.tail)}
		l.w.tail += n
		seq += uint64(b.Count())
	}
	l.w.nextSeq = seq
	return l.writeRangeLocked(start, gcBytes, fn)
}

// writeRangeLocked hands buf[start:tail) of the active segment to fn, and
// writes it to the file now (or, with LazyWrite, once enough is pending).
func (l *Log) writeRangeLocked(start, gcBytes int, fn func(Range) error) error {
	if start == l.w.tail {
		return nil
	}
	l.w.pendGC += gcBytes
	if l.opts.LazyWrite == 0 || l.w.tail-l.w.written >= l.opts.LazyWrite {
		if err := l.writePendingLocked(); err != nil {
			return err
		}
	}
	if fn != nil {
		data := l.buf(l.w.active)[start:l.w.tail]
		if err := fn(Range{Segment: l.w.active, Offset: uint32(start), Data: data}); err != nil {
			return l.failLocked(fmt.Errorf("append callback for segment %06d: %w", l.w.active, err))
		}
	}
	return nil
}

// writePendingLocked writes the appended bytes not yet in the file.
func (l *Log) writePendingLocked() error {
	if l.w.file == nil || l.w.written >= l.w.tail {
		return nil
	}
	data := l.buf(l.w.active)[l.w.written:l.w.tail]
	if _, err := l.w.file.WriteAt(data, int64(l.w.written)); err != nil {
		return l.failLocked(fmt.Errorf("write segment %06d: %w", l.w.active, err))
	}
	l.opts.Counters.AddWritten(iostat.GC, l.w.pendGC)
	l.opts.Counters.AddWritten(iostat.Vlog, len(data)-l.w.pendGC)
	l.w.pendGC = 0
	l.setWrittenLocked(l.w.tail)
	return nil
}

func (l *Log) setWrittenLocked(n int) {
	l.w.written = n
	l.written.Store(int64(n))
	l.activeSeg.Store(l.w.active)
}

// sealLocked pads the active segment to SegmentSize, syncs it, reports it
// sealed and starts the next segment.
func (l *Log) sealLocked() error {
	n := l.w.active
	buf := l.buf(n)
	if err := l.writePendingLocked(); err != nil {
		return err
	}
	if l.w.tail < int(l.size) {
		pad := buf[l.w.tail:]
		clear(pad)
		if _, err := l.w.file.WriteAt(pad, int64(l.w.tail)); err != nil {
			return l.failLocked(fmt.Errorf("pad segment %06d: %w", n, err))
		}
		l.opts.Counters.AddWritten(iostat.Vlog, len(pad))
	}
	l.durable.Lock()
	err := l.fsyncDurableLocked(l.w.file, Pos{Segment: n, Offset: uint64(l.size)})
	l.durable.file = nil
	l.durable.Unlock()
	if err != nil {
		return l.failLocked(fmt.Errorf("sync segment %06d: %w", n, err))
	}
	if err := l.w.file.Close(); err != nil {
		return l.failLocked(fmt.Errorf("close segment %06d: %w", n, err))
	}
	l.w.file = nil
	l.w.tail = int(l.size)
	l.setWrittenLocked(l.w.tail)
	if cb := l.opts.Listener.SegmentSealed; cb != nil {
		cb(n, buf)
	}
	return l.startSegmentLocked(n + 1)
}

// startSegmentLocked creates segment n's file (header not yet written: the
// next append writes it with its first frame) and makes it active.
func (l *Log) startSegmentLocked(n uint64) error {
	buf := l.buf(n)
	clear(buf)
	f, err := l.opts.FS.Create(l.path(n), vfs.WriteCategoryUnspecified)
	if err != nil {
		return l.failLocked(fmt.Errorf("create segment %06d: %w", n, err))
	}
	if err := l.syncDir(); err != nil {
		f.Close()
		return l.failLocked(err)
	}
	l.w.active, l.w.tail = n, 0
	l.setFileLocked(f, n, Pos{Segment: n})
	l.setWrittenLocked(0)
	l.mu.Lock()
	l.mu.segments = append(l.mu.segments, n)
	l.mu.Unlock()
	return nil
}

func (l *Log) syncDir() error { return syncDirPath(l.opts.FS, l.dir) }

func syncDirPath(fs vfs.FS, dir string) error {
	d, err := fs.OpenDir(dir)
	if err != nil {
		return fmt.Errorf("open dir %s: %w", dir, err)
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("sync dir %s: %w", dir, err)
	}
	return nil
}

// Sync makes every appended frame durable. A failure is fatal to the log.
func (l *Log) Sync() error {
	l.w.Lock()
	defer l.w.Unlock()
	if err := l.checkLocked(); err != nil {
		return err
	}
	if l.w.file == nil {
		return nil
	}
	if err := l.writePendingLocked(); err != nil {
		return err
	}
	l.durable.Lock()
	err := l.fsyncDurableLocked(l.w.file, Pos{Segment: l.w.active, Offset: uint64(l.w.written)})
	l.durable.Unlock()
	if err != nil {
		return l.failLocked(fmt.Errorf("sync segment %06d: %w", l.w.active, err))
	}
	return nil
}

// SyncThrough makes every appended byte before end durable, like Sync, but
// without holding the append lock during the fsync: appends go on meanwhile,
// and one fsync covers every caller whose end it passes (a pipelined group
// commit). A sealed segment was synced when it was sealed. synced reports
// whether this call ran an fsync (false: an earlier one covered end).
func (l *Log) SyncThrough(end Pos) (synced bool, err error) {
	l.w.Lock()
	if err := l.checkLocked(); err != nil {
		l.w.Unlock()
		return false, err
	}
	if err := l.writePendingLocked(); err != nil {
		l.w.Unlock()
		return false, err
	}
	l.w.Unlock()

	l.durable.Lock()
	if !l.durable.done.Less(end) {
		l.durable.Unlock()
		return false, nil
	}
	f, seg := l.durable.file, l.durable.seg
	if f == nil || seg != end.Segment {
		l.durable.Unlock()
		// Closed, failed while sealing, or handed over (WriteSegment).
		l.w.Lock()
		defer l.w.Unlock()
		if err := l.checkLocked(); err != nil {
			return false, err
		}
		return false, fmt.Errorf("kvsep: SyncThrough %d/%d: segment %06d is not the active one", end.Segment, end.Offset, end.Segment)
	}
	// Bytes written before the fsync starts are covered by it; appends
	// that race with it only write more. (seg stays the active segment
	// while durable is held: sealing takes durable to sync and let go of
	// its file.)
	err = l.fsyncDurableLocked(f, Pos{Segment: seg, Offset: uint64(l.written.Load())})
	l.durable.Unlock()
	if err != nil {
		l.w.Lock()
		defer l.w.Unlock()
		return false, l.failLocked(fmt.Errorf("sync segment %06d: %w", seg, err))
	}
	return true, nil
}

// fsyncDurableLocked syncs f, the active segment's file, and records that
// every byte before upto is durable. durable must be held.
func (l *Log) fsyncDurableLocked(f vfs.File, upto Pos) error {
	if err := f.Sync(); err != nil {
		return err
	}
	if l.durable.done.Less(upto) {
		l.durable.done = upto
	}
	return nil
}

// setFileLocked makes f (nil: none) the active segment's file, seg's, with
// done the position already durable in it.
func (l *Log) setFileLocked(f vfs.File, seg uint64, done Pos) {
	l.w.file = f
	l.durable.Lock()
	defer l.durable.Unlock()
	l.durable.file, l.durable.seg = f, seg
	if f != nil && l.durable.done.Less(done) {
		l.durable.done = done
	}
}

// reader returns a read handle on segment n.
func (l *Log) reader(n uint64) (vfs.File, error) {
	l.mu.RLock()
	f := l.mu.readers[n]
	l.mu.RUnlock()
	if f != nil {
		return f, nil
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if f := l.mu.readers[n]; f != nil {
		return f, nil
	}
	if _, ok := slices.BinarySearch(l.mu.segments, n); !ok {
		return nil, fmt.Errorf("%w: segment %06d does not exist", ErrCorrupt, n)
	}
	f, err := l.opts.FS.Open(l.path(n))
	if err != nil {
		return nil, fmt.Errorf("kvsep: open segment %06d: %w", n, err)
	}
	l.mu.readers[n] = f
	return f, nil
}

// ReadRecord reads the record p points at into buf (grown if needed) and
// verifies it. Reads count under the iostat kind ctx carries (default Vlog).
// A pointer that does not land exactly on a valid record is ErrCorrupt.
func (l *Log) ReadRecord(ctx context.Context, p Pointer, buf []byte) (Record, []byte, error) {
	if int64(p.Offset) < segmentHeaderLen || int64(p.Offset)+int64(p.Length) > l.size || p.Length < recordHeaderLen {
		return Record{}, buf, fmt.Errorf("%w: pointer %s outside a segment of %d bytes", ErrCorrupt, p, l.size)
	}
	if cap(buf) < int(p.Length) {
		buf = make([]byte, p.Length)
	}
	buf = buf[:p.Length]
	if p.Segment == l.activeSeg.Load() && int64(p.Offset)+int64(p.Length) > l.written.Load() {
		// Appended but not yet written to the file (LazyWrite): the
		// record is in the active segment's buffer.
		l.w.Lock()
		if p.Segment == l.w.active && int(p.Offset)+int(p.Length) > l.w.written && !l.w.closed {
			if int(p.Offset)+int(p.Length) > l.w.tail {
				l.w.Unlock()
				return Record{}, buf, fmt.Errorf("%w: pointer %s beyond the end of the log", ErrCorrupt, p)
			}
			copy(buf, l.buf(p.Segment)[p.Offset:])
			l.w.Unlock()
			return decodePointed(p, buf)
		}
		l.w.Unlock()
	}
	f, err := l.reader(p.Segment)
	if err != nil {
		return Record{}, buf, err
	}
	n, err := f.ReadAt(buf, int64(p.Offset))
	l.opts.Counters.AddRead(iostat.KindFrom(ctx, iostat.Vlog), n)
	if err != nil && !(errors.Is(err, io.EOF) && n == len(buf)) {
		if errors.Is(err, io.EOF) {
			return Record{}, buf, fmt.Errorf("%w: pointer %s beyond the end of the segment file", ErrCorrupt, p)
		}
		return Record{}, buf, fmt.Errorf("kvsep: read %s: %w", p, err)
	}
	return decodePointed(p, buf)
}

func decodePointed(p Pointer, buf []byte) (Record, []byte, error) {
	r, rn, err := DecodeRecord(buf)
	if err != nil {
		return Record{}, buf, fmt.Errorf("pointer %s: %w", p, err)
	}
	if rn != len(buf) {
		return Record{}, buf, fmt.Errorf("%w: pointer %s: record is %d bytes", ErrCorrupt, p, rn)
	}
	return r, buf, nil
}

// ReadSegment reads segment n whole into buf (grown to SegmentSize if
// needed) and returns the bytes read (less than SegmentSize only for the
// newest segment). Reads count under the kind ctx carries (default Vlog).
func (l *Log) ReadSegment(ctx context.Context, n uint64, buf []byte) ([]byte, error) {
	f, err := l.reader(n)
	if err != nil {
		return buf, err
	}
	if int64(cap(buf)) < l.size {
		buf = make([]byte, l.size)
	}
	buf = buf[:l.size]
	got, err := f.ReadAt(buf, 0)
	l.opts.Counters.AddRead(iostat.KindFrom(ctx, iostat.Vlog), got)
	if err != nil && !errors.Is(err, io.EOF) {
		return buf, fmt.Errorf("kvsep: read segment %06d: %w", n, err)
	}
	return buf[:got], nil
}

// IsSealed reports whether segment n exists and is not the newest segment.
func (l *Log) IsSealed(n uint64) bool {
	l.mu.RLock()
	defer l.mu.RUnlock()
	i, ok := slices.BinarySearch(l.mu.segments, n)
	return ok && i < len(l.mu.segments)-1
}

// Replay calls fn for every frame from position from to the end of the log,
// in order. Sealed segments must decode whole (else ErrCorrupt); the newest
// ends at its valid end (found by Open). A missing segment between from and
// the newest is ErrCorrupt. Records alias a scratch buffer valid during fn.
func (l *Log) Replay(ctx context.Context, from Pos, fn func(f *Frame) error) error {
	segs := l.Segments()
	var buf []byte
	var next uint64
	for i, n := range segs {
		if n < from.Segment {
			continue
		}
		if i > 0 && segs[i-1] >= from.Segment && segs[i-1] != n-1 {
			return fmt.Errorf("%w: segment %06d missing before %06d", ErrCorrupt, n-1, n)
		}
		start := segmentHeaderLen
		if n == from.Segment {
			start = int(max(from.Offset, segmentHeaderLen))
		}
		sealed := i < len(segs)-1
		var data []byte
		if sealed {
			var err error
			buf, err = l.ReadSegment(ctx, n, buf)
			if err != nil {
				return err
			}
			data = buf
		} else {
			l.w.Lock()
			active, tail := l.w.active, l.w.tail
			l.w.Unlock()
			if active != n {
				return fmt.Errorf("kvsep: replay of segment %06d, but the active segment is %06d", n, active)
			}
			if tail < segmentHeaderLen {
				return nil
			}
			data = l.buf(n)[:tail]
		}
		_, err := ScanSegment(data, n, l.size, start, sealed, func(f *Frame) error {
			if next != 0 && f.FirstSeq != next {
				return fmt.Errorf("%w: segment %06d offset %d: frame seq %d, want %d",
					ErrCorrupt, n, f.Pos.Offset, f.FirstSeq, next)
			}
			next = f.FirstSeq + uint64(len(f.Records))
			return fn(f)
		})
		if err != nil {
			return err
		}
	}
	return nil
}

// WriteSegment stores data, the image of segment n received from elsewhere
// (a primary), as segment n's file: verified (header, every frame; sealed
// if it is SegmentSize bytes and n is not to be appended to), written to a
// temporary file, synced and renamed into place, the directory synced. It is
// for backups, whose log is never appended to; it fails on a log that has
// appended. Rewriting segment n with a longer prefix is allowed.
func (l *Log) WriteSegment(n uint64, data []byte) error {
	l.w.Lock()
	defer l.w.Unlock()
	if err := l.checkLocked(); err != nil {
		return err
	}
	if l.w.started {
		return fmt.Errorf("kvsep: WriteSegment %06d on a log that appends", n)
	}
	end, err := l.verifyImage(n, data, segmentHeaderLen)
	if err != nil {
		return err
	}
	if l.w.file != nil && l.w.active == n {
		l.w.file.Close()
		l.setFileLocked(nil, 0, Pos{})
	}
	tmp := l.path(n) + ".tmp"
	f, err := l.opts.FS.Create(tmp, vfs.WriteCategoryUnspecified)
	if err != nil {
		return l.failLocked(fmt.Errorf("create %s: %w", tmp, err))
	}
	// WriteAt, not Write: pebble's MemFS scribbles over a Write's buffer
	// in invariants builds, and data is still needed below.
	_, err = f.WriteAt(data, 0)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return l.failLocked(fmt.Errorf("write %s: %w", tmp, err))
	}
	l.opts.Counters.AddWritten(iostat.Replication, len(data))
	if err := l.opts.FS.Rename(tmp, l.path(n)); err != nil {
		return l.failLocked(fmt.Errorf("rename %s: %w", tmp, err))
	}
	if err := l.syncDir(); err != nil {
		return l.failLocked(err)
	}
	l.receivedLocked(n, data, end)
	return nil
}

// verifyImage checks a received image of segment n from offset from: the
// header and every frame. A sealed image (SegmentSize bytes) must be whole;
// a shorter one may end in zeros (not yet written) but not in bytes that
// fail to decode: a backup persists whole frames only. end is the offset
// after the last frame.
func (l *Log) verifyImage(n uint64, data []byte, from int) (end int, err error) {
	sealed := int64(len(data)) == l.size
	end, err = ScanSegment(data, n, l.size, from, sealed, nil)
	if err != nil {
		return 0, fmt.Errorf("kvsep: received segment %06d from offset %d: %w", n, from, err)
	}
	if !sealed && !isZero(data[end:]) {
		return 0, fmt.Errorf("%w: received segment %06d: bytes after the last whole frame at offset %d", ErrCorrupt, n, end)
	}
	return end, nil
}

// receivedLocked records that segment n's file now holds data (its image
// from offset 0, verified: its frames end at end): the segment list, the
// cached reader, and the in-memory image of the newest segment are brought
// up to date.
func (l *Log) receivedLocked(n uint64, data []byte, end int) {
	l.mu.Lock()
	if i, ok := slices.BinarySearch(l.mu.segments, n); !ok {
		l.mu.segments = slices.Insert(l.mu.segments, i, n)
	}
	if r := l.mu.readers[n]; r != nil {
		r.Close()
		delete(l.mu.readers, n)
	}
	newest := l.mu.segments[len(l.mu.segments)-1]
	l.mu.Unlock()
	if newest == n {
		// Keep the in-memory image of the newest segment current, as Open
		// would have loaded it.
		buf := l.buf(n)
		clear(buf)
		copy(buf, data)
		l.w.active, l.w.tail = n, end
		l.setWrittenLocked(end)
	}
}

// WriteSegmentFrom is WriteSegment for a backup that already persisted the
// first from bytes of segment n (from is a frame boundary, the length of
// its file): only data[from:] is verified and written, in place, and the
// file synced. Persisting a growing segment prefix thus costs its new bytes
// only. If the file is not exactly from bytes long (or from is 0), it falls
// back to WriteSegment.
func (l *Log) WriteSegmentFrom(n uint64, data []byte, from int) error {
	name := l.path(n)
	if from <= segmentHeaderLen || from > len(data) {
		return l.WriteSegment(n, data)
	}
	// Only the backup's one replication goroutine writes segments, so the
	// file cannot change between this check and the write.
	if st, err := l.opts.FS.Stat(name); err != nil || st.Size() != int64(from) {
		return l.WriteSegment(n, data)
	}
	l.w.Lock()
	defer l.w.Unlock()
	if err := l.checkLocked(); err != nil {
		return err
	}
	if l.w.started {
		return fmt.Errorf("kvsep: WriteSegmentFrom %06d on a log that appends", n)
	}
	end, err := l.verifyImage(n, data, from)
	if err != nil {
		return err
	}
	if l.w.file != nil && l.w.active == n {
		l.w.file.Close()
		l.setFileLocked(nil, 0, Pos{})
	}
	f, err := l.opts.FS.OpenReadWrite(name, vfs.WriteCategoryUnspecified)
	if err != nil {
		return l.failLocked(fmt.Errorf("open %s: %w", name, err))
	}
	_, err = f.WriteAt(data[from:], int64(from))
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return l.failLocked(fmt.Errorf("write %s at %d: %w", name, from, err))
	}
	l.opts.Counters.AddWritten(iostat.Replication, len(data)-from)
	l.receivedLocked(n, data, end)
	return nil
}

// Remove deletes segment n (value-log GC, once nothing can read it). The
// active segment cannot be removed.
func (l *Log) Remove(n uint64) error {
	l.w.Lock()
	active := l.w.active
	l.w.Unlock()
	if n == active {
		return fmt.Errorf("kvsep: cannot remove the active segment %06d", n)
	}
	l.mu.Lock()
	i, ok := slices.BinarySearch(l.mu.segments, n)
	if ok {
		l.mu.segments = slices.Delete(l.mu.segments, i, i+1)
	}
	r := l.mu.readers[n]
	delete(l.mu.readers, n)
	l.mu.Unlock()
	if r != nil {
		r.Close()
	}
	if !ok {
		return nil
	}
	if err := l.opts.FS.Remove(l.path(n)); err != nil {
		return fmt.Errorf("kvsep: remove segment %06d: %w", n, err)
	}
	return nil
}

// Close closes the log's files and unmaps its buffers. It does not sync:
// call Sync first for durability. Close is idempotent.
func (l *Log) Close() error {
	l.w.Lock()
	defer l.w.Unlock()
	if l.w.closed {
		return nil
	}
	var err error
	if l.w.failed == nil {
		err = l.writePendingLocked()
	}
	l.w.closed = true
	if l.w.file != nil {
		f := l.w.file
		l.setFileLocked(nil, 0, Pos{})
		if cerr := f.Close(); err == nil {
			err = cerr
		}
	}
	l.mu.Lock()
	for n, r := range l.mu.readers {
		if cerr := r.Close(); err == nil {
			err = cerr
		}
		delete(l.mu.readers, n)
	}
	l.mu.Unlock()
	if uerr := l.unmap(); err == nil {
		err = uerr
	}
	return err
}

func (l *Log) unmap() error {
	var err error
	for _, b := range l.bufs {
		if uerr := unmapBuffer(b); err == nil {
			err = uerr
		}
	}
	l.bufs = nil
	return err
}

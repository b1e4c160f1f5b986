package backup

import (
	"context"
	"errors"
	"fmt"
	"hash/crc32"
	"log/slog"
	"sync"
	"sync/atomic"

	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/talos-kv/talos/engine"
	"github.com/talos-kv/talos/index"
	"github.com/talos-kv/talos/internal/epoch"
	"github.com/talos-kv/talos/kvsep"
	"github.com/talos-kv/talos/rdma"
	"github.com/talos-kv/talos/replication"
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// Errors.
var (
	// ErrCorrupt: bytes from the primary failed a check (a segment's or a
	// table's crc32c, an edit's encoding). The node stops.
	ErrCorrupt = errors.New("backup: corrupt data from primary")
	// ErrClosed: the node was closed.
	ErrClosed = errors.New("backup: closed")
	// ErrDisconnected: the connection to the primary broke (the primary
	// stopped or failed, or the network did). Run may be called again.
	ErrDisconnected = errors.New("backup: disconnected from primary")
)

const (
	recvSlots = 128 // control messages and chunk immediates in flight
	sendSlots = 32  // replies in flight
)

// Node is a backup. Run serves one connection to the primary at a time;
// Node is not safe for concurrent use except that Close may be called
// while Run is running (it stops Run).
type Node struct {
	opts Options
	dir  string
	fs   vfs.FS
	eo   engine.Options // to reopen the engine after a reset
	db   *engine.DB     // the Run goroutine's view; set with setDB
	pub  atomic.Pointer[engine.DB]
	geo  replication.Geometry
	sm   *replication.Backup

	vlog, chunks, recv, send *rdma.Region

	// running guards the connection Close may have to break: Close closes
	// it and waits for Run to return before it releases the rings.
	running struct {
		sync.Mutex
		conn rdma.Conn
		done chan struct{}
	}

	// Per connection.
	conn     rdma.Conn
	sendFree []int
	sendWait []replication.Message
	objects  map[objKey]*object
	edits    map[objKey]*index.VersionEdit
	// checked: tables whose size and crc32c were verified as they arrived
	// and which were synced; installing an edit naming them reads nothing.
	checked  map[uint64]tableSum
	segments map[uint64][]byte // whole segment objects, to write
}

type objKey struct {
	kind replication.ObjectKind
	id   uint64
}

// object is a table file or an edit being received.
type object struct {
	file vfs.File // tables
	buf  []byte   // edits
	size uint64
	crc  uint32
}

// Open opens the backup's store in dir (created if needed) as a ship-index
// or build-index engine (per o.Mode) with eo (whose Mode is overridden) and
// registers its rings.
func Open(dir string, eo engine.Options, o Options) (*Node, error) {
	o.EnsureDefaults()
	if err := o.Validate(); err != nil {
		return nil, err
	}
	eo.Mode = engine.ModeShipIndex
	if o.Mode == replication.ModeBuildIndex {
		eo.Mode = engine.ModeBuildIndex
	}
	if eo.FS == nil {
		eo.FS = vfs.Default
	}
	db, err := engine.Open(dir, eo)
	if err != nil {
		return nil, fmt.Errorf("backup: open store: %w", err)
	}
	n := &Node{opts: o, dir: dir, fs: eo.FS, eo: eo}
	n.setDB(db)
	n.geo = replication.Geometry{
		SegmentSize: int(db.Log().SegmentSize()), VlogSlots: o.VlogSlots,
		ChunkSlots: o.ChunkSlots, ChunkSize: o.ChunkSize,
	}
	if err := n.open(); err != nil {
		n.Close()
		return nil, err
	}
	return n, nil
}

func (n *Node) open() error {
	if err := n.geo.Validate(); err != nil {
		return fmt.Errorf("%w: %w", ErrInvalidOptions, err)
	}
	ep, err := epoch.Load(n.fs, n.dir)
	if err != nil {
		return err
	}
	n.sm = replication.NewBackup(replication.BackupConfig{ID: n.opts.ID, Epoch: ep, Mode: n.opts.Mode, Geo: n.geo})
	p := n.opts.Provider
	if n.vlog, err = p.RegisterRegion(n.geo.VlogSlots*n.geo.SegmentSize, rdma.AccessLocalWrite|rdma.AccessRemoteWrite); err != nil {
		return fmt.Errorf("backup: register value-log ring: %w", err)
	}
	if n.chunks, err = p.RegisterRegion(n.geo.ChunkSlots*n.geo.ChunkSize, rdma.AccessLocalWrite|rdma.AccessRemoteWrite); err != nil {
		return fmt.Errorf("backup: register chunk ring: %w", err)
	}
	if n.recv, err = p.RegisterRegion(recvSlots*replication.MaxMessageSize, rdma.AccessLocalWrite); err != nil {
		return fmt.Errorf("backup: register receive buffers: %w", err)
	}
	if n.send, err = p.RegisterRegion(sendSlots*replication.MaxMessageSize, rdma.AccessLocalWrite); err != nil {
		return fmt.Errorf("backup: register send buffers: %w", err)
	}
	return nil
}

// DB returns the backup's engine (read-only: it serves reads of what the
// installed version holds).
//
// Safe to call from any goroutine: catching up from a new primary reopens
// the store, and DB then returns the new engine (reads of the old one fail
// with engine.ErrClosed meanwhile).
func (n *Node) DB() *engine.DB { return n.pub.Load() }

// setDB replaces the engine, for the Run goroutine and Close.
func (n *Node) setDB(db *engine.DB) {
	n.db = db
	n.pub.Store(db)
}

// Epoch returns the newest epoch this backup has accepted.
func (n *Node) Epoch() uint64 { return n.sm.Epoch() }

// Close releases the rings and closes the engine. Any running Run returns.
func (n *Node) Close() error {
	var errs []error
	n.running.Lock()
	conn, done := n.running.conn, n.running.done
	n.running.Unlock()
	if conn != nil {
		conn.Close() // Run's Wait fails; wait for Run to stop using the rings
		<-done
	}
	for _, r := range []*rdma.Region{n.vlog, n.chunks, n.recv, n.send} {
		if r != nil {
			errs = append(errs, r.Close())
		}
	}
	n.vlog, n.chunks, n.recv, n.send = nil, nil, nil, nil
	if n.db != nil {
		if n.opts.Mode == replication.ModeBuildIndex && n.db.Err() == nil {
			// Segments the primary dropped that wait for this store's
			// checkpoint are remembered in memory only: flush so that
			// they go now rather than stay for good.
			errs = append(errs, n.db.FinishDrops(context.Background()))
		}
		errs = append(errs, n.db.Close())
		n.setDB(nil)
	}
	return errors.Join(errs...)
}

// Run connects to the primary and serves the connection until ctx ends
// (nil), the connection breaks (ErrDisconnected), or an action fails (the
// error; the node must not go on: its directory may lack what it was
// told to persist). Objects
// half received when it returns are discarded; calling Run again starts a
// new connection with a new Hello.
func (n *Node) Run(ctx context.Context) error {
	dctx, cancel := context.WithTimeout(ctx, n.opts.DialTimeout)
	conn, err := n.opts.Provider.Dial(dctx, n.opts.Primary, rdma.DialOptions{
		Regions: []rdma.RemoteRegion{n.vlog.Remote(), n.chunks.Remote()},
	})
	cancel()
	if err != nil {
		return fmt.Errorf("backup: connect to primary %s: %w", n.opts.Primary, err)
	}
	n.conn = conn
	done := make(chan struct{})
	n.running.Lock()
	n.running.conn, n.running.done = conn, done
	n.running.Unlock()
	defer func() {
		n.running.Lock()
		n.running.conn, n.running.done = nil, nil
		n.running.Unlock()
		close(done)
	}()
	n.objects = map[objKey]*object{}
	n.edits = map[objKey]*index.VersionEdit{}
	n.checked = map[uint64]tableSum{}
	n.segments = map[uint64][]byte{}
	n.sendFree = n.sendFree[:0]
	for i := sendSlots - 1; i >= 0; i-- {
		n.sendFree = append(n.sendFree, i)
	}
	n.sendWait = nil
	defer func() {
		conn.Close()
		n.conn = nil
		n.discardObjects()
	}()
	rrs := make([]rdma.RecvRequest, recvSlots)
	for i := range rrs {
		rrs[i] = n.recvRequest(i)
	}
	if err := conn.PostRecv(rrs); err != nil {
		return fmt.Errorf("backup: post receives: %w", err)
	}
	n.opts.Logger.Info("connected to primary", "primary", n.opts.Primary, "epoch", n.sm.Epoch(), "device", conn.Device())
	if err := n.sendMsg(n.sm.Hello()); err != nil {
		return err
	}
	cs := make([]rdma.Completion, 64)
	for {
		k, err := conn.Wait(ctx, cs)
		for _, c := range cs[:k] {
			if herr := n.handle(c); herr != nil {
				// A post or repost on a connection the primary closed is a
				// disconnection like a flushed completion, not a failure.
				if errors.Is(herr, rdma.ErrConnBroken) && !errors.Is(herr, ErrDisconnected) {
					herr = fmt.Errorf("%w %s: %w", ErrDisconnected, n.opts.Primary, herr)
				}
				if !errors.Is(herr, ErrDisconnected) {
					n.sendError(herr)
				}
				return herr
			}
		}
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return fmt.Errorf("%w %s: %w", ErrDisconnected, n.opts.Primary, err)
		}
	}
}

func (n *Node) recvRequest(i int) rdma.RecvRequest {
	return rdma.RecvRequest{ID: uint64(i), Region: n.recv, Offset: i * replication.MaxMessageSize, Length: replication.MaxMessageSize}
}

// handle processes one completion.
func (n *Node) handle(c rdma.Completion) error {
	if c.Err != nil {
		if c.Status == rdma.StatusFlushed || errors.Is(c.Err, rdma.ErrConnBroken) {
			return fmt.Errorf("%w %s: %w", ErrDisconnected, n.opts.Primary, c.Err)
		}
		return fmt.Errorf("backup: %s completion: %w", c.Op, c.Err)
	}
	switch c.Op {
	case rdma.OpSend:
		n.sendFree = append(n.sendFree, int(c.ID))
		if len(n.sendWait) > 0 {
			m := n.sendWait[0]
			n.sendWait = n.sendWait[1:]
			return n.sendMsg(m)
		}
		return nil
	case rdma.OpRecv:
		off := int(c.ID) * replication.MaxMessageSize
		m, err := replication.DecodeMessage(n.recv.Bytes()[off : off+c.Bytes])
		if err != nil {
			return fmt.Errorf("backup: from primary: %w", err)
		}
		if err := n.sm.Step(m); err != nil {
			return err
		}
	case rdma.OpRecvImm:
		slot := c.Imm
		if int(slot) >= n.geo.ChunkSlots {
			return fmt.Errorf("%w: chunk immediate names slot %d of %d", replication.ErrProtocol, slot, n.geo.ChunkSlots)
		}
		off := int(slot) * n.geo.ChunkSize
		h, _, err := replication.DecodeChunk(n.chunks.Bytes()[off : off+n.geo.ChunkSize])
		if err != nil {
			return fmt.Errorf("backup: chunk in slot %d: %w", slot, err)
		}
		if err := n.sm.Chunk(slot, h); err != nil {
			return err
		}
	default:
		return fmt.Errorf("backup: unexpected %s completion", c.Op)
	}
	if err := n.conn.PostRecv([]rdma.RecvRequest{n.recvRequest(int(c.ID))}); err != nil {
		return fmt.Errorf("backup: repost receive: %w", err)
	}
	return n.execute(n.sm.Ready())
}

// execute runs actions in order (invariant 1).
func (n *Node) execute(acts []replication.Action) error {
	for _, a := range acts {
		if err := n.do(a); err != nil {
			return fmt.Errorf("backup: %s: %w", a, err)
		}
	}
	return nil
}

func (n *Node) slot(s uint32) []byte {
	off := int(s) * n.geo.SegmentSize
	return n.vlog.Bytes()[off : off+n.geo.SegmentSize]
}

func (n *Node) chunkData(a replication.Action) []byte {
	off := int(a.Slot)*n.geo.ChunkSize + replication.ChunkHeaderSize
	return n.chunks.Bytes()[off : off+int(a.Length)]
}

func (n *Node) do(a replication.Action) error {
	switch a.Type {
	case replication.ActPersistEpoch:
		return epoch.Store(n.fs, n.dir, a.Epoch)
	case replication.ActPersistPrefix:
		return n.db.WriteSegmentFrom(a.Seg, n.slot(a.Slot)[:a.To], int(a.From))
	case replication.ActPersistSegment:
		data := n.slot(a.Slot)[:a.Length]
		if got := crc32.Checksum(data, castagnoli); got != a.CRC {
			return fmt.Errorf("%w: segment %d has crc32c %08x, the primary sealed it with %08x", ErrCorrupt, a.Seg, got, a.CRC)
		}
		if err := n.db.WriteSegmentFrom(a.Seg, data, int(a.From)); err != nil {
			return err
		}
		// The primary writes only appended bytes, never the zero padding of a
		// sealed segment: the slot must be zero again before the segment
		// that reuses it arrives (SegmentDone, which frees it, comes next).
		clear(n.slot(a.Slot))
		return nil
	case replication.ActAppendChunk:
		return n.appendChunk(a)
	case replication.ActFinishObject:
		return n.finishObject(a)
	case replication.ActAbortObject:
		n.abortObject(objKey{a.Kind, a.ID})
		return nil
	case replication.ActInstallEdit:
		k := objKey{a.Kind, a.ID}
		e := n.edits[k]
		if e == nil {
			return fmt.Errorf("%w: install of %s %d, which never finished", replication.ErrProtocol, a.Kind, a.ID)
		}
		delete(n.edits, k)
		if err := n.db.InstallEditChecked(e, func(num, size uint64, crc uint32) bool {
			return n.checked[num] == tableSum{size, crc}
		}); err != nil {
			return err
		}
		for _, t := range e.Added {
			delete(n.checked, t.Meta.Num)
		}
		return nil
	case replication.ActReplaySegment:
		return n.db.ReplaySegment(a.Seg)
	case replication.ActCatchUpReplay:
		return n.db.CatchUpReplay(a.Seg)
	case replication.ActDropSegment:
		return n.db.DropSegmentAfter(a.ID, kvsep.Pos{Segment: a.Seg, Offset: a.Offset})
	case replication.ActReset:
		return n.reset()
	case replication.ActWriteSegment:
		data, ok := n.segments[a.ID]
		if !ok {
			return fmt.Errorf("%w: write of segment %d, which never finished", replication.ErrProtocol, a.ID)
		}
		delete(n.segments, a.ID)
		return n.db.WriteSegment(a.ID, data)
	case replication.ActSend:
		return n.sendMsg(a.Msg)
	}
	return fmt.Errorf("%w: action %s not supported by this backup", replication.ErrProtocol, a)
}

func (n *Node) appendChunk(a replication.Action) error {
	k := objKey{a.Kind, a.ID}
	data := n.chunkData(a)
	o := n.objects[k]
	if a.Offset == 0 {
		if o != nil {
			return fmt.Errorf("%w: %s %d started twice", replication.ErrProtocol, a.Kind, a.ID)
		}
		o = &object{}
		if a.Kind == replication.ObjectTable {
			f, err := n.db.CreateTable(a.ID)
			if err != nil {
				return err
			}
			o.file = f
		}
		n.objects[k] = o
	}
	if o == nil || o.size != a.Offset {
		return fmt.Errorf("%w: chunk of %s %d at %d out of order", replication.ErrProtocol, a.Kind, a.ID, a.Offset)
	}
	if o.file != nil {
		if _, err := o.file.Write(data); err != nil {
			return fmt.Errorf("write table %d: %w", a.ID, err)
		}
	} else {
		o.buf = append(o.buf, data...)
	}
	o.size += uint64(len(data))
	o.crc = crc32.Update(o.crc, castagnoli, data)
	return nil
}

func (n *Node) finishObject(a replication.Action) error {
	k := objKey{a.Kind, a.ID}
	o := n.objects[k]
	if o == nil {
		return fmt.Errorf("%w: end of %s %d, which never started", replication.ErrProtocol, a.Kind, a.ID)
	}
	if o.size != a.Length || o.crc != a.CRC {
		n.abortObject(k)
		return fmt.Errorf("%w: %s %d arrived as %d bytes crc32c %08x, the primary sent %d bytes %08x",
			ErrCorrupt, a.Kind, a.ID, o.size, o.crc, a.Length, a.CRC)
	}
	delete(n.objects, k)
	if o.file != nil {
		err := o.file.Sync()
		if cerr := o.file.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return fmt.Errorf("sync table %d: %w", a.ID, err)
		}
		n.checked[a.ID] = tableSum{a.Length, a.CRC}
		return nil
	}
	if a.Kind == replication.ObjectSegment {
		n.segments[a.ID] = o.buf
		return nil
	}
	e, err := index.DecodeVersionEdit(o.buf)
	if err != nil {
		return fmt.Errorf("%w: %s %d: %w", ErrCorrupt, a.Kind, a.ID, err)
	}
	n.edits[k] = e
	return nil
}

func (n *Node) abortObject(k objKey) {
	o := n.objects[k]
	delete(n.objects, k)
	if o == nil || o.file == nil {
		return
	}
	o.file.Close()
	name := n.fs.PathJoin(n.dir, engine.TableFileName(k.id))
	if err := n.fs.Remove(name); err != nil {
		n.opts.Logger.Warn("removing an abandoned table", "table", name, "err", err)
	}
}

func (n *Node) discardObjects() {
	for k := range n.objects {
		n.abortObject(k)
	}
	clear(n.edits)
	clear(n.segments)
	clear(n.checked)
}

// tableSum is a table's size and crc32c.
type tableSum struct {
	size uint64
	crc  uint32
}

// sendMsg posts m, or queues it until a send buffer is free.
func (n *Node) sendMsg(m replication.Message) error {
	if len(n.sendFree) == 0 {
		n.sendWait = append(n.sendWait, m)
		return nil
	}
	i := n.sendFree[len(n.sendFree)-1]
	n.sendFree = n.sendFree[:len(n.sendFree)-1]
	off := i * replication.MaxMessageSize
	b := m.Encode(n.send.Bytes()[off:off])
	err := n.conn.Post([]rdma.WorkRequest{{
		ID: uint64(i), Op: rdma.OpSend, Local: n.send, LocalOffset: off, Length: len(b), Signaled: true,
	}})
	if err != nil {
		return fmt.Errorf("backup: send %s: %w", m.Type, err)
	}
	return nil
}

// sendError tells the primary why this backup is leaving, best effort.
func (n *Node) sendError(err error) {
	msg := err.Error()
	if len(msg) > replication.MaxTextLen {
		msg = msg[:replication.MaxTextLen]
	}
	if serr := n.sendMsg(replication.Message{Type: replication.MsgError, Epoch: n.sm.Epoch(), Text: msg}); serr != nil {
		n.opts.Logger.Debug("could not report an error to the primary", "err", serr)
	}
	n.opts.Logger.Error("backup stopping", slog.Any("err", err))
}

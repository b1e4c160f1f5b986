package primary

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/talos-kv/talos/engine"
	"github.com/talos-kv/talos/index"
	"github.com/talos-kv/talos/internal/epoch"
	"github.com/talos-kv/talos/kvsep"
	"github.com/talos-kv/talos/rdma"
	"github.com/talos-kv/talos/replication"
)

// Errors.
var (
	// ErrClosed: the node is closed; pending commits fail with it.
	ErrClosed = errors.New("primary: closed")
	// ErrTooFewReplicas: fewer backups than MinReplicas are connected, so
	// the write was refused before it reached the value log.
	ErrTooFewReplicas = errors.New("primary: too few replicas")
)

// Node is a primary. Its DB serves reads directly; writes go through
// Apply (or the DB after CheckWritable), which replicates them. Safe for
// concurrent use.
type Node struct {
	opts    Options
	db      *engine.DB
	fs      vfs.FS
	dir     string
	segSize int
	ln      rdma.Listener
	ctx     context.Context
	cancel  context.CancelFunc
	wg      sync.WaitGroup
	// catchWG counts catch-up goroutines; they hold pins, so Close stops
	// them before it closes the engine.
	catchWG sync.WaitGroup

	// stage mirrors the value log's segment ring in registered memory:
	// segment s's bytes are staged at slot s mod stageSlots before they are
	// written to backups.
	stage      *rdma.Region
	stageSlots int
	chunks     *rdma.Region

	mu struct {
		sync.Mutex
		sm        *replication.Primary
		peers     map[string]*peer
		waits     map[replication.CommitID]chan error
		chunkFree []replication.ChunkRef
		// catchFree holds free catch-up buffers (refs >= ChunkBuffers).
		catchFree []replication.ChunkRef
		chunkCond *sync.Cond
		// changed is broadcast whenever the state machine has moved (a
		// commit waiting for replicas to return checks again).
		changed *sync.Cond
		// lastEdit numbers the engine's edits (EditApplied callbacks);
		// lastShipped is the last one shipped to the backups, whose
		// acknowledgement a clean Close waits for (build-index: none).
		lastEdit, lastShipped uint64
		closed                bool
		// catchUps cancels the catch-up of each joining backup.
		catchUps map[string]*catchUpRun
		// pinReqs wait for the next EditApplied callback.
		pinReqs []*pinRequest
	}
}

// Open opens the store in dir as a primary with engine options eo (its
// CommitHook and replication listener callbacks are set here; other
// listener callbacks are kept) and starts accepting backups.
func Open(dir string, eo engine.Options, o Options) (*Node, error) {
	o.EnsureDefaults()
	if err := o.Validate(); err != nil {
		return nil, err
	}
	if eo.FS == nil {
		eo.FS = vfs.Default
	}
	if eo.Mode != engine.ModePrimary {
		return nil, fmt.Errorf("%w: engine mode %v; a primary runs engine.ModePrimary", ErrInvalidOptions, eo.Mode)
	}
	n := &Node{opts: o, fs: eo.FS, dir: dir}
	n.mu.peers = map[string]*peer{}
	n.mu.waits = map[replication.CommitID]chan error{}
	n.mu.catchUps = map[string]*catchUpRun{}
	n.mu.chunkCond = sync.NewCond(&n.mu.Mutex)
	n.mu.changed = sync.NewCond(&n.mu.Mutex)
	n.ctx, n.cancel = context.WithCancel(context.Background())

	if err := eo.FS.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("primary: create %s: %w", dir, err)
	}
	ep := o.Epoch
	if ep == 0 {
		prev, err := epoch.Load(eo.FS, dir)
		if err != nil {
			return nil, err
		}
		ep = prev + 1
	}
	if err := epoch.Store(eo.FS, dir, ep); err != nil {
		return nil, err
	}

	user := eo.Listener
	eo.CommitHook = n.commitHook
	eo.Listener.SegmentSealed = func(num uint64, buf []byte) {
		n.segmentSealed(num, buf)
		if user.SegmentSealed != nil {
			user.SegmentSealed(num, buf)
		}
	}
	eo.Listener.TableCreated = func(info index.TableCreateInfo) index.TableSink {
		s := n.tableCreated(info)
		if user.TableCreated != nil {
			if us := user.TableCreated(info); us != nil {
				return teeSink{s, us}
			}
		}
		return s
	}
	eo.Listener.EditApplied = func(info index.EditInfo) {
		n.editApplied(info)
		if user.EditApplied != nil {
			user.EditApplied(info)
		}
	}

	// The state machine and the registered memory must exist before the
	// engine opens: opening replays and may flush.
	segSize := eo.SegmentSize
	if segSize == 0 {
		segSize = kvsep.DefaultSegmentSize
	}
	n.segSize = int(segSize)
	n.mu.sm = replication.NewPrimary(replication.PrimaryConfig{
		Epoch: ep, SegmentSize: uint64(segSize), Mode: o.Mode, Ack: o.Ack, MinReplicas: o.MinReplicas,
		HeartbeatInterval: 1, HeartbeatTimeout: max(2, int(o.HeartbeatTimeout/o.Tick)),
	})
	var err error
	n.stageSlots = 4
	if n.stage, err = o.Provider.RegisterRegion(n.stageSlots*n.segSize, rdma.AccessLocalWrite); err != nil {
		n.release()
		return nil, fmt.Errorf("primary: register segment staging ring: %w", err)
	}
	if n.chunks, err = o.Provider.RegisterRegion((o.ChunkBuffers+o.CatchUpBuffers)*o.ChunkSize, rdma.AccessLocalWrite); err != nil {
		n.release()
		return nil, fmt.Errorf("primary: register chunk buffers: %w", err)
	}
	for i := o.ChunkBuffers - 1; i >= 0; i-- {
		n.mu.chunkFree = append(n.mu.chunkFree, replication.ChunkRef(i))
	}
	for i := o.ChunkBuffers + o.CatchUpBuffers - 1; i >= o.ChunkBuffers; i-- {
		n.mu.catchFree = append(n.mu.catchFree, replication.ChunkRef(i))
	}
	if n.ln, err = o.Provider.Listen(o.Listen, rdma.ListenOptions{}); err != nil {
		n.release()
		return nil, fmt.Errorf("primary: listen on %s: %w", o.Listen, err)
	}
	db, err := engine.Open(dir, eo)
	if err != nil {
		n.release()
		return nil, err
	}
	n.db = db
	n.setLogEnd()
	n.wg.Add(2)
	go n.acceptLoop()
	go n.tickLoop()
	o.Logger.Info("primary ready", "epoch", ep, "replication", n.ln.Addr(), "transport", o.Provider.Name(),
		"device", o.Provider.Device(), "min_replicas", o.MinReplicas, "ack", o.Ack)
	return n, nil
}

// setLogEnd tells the state machine where a reopened value log ends, and
// stages the bytes of its unsealed newest segment: a backup joining now
// receives them as its first write.
func (n *Node) setLogEnd() {
	log := n.db.Log()
	num, buf := log.Active()
	if num == 0 {
		return
	}
	end := log.End()
	n.mu.Lock()
	defer n.mu.Unlock()
	if log.IsSealed(num) {
		n.mu.sm.SetLogEnd(num, uint64(len(buf)), true)
		return
	}
	if end.Segment != num {
		return
	}
	slot := int(num % uint64(n.stageSlots))
	copy(n.stage.Bytes()[slot*n.segSize:], buf[:end.Offset])
	n.mu.sm.SetLogEnd(num, end.Offset, false)
}

// DB returns the engine, for reads. Write through Apply, Put and Delete.
func (n *Node) DB() *engine.DB { return n.db }

// Addr returns the replication address backups dial.
func (n *Node) Addr() string { return n.ln.Addr() }

// Epoch returns the primary's epoch.
func (n *Node) Epoch() uint64 {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.mu.sm.Epoch()
}

// Backups returns the ids of the backups in the replica set, joining
// ones included.
func (n *Node) Backups() []string {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.mu.sm.Backups()
}

// Members returns the ids of the backups that count toward MinReplicas:
// in the replica set and done catching up.
func (n *Node) Members() []string {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.mu.sm.Members()
}

// CheckWritable returns ErrTooFewReplicas when fewer than MinReplicas
// backups are in the replica set, and the fencing error once a newer
// primary exists. A write refused here never reaches the value log.
func (n *Node) CheckWritable() error {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.mu.closed {
		return ErrClosed
	}
	if err := n.mu.sm.Fenced(); err != nil {
		return err
	}
	if k := len(n.mu.sm.Members()); k < n.opts.MinReplicas {
		return fmt.Errorf("%w: %d backup(s) caught up, %d required", ErrTooFewReplicas, k, n.opts.MinReplicas)
	}
	return nil
}

// Apply commits b on the primary and its backups.
func (n *Node) Apply(b *engine.Batch) error {
	if err := n.CheckWritable(); err != nil {
		return err
	}
	return n.db.Apply(b)
}

// commitHook stages r in registered memory and offers it to the state
// machine, which posts it to the backups; the wait it returns blocks until
// the state machine resolves the commit (invariant 1). The engine pipelines
// group commits, so several may be in flight: before r's bytes overwrite
// the staging slot of an older segment, every write from that segment must
// have completed (invariant 2).
func (n *Node) commitHook(r kvsep.Range) (func() error, error) {
	if err := n.waitStageSlot(r.Segment); err != nil {
		return nil, err
	}
	slot := int(r.Segment % uint64(n.stageSlots))
	copy(n.stage.Bytes()[slot*n.segSize+int(r.Offset):], r.Data)
	n.mu.Lock()
	if n.mu.closed {
		n.mu.Unlock()
		return nil, ErrClosed
	}
	cid, err := n.mu.sm.Append(r.Segment, uint64(r.Offset), uint64(len(r.Data)))
	if err != nil {
		n.mu.Unlock()
		return nil, err
	}
	ch := make(chan error, 1)
	n.mu.waits[cid] = ch
	n.processLocked()
	n.mu.Unlock()
	end := uint64(r.Offset) + uint64(len(r.Data))
	return func() error {
		err := <-ch
		if errors.Is(err, replication.ErrTooFewReplicas) && n.opts.ReplicaWait > 0 {
			err = n.waitCovered(r.Segment, end, err)
		}
		return err
	}, nil
}

// waitStageSlot waits until segment seg may be staged: no write of the
// segment that last used its slot is queued or in flight.
func (n *Node) waitStageSlot(seg uint64) error {
	if seg < uint64(n.stageSlots) {
		return nil
	}
	old := seg - uint64(n.stageSlots)
	n.mu.Lock()
	defer n.mu.Unlock()
	for n.mu.sm.SegmentWrites(old) > 0 {
		if n.mu.closed {
			return ErrClosed
		}
		if err := n.mu.sm.Fenced(); err != nil {
			return err
		}
		n.mu.changed.Wait()
	}
	return nil
}

// waitCovered waits, up to ReplicaWait, for MinReplicas backups that joined
// after the commit ending at (seg, end) to catch up: their catch-up gave
// them the value log up to their join point, so the commit is then held by
// enough backups and may be acknowledged. The commit's bytes are already in
// the local log; failing it would stop the engine. Meanwhile CheckWritable
// refuses new writes, so only the group in flight waits.
func (n *Node) waitCovered(seg, end uint64, cause error) error {
	timer := time.AfterFunc(n.opts.ReplicaWait, func() {
		n.mu.Lock()
		n.mu.changed.Broadcast()
		n.mu.Unlock()
	})
	defer timer.Stop()
	deadline := time.Now().Add(n.opts.ReplicaWait)
	n.mu.Lock()
	defer n.mu.Unlock()
	n.opts.Logger.Warn("a commit lost its replicas; waiting for backups to catch up",
		"segment", seg, "end", end, "min_replicas", n.opts.MinReplicas, "wait", n.opts.ReplicaWait)
	for {
		switch {
		case n.mu.closed:
			return ErrClosed
		case n.mu.sm.Fenced() != nil:
			return n.mu.sm.Fenced()
		case n.mu.sm.Covering(seg, end) >= n.opts.MinReplicas:
			n.opts.Logger.Info("the commit is held by caught-up backups again", "segment", seg, "end", end)
			return nil
		case !time.Now().Before(deadline):
			return fmt.Errorf("%w; no backup caught up within %v", cause, n.opts.ReplicaWait)
		}
		n.mu.changed.Wait()
	}
}

// segmentSealed tells backups to persist the segment. The staged copy of
// the segment is complete: every commit hook of its bytes has returned.
func (n *Node) segmentSealed(num uint64, buf []byte) {
	if err := n.waitStageSlot(num); err != nil {
		n.opts.Logger.Warn("segment sealed while closing or fenced", "segment", num, "err", err)
		return
	}
	slot := int(num % uint64(n.stageSlots))
	// The engine pads a sealed segment; stage the whole image so the slot
	// backups persist is byte-identical to the primary's file.
	copy(n.stage.Bytes()[slot*n.segSize:(slot+1)*n.segSize], buf)
	sum := crc32c(buf)
	n.mu.Lock()
	defer n.mu.Unlock()
	if err := n.mu.sm.Seal(num, uint64(len(buf)), sum); err != nil {
		n.opts.Logger.Warn("segment sealed while fenced", "segment", num, "err", err)
		return
	}
	n.processLocked()
}

// processLocked carries out what the state machine asks.
func (n *Node) processLocked() {
	for {
		rd := n.mu.sm.Ready()
		if rd.Empty() {
			n.mu.changed.Broadcast()
			return
		}
		for _, o := range rd.Out {
			p := n.mu.peers[o.To]
			if p == nil {
				continue // dropped in this same Ready; its writes fail below
			}
			if err := p.post(n, o); err != nil {
				n.mu.sm.RemoveBackup(o.To, err)
			}
		}
		for _, res := range rd.Results {
			if ch := n.mu.waits[res.ID]; ch != nil {
				ch <- res.Err
				delete(n.mu.waits, res.ID)
			}
		}
		for _, d := range rd.Dropped {
			n.opts.Logger.Warn("backup left the replica set", "backup", d.Backup, "reason", d.Reason)
			if p := n.mu.peers[d.Backup]; p != nil {
				delete(n.mu.peers, d.Backup)
				p.conn.Close() // its goroutine reports the failed writes and exits
			}
		}
		if len(rd.ReleasedChunks) > 0 {
			for _, ref := range rd.ReleasedChunks {
				n.freeChunkLocked(ref)
			}
			n.mu.chunkCond.Broadcast()
		}
	}
}

func (n *Node) acceptLoop() {
	defer n.wg.Done()
	for {
		conn, err := n.ln.Accept(n.ctx)
		if err != nil {
			if n.ctx.Err() != nil || errors.Is(err, rdma.ErrClosed) {
				return
			}
			n.opts.Logger.Warn("refused a backup", "err", err)
			continue
		}
		p, err := newPeer(n, conn)
		if err != nil {
			n.opts.Logger.Warn("backup connection failed", "remote", conn.RemoteAddr(), "err", err)
			conn.Close()
			continue
		}
		n.wg.Add(1)
		go p.run(n)
	}
}

func (n *Node) tickLoop() {
	defer n.wg.Done()
	t := time.NewTicker(n.opts.Tick)
	defer t.Stop()
	for {
		select {
		case <-n.ctx.Done():
			return
		case <-t.C:
			n.mu.Lock()
			n.mu.sm.Tick()
			n.processLocked()
			n.mu.Unlock()
		}
	}
}

// Close closes the engine (which flushes; the flush is shipped like any
// other), waits a bounded time for backups to acknowledge everything, then
// disconnects them, stops the node's goroutines and releases its memory.
func (n *Node) Close() error {
	n.mu.Lock()
	if n.mu.closed {
		n.mu.Unlock()
		return nil
	}
	n.mu.Unlock()
	n.stopCatchUps()
	var errs []error
	if n.db != nil {
		// Flush first: the memtable's tables and the flush's edit ship to
		// the backups like any other, and the edit's checkpoint makes each
		// backup persist the value log it acknowledged in memory.
		if n.db.Err() == nil {
			if err := n.db.Flush(context.Background()); err != nil {
				errs = append(errs, fmt.Errorf("primary: flush at close: %w", err))
			}
		}
		errs = append(errs, n.db.Close())
	}
	// Wait, at most a heartbeat timeout, for the backups to acknowledge
	// everything shipped (the final flush's tables and edit).
	deadline := time.Now().Add(n.opts.HeartbeatTimeout)
	timer := time.AfterFunc(n.opts.HeartbeatTimeout, func() {
		n.mu.Lock()
		n.mu.changed.Broadcast()
		n.mu.Unlock()
	})
	defer timer.Stop()
	n.mu.Lock()
	for !n.mu.sm.Idle(n.mu.lastShipped) && time.Now().Before(deadline) && len(n.mu.peers) > 0 {
		n.mu.changed.Wait()
	}
	n.mu.closed = true
	for id, ch := range n.mu.waits {
		ch <- ErrClosed
		delete(n.mu.waits, id)
	}
	for _, p := range n.mu.peers {
		p.conn.Close()
	}
	n.mu.chunkCond.Broadcast()
	n.mu.changed.Broadcast()
	n.mu.Unlock()
	n.cancel()
	if n.ln != nil {
		errs = append(errs, n.ln.Close())
	}
	n.wg.Wait()
	errs = append(errs, n.release())
	return errors.Join(errs...)
}

func (n *Node) release() error {
	var errs []error
	for _, r := range []*rdma.Region{n.stage, n.chunks} {
		if r != nil {
			errs = append(errs, r.Close())
		}
	}
	n.stage, n.chunks = nil, nil
	return errors.Join(errs...)
}

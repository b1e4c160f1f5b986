package primary

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/talos-kv/talos/engine"
	"github.com/talos-kv/talos/replication"
)

// pinRequest asks the next edit's EditApplied callback to pin the state
// after that edit for a joining backup. Its fields are guarded by the
// node's mutex.
type pinRequest struct {
	backup  string
	joinSeg uint64
	ch      chan pinResult // buffered: the callback never blocks
	// abandoned: the catch-up stopped waiting; a pin taken for it is
	// released by whoever takes it.
	abandoned bool
}

type pinResult struct {
	pin    *engine.Pin
	editID uint64
	err    error
}

// catchUpRun is one running catch-up.
type catchUpRun struct{ cancel context.CancelFunc }

// startCatchUp starts the goroutine that copies the snapshot to joining
// backup id. Called with the mutex held.
func (n *Node) startCatchUp(id string) {
	ctx, cancel := context.WithCancel(n.ctx)
	run := &catchUpRun{cancel: cancel}
	n.mu.catchUps[id] = run
	n.catchWG.Add(1)
	go func() {
		defer n.catchWG.Done()
		defer cancel()
		start := time.Now()
		bytes, err := n.catchUp(ctx, id)
		n.mu.Lock()
		defer n.mu.Unlock()
		if n.mu.catchUps[id] != run {
			return // the backup reconnected: a newer catch-up serves it
		}
		delete(n.mu.catchUps, id)
		if err != nil {
			if n.mu.sm.Joining(id) {
				n.mu.sm.RemoveBackup(id, fmt.Errorf("%w: catch-up failed: %v", replication.ErrBackupDropped, err))
				n.processLocked()
			}
			n.opts.Logger.Warn("catch-up stopped", "backup", id, "err", err)
			return
		}
		n.opts.Logger.Info("snapshot sent to joining backup", "backup", id, "bytes", bytes, "duration", time.Since(start))
	}()
}

// stopCatchUps cancels every catch-up and waits for them (before the
// engine closes: they hold pins).
func (n *Node) stopCatchUps() {
	n.mu.Lock()
	for _, run := range n.mu.catchUps {
		run.cancel()
	}
	n.mu.chunkCond.Broadcast()
	n.mu.Unlock()
	n.catchWG.Wait()
}

// catchUp pins a snapshot for backup id at a known point of the edit
// stream and streams it: segments below the join segment, tables, then
// the snapshot edit. It returns the bytes sent.
func (n *Node) catchUp(ctx context.Context, id string) (int64, error) {
	n.mu.Lock()
	req := &pinRequest{backup: id, joinSeg: n.mu.sm.JoinSegment(id), ch: make(chan pinResult, 1)}
	n.mu.pinReqs = append(n.mu.pinReqs, req)
	n.mu.Unlock()
	// Log an empty edit so that an EditApplied callback runs soon; an edit
	// of a flush or compaction that comes first serves as well.
	if err := n.db.MarkEdit(); err != nil {
		n.abandon(req)
		return 0, fmt.Errorf("mark the edit stream: %w", err)
	}
	var res pinResult
	select {
	case res = <-req.ch:
	case <-ctx.Done():
		n.abandon(req)
		return 0, ctx.Err()
	}
	if res.err != nil {
		return 0, res.err
	}
	pin := res.pin
	defer pin.Release()
	var sent int64
	for _, s := range pin.Segments {
		f, err := n.db.OpenSegment(s)
		if err != nil {
			return sent, err
		}
		k, err := n.streamFile(ctx, id, replication.ObjectSegment, s, f, true)
		sent += k
		if err != nil {
			return sent, fmt.Errorf("segment %d: %w", s, err)
		}
	}
	for _, t := range pin.Tables() {
		f, err := n.db.OpenTable(t.Num)
		if err != nil {
			return sent, err
		}
		k, err := n.streamFile(ctx, id, replication.ObjectTable, t.Num, f, true)
		sent += k
		if err != nil {
			return sent, fmt.Errorf("table %d: %w", t.Num, err)
		}
	}
	b := pin.Edit.Encode()
	s := objectStream{n: n, kind: replication.ObjectSnapshot, id: res.editID, to: id, ctx: ctx, catchUp: true}
	err := s.write(b)
	if err == nil {
		ck := pin.Edit.Checkpoint
		err = s.end(uint64(len(b)), crc32c(b), ck.Segment, ck.Offset)
	}
	if err != nil {
		s.abort()
		return sent, fmt.Errorf("snapshot edit: %w", err)
	}
	return sent + int64(len(b)), nil
}

// abandon withdraws req; a pin already taken for it is released.
func (n *Node) abandon(req *pinRequest) {
	n.mu.Lock()
	req.abandoned = true
	for i, r := range n.mu.pinReqs {
		if r == req {
			n.mu.pinReqs = append(n.mu.pinReqs[:i], n.mu.pinReqs[i+1:]...)
			break
		}
	}
	n.mu.Unlock()
	select {
	case res := <-req.ch:
		if res.pin != nil {
			res.pin.Release()
		}
	default:
	}
}

// servePins takes the pins that catch-ups wait for, as the state after
// edit editID. Called from the EditApplied callback, without the mutex:
// the index holds its edit lock, so no other edit runs meanwhile.
func (n *Node) servePins(editID uint64) {
	n.mu.Lock()
	reqs := n.mu.pinReqs
	n.mu.pinReqs = nil
	n.mu.Unlock()
	if len(reqs) == 0 {
		return
	}
	pins := make([]*engine.Pin, len(reqs))
	errs := make([]error, len(reqs))
	for i, r := range reqs {
		pins[i], errs[i] = n.db.Pin(r.joinSeg)
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	for i, r := range reqs {
		err := errs[i]
		if err == nil && !r.abandoned {
			err = n.mu.sm.BeginSnapshot(r.backup, editID, pins[i].TableNums())
		}
		if err != nil || r.abandoned {
			if pins[i] != nil {
				pins[i].Release()
			}
			r.ch <- pinResult{err: err}
			continue
		}
		r.ch <- pinResult{pin: pins[i], editID: editID}
	}
}

// sendMissed sends, to every backup that missed them (they were being
// streamed when its snapshot was pinned), the tables edit adds, from their
// files, before the edit itself. Called from the EditApplied callback: the
// tables are live and cannot be deleted meanwhile.
func (n *Node) sendMissed(added []uint64) error {
	if len(added) == 0 {
		return nil
	}
	n.mu.Lock()
	missed := map[string][]uint64{}
	for _, id := range n.mu.sm.Backups() {
		if t := n.mu.sm.TakeMissed(id, added); len(t) > 0 {
			missed[id] = t
		}
	}
	n.mu.Unlock()
	var errs []error
	for id, tables := range missed {
		for _, t := range tables {
			f, err := n.db.OpenTable(t)
			if err == nil {
				_, err = n.streamFile(n.ctx, id, replication.ObjectTable, t, f, false)
			}
			if err != nil && !errors.Is(err, replication.ErrBackupDropped) {
				errs = append(errs, fmt.Errorf("table %d to %s: %w", t, id, err))
				// Without the table the backup cannot install the edit.
				n.mu.Lock()
				n.mu.sm.RemoveBackup(id, fmt.Errorf("%w: sending missed table %d: %v", replication.ErrBackupDropped, t, err))
				n.processLocked()
				n.mu.Unlock()
				break
			}
		}
	}
	return errors.Join(errs...)
}

// streamFile sends file f (closed here) to backup to as object (kind, id),
// through catch-up buffers if catchUp.
func (n *Node) streamFile(ctx context.Context, to string, kind replication.ObjectKind, id uint64, f vfs.File, catchUp bool) (int64, error) {
	defer f.Close()
	s := objectStream{n: n, kind: kind, id: id, to: to, ctx: ctx, catchUp: catchUp}
	buf := make([]byte, n.opts.ChunkSize-replication.ChunkHeaderSize)
	var crc uint32
	var size int64
	for {
		k, err := f.Read(buf)
		if k > 0 {
			crc = crc32cUpdate(crc, buf[:k])
			size += int64(k)
			if werr := s.write(buf[:k]); werr != nil {
				s.abort()
				return size, werr
			}
		}
		if err == io.EOF {
			break
		}
		if err != nil {
			s.abort()
			return size, err
		}
	}
	if err := s.end(uint64(size), crc, 0, 0); err != nil {
		s.abort()
		return size, err
	}
	return size, nil
}

package primary

import (
	"context"
	"fmt"
	"hash/crc32"

	"github.com/talos-kv/talos/index"
	"github.com/talos-kv/talos/replication"
)

func crc32cUpdate(crc uint32, b []byte) uint32 { return crc32.Update(crc, castagnoli, b) }

// acquireChunk returns a free chunk buffer, from the catch-up pool if
// catchUp, waiting for one; ok is false once the node is closed or ctx
// (nil: none) is done. Called without the mutex.
func (n *Node) acquireChunk(ctx context.Context, catchUp bool) (replication.ChunkRef, bool) {
	n.mu.Lock()
	defer n.mu.Unlock()
	pool := &n.mu.chunkFree
	if catchUp {
		pool = &n.mu.catchFree
	}
	done := func() bool { return n.mu.closed || (ctx != nil && ctx.Err() != nil) }
	for len(*pool) == 0 && !done() {
		n.mu.chunkCond.Wait()
	}
	if done() {
		return 0, false
	}
	ref := (*pool)[len(*pool)-1]
	*pool = (*pool)[:len(*pool)-1]
	return ref, true
}

// freeChunkLocked returns buffer ref to its pool.
func (n *Node) freeChunkLocked(ref replication.ChunkRef) {
	if int(ref) >= n.opts.ChunkBuffers {
		n.mu.catchFree = append(n.mu.catchFree, ref)
	} else {
		n.mu.chunkFree = append(n.mu.chunkFree, ref)
	}
	n.mu.chunkCond.Broadcast()
}

func (n *Node) chunkBuf(ref replication.ChunkRef) []byte {
	off := int(ref) * n.opts.ChunkSize
	return n.chunks.Bytes()[off : off+n.opts.ChunkSize]
}

// objectStream cuts an object's bytes into chunks and offers each full
// chunk to the state machine: to every backup, or to backup to alone.
// Not safe for concurrent use (one writer per object).
type objectStream struct {
	n    *Node
	kind replication.ObjectKind
	id   uint64
	to   string          // "": every backup that receives the object
	ctx  context.Context // nil: none; stops a catch-up's stream
	// catchUp: chunk buffers come from the catch-up pool.
	catchUp bool
	// conn is the connection of backup to when the object started: if the
	// backup reconnects meanwhile, the stream stops (the new connection
	// must not receive the rest of an object it never started).
	conn    *peer
	ref     replication.ChunkRef
	have    bool // ref holds a buffer being filled
	fill    int  // data bytes in the buffer
	off     uint64
	started bool
}

func (s *objectStream) write(p []byte) error {
	maxData := s.n.opts.ChunkSize - replication.ChunkHeaderSize
	for len(p) > 0 {
		if !s.have {
			ref, ok := s.n.acquireChunk(s.ctx, s.catchUp)
			if !ok {
				return ErrClosed
			}
			s.ref, s.have, s.fill = ref, true, 0
		}
		k := copy(s.n.chunkBuf(s.ref)[replication.ChunkHeaderSize+s.fill:], p[:min(len(p), maxData-s.fill)])
		s.fill += k
		p = p[k:]
		if s.fill == maxData {
			if err := s.ship(); err != nil {
				return err
			}
		}
	}
	return nil
}

// ship offers the buffer being filled (possibly empty: every object has a
// chunk at offset 0).
func (s *objectStream) ship() error {
	if !s.have {
		ref, ok := s.n.acquireChunk(s.ctx, s.catchUp)
		if !ok {
			return ErrClosed
		}
		s.ref, s.have, s.fill = ref, true, 0
	}
	buf := s.n.chunkBuf(s.ref)
	s.n.mu.Lock()
	defer s.n.mu.Unlock()
	if err := s.stoppedLocked(); err != nil {
		s.n.freeChunkLocked(s.ref)
		s.n.mu.chunkCond.Broadcast()
		s.have = false
		return err
	}
	h := replication.ChunkHeader{Kind: s.kind, Epoch: s.n.mu.sm.Epoch(), ID: s.id, Offset: s.off}
	size := replication.EncodeChunk(buf, h, buf[replication.ChunkHeaderSize:replication.ChunkHeaderSize+s.fill])
	var err error
	if s.to != "" {
		// The state machine releases the buffer itself if it fails.
		err = s.n.mu.sm.ChunkTo(s.to, s.kind, s.id, s.off, s.ref, uint64(size))
		if err != nil {
			s.have = false
			s.n.processLocked()
			return err
		}
	} else if err = s.n.mu.sm.Chunk(s.kind, s.id, s.off, s.ref, uint64(size)); err != nil {
		s.n.freeChunkLocked(s.ref)
		s.have = false
		return err
	}
	s.off += uint64(s.fill)
	s.have, s.started = false, true
	s.n.processLocked()
	return nil
}

// end ships what is buffered and ends the object.
func (s *objectStream) end(length uint64, crc uint32, ckSeg, ckOff uint64) error {
	if s.fill > 0 || !s.started {
		if err := s.ship(); err != nil {
			return err
		}
	}
	if s.off != length {
		return fmt.Errorf("primary: %s %d streamed %d bytes, ends at %d", s.kind, s.id, s.off, length)
	}
	s.n.mu.Lock()
	defer s.n.mu.Unlock()
	if err := s.stoppedLocked(); err != nil {
		return err
	}
	var err error
	if s.to != "" {
		err = s.n.mu.sm.ObjectEndTo(s.to, s.kind, s.id, length, crc, ckSeg, ckOff)
	} else {
		err = s.n.mu.sm.ObjectEnd(s.kind, s.id, length, crc, ckSeg, ckOff)
	}
	if err != nil {
		return err
	}
	s.n.processLocked()
	return nil
}

// stoppedLocked reports why a stream to one backup must stop: its context
// ended, or the backup's connection is not the one the object started on.
func (s *objectStream) stoppedLocked() error {
	if s.ctx != nil && s.ctx.Err() != nil {
		return s.ctx.Err()
	}
	if s.to == "" {
		return nil
	}
	cur := s.n.mu.peers[s.to]
	if s.conn == nil && !s.started {
		s.conn = cur
	}
	if cur == nil || cur != s.conn {
		return fmt.Errorf("%w: backup %q reconnected or left during %s %d", replication.ErrBackupDropped, s.to, s.kind, s.id)
	}
	return nil
}

func (s *objectStream) abort() {
	s.n.mu.Lock()
	defer s.n.mu.Unlock()
	if s.to != "" && s.started && s.n.mu.peers[s.to] != s.conn {
		s.started = false // nothing of it reached the current connection
	}
	if s.have {
		s.n.freeChunkLocked(s.ref)
		s.n.mu.chunkCond.Broadcast()
		s.have = false
	}
	if s.started {
		var err error
		if s.to != "" {
			err = s.n.mu.sm.ObjectAbortTo(s.to, s.kind, s.id)
		} else {
			err = s.n.mu.sm.ObjectAbort(s.kind, s.id)
		}
		if err == nil {
			s.n.processLocked()
		}
		s.started = false
	}
}

// tableSink streams a table being written to the backups.
type tableSink struct{ s objectStream }

func (n *Node) tableCreated(info index.TableCreateInfo) index.TableSink {
	if n.opts.Mode == replication.ModeBuildIndex {
		return discardSink{} // build-index backups build their own tables
	}
	return &tableSink{objectStream{n: n, kind: replication.ObjectTable, id: info.Num}}
}

// discardSink takes a table's bytes and ships nothing (build-index mode).
type discardSink struct{}

func (discardSink) Write([]byte) error           { return nil }
func (discardSink) Finish(index.TableMeta) error { return nil }
func (discardSink) Abort()                       {}

func (t *tableSink) Write(p []byte) error { return t.s.write(p) }

func (t *tableSink) Finish(meta index.TableMeta) error {
	return t.s.end(meta.Size, meta.Checksum, 0, 0)
}

func (t *tableSink) Abort() { t.s.abort() }

// editApplied ships a durable version edit. Flushes and compactions ship
// their tables first (the sink finished before the edit was logged).
//
// It also serves catch-ups: pins wanted by joining backups are taken here
// (the state after this edit, which the index holds steady while this
// callback runs), and tables a joining backup missed are sent to it from
// their files before the edit that adds them.
func (n *Node) editApplied(info index.EditInfo) {
	n.mu.Lock()
	n.mu.lastEdit++
	id := n.mu.lastEdit
	n.mu.Unlock()
	// Both modes: a joining backup's snapshot is the state after this edit.
	n.servePins(id)
	if n.opts.Mode == replication.ModeBuildIndex {
		// Build-index backups keep their own manifests and are sent no
		// edit; of it they need only the segments GC deleted.
		n.segmentsGone(info.Edit.DeletedSegments)
		return
	}
	b := info.Edit.Encode()
	added := make([]uint64, 0, len(info.Edit.Added))
	for _, a := range info.Edit.Added {
		added = append(added, a.Meta.Num)
	}
	if err := n.sendMissed(added); err != nil {
		n.opts.Logger.Error("could not send missed tables to a joining backup", "err", err)
	}
	s := objectStream{n: n, kind: replication.ObjectEdit, id: id}
	var ckSeg, ckOff uint64
	if c := info.Edit.Checkpoint; c != nil {
		ckSeg, ckOff = c.Segment, c.Offset
	}
	err := s.write(b)
	if err == nil {
		err = s.end(uint64(len(b)), crc32c(b), ckSeg, ckOff)
	}
	if err != nil {
		s.abort()
		n.opts.Logger.Error("could not ship a version edit", "reason", info.Reason, "err", err)
		return
	}
	n.mu.Lock()
	n.mu.lastShipped = id
	n.mu.Unlock()
}

// segmentsGone tells build-index backups of segments GC deleted, with a
// position past the rewrites of their live values: the checkpoint now,
// which the GC let pass them before recording the deletion.
func (n *Node) segmentsGone(nums []uint64) {
	if len(nums) == 0 {
		return
	}
	cp := n.db.Index().Checkpoint()
	n.mu.Lock()
	defer n.mu.Unlock()
	for _, num := range nums {
		if err := n.mu.sm.SegmentGone(num, cp.Segment, cp.Offset); err != nil {
			n.opts.Logger.Warn("segment deleted while fenced", "segment", num, "err", err)
			return
		}
	}
	n.processLocked()
}

// teeSink passes a table's bytes to two sinks.
type teeSink struct{ a, b index.TableSink }

func (t teeSink) Write(p []byte) error {
	if err := t.a.Write(p); err != nil {
		return err
	}
	return t.b.Write(p)
}

func (t teeSink) Finish(m index.TableMeta) error {
	if err := t.a.Finish(m); err != nil {
		return err
	}
	return t.b.Finish(m)
}

func (t teeSink) Abort() { t.a.Abort(); t.b.Abort() }

package primary

import (
	"errors"
	"fmt"
	"hash/crc32"

	"github.com/talos-kv/talos/rdma"
	"github.com/talos-kv/talos/replication"
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

func crc32c(b []byte) uint32 { return crc32.Checksum(b, castagnoli) }

const (
	recvSlots = 64
	sendSlots = 64
	// sendBit marks a work request id as a SEND (its low bits: the send
	// slot); other ids are the state machine's write op ids.
	sendBit = 1 << 63
)

// peer is one backup's connection. Its fields other than conn are guarded
// by the node's mutex, except during newPeer.
type peer struct {
	id         string
	conn       rdma.Conn
	vlog       rdma.RemoteRegion
	chunks     rdma.RemoteRegion
	chunkSize  int
	recv, send *rdma.Region
	sendFree   []int
	// outq holds, in order, what waits for a free send buffer: once a
	// message waits, later writes wait behind it so the channel keeps the
	// state machine's order.
	outq []replication.Out
}

// newPeer reads the backup's Hello and admits it into the replica set.
func newPeer(n *Node, conn rdma.Conn) (*peer, error) {
	regs := conn.PeerRegions()
	if len(regs) != 2 {
		return nil, fmt.Errorf("%w: backup offered %d regions, want 2 (value-log ring, chunk ring)", replication.ErrProtocol, len(regs))
	}
	p := &peer{conn: conn, vlog: regs[0], chunks: regs[1]}
	var err error
	if p.recv, err = n.opts.Provider.RegisterRegion(recvSlots*replication.MaxMessageSize, rdma.AccessLocalWrite); err != nil {
		return nil, err
	}
	if p.send, err = n.opts.Provider.RegisterRegion(sendSlots*replication.MaxMessageSize, rdma.AccessLocalWrite); err != nil {
		p.recv.Close()
		return nil, err
	}
	for i := sendSlots - 1; i >= 0; i-- {
		p.sendFree = append(p.sendFree, i)
	}
	rrs := make([]rdma.RecvRequest, recvSlots)
	for i := range rrs {
		rrs[i] = p.recvRequest(i)
	}
	if err := conn.PostRecv(rrs); err != nil {
		p.releaseRegions()
		return nil, err
	}
	return p, nil
}

func (p *peer) recvRequest(i int) rdma.RecvRequest {
	return rdma.RecvRequest{ID: uint64(i), Region: p.recv, Offset: i * replication.MaxMessageSize, Length: replication.MaxMessageSize}
}

func (p *peer) releaseRegions() {
	p.recv.Close()
	p.send.Close()
}

// run serves the connection until it breaks: the first message must be a
// Hello; then every completion goes to the state machine.
func (p *peer) run(n *Node) {
	defer n.wg.Done()
	defer p.releaseRegions()
	defer p.conn.Close()
	cs := make([]rdma.Completion, 64)
	for {
		k, err := p.conn.Wait(n.ctx, cs)
		n.mu.Lock()
		for _, c := range cs[:k] {
			if herr := p.handle(n, c); herr != nil {
				if p.id != "" && n.mu.peers[p.id] == p {
					n.mu.sm.RemoveBackup(p.id, herr)
				} else {
					n.opts.Logger.Warn("backup connection failed", "remote", p.conn.RemoteAddr(), "err", herr)
				}
				p.conn.Close()
			}
		}
		n.processLocked()
		if err != nil {
			if p.id != "" && n.mu.peers[p.id] == p {
				n.mu.sm.RemoveBackup(p.id, fmt.Errorf("%w: %v", replication.ErrBackupDropped, err))
				n.processLocked()
			}
			n.mu.Unlock()
			return
		}
		n.mu.Unlock()
	}
}

// handle processes one completion with the node's mutex held.
func (p *peer) handle(n *Node, c rdma.Completion) error {
	switch c.Op {
	case rdma.OpWrite, rdma.OpWriteImm:
		if p.id == "" {
			return fmt.Errorf("%w: write completion before Hello", replication.ErrProtocol)
		}
		n.mu.sm.WriteCompleted(replication.OpID(c.ID), c.Err)
		return nil
	case rdma.OpSend:
		p.sendFree = append(p.sendFree, int(c.ID&^sendBit))
		if c.Err != nil {
			return fmt.Errorf("send: %w", c.Err)
		}
		q := p.outq
		p.outq = nil
		for i, o := range q {
			if err := p.post(n, o); err != nil {
				return err
			}
			if len(p.outq) > 0 {
				p.outq = append(p.outq, q[i+1:]...)
				break
			}
		}
		return nil
	case rdma.OpRecv:
		if c.Err != nil {
			return c.Err
		}
		off := int(c.ID) * replication.MaxMessageSize
		m, err := replication.DecodeMessage(p.recv.Bytes()[off : off+c.Bytes])
		if err != nil {
			return fmt.Errorf("from backup %q: %w", p.id, err)
		}
		if p.id == "" {
			if err := p.admit(n, m); err != nil {
				return err
			}
		} else if err := n.mu.sm.Step(p.id, m); err != nil {
			if errors.Is(err, replication.ErrFenced) {
				n.opts.Logger.Error("fenced: a newer primary exists; refusing writes", "err", err)
			}
			return err
		}
		return p.conn.PostRecv([]rdma.RecvRequest{p.recvRequest(int(c.ID))})
	}
	return fmt.Errorf("unexpected %s completion: %v", c.Op, c.Err)
}

// admit handles the Hello: the backup joins the replica set.
func (p *peer) admit(n *Node, m replication.Message) error {
	if m.Type != replication.MsgHello {
		return fmt.Errorf("%w: first message %s, want Hello", replication.ErrProtocol, m.Type)
	}
	if int(m.Offset) < n.opts.ChunkSize {
		return fmt.Errorf("%w: backup %q has %d-byte chunk slots, the primary sends %d-byte chunks",
			replication.ErrProtocol, m.Text, m.Offset, n.opts.ChunkSize)
	}
	if uint64(p.vlog.Len) != m.Seg*uint64(m.Slot) || uint64(p.chunks.Len) != m.Offset*m.Length {
		return fmt.Errorf("%w: backup %q regions (%d, %d bytes) do not match its Hello", replication.ErrProtocol, m.Text, p.vlog.Len, p.chunks.Len)
	}
	if old := n.mu.peers[m.Text]; old != nil {
		// A backup reconnecting: its old connection is dead to it.
		n.mu.sm.RemoveBackup(m.Text, fmt.Errorf("%w: it reconnected", replication.ErrBackupDropped))
		n.processLocked()
	}
	if err := n.mu.sm.AddBackup(m); err != nil {
		return err
	}
	p.id = m.Text
	p.chunkSize = int(m.Offset)
	n.mu.peers[p.id] = p
	joining := n.mu.sm.Joining(p.id)
	n.opts.Logger.Info("backup joined the replica set", "backup", p.id, "remote", p.conn.RemoteAddr(),
		"device", p.conn.Device(), "join_segment", n.mu.sm.JoinSegment(p.id), "catching_up", joining)
	if run := n.mu.catchUps[p.id]; run != nil {
		run.cancel() // the previous connection's catch-up
		delete(n.mu.catchUps, p.id)
		n.mu.chunkCond.Broadcast()
	}
	if joining {
		n.startCatchUp(p.id)
	}
	return nil
}

// post sends one Out of the state machine, in order behind any queued.
func (p *peer) post(n *Node, o replication.Out) error {
	if len(p.outq) > 0 || (o.Write == nil && len(p.sendFree) == 0) {
		p.outq = append(p.outq, o)
		return nil
	}
	if o.Write != nil {
		return p.postWrite(n, *o.Write)
	}
	return p.sendMsg(o.Msg)
}

// postWrite posts one write of the state machine.
func (p *peer) postWrite(n *Node, w replication.Write) error {
	wr := rdma.WorkRequest{ID: uint64(w.Op), Length: int(w.Length), Signaled: true}
	switch w.Target {
	case replication.TargetVlog:
		slot := int(w.Seg % uint64(n.stageSlots))
		wr.Op = rdma.OpWrite
		wr.Local, wr.LocalOffset = n.stage, slot*n.segSize+int(w.Offset)
		wr.Remote, wr.RemoteOffset = p.vlog, uint64(w.Slot)*uint64(n.segSize)+w.Offset
	case replication.TargetChunk:
		wr.Op = rdma.OpWriteImm
		wr.Local, wr.LocalOffset = n.chunks, int(w.Chunk)*n.opts.ChunkSize
		wr.Remote, wr.RemoteOffset = p.chunks, uint64(w.Slot)*uint64(p.chunkSize)
		wr.Imm = w.Slot
	}
	return p.conn.Post([]rdma.WorkRequest{wr})
}

// sendMsg posts m into a free send buffer (post checked there is one).
func (p *peer) sendMsg(m replication.Message) error {
	i := p.sendFree[len(p.sendFree)-1]
	p.sendFree = p.sendFree[:len(p.sendFree)-1]
	off := i * replication.MaxMessageSize
	b := m.Encode(p.send.Bytes()[off:off])
	return p.conn.Post([]rdma.WorkRequest{{
		ID: sendBit | uint64(i), Op: rdma.OpSend, Local: p.send, LocalOffset: off, Length: len(b), Signaled: true,
	}})
}

package rdma

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"net"
	"sync"
	"time"
)

// tcpConn is one TCP provider connection. It owns two goroutines: the
// sender writes posted requests, acks and a final nak to the socket; the
// receiver reads frames, places WRITEs into local regions, fills posted
// receives, and turns the peer's acks into completions. Both stop when the
// connection breaks or is closed; Close waits for them.
type tcpConn struct {
	p           *tcpProvider
	c           net.Conn
	peerRegions []RemoteRegion
	local       string
	remote      string
	maxInline   int
	linger      time.Duration

	sendWake  chan struct{} // capacity 1: work for the sender
	cqWake    chan struct{} // capacity 1: completions (or breakage) for Wait
	closeOnce sync.Once
	wg        sync.WaitGroup

	mu struct {
		sync.Mutex
		recvReady *sync.Cond // signalled when a receive is posted or the conn breaks
		sq        *sendQueue
		rq        *recvQueue
		pending   []tcpOut // posted, not yet handed to the sender
		ackSeq    uint64   // highest peer request placed, to acknowledge
		ackDue    bool
		// acked is one past the highest of our requests the peer has
		// acknowledged. Acks are applied to sq when the caller polls, so
		// send slots are freed when completions are reaped, as with verbs.
		acked  uint64
		nak    *frameHeader // the nak to send before closing
		cq     []Completion
		broken error // wraps ErrConnBroken once broken
		closed bool
	}
}

// tcpOut is a request waiting for the sender.
type tcpOut struct {
	h       frameHeader
	region  *Region // nil for inline or empty payloads
	payload []byte  // inline copy, or the region's bytes
}

func newTCPConn(p *tcpProvider, nc net.Conn, peer []RemoteRegion) *tcpConn {
	c := &tcpConn{
		p:           p,
		c:           nc,
		peerRegions: peer,
		local:       nc.LocalAddr().String(),
		remote:      nc.RemoteAddr().String(),
		maxInline:   p.opts.MaxInline,
		linger:      p.opts.HandshakeTimeout,
		sendWake:    make(chan struct{}, 1),
		cqWake:      make(chan struct{}, 1),
	}
	c.mu.recvReady = sync.NewCond(&c.mu.Mutex)
	c.mu.sq = newSendQueue(p.opts.SendQueueDepth, p.opts.SignalInterval, "tcp")
	c.mu.rq = newRecvQueue(p.opts.RecvQueueDepth, "tcp")
	c.wg.Add(2)
	go c.sendLoop()
	go c.recvLoop()
	return c
}

func (c *tcpConn) PeerRegions() []RemoteRegion { return append([]RemoteRegion(nil), c.peerRegions...) }
func (c *tcpConn) Device() string              { return "tcp" }
func (c *tcpConn) LocalAddr() string           { return c.local }
func (c *tcpConn) RemoteAddr() string          { return c.remote }

func wake(ch chan struct{}) {
	select {
	case ch <- struct{}{}:
	default:
	}
}

func (c *tcpConn) Post(wrs []WorkRequest) error {
	for i := range wrs {
		if err := validateWR(&wrs[i], c.p); err != nil {
			return err
		}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if err := c.usableLocked(); err != nil {
		return err
	}
	if len(wrs) > c.mu.sq.free() {
		return fmt.Errorf("%w: posting %d requests, %d of %d send slots free", ErrQueueFull, len(wrs), c.mu.sq.free(), len(c.mu.sq.slots))
	}
	for i := range wrs {
		wr := &wrs[i]
		seq, _ := c.mu.sq.push(wr)
		o := tcpOut{h: frameHeader{seq: seq, addr: wr.Remote.Addr + wr.RemoteOffset, rkey: wr.Remote.RKey, imm: wr.Imm}}
		switch wr.Op {
		case OpWrite:
			o.h.typ = frameWrite
		case OpWriteImm:
			o.h.typ = frameWriteImm
		case OpSend:
			o.h.typ = frameSend
			o.h.addr, o.h.rkey, o.h.imm = 0, 0, 0
		}
		if wr.Length > 0 {
			b := wr.Local.buf[wr.LocalOffset : wr.LocalOffset+wr.Length]
			if wr.Length <= c.maxInline {
				o.payload = append([]byte(nil), b...)
			} else {
				o.region, o.payload = wr.Local, b
			}
		}
		c.mu.pending = append(c.mu.pending, o)
	}
	wake(c.sendWake)
	return nil
}

func (c *tcpConn) PostRecv(rrs []RecvRequest) error {
	for i := range rrs {
		if err := validateRR(&rrs[i], c.p); err != nil {
			return err
		}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if err := c.usableLocked(); err != nil {
		return err
	}
	if len(rrs) > c.mu.rq.free() {
		return fmt.Errorf("%w: posting %d receives, %d of %d receive slots free", ErrQueueFull, len(rrs), c.mu.rq.free(), len(c.mu.rq.slots))
	}
	for i := range rrs {
		c.mu.rq.push(&rrs[i])
	}
	c.mu.recvReady.Broadcast()
	return nil
}

func (c *tcpConn) usableLocked() error {
	if c.mu.broken != nil {
		return c.mu.broken
	}
	return nil
}

func (c *tcpConn) Poll(cs []Completion) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.applyAcksLocked()
	n := copy(cs, c.mu.cq)
	c.mu.rq.reap(cs[:n])
	c.mu.cq = append(c.mu.cq[:0], c.mu.cq[n:]...)
	if n == 0 && c.mu.broken != nil {
		return 0, c.mu.broken
	}
	return n, nil
}

func (c *tcpConn) Wait(ctx context.Context, cs []Completion) (int, error) {
	for {
		n, err := c.Poll(cs)
		if n > 0 || err != nil {
			return n, err
		}
		select {
		case <-c.cqWake:
		case <-ctx.Done():
			return 0, fmt.Errorf("rdma: wait on tcp connection to %s: %w", c.remote, ctx.Err())
		}
	}
}

func (c *tcpConn) Err() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.mu.broken
}

func (c *tcpConn) Close() error {
	c.mu.Lock()
	c.mu.closed = true
	c.breakLocked(fmt.Errorf("%w: connection closed locally", ErrClosed))
	c.mu.Unlock()
	c.closeSock()
	c.wg.Wait()
	return nil
}

func (c *tcpConn) closeSock() {
	c.closeOnce.Do(func() { _ = c.c.Close() })
}

// breakLocked moves the connection to the error state: every outstanding
// request and receive fails with StatusFlushed, later posts fail, and the
// goroutines wind down. Only the first cause is kept.
func (c *tcpConn) breakLocked(cause error) {
	if c.mu.broken != nil {
		return
	}
	c.mu.broken = fmt.Errorf("%w: tcp connection %s -> %s: %w", ErrConnBroken, c.local, c.remote, cause)
	c.applyAcksLocked()
	c.mu.cq = c.mu.sq.flush(cause, c.mu.cq)
	c.mu.cq = c.mu.rq.flush(cause, c.mu.cq)
	c.mu.pending = nil
	// Bound the time the sender may block writing a final nak.
	_ = c.c.SetWriteDeadline(time.Now().Add(c.linger))
	if c.mu.nak == nil {
		c.closeSock()
	}
	c.mu.recvReady.Broadcast()
	wake(c.cqWake)
	wake(c.sendWake)
}

func (c *tcpConn) fail(cause error) {
	c.mu.Lock()
	c.breakLocked(cause)
	c.mu.Unlock()
}

// failWithNak breaks the connection after queueing a nak that tells the
// peer its request seq failed with status.
func (c *tcpConn) failWithNak(seq uint64, status Status, cause error) {
	c.mu.Lock()
	if c.mu.broken == nil {
		c.mu.nak = &frameHeader{typ: frameNak, seq: seq, status: status}
	}
	c.breakLocked(cause)
	c.mu.Unlock()
}

func (c *tcpConn) sendLoop() {
	defer c.wg.Done()
	defer c.closeSock()
	var (
		hdrs    []byte
		bufs    net.Buffers
		regions []*Region
	)
	for {
		c.mu.Lock()
		out := c.mu.pending
		c.mu.pending = nil
		ack, ackDue := c.mu.ackSeq, c.mu.ackDue
		c.mu.ackDue = false
		nak := c.mu.nak
		broken := c.mu.broken != nil
		c.mu.Unlock()

		if broken {
			if nak != nil {
				c.sendNak(*nak)
			}
			return
		}
		if len(out) == 0 && !ackDue {
			<-c.sendWake
			continue
		}
		n := len(out)
		if ackDue {
			n++
		}
		hdrs = append(hdrs[:0], make([]byte, n*frameHeaderLen)...)
		bufs = bufs[:0]
		hi := 0
		if ackDue {
			h := frameHeader{typ: frameAck, seq: ack}
			h.encode(hdrs[:frameHeaderLen])
			bufs = append(bufs, hdrs[:frameHeaderLen])
			hi = frameHeaderLen
		}
		// Pin the regions the payloads live in so that none is unmapped
		// while the socket reads from it.
		regions = regions[:0]
		lost := false
		for _, o := range out {
			if o.region == nil || containsRegion(regions, o.region) {
				continue
			}
			o.region.mu.RLock()
			regions = append(regions, o.region)
			if o.region.mu.closed {
				lost = true
			}
		}
		if !lost {
			for _, o := range out {
				o.h.length = uint32(len(o.payload))
				o.h.pcrc = crc32.Checksum(o.payload, castagnoli)
				hb := hdrs[hi : hi+frameHeaderLen]
				hi += frameHeaderLen
				o.h.encode(hb)
				bufs = append(bufs, hb)
				if len(o.payload) > 0 {
					bufs = append(bufs, o.payload)
				}
			}
		}
		var err error
		if !lost {
			w := bufs // WriteTo consumes its receiver
			_, err = w.WriteTo(c.c)
		}
		for _, r := range regions {
			r.mu.RUnlock()
		}
		clear(regions)
		clear(bufs)
		if lost {
			c.fail(fmt.Errorf("%w: a local region was closed while a request using it was outstanding", ErrInvalidRequest))
			return
		}
		if err != nil {
			c.fail(fmt.Errorf("%w: write to %s: %w", ErrDisconnected, c.remote, err))
			return
		}
	}
}

func containsRegion(rs []*Region, r *Region) bool {
	for _, x := range rs {
		if x == r {
			return true
		}
	}
	return false
}

// sendNak writes the final nak, then half-closes and drains the socket so
// the peer reads the nak before it sees the connection end (closing with
// unread data would reset the connection and could lose the nak).
func (c *tcpConn) sendNak(h frameHeader) {
	var hb [frameHeaderLen]byte
	h.encode(hb[:])
	if _, err := c.c.Write(hb[:]); err != nil {
		return
	}
	if tc, ok := c.c.(*net.TCPConn); ok {
		_ = tc.CloseWrite()
		_ = tc.SetReadDeadline(time.Now().Add(c.linger))
		_, _ = io.Copy(io.Discard, tc)
	}
}

func disconnectCause(remote string, err error) error {
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return fmt.Errorf("%w: %s closed the connection", ErrDisconnected, remote)
	}
	return fmt.Errorf("%w: read from %s: %w", ErrDisconnected, remote, err)
}

func (c *tcpConn) recvLoop() {
	defer c.wg.Done()
	br := bufio.NewReaderSize(c.c, 128<<10)
	var hb [frameHeaderLen]byte
	for {
		if _, err := io.ReadFull(br, hb[:]); err != nil {
			c.fail(disconnectCause(c.remote, err))
			return
		}
		h, err := decodeFrameHeader(hb[:])
		if err != nil {
			c.fail(fmt.Errorf("frame from %s: %w", c.remote, err))
			return
		}
		var ok bool
		switch h.typ {
		case frameWrite, frameWriteImm:
			ok = c.onWrite(br, h)
		case frameSend:
			ok = c.onSend(br, h)
		case frameAck:
			ok = c.onAck(h)
		case frameNak:
			c.onNak(h)
			return
		default:
			c.fail(fmt.Errorf("%w: unexpected %s frame from %s after the handshake", ErrCorruptFrame, h.typ, c.remote))
			return
		}
		if !ok {
			return
		}
	}
}

// onWrite places a peer's WRITE (and delivers its immediate).
func (c *tcpConn) onWrite(br *bufio.Reader, h frameHeader) bool {
	r, off, st := c.p.lookupRemote(h.rkey, h.addr, h.length)
	if st != StatusSuccess {
		c.failWithNak(h.seq, st, fmt.Errorf("peer %s wrote %d bytes at 0x%x with rkey 0x%x: no remotely writable region holds that range",
			c.remote, h.length, h.addr, h.rkey))
		return false
	}
	dst := r.buf[off : off+int(h.length)]
	_, err := io.ReadFull(br, dst)
	if err == nil {
		err = h.checkPayload(dst)
	}
	r.mu.RUnlock()
	if err != nil {
		if errors.Is(err, ErrCorruptFrame) {
			c.fail(fmt.Errorf("frame from %s: %w", c.remote, err))
		} else {
			c.fail(disconnectCause(c.remote, err))
		}
		return false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if h.typ == frameWriteImm {
		_, rseq, ok := c.waitRecvLocked()
		if !ok {
			return false
		}
		c.mu.cq = c.mu.rq.complete(rseq, Completion{Op: OpRecvImm, Bytes: int(h.length), Imm: h.imm}, nil, c.mu.cq)
		wake(c.cqWake)
	}
	c.ackLocked(h.seq)
	return true
}

// onSend fills the next posted receive with a peer's SEND.
func (c *tcpConn) onSend(br *bufio.Reader, h frameHeader) bool {
	c.mu.Lock()
	rr, rseq, ok := c.waitRecvLocked()
	if !ok {
		c.mu.Unlock()
		return false
	}
	if int(h.length) > rr.Length {
		cause := fmt.Errorf("peer %s sent %d bytes into a receive of %d", c.remote, h.length, rr.Length)
		c.mu.cq = c.mu.rq.complete(rseq, Completion{Op: OpRecv, Status: StatusLocalLength}, cause, c.mu.cq)
		c.mu.nak = &frameHeader{typ: frameNak, seq: h.seq, status: StatusRemoteInvalidReq}
		c.breakLocked(cause)
		c.mu.Unlock()
		return false
	}
	c.mu.Unlock()
	// The receive stays at the front of the queue: only this goroutine
	// consumes receives.
	var err error
	var dst []byte
	if h.length > 0 {
		rr.Region.mu.RLock()
		if rr.Region.mu.closed {
			err = fmt.Errorf("%w: receive %d's region was closed while posted", ErrInvalidRequest, rr.ID)
		} else {
			dst = rr.Region.buf[rr.Offset : rr.Offset+int(h.length)]
			if _, err = io.ReadFull(br, dst); err != nil {
				err = disconnectCause(c.remote, err)
			} else {
				err = h.checkPayload(dst)
			}
		}
		rr.Region.mu.RUnlock()
	} else {
		err = h.checkPayload(nil)
	}
	if err != nil {
		c.fail(err)
		return false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.mu.broken != nil {
		return false
	}
	c.mu.cq = c.mu.rq.complete(rseq, Completion{Op: OpRecv, Bytes: int(h.length)}, nil, c.mu.cq)
	wake(c.cqWake)
	c.ackLocked(h.seq)
	return true
}

// waitRecvLocked waits until a receive is posted (a real RC queue pair
// would answer "receiver not ready" and retry) or the connection breaks.
func (c *tcpConn) waitRecvLocked() (RecvRequest, uint64, bool) {
	for {
		if c.mu.broken != nil {
			return RecvRequest{}, 0, false
		}
		if rr, seq, ok := c.mu.rq.front(); ok {
			return rr, seq, true
		}
		c.mu.recvReady.Wait()
	}
}

func (c *tcpConn) ackLocked(seq uint64) {
	c.mu.ackSeq, c.mu.ackDue = seq, true
	wake(c.sendWake)
}

func (c *tcpConn) onAck(h frameHeader) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.mu.broken != nil {
		return false
	}
	sq := c.mu.sq
	if h.seq < c.mu.acked || h.seq >= sq.head {
		c.breakLocked(fmt.Errorf("%w: ack for request %d from %s, unacknowledged are [%d, %d)", ErrCorruptFrame, h.seq, c.remote, c.mu.acked, sq.head))
		return false
	}
	c.mu.acked = h.seq + 1
	wake(c.cqWake)
	return true
}

// applyAcksLocked turns the peer's acknowledgements into completions.
func (c *tcpConn) applyAcksLocked() {
	if c.mu.acked > c.mu.sq.tail {
		c.mu.cq = c.mu.sq.complete(c.mu.acked-1, StatusSuccess, 0, nil, c.mu.cq)
	}
}

func (c *tcpConn) onNak(h frameHeader) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.mu.broken != nil {
		return
	}
	sq := c.mu.sq
	if h.seq < c.mu.acked || h.seq >= sq.head {
		c.breakLocked(fmt.Errorf("%w: nak for request %d from %s, unacknowledged are [%d, %d)", ErrCorruptFrame, h.seq, c.remote, c.mu.acked, sq.head))
		return
	}
	cause := fmt.Errorf("peer %s failed our request with sequence %d: %s", c.remote, h.seq, h.status)
	c.applyAcksLocked()
	c.mu.cq = sq.complete(h.seq, h.status, 0, nil, c.mu.cq)
	c.breakLocked(cause)
}

package rdma

import "fmt"

// sendQueue tracks the work requests outstanding on one connection, in
// posting order, and turns device completions (or TCP acks) into the
// completions the caller sees. Both providers use it, so both report the
// same completions for the same events. Not safe for concurrent use: the
// owner locks.
type sendQueue struct {
	slots       []sendSlot
	head        uint64 // sequence number the next request gets
	tail        uint64 // oldest request without a completion
	sinceSignal int
	interval    int
	device      string
}

type sendSlot struct {
	id       uint64
	op       Opcode
	signaled bool // the caller asked for a completion
}

func newSendQueue(depth, interval int, device string) *sendQueue {
	return &sendQueue{slots: make([]sendSlot, depth), interval: interval, device: device}
}

// free is how many requests can still be posted.
func (q *sendQueue) free() int { return len(q.slots) - int(q.head-q.tail) }

// outstanding is how many requests await a completion.
func (q *sendQueue) outstanding() int { return int(q.head - q.tail) }

// push records wr and returns its sequence number and whether the device
// must signal it (the caller asked, or SignalInterval requests went by
// unsignaled). The caller checked free.
func (q *sendQueue) push(wr *WorkRequest) (seq uint64, signal bool) {
	seq = q.head
	q.slots[seq%uint64(len(q.slots))] = sendSlot{id: wr.ID, op: wr.Op, signaled: wr.Signaled}
	q.head++
	q.sinceSignal++
	signal = wr.Signaled || q.sinceSignal >= q.interval
	if signal {
		q.sinceSignal = 0
	}
	return seq, signal
}

// unpush forgets the last n pushes (a post that failed as a whole).
func (q *sendQueue) unpush(n int) { q.head -= uint64(n) }

// complete reports that request seq finished with status, and with it
// every earlier request (a signaled completion implies the unsignaled
// ones before it succeeded). It appends the caller-visible completions
// to out.
func (q *sendQueue) complete(seq uint64, status Status, vendorErr uint32, cause error, out []Completion) []Completion {
	if seq < q.tail || seq >= q.head {
		panic(fmt.Sprintf("rdma: completion for send sequence %d, expected one in [%d, %d)", seq, q.tail, q.head))
	}
	for s := q.tail; s <= seq; s++ {
		slot := q.slots[s%uint64(len(q.slots))]
		switch {
		case s == seq && status != StatusSuccess:
			out = append(out, Completion{ID: slot.id, Op: slot.op, Status: status,
				Err: &CompletionError{Device: q.device, ID: slot.id, Op: slot.op, Status: status, VendorErr: vendorErr, Cause: cause}})
		case slot.signaled:
			out = append(out, Completion{ID: slot.id, Op: slot.op})
		}
	}
	q.tail = seq + 1
	return out
}

// flush fails every outstanding request with StatusFlushed.
func (q *sendQueue) flush(cause error, out []Completion) []Completion {
	for q.tail < q.head {
		out = q.complete(q.tail, StatusFlushed, 0, cause, out)
	}
	return out
}

// recvQueue tracks posted receives in order. A receive keeps its slot
// until its completion has been returned by Poll or Wait (unreaped), as a
// verbs receive queue entry does until its completion is polled.
type recvQueue struct {
	slots    []RecvRequest
	head     uint64
	tail     uint64
	unreaped int
	device   string
}

func newRecvQueue(depth int, device string) *recvQueue {
	return &recvQueue{slots: make([]RecvRequest, depth), device: device}
}

func (q *recvQueue) free() int { return len(q.slots) - int(q.head-q.tail) - q.unreaped }

// reap releases the slots of the receive completions in cs, which are
// being returned to the caller.
func (q *recvQueue) reap(cs []Completion) {
	for _, c := range cs {
		if c.Op == OpRecv || c.Op == OpRecvImm {
			q.unreaped--
		}
	}
}
func (q *recvQueue) outstanding() int { return int(q.head - q.tail) }

func (q *recvQueue) push(rr *RecvRequest) uint64 {
	seq := q.head
	q.slots[seq%uint64(len(q.slots))] = *rr
	q.head++
	return seq
}

func (q *recvQueue) unpush(n int) { q.head -= uint64(n) }

// front is the oldest posted receive; ok is false if none is posted.
func (q *recvQueue) front() (rr RecvRequest, seq uint64, ok bool) {
	if q.tail == q.head {
		return RecvRequest{}, 0, false
	}
	return q.slots[q.tail%uint64(len(q.slots))], q.tail, true
}

// complete reports receive seq (always the oldest: receives complete in
// order on a reliable connection).
func (q *recvQueue) complete(seq uint64, c Completion, cause error, out []Completion) []Completion {
	if seq != q.tail || seq >= q.head {
		panic(fmt.Sprintf("rdma: completion for receive sequence %d, expected %d (posted up to %d)", seq, q.tail, q.head))
	}
	rr := q.slots[seq%uint64(len(q.slots))]
	q.slots[seq%uint64(len(q.slots))] = RecvRequest{}
	q.tail++
	q.unreaped++
	c.ID = rr.ID
	if c.Status != StatusSuccess {
		if c.Op == 0 {
			c.Op = OpRecv
		}
		c.Err = &CompletionError{Device: q.device, ID: rr.ID, Op: c.Op, Status: c.Status, VendorErr: 0, Cause: cause}
	}
	return append(out, c)
}

func (q *recvQueue) flush(cause error, out []Completion) []Completion {
	for q.tail < q.head {
		out = q.complete(q.tail, Completion{Op: OpRecv, Status: StatusFlushed}, cause, out)
	}
	return out
}

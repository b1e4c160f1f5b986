// Package rdma is Talos's transport: one-sided RDMA WRITEs into a peer's
// registered memory, WRITE_WITH_IMM to tell the peer what arrived, and
// SEND/RECV for small control messages, over reliable connected queue
// pairs.
//
// There are two providers behind one API, chosen by name with Open:
//
//   - "verbs": libibverbs and librdmacm through cgo (verbs_cgo.go is the
//     only file that imports "C"; verbs.go is the Go logic). It runs on
//     any RDMA device, including Soft-RoCE (rxe). Builds without cgo or
//     off Linux return ErrNotSupported from Open("verbs", ...).
//   - "tcp": the same semantics over TCP, so Talos runs and is tested
//     where there is no RDMA device. A receiver goroutine on the peer
//     places each WRITE into the registered region named by its rkey and
//     address, and only then acknowledges it.
//
// Code above this package holds a Provider, *Region, Listener and Conn
// and cannot tell the providers apart; the conformance suite
// (conformance_test.go) runs unchanged against both.
//
// # Using it
//
//	p, _ := rdma.Open("verbs", rdma.Options{Device: "rxe0", ClusterToken: tok})
//	ring, _ := p.RegisterRegion(64<<20, rdma.AccessRemoteWrite)   // backup
//	l, _ := p.Listen("10.9.9.9:7000", rdma.ListenOptions{Regions: []rdma.RemoteRegion{ring.Remote()}})
//	c, _ := l.Accept(ctx)
//
//	c, _ := p.Dial(ctx, "10.9.9.9:7000", rdma.DialOptions{})        // primary
//	dst := c.PeerRegions()[0]
//	c.Post([]rdma.WorkRequest{{ID: 1, Op: rdma.OpWrite, Local: buf, Length: n,
//		Remote: dst, RemoteOffset: off, Signaled: true}})
//	n, err := c.Wait(ctx, completions)
//
// # Work requests and completions
//
// Post takes a chain of work requests and hands it to the device in one
// cgo call (up to 64 per call). Only requests with Signaled set report a
// successful completion; the provider also asks the device for a
// completion every Options.SignalInterval requests to recycle send-queue
// slots and consumes those itself. Payloads up to Options.MaxInline bytes
// are sent inline (copied at post time). Poll and Wait read up to 64
// completions per cgo call. Completions come in posting order.
//
// # On-wire layout: connection private data
//
// rdma_cm carries private data in the connect request (56 bytes at most),
// the accept (196) and the reject (148); the TCP provider sends the same
// bytes in its hello, accept and reject frames. All integers are little
// endian.
//
//	0       2     3      4                    12      13       14    16
//	+-------+-----+------+--------------------+-------+--------+-----+
//	| magic | ver | kind |   cluster token    | count | reason | 0 0 |
//	| "TA"  |  1  |1 2 3 |      uint64        | uint8 | uint8  |     |
//	+-------+-----+------+--------------------+-------+--------+-----+
//	then count region descriptors of 16 bytes each:
//	+--------------------+----------+----------+
//	|  address  uint64   | len u32  | rkey u32 |
//	+--------------------+----------+----------+
//	then crc32c (Castagnoli) of everything before it, uint32.
//	Bytes after the checksum are ignored (InfiniBand pads with zeros).
//
// kind is 1 connect, 2 accept, 3 reject; reason (reject only) is a
// RejectReason. A dialer can offer MaxDialRegions (2) regions, a listener
// MaxAcceptRegions (11).
//
// # On-wire layout: TCP frames
//
// After the handshake (hello, then accept or reject), each side sends
// frames of a 40-byte header and a payload:
//
//	 0        4      5       6        7       8                16
//	 +--------+------+-------+--------+-------+----------------+
//	 | length | type | 0     | status | 0     |  sequence u64  |
//	 |  u32   |  u8  |       |   u8   |       |                |
//	 +--------+------+-------+--------+-------+----------------+
//	16                24         28        32           36          40
//	 +----------------+----------+---------+------------+-----------+
//	 | remote addr u64| rkey u32 | imm u32 | payload    | header    |
//	 |                |          |         | crc32c u32 | crc32c u32|
//	 +----------------+----------+---------+------------+-----------+
//	 then length bytes of payload.
//
// Types: 1 hello, 2 accept, 3 reject (payload: private data); 4 write,
// 5 write-with-immediate, 6 send (payload: the data; sequence is the
// sender's request number); 7 ack (every request up to and including
// sequence succeeded); 8 nak (request sequence failed with status; the
// connection is then closed). The header checksum covers bytes 0-35.
//
// # Invariants
//
//  1. Region memory comes from mmap, never the Go heap; its address and
//     keys do not change until Close, which deregisters and then unmaps.
//  2. A WRITE's successful completion is reported to the writer only after
//     all its bytes are in the peer's region (TCP: the peer's receiver
//     placed and checksummed them before sending the ack).
//  3. A WRITE_WITH_IMM's immediate reaches the peer's completion queue
//     after its data is in place, and immediates arrive in posting order.
//  4. Completions of one connection are reported in posting order; a
//     signaled success implies every earlier request succeeded.
//  5. A failed request always reports a completion, signaled or not, and
//     moves the connection to the error state: every other outstanding
//     request and posted receive completes with StatusFlushed, later posts
//     fail with ErrConnBroken, and the connection is never reused.
//  6. A peer that disconnects breaks the connection as in 5; Wait never
//     blocks once the connection is broken and everything is reported.
//  7. The receiving side checks rkey, access and bounds of every WRITE: a
//     bad one fails the writer's request with StatusRemoteAccess and
//     touches no memory outside a registered, remotely writable region.
//  8. A listener accepts only dialers presenting its cluster token; a
//     wrong token is refused with ErrTokenRefused on both sides.
//  9. Every TCP frame and all private data are checksummed (crc32c) and
//     length-checked before they are acted on; the payload of a WRITE is
//     checked after it is placed, and a mismatch breaks the connection
//     before the write is acknowledged.
//  10. Every verbs failure is an *OpError naming the call, errno and
//     device; every failed completion a *CompletionError naming the
//     request, status and device.
//
// # Memory locking
//
// Registering memory with verbs pins it. RegisterRegion checks
// RLIMIT_MEMLOCK first (CheckMemlock) and fails with ErrMemlock and the
// fix (ulimit -l unlimited, LimitMEMLOCK=infinity) when it is too low.
package rdma

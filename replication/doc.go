// Package replication is the Talos primary-backup protocol as a pure state
// machine: no goroutines, no I/O, no clocks. The primary and backup nodes
// (packages primary/ and backup/) are thin wrappers that feed it events (a
// group commit appended bytes, a segment was sealed, a table chunk is ready,
// a message or a completion arrived, a tick passed), execute the actions it
// returns in order (RDMA writes, control messages, file operations), and
// report back. The split follows etcd raft's raft.go / node.go.
//
// # Channels between a primary and one backup
//
// One reliable-connected queue pair (or its TCP twin) per backup carries, in
// order:
//
//   - value-log bytes: one-sided RDMA WRITEs from the primary's segment buffer
//     into the backup's value-log ring, at the same offset. Segment s lives in
//     slot s mod VlogSlots. The backup is not told of a write; it learns what
//     is valid from later control messages, and a promoted backup finds the
//     valid prefix by the value log's own checksums.
//   - index chunks: RDMA WRITE_WITH_IMM into the backup's chunk ring; the
//     immediate is the slot number; the slot starts with a chunk header.
//     Chunks carry table files (ship-index mode) and encoded version edits.
//   - control messages: SEND/RECV, each one frame (below).
//
// Because the channel is ordered, a control message describes memory that
// earlier writes have already filled: a Seal follows every write into the
// segment it seals; an ObjectEnd follows every chunk of its object.
//
// # Control message frame (little endian)
//
//	 0      2     3     4          8                 16         20
//	+------+-----+-----+----------+-----------------+----------+
//	| 'T'  | ver | typ | body len |      epoch      |  crc32c  |
//	| 'L'  |  1  |     |  uint32  |     uint64      |  uint32  |
//	+------+-----+-----+----------+-----------------+----------+
//	| body: seg u64 | offset u64 | length u64 | id u64 | slot u32 |
//	|       crc u32 | kind u8 | text len u16 | text               |
//	+------------------------------------------------------------+
//
// The frame crc32c (Castagnoli) covers the header with the crc field zeroed
// and the body. Every type uses the same body; unused fields are zero and a
// decoder rejects a frame whose unused fields are not. MaxMessageSize bounds
// a frame.
//
// # Chunk header, at the start of a chunk-ring slot
//
//	 0       4      5        8         16        24         32       36       40
//	+-------+------+--------+---------+---------+----------+--------+--------+
//	| 'TCHK'| kind | 0 0 0  |  epoch  | object  |  offset  | length | crc32c |
//	|       |  u8  |        |  u64    | id u64  |  u64     |  u32   |  u32   |
//	+-------+------+--------+---------+---------+----------+--------+--------+
//	| length bytes of object data                                          |
//	+----------------------------------------------------------------------+
//
// The crc32c covers the header with the crc field zeroed and the data.
//
// # Messages
//
//	Hello        B→P  text=backup id, kind=mode, seg=segment size,
//	                  slot=vlog slots, length=chunk slots, offset=chunk
//	                  size; epoch=the backup's
//	Welcome      P→B  seg=join segment, kind=mode|ack<<4; the backup resets
//	                  its store (ship-index) and receives that segment's
//	                  bytes from offset 0 (a prefix write first if the
//	                  primary had filled part of it)
//	Commit       P→B  seg, offset=end: persist the segment prefix (ack disk)
//	Persisted    B→P  seg, offset=end: the prefix is durable
//	Seal         P→B  seg, length, crc: the slot holds the whole segment
//	SegmentDone  B→P  seg: persisted and its slot is free (a vlog credit)
//	ObjectEnd    P→B  kind, id, length, crc; for an edit or a snapshot
//	                  seg+offset name the value-log checkpoint that must be
//	                  durable first
//	ObjectAbort  P→B  kind, id: discard what arrived
//	ChunkCredit  B→P  slot: the chunk was applied and the slot is free
//	EditDone     B→P  id: the edit (or snapshot) is installed and durable
//	Heartbeat    P→B  id=tick
//	HeartbeatAck B→P  id=tick, seg+offset=what the backup holds durably
//	Error        both text=reason; the connection is torn down after it
//	SegmentGone  P→B  build-index only: id=segment the primary's GC
//	                  deleted; seg+offset=the log position after its live
//	                  values' rewrites (invariant 9)
//
// # Object kinds
//
//	table     1  an SSTable file, id = table number
//	edit      2  an encoded version edit, id = the primary's edit number
//	segment   3  a sealed value-log segment file (catch-up), id = number
//	snapshot  4  a version edit recreating the whole index state after edit
//	             id (catch-up): every table at its level, checkpoint,
//	             NextFileNum, LastSeq, SegmentLive
//
// # Joining and catching up
//
// The primary tracks the log end (L, O). A backup admitted there joins at
// L if L is not sealed (its first value-log item is a write of [0, O) of L)
// and at L+1 otherwise. Every Welcome tells the backup to reset its store.
// If the log was ever used (either mode) it is joining: the wrapper pins the state after some edit k (BeginSnapshot) and
// sends it, to that backup alone (ChunkTo, ObjectEndTo), as segment objects
// for every live segment below the join segment, table objects, and the
// snapshot object id=k. Live objects that start after the pin wait behind
// the snapshot; live edits up to k are not sent (the snapshot holds them).
// Tables whose streaming began before the pin and that the pin lacks are
// named by TakeMissed when an edit adds them, and sent alone before it:
//
//	value-log queue:  [prefix of L] [live writes, Commit, Seal ...]
//	object queue:     [segments] [tables] [missed tables] [snapshot k]
//	                  [live objects held behind it ...]
//
// Each backup has these two queues, each waiting only for its own credit
// (vlog slots, chunk slots); both post into one ordered channel.
//
// A build-index backup catches up the same way: the primary's index, as
// the snapshot holds it, becomes its base, and it builds its own from
// there (it replays the segments past the snapshot's checkpoint). It is
// sent no live table or edit. A SegmentGone for a segment below its join
// segment is dropped if GC deleted the segment before the pin (the
// snapshot lacks it), and otherwise held until the backup acknowledged
// the snapshot, then queued behind the value-log bytes sent so far.
//
// # Invariants
//
//  1. A backup acts only on messages of its current epoch. A lower epoch is
//     refused (ErrStaleEpoch) and that connection is torn down; only Welcome
//     may raise a backup's epoch.
//  2. The primary acknowledges commit c only when every backup in the replica
//     set holds c (its WRITE completed for ack memory; it answered Persisted
//     for ack disk), every earlier commit is acknowledged, and the set has at
//     least MinReplicas backups. Otherwise c fails with ErrTooFewReplicas;
//     it is never acknowledged with less durability than promised.
//  3. The primary writes into vlog slot s only after the segment that last
//     used s is SegmentDone, and into chunk slot k only after ChunkCredit(k):
//     a slow backup slows the primary, it is never overrun.
//  4. A backup installs an edit only after the value-log prefix up to the
//     edit's checkpoint is durable on it and every table the edit adds has
//     arrived whole with its checksum (ObjectEnd checked).
//  5. Actions are executed in the order returned. A failed action is fatal to
//     the node that ran it.
//  6. A backup that fails (a write completion error, an Error message, missed
//     heartbeats) leaves the replica set for good; it comes back only by
//     joining again.
//  7. An edit's (or snapshot's) ObjectEnd is posted to a backup only after
//     every value-log write up to its checkpoint was posted to it, so on
//     the ordered channel the bytes arrive before the edit that needs them.
//  8. A joining backup receives every commit appended after it joined (it
//     never falls behind) but counts toward MinReplicas only once it has
//     acknowledged its snapshot with EditDone; it receives each edit after
//     k exactly once, after the snapshot and after every table it adds.
//  9. A build-index backup deletes a value-log segment only after the
//     primary's GC deleted it (SegmentGone) and only once the backup's own
//     index checkpoint has passed the log position SegmentGone names: the
//     logs are byte-identical, so by then every live value of the segment
//     has been rewritten into, and replayed from, later segments, and no
//     visible entry of the backup's index points into it. Build-index
//     backups never run GC themselves and never read a segment for it.
package replication

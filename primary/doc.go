// Package primary is a Talos primary node: an engine whose group commits,
// sealed segments, finished tables and version edits are replicated to its
// backups. It is the thin I/O wrapper around replication.Primary: engine
// hooks and transport completions go in, under one mutex; the writes and
// messages the state machine asks for go out on each backup's connection.
//
// The write path (ack memory):
//
//	client batch ─▶ engine group commit ─▶ value log append (local file)
//	                                   └─▶ CommitHook(range)
//	                                          ├─ stage the range in the registered
//	                                          │  segment ring (same slot, same offset)
//	                                          ├─ state machine: Append → RDMA WRITE per backup
//	                                          └─ wait for the commit's result
//	backup NIC completes the WRITE ─▶ WriteCompleted ─▶ result ─▶ engine acks the batch
//
// Index shipping: every table the engine writes streams through a TableSink
// into registered chunk buffers (ChunkBuffers × ChunkSize); each full chunk
// is offered to the state machine, which writes it into each backup's chunk
// ring when that backup has a free slot. Each version edit the engine makes
// durable (flush, compaction, value-log GC) follows as an edit object whose
// ObjectEnd names the value-log checkpoint the backup must persist first.
//
// Invariants:
//  1. A commit hook returns nil only after the state machine acknowledged
//     the commit: every backup of the replica set holds it, and there are at
//     least MinReplicas of them (replication invariant 2).
//  2. A staged segment slot is overwritten only after every write from it
//     completed: the hook of a commit in segment s waits for its writes, so
//     segment s+StageSlots cannot begin while s has writes in flight.
//  3. A chunk buffer returns to the pool only when the state machine
//     releases it: queued and in-flight writes of it are done or dropped.
//  4. The node's goroutines (accept, one per backup, ticker) are owned by
//     the node and stopped and waited for by Close.
package primary

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
//	                                          └─ return a wait for the commit's result
//	(the next group appends and posts; this one fsyncs, then waits)
//	backup NIC completes the WRITE ─▶ WriteCompleted ─▶ result ─▶ engine acks the batch
//
// Index shipping: every table the engine writes streams through a TableSink
// into registered chunk buffers (ChunkBuffers × ChunkSize); each full chunk
// is offered to the state machine, which writes it into each backup's chunk
// ring when that backup has a free slot. Each version edit the engine makes
// durable (flush, compaction, value-log GC) follows as an edit object whose
// ObjectEnd names the value-log checkpoint the backup must persist first.
//
// Catch-up. A backup admitted to a primary whose log was ever used joins
// at the log end (the state machine writes it the prefix of the segment
// being filled from the staged copy) and is "joining": it does not count
// toward MinReplicas. A goroutine the node owns (catchup.go) then:
//
//	register a pin request ─▶ engine.MarkEdit (an empty edit, so an
//	EditApplied callback comes soon; a flush's or compaction's will do)
//	EditApplied(edit k) ─▶ engine.Pin(join segment): tables + segments
//	   below it + snapshot edit, exactly the state after edit k (the index
//	   holds its edit lock during the callback) ─▶ BeginSnapshot(k)
//	stream to that backup alone: every pinned segment (ObjectSegment),
//	   every pinned table (ObjectTable), then the snapshot edit
//	   (ObjectSnapshot id=k); release the pin
//
// Live edits after k wait in the state machine behind the snapshot edit;
// tables whose streaming began before the pin and that the pin does not
// hold are sent to the backup from their files, in the EditApplied
// callback of the edit that adds them, before that edit. The backup
// becomes a member when it acknowledges the snapshot edit. Files read for
// catch-up count as iostat.Replication on the primary. Snapshot streams
// take chunk buffers from a reserved pool (Options.CatchUpBuffers), so
// live edits queued behind a snapshot can never starve it of buffers.
// In build-index mode a joining backup is sent the same snapshot (the
// EditApplied callback serves pins in both modes); no live table or edit
// ever follows it: the backup builds its own index on that base.
//
// Invariants:
//  1. A commit's wait returns nil only after the state machine acknowledged
//     the commit: every backup of the replica set holds it, and there are at
//     least MinReplicas of them (replication invariant 2).
//  2. A staged segment slot is overwritten only after every write from it
//     completed: the engine pipelines group commits, so before staging
//     bytes of segment s (a hook, or its seal) the node waits until no
//     write of segment s-StageSlots is queued or in flight.
//  3. A chunk buffer returns to the pool only when the state machine
//     releases it: queued and in-flight writes of it are done or dropped.
//  4. The node's goroutines (accept, one per backup, ticker, one catch-up
//     per joining backup) are owned by the node and stopped and waited for
//     by Close; catch-ups stop before the engine closes (they hold pins).
//  5. A pin is taken inside an EditApplied callback, so the snapshot is the
//     state after a known edit k: the joining backup receives exactly the
//     edits after k, each after every table it adds.
package primary

// Package engine is the Talos storage engine: one DB joining the value log
// (kvsep), which is also the write-ahead log, with the LSM index (index).
//
// # Directory layout
//
//	DIR/LOCK              held by the open engine (vfs.FS.Lock)
//	DIR/CURRENT           names the live manifest (index)
//	DIR/MANIFEST-NNNNNN   version edits (index)
//	DIR/NNNNNN.sst        tables (index)
//	DIR/vlog/NNNNNN.vlog  value-log segments (kvsep)
//	DIR/IOSTATS           persisted I/O counters (iostat.Store), written at
//	                      every flush and at Close
//
// # Values in the index
//
//	+------+-----------------------+
//	| 0x00 | value bytes           |   inline: len(value) < ValueThreshold
//	+------+-----------------------+
//	| 0x01 | kvsep.Pointer (16 B)  |   separated: the value lives only in
//	+------+-----------------------+   the value log
//	| 0x02 | kvsep.Pointer (16 B)  | prefix (<= ValuePrefix B) |
//	+------+-----------------------+---------------------------+
//	       separated, with the value's first bytes kept beside the pointer
//	       (Options.ValuePrefix) for compaction filters; reads still return
//	       the value from the log, and check verifies the prefix against it
//
// # Write path (group commit)
//
//	writer  ---------> index.StartPlan/Add: find the memtable place of each
//	                   key (in parallel with the other writers; Apply
//	                   only checks it and links)
//	writers --queue--> leader: MakeRoom, one kvsep.Log.Append of every
//	                   queued batch's frame (CommitHook posts each appended
//	                   range), leave the queue (the next leader may append
//	                   while up to CommitPipeline groups are in flight)
//	          group -> one SyncThrough (SyncAlways; outside the append lock,
//	                   coalesced with other groups' fsyncs), then the
//	                   CommitHook's waits (the backups hold it)
//	          group -> in append order: index.Apply of its records with
//	                   consecutive seqs (its writers' plans joined),
//	                   publish visibleSeq, wake its writers
//
// A writer waiting to lead or for its group's turn polls before it parks,
// for as many polls as recently won (spin.go): those waits are usually
// shorter than a park and a wake-up.
//
// # Recovery
//
// Open replays the value log from the index checkpoint (the value-log
// position after the last record in the newest flushed memtable) into the
// memtable; frames whose seqs the manifest already covers are skipped.
//
// # Value-log GC
//
// Sealed segments entirely below the checkpoint whose garbage (SegmentSize
// minus the live bytes the index counts per segment) is large enough are
// read; each Set record is re-appended through the commit pipeline only if
// its key still points at that record (checked by the leader, so a
// concurrent update wins); the rewrites are synced; once a flush has moved
// the checkpoint past the rewrites (so every flushed table points at the new
// copies, which is all a ship-index backup sees), an edit records the
// segment's deletion; the file is removed once no snapshot, iterator or
// in-flight read can reach it. Background passes do not force that flush:
// the space comes back at the next natural flush. GC reads and rewrites
// under GC.BytesPerSecond, except while the value log is over
// GC.MaxSpaceRatio of its live bytes: then it runs unthrottled and writers
// are paced to it (each write adds its bytes to a debt, each collected
// segment pays off the garbage it reclaimed when its file is removed, and
// a writer that finds the debt over a tenth of the live data, at least
// 1 MiB, waits up to 1 ms for a payment), so a writer faster than GC
// cannot grow the log without bound. Collected segments waiting for a
// flush may hold no more than the unflushed log may (below): past that,
// GC requests the flush and collects nothing more until it lands.
//
// The bound the issue sets, a log under 2x its live records under
// sustained uniform updates, needs the live data to span about 10
// segments or more: the active segment, the unflushed floor of 4 segments
// and the segments being collected are whole segments whatever the live
// data (measured, BenchmarkGCKeepsUp: 1.7-1.9x with 11 to 88 segments of
// live data, 1.86x of them at the default segment and memtable sizes;
// 2.9x with 4.5).
//
// Two things keep GC's view of the log honest when the key set is small
// against the memtable:
//   - The log above the checkpoint cannot be collected. Once it exceeds
//     GC.MaxUnflushedRatio of the live data below the checkpoint (the live
//     bytes the index counts, plus its tables, which hold the inline
//     values) and 4 segments, and a tenth of the memtable's entries
//     replaced a version it held (a load of new keys gains nothing), the
//     memtable is flushed before it is full (index.RequestFlush), as
//     RocksDB's max_total_wal_size does.
//   - The live counts include versions that L0 entries shadow, until a
//     compaction drops them. While GC is behind it measures instead
//     (gcmeasure.go): when L0 holds more than a quarter as many entries
//     as the levels below, one pass over the index gives every segment's
//     true live bytes; when the counts offer no candidate, it reads the
//     oldest segments and looks their keys up. A measurement only falls
//     as the segment ages, so GC takes the smaller of it and the count.
//     If that still finds nothing though the counts call over half the
//     flushed log live, L0 is compacted early
//     (index.RequestL0Compaction).
//
// # Modes
//
// ModePrimary writes, flushes, compacts and collects garbage. The backup
// modes never append to their value log: segments arrive from a primary
// under its numbers (WriteSegment). A ModeShipIndex engine also receives
// the primary's tables and edits (CreateTable, InstallEdit) and never
// compacts. A ModeBuildIndex engine (the baseline, buildindex.go) replays
// each received segment into its memtable with the primary's value
// encoding and seqs (ReplaySegment) and flushes and compacts on its own;
// it deletes no segment. Either directory opens as ModePrimary (promotion).
//
// # Invariants
//
//  1. A batch is one value-log frame: it is replayed whole or not at all,
//     and becomes visible to readers at once (visibleSeq moves past all of
//     its seqs together).
//  2. A write is acknowledged only after its frame is in the segment
//     buffer, the CommitHook's waits for it returned nil, and (SyncAlways)
//     it is written to the segment file and synced; and only after every
//     group appended before it was acknowledged (groups publish in log
//     order, and one that fails fails every group behind it). SyncInterval and SyncNever let up to
//     64 KiB of frames wait in the buffer before writing them.
//  3. The value log is synced before a flush's edit can move the checkpoint
//     past it (the index's TableCreated callback), so replay never starts
//     beyond the durable end of the log.
//  4. GC deletes a segment only below the checkpoint (replay never needs
//     it), after its live values are durable elsewhere and flushed to
//     tables (the checkpoint passed them) and the deletion is in the
//     manifest, and only once every reader at an older seq is gone.
//  5. A failed write or sync of durable state (value log, index, IOSTATS),
//     or a CommitHook error, stops the engine: every later write returns
//     an error wrapping ErrStopped. Nothing is logged and ignored.
//  6. Corruption from the value log or the index is returned as an error
//     matching ErrCorrupt, never as data.
//  7. A ModeBuildIndex engine applies frames in seq order with no gap: a
//     frame that does not continue the last applied seq is refused
//     (ErrNeedsCatchUp), and its checkpoint never passes a persisted
//     segment's bytes.
package engine

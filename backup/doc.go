// Package backup is a Talos backup node: the thin I/O wrapper around
// replication.Backup. It registers the receive rings, dials the primary,
// feeds the state machine every message and chunk that arrives, and
// executes the actions it returns, in order, against its engine directory.
//
// Memory a backup exposes to its primary (both registered for remote write):
//
//	value-log ring: VlogSlots × SegmentSize
//	+-----------------+-----------------+-----+
//	| slot 0          | slot 1          | ... |   segment s lives in slot s mod VlogSlots
//	+-----------------+-----------------+-----+
//	chunk ring: ChunkSlots × ChunkSize
//	+--------------------------+--------------------------+-----+
//	| chunk header | data ...  | chunk header | data ...  | ... |   the WRITE_WITH_IMM immediate names the slot
//	+--------------------------+--------------------------+-----+
//
// In ship-index mode the backup's CPU work per write is nil: the primary's
// RDMA WRITEs land in the value-log ring without the backup's involvement.
// Per segment it checks a crc32c and writes the slot to a file; per table
// chunk it appends bytes to a file while computing their crc32c; per
// version edit it installs the edit. It never compacts and never reads a
// table or a segment to maintain its index (invariant 5 of DESIGN.md).
//
// Joining. On every Welcome (ship-index mode) the backup resets its store:
// it closes its engine, removes CURRENT, then the manifests, tables and
// value-log segments (syncing each directory), and reopens an empty engine
// (reset.go); the epoch and the I/O counters stay. It then receives the
// primary's snapshot: sealed segments below the join segment (each checked
// against its crc32c and written with WriteSegment), tables, and the
// snapshot edit, installed as its base version; then the live stream.
// Keeping files whose crc32c already matches the primary's is left as an
// optimization for later; the wipe is the simple correct rule.
//
// Build-index mode (the baseline ship-index is measured against). The value
// log arrives the same way; the store is an engine.ModeBuildIndex engine,
// and after persisting each sealed segment the backup replays its records
// into its own memtable (engine.DB.ReplaySegment), so it flushes and
// compacts on its own and its CPU and I/O per write are a primary's. It
// catches up as a ship-index backup does (reset, then the primary's
// snapshot: segments, tables, snapshot edit), with the primary's index as
// its base; after installing the snapshot edit it replays the segments
// from the snapshot's checkpoint to the join segment (engine.DB.
// CatchUpReplay), the records the primary held in memory, and from then
// on builds its own index from the live stream. The backup runs
// no value-log GC: it follows the primary's. SegmentGone names a segment
// the primary collected and the log position after its rewrites; the
// engine deletes its copy once its own checkpoint passes that position
// (engine.DB.DropSegmentAfter, replication invariant 9), and Close flushes
// first when such deletions wait (engine.DB.FinishDrops), since the
// waiting list is not persisted. A backup that stops uncleanly between a
// SegmentGone and its flush keeps that segment file (it is harmless: no
// visible entry points into it, and the primary will not repeat it).
//
// Invariants:
//  1. Actions run in the order the state machine returns them; any failed
//     action (a write, a sync, a checksum mismatch) stops the node with an
//     error: it never goes on with a gap.
//  2. A table's bytes are checked against the crc32c of its ObjectEnd as
//     they arrive, before the file is synced and before any edit naming it
//     can be installed.
//  3. The epoch is durable before the node acts on a message of that epoch.
//  4. A reset removes CURRENT before any manifest, table or segment, so a
//     crash mid-reset leaves a directory that opens as an empty store.
package backup

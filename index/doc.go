// Package index is Talos's LSM index: a memtable (a skiplist with sequence
// numbers, one writer and lock-free readers, whose search walks compact
// towers in one arena while keys and values sit in another; the layout is
// drawn in memtable.go), immutable memtables queued for flush, level-0 tables
// written by flushes, and leveled compaction L0 -> L1 -> ... -> Ln whose
// level targets follow a growth factor. Tables are pebble v2 sstables
// (bloom filters, a block cache, block checksums). A manifest (a log of
// checksummed version edits, named by an atomically replaced CURRENT)
// records which tables make up each level, the value-log checkpoint and
// the live bytes per value-log segment.
//
// Values are opaque bytes to the index; the engine stores inline values or
// value-log pointers in them and tells the index, through Options.ValueRef,
// which segment a value keeps alive.
//
// # Directory
//
//	DIR/CURRENT            "MANIFEST-000007\n"; replaced by tmp + sync + rename + dir sync
//	DIR/MANIFEST-000007    framed version edits (below)
//	DIR/000012.sst         tables, numbered from the same counter as manifests
//
// # In-table key format
//
// Tables keep every key's sequence number. Each entry is a pebble internal
// key: the user key followed by an 8-byte little-endian trailer.
//
//	+----------------------+---------------------------------------+
//	| user key (n bytes)   | trailer = seq<<8 | kind (uint64 LE)   |
//	+----------------------+---------------------------------------+
//	kind: 0 = delete (KindDelete), 1 = set (KindSet), pebble's numbers
//	order: user key ascending (bytes.Compare), then trailer descending,
//	       so the newest version of a key comes first.
//
// Tables are written in pebble's TableFormatPebblev5 with a whole-table
// bloom filter on user keys and value blocks disabled (values in place).
//
// # Manifest record layout
//
// The manifest is a sequence of records:
//
//	+-------------+----------------------+------------------------------+
//	| len: u32 LE | crc32c(len): u32 LE  | payload: len bytes           |
//	+-------------+----------------------+------------------------------+
//
// The payload is VersionEdit.Encode():
//
//	+------------------------------+--------------------------------------+
//	| crc32c(fields): u32 LE       | fields...                            |
//	+------------------------------+--------------------------------------+
//
// Each field is a uvarint tag followed by its values (uvarint unless noted):
//
//	1 added table    level, num, size, len+smallest, len+largest,
//	                 smallestSeq, largestSeq, entries, crc32c (u32 LE)
//	2 deleted table  level, num
//	3 next file num  n (non-zero, at most once)
//	4 last seq       seq (non-zero, at most once)
//	5 checkpoint     segment, offset (at most once)
//	6 segment live   segment, delta (signed varint); segments ascending, each once
//	7 deleted seg    segment
//
// The first record of every manifest is a snapshot edit recreating the whole
// state (all tables, next file number, last seq, checkpoint, absolute live
// bytes). A new manifest is started at every Open and when the manifest
// passes 4 MiB.
//
// # Invariants
//
//  1. An edit is applied (the version switched, EditApplied called) only
//     after it is written and synced to the manifest; the tables it adds
//     were synced, with their directory, before it was written.
//  2. Any failed write or sync of a table, the manifest or CURRENT stops
//     the index: every later MakeRoom, Flush, Compact, ApplyEdit and
//     InstallEdit returns an error wrapping ErrStopped and the cause.
//  3. A record cut short at the end of the manifest is a write that was
//     never acknowledged and is ignored; a complete record with a bad
//     checksum, a malformed edit, a missing table or a table of the wrong
//     size is ErrCorrupt. Table block checksum failures are ErrCorrupt and
//     never returned as data.
//  4. Shadowing: a flush writes every version of its memtable. In
//     compaction output, for each user key and each snapshot stripe (the
//     seqs between two consecutive open snapshots, and above the newest),
//     only the newest version survives; a tombstone is also dropped when no
//     table below the output level overlaps the compaction and no open
//     snapshot is older than the tombstone. A read is therefore exact at the
//     seq of an open Snapshot, or at any seq at least the visible seq when
//     the read state was pinned: GetVisible and IterOptions.Visible load the
//     seq after pinning. (A seq loaded earlier, then used after a compaction
//     installed, may miss a version shadowed by a newer one.)
//  5. L0 tables may overlap and are searched newest first (largest seq);
//     tables of L1 and below do not overlap and are ordered by key. A user
//     key's versions never straddle two tables of one level >= 1.
//  6. A table file is removed only when no version holds it; a version is
//     held by the read state of every open iterator and running Get and by
//     every running compaction.
//  7. SegmentLive is the sum of ValueRef over every set entry in the live
//     tables that points into a segment not yet deleted: flushes add what
//     they write, compactions subtract what they drop or the compaction
//     filter deletes, edits carry the deltas, DeletedSegments drops
//     entries. A count at zero or below is dropped too (missing means
//     zero): it can only be a deleted segment's, whose shadowed entries a
//     compaction dropped later.
//  8. Memory is bounded: MakeRoom blocks the writer while
//     MaxImmutableMemtables memtables await flush or L0 has
//     L0StopThreshold tables, and delays it ~1ms past L0SlowdownThreshold.
//  9. Compaction filter: only a compaction that rewrites entries consults
//     Options.CompactionFilter (never a flush, never a trivial move, and an
//     index without one, such as a ship-index backup's, never filters),
//     and only about set entries that invariant 4 keeps. A deleted entry
//     is written as a tombstone with the entry's own seq, which hides
//     exactly the older versions the entry hid, so no older version below
//     it (in this compaction's older snapshot stripes or in lower levels)
//     is ever resurrected; it is dropped outright only where such a
//     tombstone would itself be dropped (no table below the output
//     overlaps the compaction and no open snapshot is older than the
//     entry). Readers at a seq below the entry's see what they saw before.
//     Readers at or above it, including open snapshots (the filter is told
//     when one reads the entry: FilterEntry.Snapshot), see no value there:
//     for an entry whose absolute expiry time has passed, that is what
//     every reader already answered, since readers treat expired entries
//     as absent at any seq, so the deletion changes no read. A filter
//     whose decision depends on other keys' newest state must keep entries
//     a snapshot reads. The value bytes a deleted entry pointed at stop
//     counting in SegmentLive (invariant 7); Metrics counts deleted entries
//     (FilterTombstoned, FilterDropped).
//
// # Concurrency
//
// Index methods are safe for concurrent use, except that Apply and MakeRoom
// must come from a single writer at a time. Plans (StartPlan,
// ApplyPlan.Add) may be made by any number of goroutines beside the
// writer: they only search, and Apply treats what they found as a hint.
// One flush goroutine and up to MaxConcurrentCompactions compaction
// goroutines run in the background; all are owned by the Index and
// stopped by Close. Readers never block the writer: they pin a read state
// (memtables + version) with a reference count.
//
// Besides a full memtable and L0's file count, the owner may ask for work:
// RequestFlush rotates a memtable before it is full (the engine bounds the
// value log above the checkpoint with it), and RequestL0Compaction compacts
// L0 however few files it has (the engine's GC, so that the live counts
// drop the versions L0 shadows).
//
// # Events and index shipping
//
// Listener.TableCreated may return a TableSink: every byte written to the
// table file is also passed to it, in order (as a copy the sink may keep
// or modify), then Finish(meta) once the file is synced, or Abort() if the
// table is abandoned. A sink error fails the flush or compaction and, like
// any failed table write, stops the index. EditApplied follows every
// durable edit (flush, compaction, install, external), before the tables
// it removes are deleted; it runs with the manifest lock held, so edits
// are reported in manifest order. A backup opened with DisableCompactions
// installs the same edits with InstallEdit once their tables are in its
// directory: its tables and levels are then the primary's, byte for byte.
// At Open, table files no version names (for example tables that were
// being received when a backup stopped) are removed.
//
// # Compaction filter
//
// Options.CompactionFilter is a factory: each compaction that rewrites
// entries asks it for an EntryFilter (CompactionInfo: input level, whether
// it is at the bottom) and calls that filter, on the compaction's
// goroutine, in key order, for every set entry it keeps:
//
//	merged inputs -> shadowing (invariant 4) -> filter -> keep as is
//	                                                   -> tombstone, same seq
//	                                                   -> nothing (bottom,
//	                                                      no older snapshot)
//
// The filter runs with no index lock held; it may read the index but must
// not wait for compactions (see EntryFilter). Entries in tables that are
// moved without a rewrite are filtered when a later compaction rewrites
// them.
//
// # I/O attribution
//
// Flush table writes count as iostat.Flush, compaction reads and writes as
// Compaction, manifest and CURRENT I/O as Manifest, table reads by Get as
// Get and by iterators and VerifyTables as Scan, reads that check tables
// installed by InstallEdit as Replication. Reads are attributed by the
// context carried to the table file (iostat.WithKind).
package index

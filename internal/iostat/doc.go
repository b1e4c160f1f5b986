// Package iostat attributes file I/O to the kinds of work a store does.
//
// Every byte a Talos store reads from or writes to a file is counted under
// exactly one Kind: the value log, a flush, a compaction, value-log GC, the
// manifest, reads serving Get or Scan, and bytes a backup receives through
// replication. bench/ turns these counters into I/O amplification, and
// `talosd inspect --json` prints them as <kind>_bytes_read and
// <kind>_bytes_written.
//
// Two ways to attribute a byte:
//
//   - by file: Counters.FS(base, kind) returns a vfs.FS whose files count all
//     their reads and writes under kind. Used where one file has one purpose
//     (a value-log segment, a table being written by a flush, the manifest).
//   - by context: WithKind(ctx, kind) tags a read; ReadableFile.ReadAt with
//     that context counts under the tagged kind. Used where one open file
//     serves several purposes (an SSTable read by Get, Scan and compaction).
//
// On-disk layout of the persisted counters (the IOSTATS file):
//
//	+-------------+---------+----------------------------+----------------------------+
//	| magic "TIOS" | version | read[NumKinds] uint64 LE   | written[NumKinds] uint64 LE |
//	|   4 bytes    | u32 LE  |                            |                            |
//	+-------------+---------+----------------------------+----------------------------+
//	| crc32c (Castagnoli) of everything before it, u32 LE |
//	+------------------------------------------------------+
//
// Invariants:
//  1. A byte is counted once, under one kind.
//  2. Counters only grow; persisted counters are loaded at open so that the
//     figures cover the store's whole life.
//  3. A persisted counter file that fails its checksum is reported as
//     ErrCorrupt, never silently reset.
package iostat

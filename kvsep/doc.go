// Package kvsep is the value log of a Talos store: an append-only log of
// write batches, cut into fixed-size segments, that is both the write-ahead
// log (recovery replays it from the index checkpoint) and the home of large
// values (the index holds a Pointer to them).
//
// # Segments
//
// A segment is exactly Options.SegmentSize bytes (a power of two, a multiple
// of the OS page size). Its in-memory image is an mmap'd buffer, not Go heap:
// the active segment's buffer is the bytes written to the file and the bytes
// replication RDMA-writes to backups (Log.Buffers exposes every buffer so
// that they can be registered once). Files live in DIR/vlog/NNNNNN.vlog.
//
//	segment (SegmentSize bytes)
//	+----------------+---------+---------+-----+---------+-----------------+
//	| segment header | frame 1 | frame 2 | ... | frame n | zero padding    |
//	|    16 bytes    |         |         |     |         | (to SegmentSize)|
//	+----------------+---------+---------+-----+---------+-----------------+
//
//	segment header
//	+--------------+---------+-----------+----------+----------------+
//	| magic "TLVG" | version | log2(size)| reserved | segment number |
//	|   4 bytes    | 1 byte  |  1 byte   | 2 bytes  |   u64 LE       |
//	+--------------+---------+-----------+----------+----------------+
//
// # Frames (one write batch each; atomic)
//
//	+---------+---------+---------+---------+---------+------------------+
//	| crc32c  | bodyLen |  count  |  flags  |firstSeq | records (bodyLen)|
//	| u32 LE  | u32 LE  | u32 LE  | u32 LE  | u64 LE  |                  |
//	+---------+---------+---------+---------+---------+------------------+
//	crc32c (Castagnoli) covers bytes [4, 24+bodyLen) of the frame.
//	flags: bit 0 = written by value-log GC (for I/O attribution only).
//
// # Records
//
//	+---------+---------+------+---------+---------+-----+-------+
//	| crc32c  |   seq   | kind | keyLen  | valLen  | key | value |
//	| u32 LE  | u64 LE  |  u8  | u32 LE  | u32 LE  |     |       |
//	+---------+---------+------+---------+---------+-----+-------+
//	crc32c covers bytes [4, 21+keyLen+valLen) of the record.
//	kind: 0 = delete, 1 = set (the numbers index.Kind uses).
//
// # Pointers (fixed 16-byte encoding)
//
//	+----------------+----------+----------+
//	| segment u64 LE | off u32  | len u32  |  off: record start in the segment,
//	+----------------+----------+----------+  len: whole record length
//
// # Invariants
//
//  1. Records are written once and never change; a frame's records are either
//     all replayed or none (the frame checksum covers all of them).
//  2. Sequence numbers are contiguous along the log: a frame's firstSeq is the
//     previous frame's firstSeq + count.
//  3. Every segment but the newest is sealed: exactly SegmentSize bytes,
//     zero-padded after its last frame, and synced before the next segment's
//     file is created. Sealed segments are byte-identical on every replica.
//  4. In the newest segment, the first frame that fails to decode (bad
//     checksum, bad length, broken sequence) ends the log: it is a torn tail,
//     and Open overwrites it with zeros. The same failure in a sealed segment
//     is ErrCorrupt.
//  5. A Pointer is handed out for a record once its frame is in the
//     segment buffer. The bytes reach the file at once, or with LazyWrite
//     once enough are pending (and always at Sync, seal and Close);
//     ReadRecord serves records not yet in the file from the buffer. It
//     verifies the record checksum and that the record is exactly as long
//     as the pointer says.
//  6. Replication sees each appended range (Append's callback) before the
//     segment holding it is sealed (Listener.SegmentSealed), and a buffer
//     is reused only for segment n+Buffers, after n is sealed.
package kvsep

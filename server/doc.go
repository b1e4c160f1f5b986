// Package server is Talos's Redis-compatible front end: it speaks RESP2 and
// RESP3 (package resp) to clients such as redis-cli, redis-benchmark and
// go-redis, and keeps strings and hashes in one ordered Store, the way
// Kvrocks keeps Redis types in RocksDB. A single-node engine, a replication
// primary and a read-only backup all plug in as a Store.
//
// # Keyspace encoding
//
// Every user key has one metadata entry; a hash also has one entry per
// field. Both live in the single ordered keyspace of the Store, told apart by
// their first byte, so that metadata entries sort in user-key order (SCAN and
// TALOS.RANGE walk them in order) and the fields of one hash are contiguous
// (HGETALL is one range scan):
//
//	metadata key:   +------+----------------+
//	                | 'M'  | user key       |
//	                +------+----------------+
//	                  1 B    n B
//
//	metadata value: +------+-------------------+---------------------------+
//	                | type | expire_ms (u64 BE)| payload                   |
//	                +------+-------------------+---------------------------+
//	                  1 B    8 B                 string: the value bytes
//	                                             hash:   version u64 BE |
//	                                                     field count u64 BE
//	                type: 1 string, 2 hash. expire_ms: unix milliseconds,
//	                0 = no expiry.
//
//	field key:      +------+--------------+----------+---------------+-------+
//	                | 'S'  | keylen u32 BE| user key | version u64 BE| field |
//	                +------+--------------+----------+---------------+-------+
//	                  1 B    4 B            n B        8 B             m B
//	field value:    the field's value bytes
//
// The length prefix keeps the fields of key "a" apart from those of key
// "ab"; the version (Kvrocks's trick) makes a re-created hash a new set of
// field keys, so fields of an earlier incarnation of the key can never
// reappear in it. Versions are max(wall clock in ns, previous+1).
//
// # Expiry
//
// The expiry is at a fixed place of every metadata value (bytes 1..8), so a
// reader filters an expired key without decoding the rest. Reads treat an
// expired key as absent and, on a writable store, delete it (and its
// fields) under the key's lock, as Redis does on access. Writes that find
// an expired key delete it in the same batch that replaces it.
//
// Expired entries that are never touched again are dropped by compaction:
// NewCompactionFilter is the engine's compaction filter (talosd sets it on
// primaries and build-index backups; ship-index backups receive the
// primary's compacted tables). Each compaction that rewrites entries takes
// the time once from the server's Clock and, for every live version it
// would keep:
//
//	'M' entry: expire_ms != 0 and <= now            -> deleted
//	'S' entry: metadata of its key at the newest seq
//	           absent, not a hash, another version,
//	           or expired                           -> deleted, unless a
//	                                                   snapshot or iterator
//	                                                   older than that
//	                                                   lookup may read it
//	anything else, or undecidable                   -> kept
//
// A deleted entry becomes a tombstone with its own seq (older versions stay
// hidden), or vanishes at the bottom of the tree (index invariant 9). An
// expired metadata entry is absent for every reader at any seq, snapshots
// included, so deleting it changes no read. A field's fate depends on its
// key's newest metadata, which a snapshot may not see, so a field a
// snapshot may read is kept; a dead field version stays dead (versions are
// never reused, expiry is absolute), so the lookup holds for every later
// reader. The fields of one hash are contiguous, so one metadata lookup
// serves them all. A metadata value in the value log (a long string) is
// read from it to see its 9-byte header; that read counts as compaction
// I/O. The filter takes none of the server's key locks (a command holding
// one may wait for a write that waits for compactions).
//
// # Commands
//
// Connection: HELLO 2|3 [AUTH user pass] [SETNAME name], AUTH, PING, ECHO,
// SELECT 0, QUIT, CLIENT SETNAME|GETNAME|ID|INFO|LIST|SETINFO, COMMAND
// [COUNT|INFO|DOCS|LIST], CONFIG GET, INFO [section...], TIME. Keyspace:
// DBSIZE, FLUSHDB, FLUSHALL, DEL, EXISTS, TYPE, SCAN cursor [MATCH p]
// [COUNT n] [TYPE t], TALOS.RANGE start end [LIMIT n]. Strings: GET, SET
// [NX|XX] [GET] [EX|PX|EXAT|PXAT n|KEEPTTL], GETSET, MGET, MSET, INCR,
// INCRBY, DECR, DECRBY, APPEND, STRLEN. Expiry: EXPIRE, PEXPIRE, EXPIREAT,
// PEXPIREAT [NX|XX|GT|LT], TTL, PTTL, PERSIST. Hashes: HSET, HMSET, HGET,
// HMGET, HDEL, HGETALL, HKEYS, HVALS, HLEN, HEXISTS.
//
// SCAN cursors are numbers, as clients expect, that map to the last key a
// SCAN returned (a table of the newest Options.MaxScanCursors cursors), so
// a walk visits keys in order and sees every key that exists throughout.
// TALOS.RANGE returns [key, value] pairs of the string keys in [start, end).
//
// # Invariants
//
//  1. Every write of a command is one Store batch: a reader sees all of a
//     command's effects or none. A run of plain "SET key value" requests
//     pipelined on one connection shares one batch (one commit, one fsync):
//     the run becomes visible at once, which is one of the orders the
//     client's own concurrent requests allow.
//  2. A command that reads a key before writing it (SET with options, INCR,
//     APPEND, HSET, DEL, EXPIRE, ...) holds that key's stripe lock from the
//     read until its batch is written, and takes the lock only once no blind
//     write is in flight on the stripe; multi-key commands take the stripes
//     in increasing order. FLUSHDB holds all stripes. A blind write (a run
//     of plain SETs) holds the locks only while it reads what it replaces
//     and registers itself in flight, so concurrent blind writes to one key
//     share the store's group commit; their order is the store's commit
//     order, and a read-modify-write after them sees the last. Blind writes
//     arriving while a read-modify-write waits queue behind it.
//  3. A hash's metadata count equals the number of its field entries of
//     the metadata's version; a hash with no fields has no metadata.
//  4. A reply is sent only after the command's batch has been written, so
//     an acknowledged write is as durable as the Store's sync policy.
//  5. A malformed or oversized request closes only its own connection, after
//     an "ERR Protocol error" reply.
//  6. Shutdown lets the command being executed on each connection finish and
//     flushes its reply, then closes the connection; no connection goroutine
//     outlives Shutdown.
package server

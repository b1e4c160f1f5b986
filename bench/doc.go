// Package bench is Talos's benchmark harness: it drives YCSB workloads
// against a Target (the engine in-process, Pebble and Badger as peers, and
// a local cluster of talosd processes) and measures, per node, I/O
// amplification, CPU, network, memory, throughput and latency.
//
// # Targets
//
// A Target is a store the runner drives (Put, Get, Delete, Scan, Close) and
// whose Nodes it measures. Targets are registered by name (RegisterTarget):
// bench registers "engine" (package engine in-process), "pebble" (Pebble v2)
// and "badger" (Badger v4); a replicated cluster registers itself with the
// modes and replica counts it supports, and measures each talosd process
// through ProcNode with its PID and its counters (StoreIOFromMap reads the
// form `talosd inspect --json` prints). The command line is Command, which
// talosbench and `talosd bench` both call.
//
// # Cluster targets
//
// "talosd" (and "talosd-rdma" when the kernel lists an RDMA device) start a
// primary and 0, 1 or 2 backups as `talosd serve` processes (ClusterTarget)
// in ship-index or build-index mode; the sweep builds talosd once from the
// module (or takes --talosd) and asks the binary which modes it runs,
// skipping the others with talosd's reason (Result.Skipped):
//
//	talosbench ──go-redis pool (one conn per thread)──▶ primary :client
//	    │  SET / GET / DEL / TALOS.RANGE start "" LIMIT n      │ repl (tcp|rdma)
//	    │                                                      ▼
//	    │                                          backup-1, backup-2 (--min-replicas N)
//	    └── scrapes every node's /metrics (HTTP) and reads /proc/PID
//
// Each node's process is in its own process group (a terminal's Ctrl-C
// reaches only talosbench, which stops the cluster with SIGTERM) and dies
// with talosbench (parent-death signal SIGKILL). Store I/O by kind comes
// live from talos_engine_io_bytes_total{kind,op}; index maintenance reads
// are the flush and compaction reads. Network bytes are the replication
// payload the primary wrote into each backup's rings
// (talos_replication_backup_bytes_total, vlog and chunk): the primary's
// sent is the sum over backups, a backup's received its own share; client
// traffic and transport framing are not in it. On the TCP transport a
// second, independent count of the same traffic comes from the kernel: the
// tcp_info counters (bytes_acked, bytes_received) of each node's sockets on
// the primary's replication port, read through NETLINK_INET_DIAG
// (TCPSocketBytes; the wire_* fields), framing and acks included. Settle waits until no backup lags and no node
// has a flush or compaction due; talosd has no flush command, so memtable
// contents stay unflushed at a phase's end, as for a running server.
//
// # Workloads
//
// The generator reproduces YCSB's CoreWorkload: Load A inserts RecordCount
// records (keys "user" + FNV-1a hash of the record number, zero-padded to
// 19 digits, 23 bytes); run phases A-F mix reads, updates, inserts, scans
// and read-modify-writes in YCSB's proportions, choosing keys with YCSB's
// scrambled zipfian (constant 0.99, 10^10 items hashed into the key
// space), uniform or skewed-latest distributions. Values follow the Tebis
// size mixes S, M, L (10 B (5 B on update), 100 B, 1000 B) and SD, MD, LD
// (60% the dominant size, 20% each other). The stream of a phase is a
// function of its configuration and seed only:
//
//	seed ──▶ PCG(seed, hash(workload, mix, loaded, count)) ──▶ op 0, op 1, ...
//	                                                           │
//	          threads take batches of 16 in order ◀────────────┘
//
// # Measurement
//
// RunPhase samples every node of the target before and after a phase and
// reports the difference:
//
//	node sample
//	├── store I/O by kind   the store's own counters (engine: iostat kinds;
//	│                       Pebble: its vfs by file category; Badger: none)
//	├── /proc/PID/io        rchar, wchar, read_bytes, write_bytes
//	├── /proc/PID/stat      utime, stime in USER_HZ ticks (from AT_CLKTCK)
//	├── /proc/PID/status    VmRSS
//	└── transport           bytes sent and received
//
// Derived per node: I/O amplification = (bytes read + bytes written) / user
// bytes written, CPU microseconds per operation, network bytes per
// operation; and ship-index/build-index ratios of each (ModeRatios).
//
// # Output layout (--out DIR)
//
//	DIR/results.json   [ Record, ... ]  one per (run, phase, node)
//	DIR/results.csv    the same records, flat, one header row
//	DIR/run.json       seed, configuration, machine, mode ratios
//	DIR/plots/*.svg    figures by mix and against growth factor (and .png)
//	DIR/report.md      our figures beside the published ones
//
// # Invariants
//
//  1. The operations of a phase depend only on GenConfig: the same seed
//     gives the same keys, values, kinds and scan lengths, whatever the
//     number of threads.
//  2. Every figure of a record covers exactly one phase: counters are
//     sampled at its start and end (after Settle when asked).
//  3. A cancelled phase still yields its records, marked interrupted, with
//     the operations done until the cancellation.
//  4. User bytes written count key plus value of every write the generator
//     issued and the target acknowledged, nothing else.
//  5. In-process targets share the benchmark's process: their /proc CPU
//     and RSS include the generator and runner; per-process targets
//     (talosd nodes) do not.
//  6. Every talosd process a cluster target starts is stopped by Close
//     (SIGTERM, then SIGKILL after StopTimeout) or, when OpenCluster fails,
//     killed before it returns; none outlives the benchmark.
package bench

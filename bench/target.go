package bench

import (
	"context"
	"fmt"
	"strings"

	"github.com/talos-kv/talos/internal/iostat"
)

// Target is a store under test: the engine in-process, a peer engine
// (Pebble, Badger) in-process, or a cluster of talosd processes
// driven through a client. Every target sees the same keys and values from
// the same Generator.
//
// A Target must be safe for concurrent use by the runner's threads.
type Target interface {
	// Put writes key=value. The target must not retain or modify key or
	// value after Put returns.
	Put(key, value []byte) error
	// Get appends the value of key to dst and returns it; found is false
	// when the key does not exist.
	Get(dst, key []byte) (value []byte, found bool, err error)
	// Delete removes key; deleting an absent key is not an error.
	Delete(key []byte) error
	// Scan visits up to limit records with keys >= start in key order,
	// calling fn with each (key and value valid only during the call) until
	// fn returns false. It returns the number of records visited.
	Scan(start []byte, limit int, fn func(key, value []byte) bool) (int, error)
	// Nodes returns the nodes (processes or stores) whose resources the
	// runner measures, in a fixed order: for a single store one node named
	// "node", for a cluster "primary", "backup-1", ...
	Nodes() []Node
	// Close releases the target. It is called once.
	Close() error
}

// Settler is implemented by targets that can finish their background work
// (flushes, compactions) on request. The runner calls Settle at the end of
// a phase, after the clock stops and before the final measurement, when
// Config.Settle is set, so that a phase's I/O includes the compaction its
// writes caused.
type Settler interface {
	Settle(ctx context.Context) error
}

// Node is one measured process or store of a target.
//
// A Node must be safe for concurrent use.
type Node interface {
	// Name is "node" for a single store, "primary" or "backup-N" in a cluster.
	Name() string
	// Sample returns the node's counters now. Counters only grow, so the
	// runner reports the difference of two samples.
	Sample() (NodeSample, error)
}

// NodeSample is a point-in-time reading of one node's counters.
type NodeSample struct {
	// Store holds the bytes the store itself counted by kind. Known is false
	// when the store counts nothing.
	Store StoreIO
	// Proc holds /proc/PID readings of the node's process. For in-process
	// targets this is the benchmark's own process, generator included.
	Proc ProcSample
	// HasProc is false when the node has no process to read.
	HasProc bool
	// NetSent and NetReceived are bytes the node's transport sent and
	// received; zero for in-process targets.
	NetSent, NetReceived uint64
	// NetSource says what NetSent and NetReceived count ("" when nothing
	// is counted), e.g. "replication-payload" for talosd nodes.
	NetSource string
	// WireSent and WireReceived are the same traffic from a second,
	// independent source (WireSource, e.g. "tcp-info": the kernel's
	// per-socket counters), framing and acknowledgements included.
	WireSent, WireReceived uint64
	WireSource             string
}

// StoreIO is file I/O counted by the store, by kind (engine: iostat kinds;
// Pebble: wal, table, manifest, other; Badger: its own metrics).
type StoreIO struct {
	Known   bool
	Read    map[string]uint64
	Written map[string]uint64
	// IndexMaintenanceRead is the part of Read done to maintain the index:
	// compaction (and flush) reads. A ship-index backup reads nothing here.
	IndexMaintenanceRead uint64
}

// TotalRead returns the bytes read over every kind.
func (s StoreIO) TotalRead() uint64 { return sumMap(s.Read) }

// TotalWritten returns the bytes written over every kind.
func (s StoreIO) TotalWritten() uint64 { return sumMap(s.Written) }

func sumMap(m map[string]uint64) uint64 {
	var t uint64
	for _, v := range m {
		t += v
	}
	return t
}

// Sub returns s minus before, kind by kind.
func (s StoreIO) Sub(before StoreIO) StoreIO {
	d := StoreIO{Known: s.Known, Read: map[string]uint64{}, Written: map[string]uint64{},
		IndexMaintenanceRead: s.IndexMaintenanceRead - before.IndexMaintenanceRead}
	for k, v := range s.Read {
		d.Read[k] = v - before.Read[k]
	}
	for k, v := range s.Written {
		d.Written[k] = v - before.Written[k]
	}
	return d
}

// Sub returns s minus before.
func (s NodeSample) Sub(before NodeSample) NodeSample {
	return NodeSample{
		Store:       s.Store.Sub(before.Store),
		Proc:        s.Proc.Sub(before.Proc),
		HasProc:     s.HasProc,
		NetSent:     s.NetSent - before.NetSent,
		NetReceived: s.NetReceived - before.NetReceived,
		NetSource:   s.NetSource,
		// Kernel socket counters vanish with their socket: a connection
		// closed during the phase can make a sample smaller than the one
		// before, which counts as no traffic rather than wrapping.
		WireSent:     subFloor(s.WireSent, before.WireSent),
		WireReceived: subFloor(s.WireReceived, before.WireReceived),
		WireSource:   s.WireSource,
	}
}

// subFloor is a-b, or 0 when b > a.
func subFloor(a, b uint64) uint64 {
	if b > a {
		return 0
	}
	return a - b
}

// TargetInfo describes a target for the results.
type TargetInfo struct {
	// Name is "engine", "pebble", "badger", "talosd" or "talosd-rdma".
	Name string
	// Mode is "single" for a single store, or "ship-index"/"build-index".
	Mode string
	// Replicas is the number of backups (0 for a single store).
	Replicas int
	// GrowthFactor is the LSM level size ratio the target runs with.
	GrowthFactor int
	// Transport is "in-process", "tcp" or "rdma".
	Transport string
}

// StoreIOFromMap converts counters in the form iostat.Snapshot.Map and
// `talosd inspect --json` use ("<kind>_bytes_read", "<kind>_bytes_written")
// into StoreIO, for nodes in other processes. Index maintenance reads are
// the flush and compaction reads. Keys of any other form are an error.
func StoreIOFromMap(m map[string]uint64) (StoreIO, error) {
	s := StoreIO{Known: true, Read: map[string]uint64{}, Written: map[string]uint64{}}
	for k, v := range m {
		if kind, ok := strings.CutSuffix(k, "_bytes_read"); ok && kind != "" {
			s.Read[kind] = v
		} else if kind, ok := strings.CutSuffix(k, "_bytes_written"); ok && kind != "" {
			s.Written[kind] = v
		} else {
			return StoreIO{}, fmt.Errorf("%w: store counter %q is not <kind>_bytes_read or <kind>_bytes_written", ErrConfig, k)
		}
	}
	s.IndexMaintenanceRead = s.Read[iostat.Flush.String()] + s.Read[iostat.Compaction.String()]
	return s, nil
}

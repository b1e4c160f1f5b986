package server

import (
	"strconv"

	"github.com/Mellanox/rdmamap"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/talos-kv/talos/engine"
	"github.com/talos-kv/talos/internal/iostat"
)

// engineCollector exports engine.Metrics and the index levels at scrape
// time.
type engineCollector struct {
	db    func() *engine.DB
	descs map[string]*prometheus.Desc
}

func engineDesc(name, help string, labels ...string) *prometheus.Desc {
	return prometheus.NewDesc("talos_engine_"+name, help, labels, nil)
}

// NewEngineCollector returns a Prometheus collector of db's metrics: I/O
// bytes per kind, commits and syncs, flushes, compactions, stalls,
// memtables, tables and sizes per level, value-log segments and GC.
func NewEngineCollector(db *engine.DB) prometheus.Collector {
	return NewEngineCollectorFunc(func() *engine.DB { return db })
}

// NewEngineCollectorFunc is NewEngineCollector over whichever engine db
// returns at each scrape (a backup promoted to primary reopens its store).
func NewEngineCollectorFunc(db func() *engine.DB) prometheus.Collector {
	c := &engineCollector{db: db, descs: map[string]*prometheus.Desc{}}
	add := func(name, help string, labels ...string) { c.descs[name] = engineDesc(name, help, labels...) }
	add("io_bytes_total", "File bytes read or written, by kind of work (vlog, flush, compaction, gc, manifest, get, scan, replication).", "kind", "op")
	add("commits_total", "Acknowledged write batches.")
	add("commit_groups_total", "Group commits carrying the batches.")
	add("syncs_total", "Value-log syncs.")
	add("visible_seq", "Newest sequence number visible to readers.")
	add("flushes_total", "Memtable flushes.")
	add("flush_bytes_total", "Table bytes written by flushes.")
	add("compactions_total", "Compactions.")
	add("trivial_moves_total", "Compactions that moved a table without rewriting it.")
	add("compaction_read_bytes_total", "Table bytes read by compactions.")
	add("compaction_write_bytes_total", "Table bytes written by compactions.")
	add("compaction_filtered_total", "Entries the compaction filter deleted (expired keys, orphaned hash fields), by what became of them (tombstone, dropped).", "how")
	add("write_stalls_total", "Times writers were stopped until flush or compaction caught up.")
	add("write_slowdowns_total", "Times a writer was delayed by L0 pressure.")
	add("memtable_bytes", "Bytes in the mutable memtable.")
	add("immutable_memtables", "Memtables waiting to be flushed.")
	add("immutable_memtable_bytes", "Bytes in memtables waiting to be flushed.")
	add("tables", "Live tables.")
	add("table_bytes", "Bytes of live tables.")
	add("snapshots", "Open snapshots.")
	add("level_tables", "Tables per level.", "level")
	add("level_bytes", "Bytes per level.", "level")
	add("level_target_bytes", "Target size per level (0: L0 and the last level).", "level")
	add("level_score", "Compaction score per level (above 1: due).", "level")
	add("vlog_segments", "Value-log segment files.")
	add("vlog_live_bytes", "Bytes of value-log segments still referenced by the index.")
	add("gc_runs_total", "Value-log GC passes.")
	add("gc_segments_total", "Value-log segments collected.")
	add("gc_keys_rewritten_total", "Live values GC moved to the head of the log.")
	add("gc_keys_dropped_total", "Dead records GC dropped.")
	add("gc_rewrite_bytes_total", "Bytes GC rewrote.")
	add("gc_pending_segments", "Collected segments whose files wait for readers.")
	add("gc_behind", "1 while the value log is over GC's space bound (GC unthrottled, writes slowed), else 0.")
	add("gc_write_slowdowns_total", "Writes delayed 1 ms because value-log GC was behind its space bound.")
	return c
}

func (c *engineCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range c.descs {
		ch <- d
	}
}

func (c *engineCollector) Collect(ch chan<- prometheus.Metric) {
	db := c.db()
	m := db.Metrics()
	counter := func(name string, v uint64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(c.descs[name], prometheus.CounterValue, float64(v), labels...)
	}
	gauge := func(name string, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(c.descs[name], prometheus.GaugeValue, v, labels...)
	}
	for _, k := range iostat.Kinds() {
		counter("io_bytes_total", m.IO.Read[k], k.String(), "read")
		counter("io_bytes_total", m.IO.Written[k], k.String(), "write")
	}
	counter("commits_total", m.Commits)
	counter("commit_groups_total", m.CommitGroups)
	counter("syncs_total", m.Syncs)
	gauge("visible_seq", float64(m.VisibleSeq))
	x := m.Index
	counter("flushes_total", x.Flushes)
	counter("flush_bytes_total", x.FlushBytes)
	counter("compactions_total", x.Compactions)
	counter("trivial_moves_total", x.TrivialMoves)
	counter("compaction_read_bytes_total", x.CompactionBytesIn)
	counter("compaction_write_bytes_total", x.CompactionBytesOut)
	counter("compaction_filtered_total", x.FilterTombstoned, "tombstone")
	counter("compaction_filtered_total", x.FilterDropped, "dropped")
	counter("write_stalls_total", x.WriteStalls)
	counter("write_slowdowns_total", x.WriteSlowdowns)
	gauge("memtable_bytes", float64(x.MemtableSize))
	gauge("immutable_memtables", float64(x.ImmutableMemtables))
	gauge("immutable_memtable_bytes", float64(x.ImmutableSize))
	gauge("tables", float64(x.Tables))
	gauge("table_bytes", float64(x.TableBytes))
	gauge("snapshots", float64(x.Snapshots))
	for _, l := range db.Levels() {
		lv := strconv.Itoa(l.Level)
		gauge("level_tables", float64(len(l.Tables)), lv)
		gauge("level_bytes", float64(l.Size), lv)
		gauge("level_target_bytes", float64(l.TargetSize), lv)
		gauge("level_score", l.Score, lv)
	}
	gauge("vlog_segments", float64(m.Segments))
	var live int64
	for _, b := range m.SegmentLive {
		live += b
	}
	gauge("vlog_live_bytes", float64(live))
	counter("gc_runs_total", m.GC.Runs)
	counter("gc_segments_total", m.GC.Segments)
	counter("gc_keys_rewritten_total", m.GC.KeysRewritten)
	counter("gc_keys_dropped_total", m.GC.KeysDropped)
	counter("gc_rewrite_bytes_total", m.GC.BytesRewritten)
	gauge("gc_pending_segments", float64(m.GC.PendingSegments))
	behind := 0.0
	if m.GC.Behind {
		behind = 1
	}
	gauge("gc_behind", behind)
	counter("gc_write_slowdowns_total", m.GC.WriteSlowdowns)
}

// rdmaCollector exports the sysfs port counters of every RDMA device
// (hardware and software counters, e.g. of rxe) via rdmamap.
type rdmaCollector struct {
	desc *prometheus.Desc
}

// NewRDMACollector returns a collector of RDMA port counters:
// talos_rdma_port_counter{device,port,counter,source}. On a machine without
// RDMA devices it exports nothing.
func NewRDMACollector() prometheus.Collector {
	return &rdmaCollector{desc: prometheus.NewDesc("talos_rdma_port_counter",
		"RDMA port counters from /sys/class/infiniband (source: counters or hw_counters).",
		[]string{"device", "port", "counter", "source"}, nil)}
}

func (c *rdmaCollector) Describe(ch chan<- *prometheus.Desc) { ch <- c.desc }

func (c *rdmaCollector) Collect(ch chan<- prometheus.Metric) {
	for _, dev := range rdmamap.GetRdmaDeviceList() {
		st, err := rdmamap.GetRdmaSysfsAllPortsStats(dev)
		if err != nil {
			continue
		}
		for _, p := range st.PortStats {
			port := strconv.Itoa(p.Port)
			for _, e := range p.Stats {
				ch <- prometheus.MustNewConstMetric(c.desc, prometheus.UntypedValue, float64(e.Value), dev, port, e.Name, "counters")
			}
			for _, e := range p.HwStats {
				ch <- prometheus.MustNewConstMetric(c.desc, prometheus.UntypedValue, float64(e.Value), dev, port, e.Name, "hw_counters")
			}
		}
	}
}

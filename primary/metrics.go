package primary

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/talos-kv/talos/replication"
)

// Stats returns the state machine's view of every backup.
func (n *Node) Stats() []replication.BackupStats {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.mu.sm.Stats()
}

var (
	descMember = prometheus.NewDesc("talos_replication_backup_member",
		"1 when the backup counts toward --min-replicas (caught up), 0 while it catches up.", []string{"backup"}, nil)
	descLag = prometheus.NewDesc("talos_replication_backup_lag_bytes",
		"Value-log bytes between the primary's log end and what was written to the backup.", []string{"backup"}, nil)
	descDurableLag = prometheus.NewDesc("talos_replication_backup_durable_lag_bytes",
		"Value-log bytes between the primary's log end and what the backup reported durable.", []string{"backup"}, nil)
	descBytes = prometheus.NewDesc("talos_replication_backup_bytes_total",
		"Bytes written into the backup's rings (vlog: value log; chunk: tables, edits, snapshots).", []string{"backup", "ring"}, nil)
	descQueued = prometheus.NewDesc("talos_replication_backup_queued",
		"Items waiting for a credit from the backup.", []string{"backup", "queue"}, nil)
	descEdit = prometheus.NewDesc("talos_replication_backup_last_edit",
		"Newest version edit the backup installed.", []string{"backup"}, nil)
	descBackups = prometheus.NewDesc("talos_replication_backups",
		"Backups connected (member or catching up).", nil, nil)
)

// Collector exports replication metrics of whichever primary node returns
// at scrape time (nil: none, e.g. a backup not yet promoted).
type Collector struct{ Node func() *Node }

// Describe implements prometheus.Collector.
func (c Collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descMember, descLag, descDurableLag, descBytes, descQueued, descEdit, descBackups} {
		ch <- d
	}
}

// Collect implements prometheus.Collector.
func (c Collector) Collect(ch chan<- prometheus.Metric) {
	n := c.Node()
	if n == nil {
		return
	}
	stats := n.Stats()
	ch <- prometheus.MustNewConstMetric(descBackups, prometheus.GaugeValue, float64(len(stats)))
	for _, s := range stats {
		member := 0.0
		if s.Member {
			member = 1
		}
		ch <- prometheus.MustNewConstMetric(descMember, prometheus.GaugeValue, member, s.ID)
		ch <- prometheus.MustNewConstMetric(descLag, prometheus.GaugeValue, float64(s.LagBytes), s.ID)
		ch <- prometheus.MustNewConstMetric(descDurableLag, prometheus.GaugeValue, float64(s.DurableLagBytes), s.ID)
		ch <- prometheus.MustNewConstMetric(descBytes, prometheus.CounterValue, float64(s.VlogBytes), s.ID, "vlog")
		ch <- prometheus.MustNewConstMetric(descBytes, prometheus.CounterValue, float64(s.ChunkBytes), s.ID, "chunk")
		ch <- prometheus.MustNewConstMetric(descQueued, prometheus.GaugeValue, float64(s.QueuedVlog), s.ID, "vlog")
		ch <- prometheus.MustNewConstMetric(descQueued, prometheus.GaugeValue, float64(s.QueuedObjects), s.ID, "object")
		ch <- prometheus.MustNewConstMetric(descEdit, prometheus.GaugeValue, float64(s.LastEdit), s.ID)
	}
}

package bench

import (
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"
)

// Record is one line of results.json and results.csv: one phase of one run
// on one node. Byte counts are for the phase only.
type Record struct {
	Run          int    `json:"run"`
	Target       string `json:"target"`
	Workload     string `json:"workload"`
	Distribution string `json:"distribution"`
	Mix          string `json:"mix"`
	Mode         string `json:"mode"`
	Replicas     int    `json:"replicas"`
	GrowthFactor int    `json:"growth_factor"`
	Node         string `json:"node"`
	Transport    string `json:"transport"`

	Seed           uint64 `json:"seed"`
	RecordCount    int64  `json:"record_count"`
	OperationCount int64  `json:"operation_count"`
	Threads        int    `json:"threads"`
	Interrupted    bool   `json:"interrupted"`

	Ops         uint64  `json:"ops"`
	NotFound    uint64  `json:"not_found"`
	DurationSec float64 `json:"duration_sec"`
	OpsPerSec   float64 `json:"ops_per_sec"`

	// UserBytesWritten is key plus value bytes of every write the phase made.
	UserBytesWritten uint64 `json:"user_bytes_written"`
	// BytesWritten, BytesRead and IndexMaintenanceBytesRead come from the
	// store's own counters (IOSource "store") when it has them, otherwise
	// from /proc/PID/io block I/O (IOSource "proc").
	IOSource                  string            `json:"io_source"`
	BytesWritten              uint64            `json:"bytes_written"`
	BytesRead                 uint64            `json:"bytes_read"`
	IndexMaintenanceBytesRead uint64            `json:"index_maintenance_bytes_read"`
	IOAmplification           float64           `json:"io_amplification"`
	BytesWrittenByKind        map[string]uint64 `json:"bytes_written_by_kind,omitempty"`
	BytesReadByKind           map[string]uint64 `json:"bytes_read_by_kind,omitempty"`
	// The second, independent source: /proc/PID/io.
	BlockBytesWritten    uint64  `json:"block_bytes_written"`
	BlockBytesRead       uint64  `json:"block_bytes_read"`
	BlockIOAmplification float64 `json:"block_io_amplification"`
	RChar                uint64  `json:"rchar"`
	WChar                uint64  `json:"wchar"`

	CPUUserSeconds   float64 `json:"cpu_user_seconds"`
	CPUSystemSeconds float64 `json:"cpu_system_seconds"`
	CPUSeconds       float64 `json:"cpu_seconds"`
	CPUUsPerOp       float64 `json:"cpu_us_per_op"`
	RSSBytes         uint64  `json:"rss_bytes"`

	// NetSource says what the network figures count: "" (nothing: an
	// in-process target) or "replication-payload" (talosd: bytes the
	// primary wrote into backups' rings, no client traffic, no framing).
	NetSource        string  `json:"net_source,omitempty"`
	NetBytesSent     uint64  `json:"net_bytes_sent"`
	NetBytesReceived uint64  `json:"net_bytes_received"`
	NetBytes         uint64  `json:"net_bytes"`
	NetBytesPerOp    float64 `json:"net_bytes_per_op"`
	// WireSource names the second, independent count of the same traffic:
	// "tcp-info" (the kernel's counters of the node's replication sockets,
	// framing and acks included) or "" where there is none (RDMA: the
	// NIC's port counters are in the node's metrics, not per connection).
	WireSource        string  `json:"wire_source,omitempty"`
	WireBytesSent     uint64  `json:"wire_bytes_sent"`
	WireBytesReceived uint64  `json:"wire_bytes_received"`
	WireBytes         uint64  `json:"wire_bytes"`
	WireBytesPerOp    float64 `json:"wire_bytes_per_op"`

	// Latency of every operation of the phase, and per operation kind.
	Latency       Latency            `json:"latency"`
	LatencyByKind map[string]Latency `json:"latency_by_kind,omitempty"`

	Machine Machine `json:"machine"`
	Error   string  `json:"error,omitempty"`
}

// Latency summarises a latency histogram, in microseconds.
type Latency struct {
	Count  int64   `json:"count"`
	MeanUs float64 `json:"mean_us"`
	P50Us  float64 `json:"p50_us"`
	P90Us  float64 `json:"p90_us"`
	P99Us  float64 `json:"p99_us"`
	P999Us float64 `json:"p999_us"`
	MaxUs  float64 `json:"max_us"`
}

// SummarizeLatency summarises a histogram of nanoseconds.
func SummarizeLatency(h *hdrhistogram.Histogram) Latency {
	if h == nil || h.TotalCount() == 0 {
		return Latency{}
	}
	us := func(ns int64) float64 { return float64(ns) / float64(time.Microsecond) }
	return Latency{
		Count:  h.TotalCount(),
		MeanUs: h.Mean() / float64(time.Microsecond),
		P50Us:  us(h.ValueAtQuantile(50)),
		P90Us:  us(h.ValueAtQuantile(90)),
		P99Us:  us(h.ValueAtQuantile(99)),
		P999Us: us(h.ValueAtQuantile(99.9)),
		MaxUs:  us(h.Max()),
	}
}

// NodeRecord fills the per-node figures of r from the node's counters over
// the phase (delta) and the phase's operation count and user bytes.
func (r *Record) fillNode(delta NodeSample) {
	r.BlockBytesRead = delta.Proc.ReadBytes
	r.BlockBytesWritten = delta.Proc.WriteBytes
	r.RChar, r.WChar = delta.Proc.RChar, delta.Proc.WChar
	r.BlockIOAmplification = IOAmplification(r.BlockBytesRead, r.BlockBytesWritten, r.UserBytesWritten)
	if delta.Store.Known {
		r.IOSource = "store"
		r.BytesRead = delta.Store.TotalRead()
		r.BytesWritten = delta.Store.TotalWritten()
		r.IndexMaintenanceBytesRead = delta.Store.IndexMaintenanceRead
		r.BytesReadByKind = delta.Store.Read
		r.BytesWrittenByKind = delta.Store.Written
	} else {
		r.IOSource = "proc"
		r.BytesRead, r.BytesWritten = r.BlockBytesRead, r.BlockBytesWritten
	}
	r.IOAmplification = IOAmplification(r.BytesRead, r.BytesWritten, r.UserBytesWritten)
	if delta.HasProc {
		r.CPUUserSeconds, r.CPUSystemSeconds = delta.Proc.CPUSeconds()
		r.CPUSeconds = r.CPUUserSeconds + r.CPUSystemSeconds
		r.RSSBytes = delta.Proc.RSSBytes
	}
	r.CPUUsPerOp = CPUMicrosPerOp(r.CPUSeconds, r.Ops)
	r.NetBytesSent, r.NetBytesReceived, r.NetSource = delta.NetSent, delta.NetReceived, delta.NetSource
	r.NetBytes = r.NetBytesSent + r.NetBytesReceived
	r.NetBytesPerOp = PerOp(float64(r.NetBytes), r.Ops)
	r.WireBytesSent, r.WireBytesReceived, r.WireSource = delta.WireSent, delta.WireReceived, delta.WireSource
	r.WireBytes = r.WireBytesSent + r.WireBytesReceived
	r.WireBytesPerOp = PerOp(float64(r.WireBytes), r.Ops)
}

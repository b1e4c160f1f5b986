package bench

import (
	"math"
	"testing"
)

func TestIOAmplification(t *testing.T) {
	for _, tc := range []struct {
		read, written, user uint64
		want                float64
	}{
		{0, 1000, 1000, 1},
		{500, 1500, 1000, 2},
		{3 << 20, 7 << 20, 1 << 20, 10},
		{100, 100, 0, 0}, // read-only phase: undefined, reported as 0
	} {
		if got := IOAmplification(tc.read, tc.written, tc.user); got != tc.want {
			t.Errorf("IOAmplification(%d, %d, %d) = %v, want %v", tc.read, tc.written, tc.user, got, tc.want)
		}
	}
	if got := CPUMicrosPerOp(1.5, 3000); got != 500 {
		t.Errorf("CPUMicrosPerOp(1.5 s, 3000) = %v, want 500", got)
	}
	if got := CPUMicrosPerOp(1, 0); got != 0 {
		t.Errorf("CPUMicrosPerOp with no ops = %v, want 0", got)
	}
	if got := Ratio(3, 0); got != 0 {
		t.Errorf("Ratio(3, 0) = %v", got)
	}
}

// TestFillNode derives a record's figures from known counters.
func TestFillNode(t *testing.T) {
	before := NodeSample{
		Store: StoreIO{Known: true, Read: map[string]uint64{"compaction": 100, "get": 10},
			Written: map[string]uint64{"vlog": 1000, "flush": 0, "compaction": 50}, IndexMaintenanceRead: 100},
		Proc:    ProcSample{ReadBytes: 4096, WriteBytes: 8192, UTimeTicks: 100, STimeTicks: 50, ClockTicks: 100, RSSBytes: 1 << 20},
		HasProc: true, NetSent: 10, NetReceived: 20,
	}
	after := NodeSample{
		Store: StoreIO{Known: true, Read: map[string]uint64{"compaction": 2100, "get": 1010},
			Written: map[string]uint64{"vlog": 11000, "flush": 4000, "compaction": 2050}, IndexMaintenanceRead: 2100},
		Proc:    ProcSample{ReadBytes: 4096 + 8192, WriteBytes: 8192 + 20480, UTimeTicks: 350, STimeTicks: 100, ClockTicks: 100, RSSBytes: 3 << 20},
		HasProc: true, NetSent: 1010, NetReceived: 3020,
	}
	r := Record{Ops: 1000, UserBytesWritten: 10000}
	r.fillNode(after.Sub(before))
	// Store: read 2000+1000 = 3000, written 10000+4000+2000 = 16000, amp (3000+16000)/10000.
	check := func(name string, got, want float64) {
		t.Helper()
		if math.Abs(got-want) > 1e-9 {
			t.Errorf("%s = %v, want %v", name, got, want)
		}
	}
	check("bytes_read", float64(r.BytesRead), 3000)
	check("bytes_written", float64(r.BytesWritten), 16000)
	check("index_maintenance_bytes_read", float64(r.IndexMaintenanceBytesRead), 2000)
	check("io_amplification", r.IOAmplification, 1.9)
	check("block_io_amplification", r.BlockIOAmplification, float64(8192+20480)/10000)
	check("cpu_seconds", r.CPUSeconds, 3.0) // (250 + 50) ticks at 100 Hz
	check("cpu_us_per_op", r.CPUUsPerOp, 3000)
	check("net_bytes", float64(r.NetBytes), 4000)
	check("net_bytes_per_op", r.NetBytesPerOp, 4)
	check("rss_bytes", float64(r.RSSBytes), 3<<20)
	if r.IOSource != "store" || r.BytesWrittenByKind["flush"] != 4000 {
		t.Errorf("io source %q, written by kind %v", r.IOSource, r.BytesWrittenByKind)
	}

	// Without store counters the block figures are used.
	before.Store, after.Store = StoreIO{}, StoreIO{}
	r = Record{Ops: 1000, UserBytesWritten: 10000}
	r.fillNode(after.Sub(before))
	if r.IOSource != "proc" || r.BytesRead != 8192 || r.BytesWritten != 20480 {
		t.Errorf("proc source: %q read %d written %d", r.IOSource, r.BytesRead, r.BytesWritten)
	}
	check("io_amplification (proc)", r.IOAmplification, float64(8192+20480)/10000)
}

func TestModeRatios(t *testing.T) {
	recs := []Record{
		{Target: "talosd", Workload: "a", Mix: "MD", Mode: "ship-index", Replicas: 1, GrowthFactor: 10, Node: "backup-1", IOAmplification: 2, CPUUsPerOp: 10},
		{Target: "talosd", Workload: "a", Mix: "MD", Mode: "build-index", Replicas: 1, GrowthFactor: 10, Node: "backup-1", IOAmplification: 8, CPUUsPerOp: 30},
		{Target: "talosd", Workload: "a", Mix: "MD", Mode: "build-index", Replicas: 1, GrowthFactor: 12, Node: "backup-1", IOAmplification: 9},
		{Target: "talosd", Workload: "a", Mix: "MD", Mode: "ship-index", Replicas: 1, GrowthFactor: 10, Node: "primary", IOAmplification: 5},
	}
	got := ModeRatios(recs, "ship-index", "build-index", "io_amplification")
	if len(got) != 1 || got[0].Ratio != 0.25 || got[0].Node != "backup-1" || got[0].GrowthFactor != 10 {
		t.Fatalf("io ratios %+v, want one of 0.25 for backup-1 at gf 10", got)
	}
	got = ModeRatios(recs, "ship-index", "build-index", "cpu_us_per_op")
	if len(got) != 1 || math.Abs(got[0].Ratio-1.0/3) > 1e-12 {
		t.Fatalf("cpu ratios %+v", got)
	}
	if ModeRatios(recs, "ship-index", "build-index", "nonsense") != nil {
		t.Fatal("unknown figure gave ratios")
	}
}

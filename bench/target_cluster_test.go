package bench

import (
	"context"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"

	"github.com/talos-kv/talos/internal/cpuprof"
)

// clusterBinary builds talosd once for the package's tests.
var clusterBinary = struct {
	once sync.Once
	dir  string
	path string
	err  error
}{}

func talosdForTest(t *testing.T) string {
	t.Helper()
	clusterBinary.once.Do(func() {
		clusterBinary.dir, clusterBinary.err = os.MkdirTemp("", "bench-talosd-")
		if clusterBinary.err == nil {
			clusterBinary.path, clusterBinary.err = BuildTalosd(context.Background(), clusterBinary.dir)
		}
	})
	if clusterBinary.err != nil {
		t.Fatal(clusterBinary.err)
	}
	return clusterBinary.path
}

func TestMain(m *testing.M) {
	code := m.Run()
	if clusterBinary.dir != "" {
		os.RemoveAll(clusterBinary.dir)
	}
	os.Exit(code)
}

// A primary without backups behaves as a store: the shared conformance
// test against a map model, with scans through TALOS.RANGE.
func TestClusterTargetConformance(t *testing.T) {
	tg, err := OpenCluster(t.TempDir(), ClusterOptions{Binary: talosdForTest(t), GrowthFactor: 4, Threads: 1})
	if err != nil {
		t.Fatal(err)
	}
	testTargetConformanceNode(t, tg, "primary")
}

// A primary and one ship-index backup under a small Load A and Run A: both
// nodes have records, the backup read nothing for index maintenance while
// the primary flushed, the backup received the replicated bytes, and every
// process is gone after Close.
func TestClusterTargetShipIndex(t *testing.T) {
	dir := t.TempDir()
	tg, err := OpenCluster(dir, ClusterOptions{Binary: talosdForTest(t), Mode: ModeShipIndex, Replicas: 1,
		GrowthFactor: 4, Threads: 2, MemtableSize: smallMemtable, SegmentSize: smallSegment, ValueThreshold: "16B",
		CPUProfilePrefix: filepath.Join(dir, "prof-")})
	if err != nil {
		t.Fatal(err)
	}
	var pids []int
	for _, p := range tg.procs {
		pids = append(pids, p.cmd.Process.Pid)
	}
	tmpl := Record{Target: "talosd", Mode: ModeShipIndex, Replicas: 1, GrowthFactor: 4, Mix: MixS.Name}
	var recs []Record
	var loaded int64
	for _, w := range []Workload{LoadA, WorkloadA} {
		g, err := NewGenerator(GenConfig{Workload: w, Mix: MixS, Loaded: loaded, Count: 20000, Seed: testSeed})
		if err != nil {
			t.Fatal(err)
		}
		pr, err := RunPhase(t.Context(), tg, g, w, RunOptions{Threads: 2})
		if err != nil || pr.Err != nil {
			t.Fatalf("seed %d: %s: %v %v", testSeed, w.Name, err, pr.Err)
		}
		recs = append(recs, phaseRecords(tmpl, w, 20000, pr)...)
		loaded = g.Inserted()
	}
	// Settle's scrapes ask for the families busy reads, and get only those.
	want := busyFamilies
	s, err := tg.scrape(t.Context(), tg.procs[0], want...)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]bool{}
	for _, x := range s {
		got[x.name] = true
	}
	if len(got) != len(want) {
		t.Fatalf("scrape of %v returned families %v", want, got)
	}
	if err := tg.Settle(t.Context()); err != nil {
		t.Fatal(err)
	}
	if err := tg.Close(); err != nil {
		t.Fatal(err)
	}
	for _, pid := range pids {
		if err := syscall.Kill(pid, 0); err != syscall.ESRCH {
			t.Errorf("talosd %d still exists after Close (kill 0: %v)", pid, err)
		}
	}
	byNode := map[string]Record{}
	for _, r := range recs {
		if r.Workload == LoadA.Name {
			byNode[r.Node] = r
		}
	}
	p, b := byNode["primary"], byNode["backup-1"]
	if len(byNode) != 2 || p.Ops != 20000 || b.Ops != 20000 || p.UserBytesWritten == 0 {
		t.Fatalf("load records by node: %+v", byNode)
	}
	if p.IOSource != "store" || b.IOSource != "store" || p.BytesWritten == 0 || b.BytesWritten == 0 {
		t.Fatalf("store counters: primary %s %d written, backup %s %d written", p.IOSource, p.BytesWritten, b.IOSource, b.BytesWritten)
	}
	if p.BytesWrittenByKind["flush"] == 0 {
		t.Fatalf("the primary never flushed with a %s memtable: %v", smallMemtable, p.BytesWrittenByKind)
	}
	for _, r := range recs {
		if r.Node == "backup-1" && r.IndexMaintenanceBytesRead != 0 {
			t.Fatalf("%s: ship-index backup read %d bytes for index maintenance: %v", r.Workload, r.IndexMaintenanceBytesRead, r.BytesReadByKind)
		}
		if r.CPUSeconds <= 0 && r.Node == "primary" {
			t.Fatalf("%s: primary used no CPU", r.Workload)
		}
	}
	if b.NetBytesReceived == 0 || p.NetBytesSent != b.NetBytesReceived || b.NetSource != NetReplicationPayload {
		t.Fatalf("replication bytes: primary sent %d, backup received %d", p.NetBytesSent, b.NetBytesReceived)
	}
	// The kernel's counters of the replication sockets: the primary sent
	// what the backup received, framing and acks included, so at least the
	// payload the backup received.
	if p.WireSource != WireTCPInfo || b.WireSource != WireTCPInfo || b.WireBytesReceived < b.NetBytesReceived || p.WireBytesSent == 0 {
		t.Fatalf("wire bytes (%s/%s): primary sent %d, backup received %d (payload %d)",
			p.WireSource, b.WireSource, p.WireBytesSent, b.WireBytesReceived, b.NetBytesReceived)
	}
	for _, name := range []string{"primary", "backup-1"} {
		if _, err := os.Stat(filepath.Join(dir, name+".log")); err != nil {
			t.Fatal(err)
		}
		if err := cpuprof.Finished(filepath.Join(dir, "prof-"+name+".pprof")); err != nil {
			t.Error(err)
		}
	}
}

// A node that cannot start is reported with the end of its log and leaves
// no process behind.
func TestClusterTargetStartFailure(t *testing.T) {
	_, err := OpenCluster(t.TempDir(), ClusterOptions{Binary: talosdForTest(t), GrowthFactor: 99})
	if err == nil || !strings.Contains(err.Error(), "primary exited") || !strings.Contains(err.Error(), "growth-factor") {
		t.Fatalf("OpenCluster with growth factor 99: %v", err)
	}
}

func TestTalosdModeUnavailable(t *testing.T) {
	bin := talosdForTest(t)
	if why, err := TalosdModeUnavailable(t.Context(), bin, ModeShipIndex); err != nil || why != "" {
		t.Fatalf("ship-index: %q %v", why, err)
	}
	why, err := TalosdModeUnavailable(t.Context(), bin, "no-such-mode")
	if err != nil || !strings.Contains(why, "--replication") {
		t.Fatalf("no-such-mode: %q %v", why, err)
	}
}

func TestStoreIOFromMetrics(t *testing.T) {
	text := `# HELP talos_engine_io_bytes_total File bytes.
# TYPE talos_engine_io_bytes_total counter
talos_engine_io_bytes_total{kind="compaction",op="read"} 300
talos_engine_io_bytes_total{kind="flush",op="read"} 5
talos_engine_io_bytes_total{kind="flush",op="write"} 1.048576e+06
talos_engine_io_bytes_total{kind="vlog",op="write"} 1000
talos_replication_backup_bytes_total{backup="backup-1",ring="vlog"} 77
go_goroutines 12
`
	s, err := parsePromText([]byte(text), func(n string) bool { return strings.HasPrefix(n, "talos_") })
	if err != nil || len(s) != 5 {
		t.Fatalf("parse: %d samples, %v", len(s), err)
	}
	io, err := storeIOFromMetrics(s)
	if err != nil {
		t.Fatal(err)
	}
	if io.IndexMaintenanceRead != 305 || io.Written["flush"] != 1<<20 || io.TotalWritten() != 1<<20+1000 {
		t.Fatalf("store I/O %+v", io)
	}
	for _, bad := range []string{
		`talos_x{kind="a" 1`, `talos_x{kind=a} 1`, `talos_x{kind="a"} one`, `talos_x`, `talos_x{k="\q"} 1`, `talos_x 1 2 3`,
	} {
		if _, err := parsePromText([]byte(bad), func(string) bool { return true }); err == nil {
			t.Errorf("%q parsed", bad)
		}
	}
	if _, err := storeIOFromMetrics([]promSample{{name: "talos_engine_io_bytes_total", labels: map[string]string{"op": "r"}, value: 1}}); err == nil {
		t.Error("op r accepted")
	}
	if _, err := counterValue(promSample{name: "c", value: -1}); err == nil {
		t.Error("negative counter accepted")
	}
}

func FuzzParsePromText(f *testing.F) {
	f.Add([]byte(`talos_engine_io_bytes_total{kind="flush",op="read"} 5` + "\n# c\n\nm 1 " + strconv.Itoa(1700000000)))
	f.Add([]byte(`m{a="x\"y\\z\n",b="2"} 3.5e+02`))
	f.Fuzz(func(t *testing.T, b []byte) {
		s, err := parsePromText(b, func(string) bool { return true })
		if err != nil {
			return
		}
		for _, x := range s {
			if x.name == "" || strings.ContainsAny(x.name, "{ \t") {
				t.Fatalf("bad name %q", x.name)
			}
		}
	})
}

// TestClusterOptionsSizes: --memtable-size and --segment-size each win
// over --small's sizes, and reach talosd's arguments.
func TestClusterOptionsSizes(t *testing.T) {
	for _, c := range []struct {
		o             TargetOptions
		memtable, seg string
	}{
		{TargetOptions{}, "", ""},
		{TargetOptions{Small: true}, smallMemtable, smallSegment},
		{TargetOptions{Small: true, SegmentSize: "2MiB"}, smallMemtable, "2MiB"},
		{TargetOptions{MemtableSize: "1MiB"}, "1MiB", ""},
	} {
		co := clusterOptions("tcp", c.o)
		if co.MemtableSize != c.memtable || co.SegmentSize != c.seg {
			t.Errorf("%+v: memtable %q segment %q, want %q %q", c.o, co.MemtableSize, co.SegmentSize, c.memtable, c.seg)
		}
		ct := &ClusterTarget{opts: co, dir: t.TempDir()}
		args := strings.Join(ct.args(&talosdProc{name: "primary"}), " ")
		for flag, want := range map[string]string{"--memtable-size": c.memtable, "--segment-size": c.seg} {
			if has := strings.Contains(args, flag+" "+want); want != "" && !has || want == "" && strings.Contains(args, flag) {
				t.Errorf("%+v: talosd args %q, want %s %q", c.o, args, flag, want)
			}
		}
	}
}

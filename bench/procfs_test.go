package bench

import (
	"encoding/binary"
	"errors"
	"os"
	"testing"
)

const procIOSample = `rchar: 323934931
wchar: 323929600
syscr: 632687
syscw: 632675
read_bytes: 4096
write_bytes: 323932160
cancelled_write_bytes: 12288
`

func TestParseProcIO(t *testing.T) {
	var s ProcSample
	if err := parseProcIO([]byte(procIOSample), &s); err != nil {
		t.Fatal(err)
	}
	want := ProcSample{RChar: 323934931, WChar: 323929600, ReadBytes: 4096, WriteBytes: 323932160, CancelledWriteBytes: 12288}
	if s != want {
		t.Fatalf("parsed %+v, want %+v", s, want)
	}
	for _, bad := range []string{"rchar: 1\n", "rchar 1\n", procIOSample + "read_bytes: x\n"} {
		if err := parseProcIO([]byte(bad), &s); !errors.Is(err, ErrProc) {
			t.Errorf("parseProcIO(%q) = %v, want ErrProc", bad, err)
		}
	}
}

func TestParseProcStat(t *testing.T) {
	// The command name may hold spaces and parentheses.
	stat := "4242 (my (odd) cmd) S 1 4242 4242 0 -1 4194560 1234 0 0 0 777 333 0 0 20 0 5 0 12345 1000000 250 18446744073709551615\n"
	u, s, err := parseProcStat([]byte(stat))
	if err != nil || u != 777 || s != 333 {
		t.Fatalf("parseProcStat = %d, %d, %v; want 777, 333", u, s, err)
	}
	for _, bad := range []string{"4242 no paren S 1", "1 (x) S 1 2 3", "1 (x) S 1 1 1 0 -1 0 0 0 0 0 u 3 0"} {
		if _, _, err := parseProcStat([]byte(bad)); !errors.Is(err, ErrProc) {
			t.Errorf("parseProcStat(%q) = %v, want ErrProc", bad, err)
		}
	}
}

func TestParseProcStatusRSS(t *testing.T) {
	got, err := parseProcStatusRSS([]byte("Name:\tx\nVmPeak:\t 100 kB\nVmRSS:\t   2048 kB\n"))
	if err != nil || got != 2048*1024 {
		t.Fatalf("RSS = %d, %v; want %d", got, err, 2048*1024)
	}
	for _, bad := range []string{"Name: x\n", "VmRSS: 12 MB\n", "VmRSS: x kB\n"} {
		if _, err := parseProcStatusRSS([]byte(bad)); !errors.Is(err, ErrProc) {
			t.Errorf("parseProcStatusRSS(%q) = %v, want ErrProc", bad, err)
		}
	}
}

func TestParseAuxv(t *testing.T) {
	b := make([]byte, 48)
	binary.NativeEndian.PutUint64(b[0:], 6) // AT_PAGESZ
	binary.NativeEndian.PutUint64(b[8:], 4096)
	binary.NativeEndian.PutUint64(b[16:], atClkTck)
	binary.NativeEndian.PutUint64(b[24:], 250)
	if hz, err := parseAuxvClkTck(b); err != nil || hz != 250 {
		t.Fatalf("parseAuxvClkTck = %d, %v; want 250", hz, err)
	}
	if _, err := parseAuxvClkTck(b[:16]); !errors.Is(err, ErrProc) {
		t.Fatalf("auxv without AT_CLKTCK: %v, want ErrProc", err)
	}
}

func TestReadProcSelf(t *testing.T) {
	hz, err := ClockTicks()
	if err != nil || hz == 0 {
		t.Fatalf("ClockTicks = %d, %v", hz, err)
	}
	b, err := os.ReadFile("/proc/self/auxv")
	if err == nil {
		if fromFile, err := parseAuxvClkTck(b); err != nil || fromFile != hz {
			t.Fatalf("AT_CLKTCK from /proc/self/auxv = %d, %v; from unix.Auxv %d", fromFile, err, hz)
		}
	}
	s, err := ReadProc(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	if s.RSSBytes == 0 || s.RChar == 0 || s.ClockTicks != hz {
		t.Fatalf("implausible /proc/self sample %+v", s)
	}
	if _, err := ReadProc(-1); !errors.Is(err, ErrProc) {
		t.Fatalf("ReadProc(-1) = %v, want ErrProc", err)
	}
}

func FuzzParseProc(f *testing.F) {
	f.Add([]byte(procIOSample))
	f.Add([]byte("1 (a) S 1 1 1 0 -1 0 0 0 0 0 7 3 0 0"))
	f.Add([]byte("VmRSS:\t12 kB\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		var s ProcSample
		_ = parseProcIO(b, &s)
		_, _, _ = parseProcStat(b)
		_, _ = parseProcStatusRSS(b)
		_, _ = parseAuxvClkTck(b)
	})
}

func TestProcNode(t *testing.T) {
	sent := uint64(100)
	n := &ProcNode{NodeName: "primary", PID: os.Getpid(),
		StoreIO: func() (StoreIO, error) {
			return StoreIOFromMap(map[string]uint64{"compaction_bytes_read": 7, "vlog_bytes_written": 9})
		},
		Net: func() (uint64, uint64, error) { sent += 50; return sent, 2 * sent, nil }}
	a, err := n.Sample()
	if err != nil {
		t.Fatal(err)
	}
	b, err := n.Sample()
	if err != nil {
		t.Fatal(err)
	}
	d := b.Sub(a)
	if n.Name() != "primary" || !b.HasProc || b.Proc.PID != os.Getpid() || d.NetSent != 50 || d.NetReceived != 100 ||
		b.Store.IndexMaintenanceRead != 7 || b.Store.TotalWritten() != 9 {
		t.Fatalf("samples %+v then %+v, delta %+v", a, b, d)
	}
	failing := &ProcNode{NodeName: "x", PID: os.Getpid(), Net: func() (uint64, uint64, error) { return 0, 0, errors.New("no link") }}
	if _, err := failing.Sample(); err == nil {
		t.Fatal("a failing Net did not fail Sample")
	}
}

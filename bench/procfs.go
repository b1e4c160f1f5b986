package bench

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"fmt"
	"os"
	"strconv"
	"sync"

	"golang.org/x/sys/unix"
)

// ProcSample holds the /proc/PID counters of one process.
type ProcSample struct {
	PID int
	// From /proc/PID/io: bytes passed to read/write syscalls (RChar, WChar),
	// bytes fetched from / sent to the storage layer (ReadBytes, WriteBytes,
	// counted when pages are dirtied), and dirtied bytes later truncated
	// away (CancelledWriteBytes).
	RChar, WChar, ReadBytes, WriteBytes, CancelledWriteBytes uint64
	// From /proc/PID/stat: CPU time in user and kernel mode, in clock ticks.
	UTimeTicks, STimeTicks uint64
	// ClockTicks is the kernel's USER_HZ (sysconf(_SC_CLK_TCK)).
	ClockTicks uint64
	// RSSBytes is the resident set size from /proc/PID/status (VmRSS). It is
	// a level, not a counter: Sub keeps the later value.
	RSSBytes uint64
}

// CPUSeconds returns user and system CPU seconds.
func (p ProcSample) CPUSeconds() (user, system float64) {
	if p.ClockTicks == 0 {
		return 0, 0
	}
	return float64(p.UTimeTicks) / float64(p.ClockTicks), float64(p.STimeTicks) / float64(p.ClockTicks)
}

// Sub returns the counters of p minus before; RSSBytes stays p's.
func (p ProcSample) Sub(before ProcSample) ProcSample {
	return ProcSample{
		PID:                 p.PID,
		RChar:               p.RChar - before.RChar,
		WChar:               p.WChar - before.WChar,
		ReadBytes:           p.ReadBytes - before.ReadBytes,
		WriteBytes:          p.WriteBytes - before.WriteBytes,
		CancelledWriteBytes: p.CancelledWriteBytes - before.CancelledWriteBytes,
		UTimeTicks:          p.UTimeTicks - before.UTimeTicks,
		STimeTicks:          p.STimeTicks - before.STimeTicks,
		ClockTicks:          p.ClockTicks,
		RSSBytes:            p.RSSBytes,
	}
}

// atClkTck is AT_CLKTCK from linux/auxvec.h: the auxiliary vector entry in
// which the kernel passes USER_HZ, where glibc's sysconf(_SC_CLK_TCK) reads it.
const atClkTck = 17

var clockTicks = sync.OnceValues(func() (uint64, error) {
	if auxv, err := unix.Auxv(); err == nil {
		for _, kv := range auxv {
			if kv[0] == atClkTck && kv[1] != 0 {
				return uint64(kv[1]), nil
			}
		}
	}
	b, err := os.ReadFile("/proc/self/auxv")
	if err != nil {
		return 0, fmt.Errorf("%w: clock ticks: %v", ErrProc, err)
	}
	return parseAuxvClkTck(b)
})

// ClockTicks returns the kernel's USER_HZ, the unit of utime and stime in
// /proc/PID/stat, from the auxiliary vector (never assumed).
func ClockTicks() (uint64, error) { return clockTicks() }

// parseAuxvClkTck finds AT_CLKTCK in a native-endian 64-bit auxv dump.
func parseAuxvClkTck(b []byte) (uint64, error) {
	for i := 0; i+16 <= len(b); i += 16 {
		k := binary.NativeEndian.Uint64(b[i:])
		v := binary.NativeEndian.Uint64(b[i+8:])
		if k == 0 {
			break
		}
		if k == atClkTck && v != 0 {
			return v, nil
		}
	}
	return 0, fmt.Errorf("%w: AT_CLKTCK not in auxiliary vector", ErrProc)
}

// ReadProc reads /proc/PID/io, /proc/PID/stat and /proc/PID/status.
func ReadProc(pid int) (ProcSample, error) {
	s := ProcSample{PID: pid}
	var err error
	if s.ClockTicks, err = ClockTicks(); err != nil {
		return s, err
	}
	dir := "/proc/" + strconv.Itoa(pid) + "/"
	b, err := os.ReadFile(dir + "io")
	if err != nil {
		return s, fmt.Errorf("%w: %v", ErrProc, err)
	}
	if err := parseProcIO(b, &s); err != nil {
		return s, fmt.Errorf("%s: %w", dir+"io", err)
	}
	if b, err = os.ReadFile(dir + "stat"); err != nil {
		return s, fmt.Errorf("%w: %v", ErrProc, err)
	}
	if s.UTimeTicks, s.STimeTicks, err = parseProcStat(b); err != nil {
		return s, fmt.Errorf("%s: %w", dir+"stat", err)
	}
	if b, err = os.ReadFile(dir + "status"); err != nil {
		return s, fmt.Errorf("%w: %v", ErrProc, err)
	}
	if s.RSSBytes, err = parseProcStatusRSS(b); err != nil {
		return s, fmt.Errorf("%s: %w", dir+"status", err)
	}
	return s, nil
}

// parseProcIO parses /proc/PID/io ("name: value" lines). Every field ReadProc
// needs must be present.
func parseProcIO(b []byte, s *ProcSample) error {
	fields := map[string]*uint64{
		"rchar": &s.RChar, "wchar": &s.WChar, "read_bytes": &s.ReadBytes,
		"write_bytes": &s.WriteBytes, "cancelled_write_bytes": &s.CancelledWriteBytes,
	}
	seen := 0
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		name, val, ok := bytes.Cut(sc.Bytes(), []byte(":"))
		if !ok {
			return fmt.Errorf("%w: io line %q has no colon", ErrProc, sc.Bytes())
		}
		p, want := fields[string(name)]
		if !want {
			continue
		}
		v, err := strconv.ParseUint(string(bytes.TrimSpace(val)), 10, 64)
		if err != nil {
			return fmt.Errorf("%w: io field %s: %v", ErrProc, name, err)
		}
		*p = v
		seen++
	}
	if seen != len(fields) {
		return fmt.Errorf("%w: io has %d of the %d fields rchar, wchar, read_bytes, write_bytes, cancelled_write_bytes",
			ErrProc, seen, len(fields))
	}
	return nil
}

// parseProcStat returns utime and stime (fields 14 and 15) of /proc/PID/stat.
// The command name (field 2) is in parentheses and may itself hold spaces
// and parentheses, so fields are counted after its last ')'.
func parseProcStat(b []byte) (utime, stime uint64, err error) {
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, 0, fmt.Errorf("%w: stat has no ')' closing the command name", ErrProc)
	}
	f := bytes.Fields(b[i+1:])
	// f[0] is field 3 (state), so field n is f[n-3].
	if len(f) < 13 {
		return 0, 0, fmt.Errorf("%w: stat has %d fields after the command name, want at least 13", ErrProc, len(f))
	}
	if utime, err = strconv.ParseUint(string(f[11]), 10, 64); err != nil {
		return 0, 0, fmt.Errorf("%w: stat utime: %v", ErrProc, err)
	}
	if stime, err = strconv.ParseUint(string(f[12]), 10, 64); err != nil {
		return 0, 0, fmt.Errorf("%w: stat stime: %v", ErrProc, err)
	}
	return utime, stime, nil
}

// parseProcStatusRSS returns VmRSS of /proc/PID/status in bytes.
func parseProcStatusRSS(b []byte) (uint64, error) {
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		name, val, ok := bytes.Cut(sc.Bytes(), []byte(":"))
		if !ok || string(name) != "VmRSS" {
			continue
		}
		f := bytes.Fields(val)
		if len(f) != 2 || string(f[1]) != "kB" {
			return 0, fmt.Errorf("%w: status VmRSS %q, want \"<n> kB\"", ErrProc, val)
		}
		kb, err := strconv.ParseUint(string(f[0]), 10, 64)
		if err != nil {
			return 0, fmt.Errorf("%w: status VmRSS: %v", ErrProc, err)
		}
		return kb * 1024, nil
	}
	return 0, fmt.Errorf("%w: status has no VmRSS line", ErrProc)
}

// ProcNode is a Node measured through /proc/PID, with optional store and
// transport counters from functions (for a talosd node: its inspect
// output and its transport's byte counters).
//
// A ProcNode is safe for concurrent use if its functions are.
type ProcNode struct {
	NodeName string
	PID      int
	// StoreIO, if not nil, returns the store's own counters.
	StoreIO func() (StoreIO, error)
	// Net, if not nil, returns the bytes the node's transport has sent and
	// received.
	Net func() (sent, received uint64, err error)
	// NetSource names what Net counts (NodeSample.NetSource).
	NetSource string
	// Wire, if not nil, returns the same traffic from an independent
	// source named by WireSource (NodeSample.WireSent).
	Wire       func() (sent, received uint64, err error)
	WireSource string
}

// Name implements Node.
func (n *ProcNode) Name() string { return n.NodeName }

// Sample implements Node.
func (n *ProcNode) Sample() (NodeSample, error) {
	var s NodeSample
	if n.StoreIO != nil {
		st, err := n.StoreIO()
		if err != nil {
			return s, err
		}
		s.Store = st
	}
	if n.Net != nil {
		sent, recv, err := n.Net()
		if err != nil {
			return s, err
		}
		s.NetSent, s.NetReceived, s.NetSource = sent, recv, n.NetSource
	}
	if n.Wire != nil {
		sent, recv, err := n.Wire()
		if err != nil {
			return s, err
		}
		s.WireSent, s.WireReceived, s.WireSource = sent, recv, n.WireSource
	}
	p, err := ReadProc(n.PID)
	if err != nil {
		return s, err
	}
	s.Proc, s.HasProc = p, true
	return s, nil
}

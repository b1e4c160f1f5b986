package bench

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"

	"golang.org/x/sys/unix"
)

// Machine describes where a run happened.
type Machine struct {
	CPUModel  string `json:"cpu_model"`
	Cores     int    `json:"cores"`
	Kernel    string `json:"kernel"`
	GoVersion string `json:"go_version"`
	// Device is the block device holding the data directory, its file
	// system type, and whether it is rotational, as far as /sys tells.
	Device     string `json:"device"`
	FileSystem string `json:"file_system"`
	Rotational string `json:"rotational"`
}

// DescribeMachine gathers the CPU, core count, kernel and the device that
// holds dataDir. Anything it cannot find is left "unknown".
func DescribeMachine(dataDir string) Machine {
	m := Machine{CPUModel: "unknown", Cores: runtime.NumCPU(), Kernel: "unknown",
		GoVersion: runtime.Version(), Device: "unknown", FileSystem: "unknown", Rotational: "unknown"}
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		sc := bufio.NewScanner(bytes.NewReader(b))
		for sc.Scan() {
			k, v, ok := strings.Cut(sc.Text(), ":")
			if ok && strings.TrimSpace(k) == "model name" {
				m.CPUModel = strings.TrimSpace(v)
				break
			}
		}
	}
	var u unix.Utsname
	if unix.Uname(&u) == nil {
		m.Kernel = unix.ByteSliceToString(u.Sysname[:]) + " " + unix.ByteSliceToString(u.Release[:])
	}
	abs, err := filepath.Abs(dataDir)
	if err != nil {
		return m
	}
	var st unix.Stat_t
	if unix.Stat(abs, &st) != nil {
		return m
	}
	maj, min := unix.Major(st.Dev), unix.Minor(st.Dev)
	devID := fmt.Sprintf("%d:%d", maj, min)
	m.Device = devID
	if b, err := os.ReadFile("/sys/dev/block/" + devID + "/uevent"); err == nil {
		for _, l := range strings.Split(string(b), "\n") {
			if name, ok := strings.CutPrefix(l, "DEVNAME="); ok {
				m.Device = name
			}
		}
	}
	if b, err := os.ReadFile("/sys/dev/block/" + devID + "/queue/rotational"); err == nil {
		m.Rotational = strings.TrimSpace(string(b))
	}
	// /proc/self/mountinfo: field 3 is major:minor, field 5 the mount
	// point; after " - " come the file system type and source.
	if b, err := os.ReadFile("/proc/self/mountinfo"); err == nil {
		best := ""
		for _, l := range strings.Split(string(b), "\n") {
			pre, post, ok := strings.Cut(l, " - ")
			f, g := strings.Fields(pre), strings.Fields(post)
			if !ok || len(f) < 5 || len(g) < 1 || f[2] != devID {
				continue
			}
			mp := f[4]
			if (abs == mp || strings.HasPrefix(abs, strings.TrimSuffix(mp, "/")+"/")) && len(mp) >= len(best) {
				best, m.FileSystem = mp, g[0]
			}
		}
	}
	return m
}

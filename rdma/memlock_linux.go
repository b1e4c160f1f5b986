//go:build linux

package rdma

import (
	"bufio"
	"fmt"
	"os"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// capIPCLock is CAP_IPC_LOCK: a process holding it may pin memory beyond
// RLIMIT_MEMLOCK.
const capIPCLock = 14

// CheckMemlock reports whether this process may pin (register) bytes more
// bytes of memory on top of alreadyPinned. It returns an error wrapping
// ErrMemlock, naming the limit and the fix, when RLIMIT_MEMLOCK is too
// low and the process lacks CAP_IPC_LOCK. talosd should call it at start
// with the total it will register.
func CheckMemlock(alreadyPinned, bytes uint64) error {
	var lim unix.Rlimit
	if err := unix.Getrlimit(unix.RLIMIT_MEMLOCK, &lim); err != nil {
		return fmt.Errorf("rdma: getrlimit(RLIMIT_MEMLOCK): %w", err)
	}
	return checkMemlock(lim.Cur, alreadyPinned, bytes, hasCapIPCLock)
}

func checkMemlock(limit, alreadyPinned, bytes uint64, hasCap func() bool) error {
	if limit == unix.RLIM_INFINITY || alreadyPinned+bytes <= limit {
		return nil
	}
	if hasCap() {
		return nil
	}
	return fmt.Errorf("%w: registering %d more bytes (%d already registered) needs %d bytes of locked memory, "+
		"but RLIMIT_MEMLOCK is %d bytes; fix: run `ulimit -l unlimited` in the shell that starts the process, "+
		"or set LimitMEMLOCK=infinity in its systemd unit (or --ulimit memlock=-1 for a container)",
		ErrMemlock, bytes, alreadyPinned, alreadyPinned+bytes, limit)
}

func hasCapIPCLock() bool {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return false
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		if rest, ok := strings.CutPrefix(line, "CapEff:"); ok {
			caps, err := strconv.ParseUint(strings.TrimSpace(rest), 16, 64)
			return err == nil && caps&(1<<capIPCLock) != 0
		}
	}
	return false
}

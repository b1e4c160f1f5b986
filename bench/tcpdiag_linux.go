package bench

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// WireTCPInfo is the WireSource of talosd nodes on the TCP transport: the
// kernel's own per-socket counters (tcp_info bytes_acked and
// bytes_received, read through NETLINK_INET_DIAG) of the node's
// replication sockets. They count everything the transport puts on the
// wire (frames, headers, acks, control messages), independently of
// talosd's payload counters.
const WireTCPInfo = "tcp-info"

// TCPSocketBytes sums, over pid's TCP sockets (IPv4 and IPv6) whose local
// or remote port is port, the bytes the kernel has sent and had
// acknowledged and the bytes it has received. A socket closed since an
// earlier call no longer counts, so a caller compares samples of sockets
// that live through the interval (replication connections do).
func TCPSocketBytes(pid int, port uint16) (sent, received uint64, err error) {
	inodes, err := socketInodes(pid)
	if err != nil {
		return 0, 0, err
	}
	for _, family := range []uint8{unix.AF_INET, unix.AF_INET6} {
		socks, err := netlink.SocketDiagTCPInfo(family)
		if err != nil {
			return 0, 0, fmt.Errorf("%w: inet_diag dump (family %d): %w", ErrProc, family, err)
		}
		for _, s := range socks {
			m := s.InetDiagMsg
			if m == nil || s.TCPInfo == nil || !inodes[m.INode] {
				continue
			}
			if m.ID.SourcePort != port && m.ID.DestinationPort != port {
				continue
			}
			sent += s.TCPInfo.Bytes_acked
			received += s.TCPInfo.Bytes_received
		}
	}
	return sent, received, nil
}

// socketInodes returns the inodes of the sockets pid holds open.
func socketInodes(pid int) (map[uint32]bool, error) {
	dir := filepath.Join("/proc", strconv.Itoa(pid), "fd")
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrProc, err)
	}
	out := make(map[uint32]bool, len(ents))
	for _, e := range ents {
		link, err := os.Readlink(filepath.Join(dir, e.Name()))
		if err != nil {
			continue // closed since ReadDir
		}
		rest, ok := strings.CutPrefix(link, "socket:[")
		if !ok {
			continue
		}
		n, err := strconv.ParseUint(strings.TrimSuffix(rest, "]"), 10, 32)
		if err == nil {
			out[uint32(n)] = true
		}
	}
	return out, nil
}

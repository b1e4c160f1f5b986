//go:build !linux

package bench

import "fmt"

// WireTCPInfo is the WireSource of talosd nodes on the TCP transport
// (Linux only).
const WireTCPInfo = "tcp-info"

// TCPSocketBytes needs Linux's NETLINK_INET_DIAG.
func TCPSocketBytes(pid int, port uint16) (sent, received uint64, err error) {
	return 0, 0, fmt.Errorf("%w: per-socket TCP counters need Linux", ErrProc)
}

package bench

import (
	"cmp"
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// Sizes a talosd cluster runs with when TargetOptions.Small is set (the
// --quick profile): a short run then still flushes and compacts.
const (
	smallMemtable = "256KiB"
	smallSegment  = "64KiB"
)

// ClusterSpec returns the spec of a local talosd cluster over transport
// ("tcp" or "rdma"), registered as "talosd" (TCP) and "talosd-rdma".
func ClusterSpec(name, transport string) TargetSpec {
	return TargetSpec{
		Name: name,
		Summary: "a talosd primary and 0-2 backups as processes on 127.0.0.1 over " + transport +
			", driven through go-redis; ship-index or build-index",
		Modes:      []string{ModeShipIndex, ModeBuildIndex},
		Replicas:   []int{0, 1, 2},
		Transport:  transport,
		UsesTalosd: true,
		Unavailable: func(o TargetOptions) (string, error) {
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			return TalosdModeUnavailable(ctx, o.Talosd, o.Mode)
		},
		Open: func(dir string, o TargetOptions) (Target, error) {
			co := clusterOptions(transport, o)
			if transport == "rdma" {
				host, err := rdmaHost()
				if err != nil {
					return nil, err
				}
				co.Host = host
			}
			return OpenCluster(dir, co)
		},
	}
}

// clusterOptions maps a run's target options to a cluster's: explicit
// sizes win over --small's.
func clusterOptions(transport string, o TargetOptions) ClusterOptions {
	co := ClusterOptions{Binary: o.Talosd, Mode: o.Mode, Replicas: o.Replicas, GrowthFactor: o.GrowthFactor,
		Transport: transport, Threads: o.Threads, Sync: o.Sync, ValueThreshold: o.ValueThreshold,
		CPUProfilePrefix: o.NodeProfilePrefix}
	co.MemtableSize, co.SegmentSize = clusterSizes(o.Small, o.MemtableSize, o.SegmentSize)
	return co
}

// clusterSizes returns the memtable and segment sizes a talosd cluster
// runs with: memtable and segment if given, else --small's, else empty
// (talosd's defaults).
func clusterSizes(small bool, memtable, segment string) (string, string) {
	if small {
		memtable, segment = cmp.Or(memtable, smallMemtable), cmp.Or(segment, smallSegment)
	}
	return memtable, segment
}

// rdmaHost returns the first IPv4 address of the network interface of the
// first RDMA device's port 1 (an RDMA transport's replication addresses
// must be on that interface).
func rdmaHost() (string, error) {
	ents, err := os.ReadDir("/sys/class/infiniband")
	if err != nil || len(ents) == 0 {
		return "", fmt.Errorf("%w: no RDMA device in /sys/class/infiniband", ErrTarget)
	}
	dev := ents[0].Name()
	nd, err := os.ReadFile(filepath.Join("/sys/class/infiniband", dev, "ports/1/gid_attrs/ndevs/0"))
	if err != nil {
		return "", fmt.Errorf("%w: network interface of RDMA device %s: %w", ErrTarget, dev, err)
	}
	ifc, err := net.InterfaceByName(strings.TrimSpace(string(nd)))
	if err != nil {
		return "", fmt.Errorf("%w: RDMA device %s: %w", ErrTarget, dev, err)
	}
	addrs, err := ifc.Addrs()
	if err != nil {
		return "", fmt.Errorf("%w: addresses of %s: %w", ErrTarget, ifc.Name, err)
	}
	for _, a := range addrs {
		if ipn, ok := a.(*net.IPNet); ok && ipn.IP.To4() != nil {
			return ipn.IP.String(), nil
		}
	}
	return "", fmt.Errorf("%w: interface %s of RDMA device %s has no IPv4 address", ErrTarget, ifc.Name, dev)
}

// hasRDMADevice reports whether the kernel lists an RDMA device.
func hasRDMADevice() bool {
	ents, err := os.ReadDir("/sys/class/infiniband")
	return err == nil && len(ents) > 0
}

func init() {
	RegisterTarget(ClusterSpec("talosd", "tcp"))
	if hasRDMADevice() {
		RegisterTarget(ClusterSpec("talosd-rdma", "rdma"))
	}
}

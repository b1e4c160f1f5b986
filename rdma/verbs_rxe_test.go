//go:build rxe && linux && cgo

package rdma

// The verbs provider's conformance tests and benchmarks. They need an
// RDMA device and an address on it, so they are built only with the rxe
// tag and run inside the Soft-RoCE VM (softroce/vm), or on any Linux host
// with a device:
//
//	go test -c -tags rxe -o rdma.test ./rdma/
//	TALOS_RDMA_ADDR=10.9.9.9 TALOS_RDMA_DEVICE=rxe0 ./rdma.test -test.v -test.run Verbs
//	./rdma.test -test.run '^$' -test.bench Verbs -test.benchtime 2s

import (
	"net"
	"os"
	"testing"
)

func verbsEnv(tb testing.TB) conformanceEnv {
	addr := os.Getenv("TALOS_RDMA_ADDR")
	if addr == "" {
		tb.Fatalf("TALOS_RDMA_ADDR is not set: give the IP address of the RDMA netdev (rdma_cm cannot use loopback), e.g. TALOS_RDMA_ADDR=10.9.9.9")
	}
	dev := os.Getenv("TALOS_RDMA_DEVICE")
	tb.Logf("verbs provider on device %q, address %s", dev, addr)
	return conformanceEnv{
		name: "verbs",
		open: func(t testing.TB, opts Options) Provider {
			opts.Device = dev
			p, err := Open("verbs", opts)
			if err != nil {
				t.Fatalf("Open(verbs, device %q): %v", dev, err)
			}
			return p
		},
		listenAddr: net.JoinHostPort(addr, "0"),
	}
}

func TestVerbsConformance(t *testing.T) { runConformance(t, verbsEnv(t)) }

func BenchmarkVerbsWrite(b *testing.B) {
	env := verbsEnv(b)
	b.Run("64KiB", func(b *testing.B) { benchWrite(b, env, 64<<10) })
	b.Run("4KiB", func(b *testing.B) { benchWrite(b, env, 4<<10) })
}

func BenchmarkVerbsWriteLatency(b *testing.B) { benchWriteLatency(b, verbsEnv(b)) }

package rdma

import "testing"

func tcpEnv() conformanceEnv {
	return conformanceEnv{
		name: "tcp",
		open: func(t testing.TB, opts Options) Provider {
			p, err := Open("tcp", opts)
			if err != nil {
				t.Fatalf("Open(tcp): %v", err)
			}
			return p
		},
		listenAddr: "127.0.0.1:0",
	}
}

func TestTCPConformance(t *testing.T) { runConformance(t, tcpEnv()) }

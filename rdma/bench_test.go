package rdma

import (
	"context"
	"slices"
	"testing"
	"time"
)

// benchWrite measures one-sided WRITE bandwidth: writes of size bytes
// into a 16 MiB peer region, posted in chains of 16 with the last of each
// chain signaled, keeping the send queue nearly full.
func benchWrite(b *testing.B, env conformanceEnv, size int) {
	const chain = 16
	const ring = 16 << 20
	opts := Options{ClusterToken: testToken, SendQueueDepth: 256}
	pr := connect(b, env, opts, func(p Provider) []RemoteRegion {
		return []RemoteRegion{mustRegion(b, p, ring, AccessRemoteWrite).Remote()}
	}, nil)
	src := mustRegion(b, pr.pb, max(size, 4096), AccessLocalWrite)
	remote := pr.b.PeerRegions()[0]
	slots := ring / size
	ctx := context.Background()
	wrs := make([]WorkRequest, chain)
	cs := make([]Completion, 64)
	b.SetBytes(int64(size))
	b.ResetTimer()
	posted, done := 0, 0
	for done < b.N {
		for posted < b.N && posted-done <= opts.SendQueueDepth-chain {
			n := min(chain, b.N-posted)
			for i := range wrs[:n] {
				wrs[i] = WorkRequest{ID: uint64(posted + i), Op: OpWrite, Local: src, Length: size,
					Remote: remote, RemoteOffset: uint64(((posted + i) % slots) * size), Signaled: i == n-1}
			}
			if err := pr.b.Post(wrs[:n]); err != nil {
				b.Fatalf("Post: %v", err)
			}
			posted += n
		}
		k, err := pr.b.Wait(ctx, cs)
		if err != nil {
			b.Fatalf("Wait: %v", err)
		}
		for _, c := range cs[:k] {
			if c.Err != nil {
				b.Fatalf("completion: %v", c.Err)
			}
			done = int(c.ID) + 1
		}
	}
}

// benchWriteLatency measures one 8-byte signaled WRITE at a time: post,
// wait for its completion, repeat. ns/op is the mean; p50-ns and p99-ns
// are the median and 99th percentile of the individual round trips (on a
// loaded machine the mean is dominated by preemption).
func benchWriteLatency(b *testing.B, env conformanceEnv) {
	pr := connect(b, env, Options{ClusterToken: testToken}, func(p Provider) []RemoteRegion {
		return []RemoteRegion{mustRegion(b, p, 4096, AccessRemoteWrite).Remote()}
	}, nil)
	src := mustRegion(b, pr.pb, 4096, AccessLocalWrite)
	remote := pr.b.PeerRegions()[0]
	ctx := context.Background()
	wr := []WorkRequest{{Op: OpWrite, Local: src, Length: 8, Remote: remote, Signaled: true}}
	cs := make([]Completion, 1)
	lat := make([]time.Duration, b.N)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		wr[0].ID = uint64(i)
		t0 := time.Now()
		if err := pr.b.Post(wr); err != nil {
			b.Fatalf("Post: %v", err)
		}
		if _, err := pr.b.Wait(ctx, cs); err != nil || cs[0].Err != nil {
			b.Fatalf("Wait: %v / %v", err, cs[0].Err)
		}
		lat[i] = time.Since(t0)
	}
	b.StopTimer()
	slices.Sort(lat)
	b.ReportMetric(float64(lat[len(lat)/2].Nanoseconds()), "p50-ns")
	b.ReportMetric(float64(lat[len(lat)*99/100].Nanoseconds()), "p99-ns")
}

func BenchmarkTCPWrite(b *testing.B) {
	b.Run("64KiB", func(b *testing.B) { benchWrite(b, tcpEnv(), 64<<10) })
	b.Run("4KiB", func(b *testing.B) { benchWrite(b, tcpEnv(), 4<<10) })
}

func BenchmarkTCPWriteLatency(b *testing.B) { benchWriteLatency(b, tcpEnv()) }

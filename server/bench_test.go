package server

import (
	"bufio"
	"fmt"
	"net"
	"testing"

	"github.com/talos-kv/talos/engine"
	"github.com/talos-kv/talos/server/resp"
)

// benchPipelined measures one connection sending pipelines of depth 16,
// as redis-benchmark -P 16 does, over loopback TCP.
func benchPipelined(b *testing.B, store Store, cmd func(i int) [][]byte) {
	srv, err := New(store, Options{})
	if err != nil {
		b.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	go srv.Serve(ln)
	defer srv.Shutdown(b.Context())
	nc, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		b.Fatal(err)
	}
	defer nc.Close()
	br := bufio.NewReader(nc)
	const depth = 16
	var req []byte
	b.ResetTimer()
	for i := 0; i < b.N; i += depth {
		req = req[:0]
		n := min(depth, b.N-i)
		for j := 0; j < n; j++ {
			req = resp.AppendCommand(req, cmd(i+j)...)
		}
		if _, err := nc.Write(req); err != nil {
			b.Fatal(err)
		}
		for j := 0; j < n; j++ {
			if _, err := readReply(br); err != nil {
				b.Fatal(err)
			}
		}
	}
}

func benchStores(b *testing.B, fn func(b *testing.B, s Store)) {
	b.Run("mem", func(b *testing.B) { fn(b, newMemStore()) })
	for _, sync := range []engine.SyncPolicy{engine.SyncAlways, engine.SyncInterval} {
		b.Run("engine-"+sync.String(), func(b *testing.B) {
			db, err := engine.Open(b.TempDir(), engine.Options{Sync: sync})
			if err != nil {
				b.Fatal(err)
			}
			defer db.Close()
			fn(b, NewEngineStore(db))
		})
	}
}

func BenchmarkPipelinedSet(b *testing.B) {
	value := make([]byte, 3)
	benchStores(b, func(b *testing.B, s Store) {
		benchPipelined(b, s, func(i int) [][]byte {
			return [][]byte{[]byte("SET"), fmt.Appendf(nil, "key:%d", i%100000), value}
		})
	})
}

func BenchmarkPipelinedGet(b *testing.B) {
	benchStores(b, func(b *testing.B, s Store) {
		var batch Batch
		for i := 0; i < 1000; i++ {
			batch.Put(metaKey(fmt.Appendf(nil, "key:%d", i)), encodeString([]byte("val"), 0))
		}
		if err := s.Write(&batch); err != nil {
			b.Fatal(err)
		}
		benchPipelined(b, s, func(i int) [][]byte {
			return [][]byte{[]byte("GET"), fmt.Appendf(nil, "key:%d", i%1000)}
		})
	})
}

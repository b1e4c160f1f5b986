package engine

import (
	"context"
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/vfs"
)

// store is what the benchmarks drive: the engine and Pebble behind one face.
type store interface {
	put(k, v []byte) error
	get(k []byte) error
	scan(start []byte, n int) error
	flush() error
	close() error
}

type talosStore struct{ db *DB }

func (s talosStore) put(k, v []byte) error { return s.db.Put(k, v) }
func (s talosStore) get(k []byte) error {
	_, err := s.db.Get(k)
	return err
}
func (s talosStore) scan(start []byte, n int) error {
	it := s.db.NewIter(start, nil)
	for ok := it.First(); ok && n > 0; ok = it.Next() {
		_ = it.Value()
		n--
	}
	return it.Close()
}
func (s talosStore) flush() error { return s.db.Flush(bctx) }
func (s talosStore) close() error { return s.db.Close() }

type pebbleStore struct {
	db   *pebble.DB
	sync *pebble.WriteOptions
}

func (s pebbleStore) put(k, v []byte) error { return s.db.Set(k, v, s.sync) }
func (s pebbleStore) get(k []byte) error {
	_, c, err := s.db.Get(k)
	if err != nil {
		return err
	}
	return c.Close()
}
func (s pebbleStore) scan(start []byte, n int) error {
	it, err := s.db.NewIter(&pebble.IterOptions{LowerBound: start})
	if err != nil {
		return err
	}
	for ok := it.First(); ok && n > 0; ok = it.Next() {
		_ = it.Value()
		n--
	}
	return it.Close()
}
func (s pebbleStore) flush() error { return s.db.Flush() }
func (s pebbleStore) close() error { return s.db.Close() }

// openBoth opens the engine (default options) and Pebble (default options)
// in fresh directories, both without syncing each write (the same setting).
func openBoth(b *testing.B) (talosStore, pebbleStore) {
	db, err := Open(b.TempDir(), Options{Sync: SyncNever})
	if err != nil {
		b.Fatal(err)
	}
	pdb, err := pebble.Open(b.TempDir(), &pebble.Options{FS: vfs.Default})
	if err != nil {
		b.Fatal(err)
	}
	return talosStore{db}, pebbleStore{pdb, pebble.NoSync}
}

func benchKey(buf []byte, i uint64) []byte {
	// Spread keys over the key space in a fixed pseudo-random order.
	return binary.BigEndian.AppendUint64(append(buf[:0], "key-"...), i*0x9e3779b97f4a7c15)
}

var valueSizes = []int{100, 1024}

// timeOps runs op n times and returns the time taken.
func timeOps(b *testing.B, n int, op func(i int) error) time.Duration {
	start := time.Now()
	for i := range n {
		if err := op(i); err != nil {
			b.Fatal(err)
		}
	}
	return time.Since(start)
}

func report(b *testing.B, n int, talos, peb time.Duration) {
	ts := float64(n) / talos.Seconds()
	ps := float64(n) / peb.Seconds()
	b.ReportMetric(ts, "talos-ops/s")
	b.ReportMetric(ps, "pebble-ops/s")
	b.ReportMetric(ts/ps, "x-pebble")
}

// BenchmarkPut loads b.N keys into each store and reports both
// throughputs and their ratio.
func BenchmarkPut(b *testing.B) {
	for _, vs := range valueSizes {
		b.Run(fmt.Sprintf("value=%d", vs), func(b *testing.B) {
			ts, ps := openBoth(b)
			defer ts.close()
			defer ps.close()
			val := make([]byte, vs)
			for i := range val {
				val[i] = byte(i * 7)
			}
			var kb []byte
			b.ResetTimer()
			td := timeOps(b, b.N, func(i int) error {
				kb = benchKey(kb, uint64(i))
				return ts.put(kb, val)
			})
			pd := timeOps(b, b.N, func(i int) error {
				kb = benchKey(kb, uint64(i))
				return ps.put(kb, val)
			})
			report(b, b.N, td, pd)
		})
	}
}

// loaded opens both stores with the same n keys, flushed to tables.
func loaded(b *testing.B, n, vs int) (talosStore, pebbleStore) {
	ts, ps := openBoth(b)
	val := make([]byte, vs)
	var kb []byte
	for i := range n {
		kb = benchKey(kb, uint64(i))
		if err := ts.put(kb, val); err != nil {
			b.Fatal(err)
		}
		if err := ps.put(kb, val); err != nil {
			b.Fatal(err)
		}
	}
	if err := ts.flush(); err != nil {
		b.Fatal(err)
	}
	if err := ps.flush(); err != nil {
		b.Fatal(err)
	}
	return ts, ps
}

const benchKeys = 200_000

// BenchmarkGet reads random keys of a loaded store.
func BenchmarkGet(b *testing.B) {
	for _, vs := range valueSizes {
		b.Run(fmt.Sprintf("value=%d", vs), func(b *testing.B) {
			n := benchKeys
			if vs > 512 {
				n = benchKeys / 4
			}
			ts, ps := loaded(b, n, vs)
			defer ts.close()
			defer ps.close()
			rng := rand.New(rand.NewPCG(1, 2))
			order := make([]uint64, b.N)
			for i := range order {
				order[i] = uint64(rng.IntN(n))
			}
			var kb []byte
			b.ResetTimer()
			td := timeOps(b, b.N, func(i int) error {
				kb = benchKey(kb, order[i])
				return ts.get(kb)
			})
			pd := timeOps(b, b.N, func(i int) error {
				kb = benchKey(kb, order[i])
				return ps.get(kb)
			})
			report(b, b.N, td, pd)
		})
	}
}

// BenchmarkScan reads 100 consecutive keys from a random start.
func BenchmarkScan(b *testing.B) {
	for _, vs := range valueSizes {
		b.Run(fmt.Sprintf("value=%d", vs), func(b *testing.B) {
			n := benchKeys
			if vs > 512 {
				n = benchKeys / 4
			}
			ts, ps := loaded(b, n, vs)
			defer ts.close()
			defer ps.close()
			rng := rand.New(rand.NewPCG(3, 4))
			order := make([]uint64, b.N)
			for i := range order {
				order[i] = uint64(rng.IntN(n))
			}
			var kb []byte
			b.ResetTimer()
			td := timeOps(b, b.N, func(i int) error {
				kb = benchKey(kb, order[i])
				return ts.scan(kb, 100)
			})
			pd := timeOps(b, b.N, func(i int) error {
				kb = benchKey(kb, order[i])
				return ps.scan(kb, 100)
			})
			report(b, b.N, td, pd)
		})
	}
}

var bctx = context.Background()

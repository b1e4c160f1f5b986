package index

import (
	"context"
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/vfs"
)

// The benchmarks run the index and Pebble v2 (default options, WAL on,
// no sync) on the same keys in the same process, on the real file system.
// Compare ns/op of the Index and Pebble sub-benchmarks.

func benchKey(buf []byte, i uint64) []byte {
	// Scrambled order so that writes are not sequential.
	binary.BigEndian.PutUint64(buf, i*0x9e3779b97f4a7c15)
	return buf[:8]
}

func BenchmarkApply(b *testing.B) {
	for _, size := range []int{100, 1024} {
		value := make([]byte, size)
		for i := range value {
			value[i] = byte(rand.Uint32())
		}
		b.Run(fmt.Sprintf("Index/value=%d", size), func(b *testing.B) {
			x, err := Open(b.TempDir(), Options{FS: vfs.Default})
			if err != nil {
				b.Fatal(err)
			}
			defer x.Close()
			ctx := context.Background()
			var kb [8]byte
			b.SetBytes(int64(size + 8))
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if err := x.MakeRoom(ctx); err != nil {
					b.Fatal(err)
				}
				x.Apply(uint64(i+1), []Entry{{Kind: KindSet, Key: benchKey(kb[:], uint64(i)), Value: value}}, LogPos{}, nil)
			}
			if err := x.Flush(ctx); err != nil {
				b.Fatal(err)
			}
		})
		b.Run(fmt.Sprintf("Pebble/value=%d", size), func(b *testing.B) {
			db, err := pebble.Open(b.TempDir(), &pebble.Options{Logger: quietLogger{}})
			if err != nil {
				b.Fatal(err)
			}
			defer db.Close()
			var kb [8]byte
			b.SetBytes(int64(size + 8))
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if err := db.Set(benchKey(kb[:], uint64(i)), value, pebble.NoSync); err != nil {
					b.Fatal(err)
				}
			}
			if err := db.Flush(); err != nil {
				b.Fatal(err)
			}
		})
	}
}

const benchGetKeys = 200_000

func BenchmarkGet(b *testing.B) {
	value := make([]byte, 100)
	b.Run("Index", func(b *testing.B) {
		x, err := Open(b.TempDir(), Options{FS: vfs.Default, MemtableSize: 4 << 20})
		if err != nil {
			b.Fatal(err)
		}
		defer x.Close()
		ctx := context.Background()
		var kb [8]byte
		for i := 0; i < benchGetKeys; i++ {
			if err := x.MakeRoom(ctx); err != nil {
				b.Fatal(err)
			}
			x.Apply(uint64(i+1), []Entry{{Kind: KindSet, Key: benchKey(kb[:], uint64(i)), Value: value}}, LogPos{}, nil)
		}
		if err := x.Flush(ctx); err != nil {
			b.Fatal(err)
		}
		if err := x.WaitIdle(ctx); err != nil {
			b.Fatal(err)
		}
		rng := rand.New(rand.NewPCG(1, 1))
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			_, ok, err := x.Get(benchKey(kb[:], rng.Uint64N(benchGetKeys)), benchGetKeys+1)
			if err != nil || !ok {
				b.Fatal(ok, err)
			}
		}
	})
	b.Run("Pebble", func(b *testing.B) {
		db, err := pebble.Open(b.TempDir(), &pebble.Options{MemTableSize: 4 << 20, Logger: quietLogger{}})
		if err != nil {
			b.Fatal(err)
		}
		defer db.Close()
		var kb [8]byte
		for i := 0; i < benchGetKeys; i++ {
			if err := db.Set(benchKey(kb[:], uint64(i)), value, pebble.NoSync); err != nil {
				b.Fatal(err)
			}
		}
		if err := db.Flush(); err != nil {
			b.Fatal(err)
		}
		rng := rand.New(rand.NewPCG(1, 1))
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			v, closer, err := db.Get(benchKey(kb[:], rng.Uint64N(benchGetKeys)))
			if err != nil {
				b.Fatal(err)
			}
			_ = append([]byte(nil), v...)
			closer.Close()
		}
	})
}

// BenchmarkScan reads 100 keys from a random start.
func BenchmarkScan(b *testing.B) {
	value := make([]byte, 100)
	b.Run("Index", func(b *testing.B) {
		x, err := Open(b.TempDir(), Options{FS: vfs.Default, MemtableSize: 4 << 20})
		if err != nil {
			b.Fatal(err)
		}
		defer x.Close()
		ctx := context.Background()
		var kb [8]byte
		for i := 0; i < benchGetKeys; i++ {
			if err := x.MakeRoom(ctx); err != nil {
				b.Fatal(err)
			}
			x.Apply(uint64(i+1), []Entry{{Kind: KindSet, Key: benchKey(kb[:], uint64(i)), Value: value}}, LogPos{}, nil)
		}
		if err := x.Flush(ctx); err != nil {
			b.Fatal(err)
		}
		if err := x.WaitIdle(ctx); err != nil {
			b.Fatal(err)
		}
		rng := rand.New(rand.NewPCG(1, 1))
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			it := x.NewIter(IterOptions{Seq: benchGetKeys + 1})
			n := 0
			for ok := it.SeekGE(benchKey(kb[:], rng.Uint64N(benchGetKeys))); ok && n < 100; ok = it.Next() {
				n++
			}
			if err := it.Close(); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("Pebble", func(b *testing.B) {
		db, err := pebble.Open(b.TempDir(), &pebble.Options{MemTableSize: 4 << 20, Logger: quietLogger{}})
		if err != nil {
			b.Fatal(err)
		}
		defer db.Close()
		var kb [8]byte
		for i := 0; i < benchGetKeys; i++ {
			if err := db.Set(benchKey(kb[:], uint64(i)), value, pebble.NoSync); err != nil {
				b.Fatal(err)
			}
		}
		if err := db.Flush(); err != nil {
			b.Fatal(err)
		}
		rng := rand.New(rand.NewPCG(1, 1))
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			it, err := db.NewIter(nil)
			if err != nil {
				b.Fatal(err)
			}
			n := 0
			for ok := it.SeekGE(benchKey(kb[:], rng.Uint64N(benchGetKeys))); ok && n < 100; ok = it.Next() {
				_ = it.Value()
				n++
			}
			if err := it.Close(); err != nil {
				b.Fatal(err)
			}
		}
	})
}

type quietLogger struct{}

func (quietLogger) Infof(string, ...any)  {}
func (quietLogger) Errorf(string, ...any) {}
func (quietLogger) Fatalf(format string, args ...any) {
	panic(fmt.Sprintf(format, args...))
}

// BenchmarkMemtableAdd inserts keys in scrambled order into one memtable
// (a fresh one every memBenchKeys inserts), the engine's load without the
// value log, inline values. Keys are "key-" and 8 scrambled bytes, or
// YCSB's: "user" and 19 decimal digits, whose first eight bytes 300 000
// keys share about 30 at a time.
func BenchmarkMemtableAdd(b *testing.B) {
	const memBenchKeys = 300_000
	binKey := func(kb []byte, i uint64) []byte {
		kb = append(kb[:0], "key-"...)
		return binary.BigEndian.AppendUint64(kb, i*0x9e3779b97f4a7c15)
	}
	ycsbKey := func(kb []byte, i uint64) []byte {
		kb = append(kb[:0], "user"...)
		return fmt.Appendf(kb, "%019d", (i*0x9e3779b97f4a7c15)>>1)
	}
	for _, keys := range []struct {
		name string
		key  func([]byte, uint64) []byte
	}{{"binary", binKey}, {"ycsb", ycsbKey}} {
		for _, size := range []int{16, 100} {
			b.Run(fmt.Sprintf("keys=%s/value=%d", keys.name, size), func(b *testing.B) {
				value := make([]byte, size)
				kb := make([]byte, 0, 32)
				var m *memtable
				for i := 0; i < b.N; i++ {
					if i%memBenchKeys == 0 {
						m = newMemtable(uint64(i), 64<<20)
					}
					kb = keys.key(kb, uint64(i))
					m.add(uint64(i+1), KindSet, kb, value, nil)
				}
			})
		}
	}
}

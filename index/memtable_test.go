package index

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"
	"unsafe"

	"github.com/stretchr/testify/require"
)

func TestMemtableOrderAndGet(t *testing.T) {
	m := newMemtable(0, 1<<10)
	rng := rand.New(rand.NewPCG(1, 2))
	latest := map[string]uint64{}
	for seq := uint64(1); seq <= 20000; seq++ {
		k := fmt.Sprintf("%d", rng.IntN(3000))
		m.add(seq, KindSet, []byte(k), []byte(fmt.Sprint(seq)))
		latest[k] = seq
	}
	// A value larger than an arena chunk.
	big := bytes.Repeat([]byte("x"), 5<<20)
	m.add(20001, KindSet, []byte("big"), big)
	m.add(20002, KindDelete, []byte("small"), nil)
	latest["big"] = 20001
	n, ok := m.get([]byte("big"), 30000)
	require.True(t, ok)
	require.Equal(t, big, nodeValue(n))
	for k, s := range latest {
		n, ok := m.get([]byte(k), 30000)
		require.True(t, ok, k)
		require.Equal(t, s, nodeTrailer(n)>>8)
	}
	_, ok = m.get([]byte("nope"), 30000)
	require.False(t, ok)
	it := &memIter{m: m}
	var pk []byte
	var pt uint64
	count := 0
	for it.first(); it.valid(); it.next() {
		if count > 0 {
			require.Negative(t, cmpInternal(pk, pt, it.key(), it.trailer()))
		}
		pk, pt = append(pk[:0], it.key()...), it.trailer()
		count++
	}
	require.Equal(t, 20002, count)
}

// TestMemtableConcurrentReaders runs readers beside the single writer (run
// with -race): every reader sees sorted, complete entries.
func TestMemtableConcurrentReaders(t *testing.T) {
	m := newMemtable(0, 1<<10)
	var wg sync.WaitGroup
	stop := make(chan struct{})
	for r := 0; r < 2; r++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				it := &memIter{m: m}
				var pk []byte
				var pt uint64
				first := true
				for it.first(); it.valid(); it.next() {
					if !first && cmpInternal(pk, pt, it.key(), it.trailer()) >= 0 {
						panic("memtable order broken under concurrency")
					}
					if v, _ := it.value(); len(v) == 0 || v[0] != 'v' {
						panic("incomplete value")
					}
					first = false
					pk, pt = append(pk[:0], it.key()...), it.trailer()
				}
			}
		}()
	}
	for seq := uint64(1); seq <= 20000; seq++ {
		m.add(seq, KindSet, fmt.Appendf(nil, "k%d", seq*7919%5000), fmt.Appendf(nil, "v%d", seq))
	}
	close(stop)
	wg.Wait()
}

// TestMemtablePrefixTies orders keys that the eight-byte tower prefix cannot
// tell apart (shared prefixes, short keys padded with zeros, zero bytes),
// which the comparison must settle from the entries.
func TestMemtablePrefixTies(t *testing.T) {
	seed := uint64(7)
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewPCG(seed, seed))
	m := newMemtable(0, 1<<10)
	keys := map[string]uint64{}
	var seq uint64
	for range 5000 {
		var k []byte
		switch rng.IntN(4) {
		case 0:
			k = fmt.Appendf(nil, "user0000%d", rng.IntN(500))
		case 1:
			k = []byte("ab\x00\x00\x00\x00\x00\x00"[:rng.IntN(9)])
		case 2:
			k = append([]byte("abc"), make([]byte, rng.IntN(12))...)
		default:
			k = []byte{byte(rng.IntN(3)), 0, byte(rng.IntN(2))}
		}
		seq++
		m.add(seq, KindSet, k, fmt.Appendf(nil, "%d", seq))
		keys[string(k)] = seq
	}
	for k, s := range keys {
		n, ok := m.get([]byte(k), maxSeq)
		require.True(t, ok, "%q", k)
		require.Equal(t, s, nodeTrailer(n)>>8, "%q", k)
		require.Equal(t, fmt.Sprint(s), string(nodeValue(n)), "%q", k)
		// An older snapshot never sees a newer version.
		if n, ok := m.get([]byte(k), s-1); ok {
			require.Less(t, nodeTrailer(n)>>8, s)
		}
	}
	it := &memIter{m: m}
	var pk []byte
	var pt uint64
	count := 0
	for it.first(); it.valid(); it.next() {
		if count > 0 {
			require.Negative(t, cmpInternal(pk, pt, it.key(), it.trailer()), "%q/%d then %q/%d", pk, pt, it.key(), it.trailer())
		}
		pk, pt = append(pk[:0], it.key()...), it.trailer()
		count++
	}
	require.Equal(t, int(seq), count)
}

// TestMemtableTowersInLine checks that no tower of at most a cache line
// straddles two lines, that every tower's height fits, and that the
// prefix a tower keeps beside each link is that of the linked node.
func TestMemtableTowersInLine(t *testing.T) {
	m := newMemtable(0, 1<<10)
	for i := range uint64(50000) {
		m.add(i+1, KindSet, fmt.Appendf(nil, "%x", i*0x9e3779b97f4a7c15), nil)
	}
	for ref := towerNext(m.towers.at(m.head), 0); ref != 0; {
		tw := m.towers.at(ref)
		h := *(*uint32)(unsafe.Pointer(&tw[12]))
		require.True(t, h >= 1 && h <= memMaxHeight, "height %d", h)
		size := towerSize(h)
		if size <= memCacheLine {
			off := ref & (memChunkSize - 1)
			require.LessOrEqual(t, off%memCacheLine+size, uint32(memCacheLine), "tower at %#x of %d bytes", ref, size)
		}
		for level := range int(h) {
			if next := towerNext(tw, level); next != 0 {
				require.Equal(t, towerPrefix(m.towers.at(next)), towerNextPrefix(tw, level))
			}
		}
		ref = towerNext(tw, 0)
	}
}

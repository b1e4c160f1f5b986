package index

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"

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

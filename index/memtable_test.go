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
		m.add(seq, KindSet, []byte(k), []byte(fmt.Sprint(seq)), nil)
		latest[k] = seq
	}
	// A value larger than an arena chunk.
	big := bytes.Repeat([]byte("x"), 5<<20)
	m.add(20001, KindSet, []byte("big"), big, nil)
	m.add(20002, KindDelete, []byte("small"), nil, nil)
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
	require.Equal(t, 20002, requireSorted(t, m))
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
		m.add(seq, KindSet, fmt.Appendf(nil, "k%d", seq*7919%5000), fmt.Appendf(nil, "v%d", seq), nil)
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
		m.add(seq, KindSet, k, fmt.Appendf(nil, "%d", seq), nil)
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
	require.Equal(t, int(seq), requireSorted(t, m))
}

// TestMemtableTowersInLine checks that no tower of at most a cache line
// straddles two lines, that every tower's height fits, and that the
// prefix a tower keeps beside each link is that of the linked node.
func TestMemtableTowersInLine(t *testing.T) {
	m := newMemtable(0, 1<<10)
	for i := range uint64(50000) {
		m.add(i+1, KindSet, fmt.Appendf(nil, "%x", i*0x9e3779b97f4a7c15), nil, nil)
	}
	for ref := towerNext(m.towers.at(m.head), 0); ref != 0; {
		tw := m.towers.at(ref)
		h := towerHeight(tw)
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

// planKey draws keys that share their first 8 or 16 bytes with others,
// zero bytes around those boundaries, and repeats (several versions).
func planKey(rng *rand.Rand) []byte {
	switch rng.IntN(4) {
	case 0:
		return fmt.Appendf(nil, "user%012d%d", rng.IntN(3), rng.IntN(300))
	case 1:
		return append([]byte("abcdefghijklmno"), make([]byte, rng.IntN(4))...)
	case 2:
		return fmt.Appendf(nil, "user%04d", rng.IntN(200))
	default:
		return []byte{byte(rng.IntN(3)), 0, byte(rng.IntN(2))}
	}
}

// TestMemtablePlans inserts through plans made concurrently with the
// writer and with each other (run with -race), some of them stale by many
// inserts, others of the same key: the list stays sorted and complete,
// and every key's newest version is the last one inserted.
func TestMemtablePlans(t *testing.T) {
	m := newMemtable(0, 1<<10)
	const writers, perWriter = 4, 3000
	var (
		mu     sync.Mutex // the writer's turn
		seq    uint64
		latest = map[string]uint64{}
		wg     sync.WaitGroup
	)
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(w), 99))
			for range perWriter / 10 {
				// A batch of ten plans, made before any of them is applied:
				// later ones are stale by the earlier ones' inserts, and
				// by the other writers'.
				keys := make([][]byte, 10)
				hints := make([]memHint, 10)
				for i := range keys {
					keys[i] = planKey(rng)
					m.plan(keys[i], &hints[i])
				}
				mu.Lock()
				for i, k := range keys {
					seq++
					m.add(seq, KindSet, k, fmt.Appendf(nil, "%d", seq), &hints[i])
					latest[string(k)] = seq
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	for k, s := range latest {
		n, ok := m.get([]byte(k), maxSeq)
		require.True(t, ok, "%q", k)
		require.Equal(t, s, nodeTrailer(n)>>8, "%q", k)
	}
	require.Equal(t, writers*perWriter, requireSorted(t, m))
	// Every tower's prefix beside each link is that of the linked node,
	// whatever the plans read while they changed.
	for ref := towerNext(m.towers.at(m.head), 0); ref != 0; {
		tw := m.towers.at(ref)
		for level := range int(towerHeight(tw)) {
			if next := towerNext(tw, level); next != 0 {
				require.Equal(t, towerPrefix(m.towers.at(next)), towerNextPrefix(tw, level))
			}
		}
		ref = towerNext(tw, 0)
	}
}

// TestMemtablePlanIgnoresStalePrefixes scrambles every prefix kept beside
// a link, as a plan racing the writer might read them (stale, or half of
// one and half of another): every tower a plan records still lies before
// the key, so the writer's forward walk from it stays correct. A plan
// that moved past a node on such a prefix would record one after it.
func TestMemtablePlanIgnoresStalePrefixes(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	m := newMemtable(0, 1<<10)
	for seq := uint64(1); seq <= 3000; seq++ {
		m.add(seq, KindSet, planKey(rng), nil, nil)
	}
	for ref := m.head; ref != 0; {
		tw := m.towers.at(ref)
		for level := range int(towerHeight(tw)) {
			storeTowerNextPrefix(tw, level, prefix{rng.Uint64() >> rng.IntN(64), rng.Uint64()})
		}
		ref = towerNext(tw, 0)
	}
	trailer := makeTrailer(maxSeq, 0xff)
	for range 3000 {
		key := planKey(rng)
		var hint memHint
		m.plan(key, &hint)
		require.Equal(t, int(m.height.Load()), hint.h)
		for level := range hint.h {
			if ref := hint.prev[level]; ref != m.head {
				require.Positive(t, m.cmpTower(key, keyPrefix(key), trailer, m.towers.at(ref)),
					"plan for %q recorded at level %d a tower at or after it", key, level)
			}
		}
	}
}

// requireSorted walks m in order, checks that every entry sorts after the
// one before it, and returns how many there are.
func requireSorted(t *testing.T, m *memtable) int {
	t.Helper()
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
	return count
}

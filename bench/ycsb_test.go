package bench

import (
	"encoding/binary"
	"hash/fnv"
	"math"
	"math/rand/v2"
	"strconv"
	"testing"
)

// testSeed is the seed of every randomized test here; tests print it on
// failure.
const testSeed = 20260522

func TestFNVHash64MatchesFNV1a(t *testing.T) {
	r := rand.New(rand.NewPCG(testSeed, 1))
	for i := 0; i < 10000; i++ {
		v := r.Int64()
		if i < 100 {
			v = int64(i)
		}
		var b [8]byte
		binary.LittleEndian.PutUint64(b[:], uint64(v))
		h := fnv.New64a()
		h.Write(b[:])
		want := int64(h.Sum64())
		if want < 0 {
			want = -want
		}
		if got := FNVHash64(v); got != want {
			t.Fatalf("seed %d: FNVHash64(%d) = %d, want %d", testSeed, v, got, want)
		}
	}
}

func TestAppendKey(t *testing.T) {
	for _, n := range []int64{0, 1, 2, 999, 1 << 40} {
		k := AppendKey(nil, n)
		if len(k) != KeySize {
			t.Fatalf("key of %d is %q, %d bytes, want %d", n, k, len(k), KeySize)
		}
		if string(k[:4]) != "user" {
			t.Fatalf("key %q lacks the user prefix", k)
		}
		v, err := strconv.ParseInt(string(k[4:]), 10, 64)
		if err != nil || v != FNVHash64(n) {
			t.Fatalf("key %q: digits %d (%v), want FNVHash64(%d)=%d", k, v, err, n, FNVHash64(n))
		}
	}
	// Appending reuses the buffer and keeps what precedes.
	if got := string(AppendKey([]byte("x"), 0)); got != "x"+string(AppendKey(nil, 0)) {
		t.Fatalf("AppendKey did not append: %q", got)
	}
}

// zipfProb returns the exact zipfian probability of rank i among n items.
func zipfProb(i, n int64, theta float64) float64 {
	return 1 / math.Pow(float64(i+1), theta) / zetaStatic(0, n, theta, 0)
}

func TestZipfianShape(t *testing.T) {
	const n, draws = 1000, 400000
	z := NewZipfian(0, n-1, ZipfianConstant)
	r := rand.New(rand.NewPCG(testSeed, 2))
	counts := make([]int, n)
	for i := 0; i < draws; i++ {
		v := z.Next(r, n)
		if v < 0 || v >= n {
			t.Fatalf("seed %d: draw %d out of [0, %d)", testSeed, v, n)
		}
		counts[v]++
	}
	// Ranks 0 and 1 are exact in Gray's algorithm; later ranks follow the
	// zipfian through a continuous approximation. Check the head rank by
	// rank and the mass of the first 10 and 100 ranks.
	for i := int64(0); i < 2; i++ {
		got, want := float64(counts[i])/draws, zipfProb(i, n, ZipfianConstant)
		if math.Abs(got-want) > 0.03*want {
			t.Errorf("seed %d: rank %d frequency %.4f, want %.4f ±3%%", testSeed, i, got, want)
		}
	}
	for _, head := range []int64{10, 100} {
		var got, want float64
		for i := int64(0); i < head; i++ {
			got += float64(counts[i]) / draws
			want += zipfProb(i, n, ZipfianConstant)
		}
		// Gray's approximation puts about 4% too much mass on ranks 2..9.
		if math.Abs(got-want) > 0.06*want {
			t.Errorf("seed %d: mass of the first %d ranks %.4f, want %.4f ±6%%", testSeed, head, got, want)
		}
	}
	// Monotone on average: each decade of ranks is less popular than the last.
	prev := math.Inf(1)
	for lo := 0; lo < n; lo += 100 {
		s := 0
		for _, c := range counts[lo : lo+100] {
			s += c
		}
		if float64(s) >= prev {
			t.Errorf("seed %d: ranks %d..%d drawn %d times, not fewer than the previous %v", testSeed, lo, lo+99, s, prev)
		}
		prev = float64(s)
	}
}

func TestScrambledZipfian(t *testing.T) {
	const n, draws = 10000, 300000
	s := NewScrambledZipfian(0, n-1)
	r := rand.New(rand.NewPCG(testSeed, 3))
	counts := make([]int, n)
	for i := 0; i < draws; i++ {
		v := s.Next(r)
		if v < 0 || v >= n {
			t.Fatalf("seed %d: draw %d out of [0, %d)", testSeed, v, n)
		}
		counts[v]++
	}
	// The hottest key is the hash of zipfian rank 0, drawn with probability
	// 1/zeta(10^10, 0.99).
	hot := FNVHash64(0) % n
	got, want := float64(counts[hot])/draws, 1/scrambledZetan
	if math.Abs(got-want) > 0.05*want {
		t.Errorf("seed %d: hottest key %d frequency %.4f, want %.4f ±5%%", testSeed, hot, got, want)
	}
	best := 0
	for i, c := range counts {
		if c > counts[best] {
			best = i
		}
	}
	if int64(best) != hot {
		t.Errorf("seed %d: most frequent key %d, want %d", testSeed, best, hot)
	}
	// Scrambled: the popular keys are spread out, so the lowest tenth of the
	// range gets roughly a tenth of the draws instead of most of them.
	low := 0
	for _, c := range counts[:n/10] {
		low += c
	}
	if f := float64(low) / draws; f < 0.03 || f > 0.25 {
		t.Errorf("seed %d: lowest tenth of the keys drew %.3f of the draws, want spread (0.03..0.25)", testSeed, f)
	}
}

func TestSkewedLatest(t *testing.T) {
	const loaded, draws = 1000, 200000
	s := NewSkewedLatest(loaded - 1)
	r := rand.New(rand.NewPCG(testSeed, 4))
	last := int64(loaded - 1)
	counts := map[int64]int{}
	for i := 0; i < draws; i++ {
		if i%1000 == 999 {
			last++ // an insert happened
		}
		v := s.Next(r, last)
		if v < 0 || v > last {
			t.Fatalf("seed %d: draw %d outside [0, %d]", testSeed, v, last)
		}
		counts[last-v]++
	}
	// Distance from the newest key is zipfian: distance 0 is the most likely.
	for d := int64(1); d < 5; d++ {
		if counts[d] >= counts[d-1] {
			t.Errorf("seed %d: distance %d drawn %d times, not fewer than distance %d (%d)", testSeed, d, counts[d], d-1, counts[d-1])
		}
	}
	if f, want := float64(counts[0])/draws, zipfProb(0, loaded, ZipfianConstant); math.Abs(f-want) > 0.1*want {
		t.Errorf("seed %d: newest key frequency %.4f, want about %.4f", testSeed, f, want)
	}
}

func TestUniformInt(t *testing.T) {
	const n, draws = 20, 200000
	r := rand.New(rand.NewPCG(testSeed, 5))
	counts := make([]int, n)
	for i := 0; i < draws; i++ {
		v := UniformInt(r, 100, 100+n-1)
		if v < 100 || v >= 100+n {
			t.Fatalf("seed %d: draw %d out of range", testSeed, v)
		}
		counts[v-100]++
	}
	for i, c := range counts {
		if f := float64(c) / draws; math.Abs(f-1.0/n) > 0.05/n {
			t.Errorf("seed %d: value %d frequency %.4f, want %.4f ±5%%", testSeed, 100+i, f, 1.0/n)
		}
	}
}

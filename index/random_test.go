package index

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"math/rand/v2"
	"sort"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/stretchr/testify/require"
)

var seedFlag = flag.Uint64("seed", 0, "seed for randomized tests (0: the fixed seeds)")

func testSeeds() []uint64 {
	if *seedFlag != 0 {
		return []uint64{*seedFlag}
	}
	return []uint64{1, 2, 3, 42}
}

// forSeeds runs run as a subtest per seed of testSeeds, naming the seed to
// rerun with when it fails.
func forSeeds(t *testing.T, run func(t *testing.T, seed uint64)) {
	for _, seed := range testSeeds() {
		t.Run(fmt.Sprint(seed), func(t *testing.T) {
			defer func() {
				if t.Failed() {
					t.Logf("failed with seed %d (rerun with -seed=%d)", seed, seed)
				}
			}()
			run(t, seed)
		})
	}
}

// modelVersion is one write in the model.
type modelVersion struct {
	seq   uint64
	del   bool
	value string
}

// model is the history of every key.
type model map[string][]modelVersion

func (m model) get(key string, seq uint64) (string, bool) {
	vs := m[key]
	for i := len(vs) - 1; i >= 0; i-- {
		if vs[i].seq <= seq {
			if vs[i].del {
				return "", false
			}
			return vs[i].value, true
		}
	}
	return "", false
}

func (m model) scan(lower, upper string, seq uint64) []string {
	var out []string
	for k := range m {
		if (lower != "" && k < lower) || (upper != "" && k >= upper) {
			continue
		}
		if v, ok := m.get(k, seq); ok {
			out = append(out, k+"="+v)
		}
	}
	sort.Strings(out)
	return out
}

// testValueRef: values are "<segment byte><payload>"; they keep len(value)
// bytes of that segment alive.
func testValueRef(v []byte) (uint64, int64, bool) {
	if len(v) == 0 {
		return 0, 0, false
	}
	return uint64(v[0] % 8), int64(len(v)), true
}

// tableLive sums ValueRef over every set entry in the live tables.
func tableLive(t *testing.T, x *Index) map[uint64]int64 {
	rs := x.loadReadState()
	defer x.unrefReadState(rs)
	live := map[uint64]int64{}
	for _, lvl := range rs.v.levels {
		for _, tb := range lvl {
			it, err := x.newTableIter(x.scanCtx, tb, nil, nil)
			require.NoError(t, err)
			for it.first(); it.valid(); it.next() {
				if Kind(it.trailer()&0xff) == KindSet {
					v, err := it.value()
					require.NoError(t, err)
					if s, n, ok := testValueRef(v); ok {
						live[s] += n
					}
				}
			}
			require.NoError(t, it.err())
			require.NoError(t, it.close())
		}
	}
	return live
}

func nonZero(m map[uint64]int64) map[uint64]int64 {
	out := map[uint64]int64{}
	for k, v := range m {
		if v != 0 {
			out[k] = v
		}
	}
	return out
}

func TestRandomizedAgainstModel(t *testing.T) {
	forSeeds(t, func(t *testing.T, seed uint64) { runRandomized(t, seed, 4000) })
}

func runRandomized(t *testing.T, seed uint64, ops int) {
	rng := rand.New(rand.NewPCG(seed, seed^0x5eed))
	fs := vfs.NewMem()
	opts := smallOpts(fs)
	opts.ValueRef = testValueRef
	opts.manifestRollover = 1 << 10
	opts.MaxConcurrentCompactions = 1 + int(seed%2)
	x, err := Open("db", opts)
	require.NoError(t, err)
	defer func() { _ = x.Close() }()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	m := model{}
	seq := uint64(0)
	type snap struct {
		s   *Snapshot
		seq uint64
	}
	var snaps []snap
	var flushes, compactions, rollovers uint64
	key := func() string { return fmt.Sprintf("key%04d", rng.IntN(300)) }
	for op := 0; op < ops; op++ {
		switch r := rng.IntN(100); {
		case r < 50: // batch
			require.NoError(t, x.MakeRoom(ctx))
			n := 1 + rng.IntN(5)
			entries := make([]Entry, n)
			for i := range entries {
				k := key()
				if rng.IntN(5) == 0 {
					entries[i] = Entry{Kind: KindDelete, Key: []byte(k)}
					m[k] = append(m[k], modelVersion{seq: seq + 1 + uint64(i), del: true})
				} else {
					v := make([]byte, 1+rng.IntN(60))
					v[0] = byte(rng.IntN(256))
					for j := 1; j < len(v); j++ {
						v[j] = 'a' + byte(rng.IntN(26))
					}
					entries[i] = Entry{Kind: KindSet, Key: []byte(k), Value: v}
					m[k] = append(m[k], modelVersion{seq: seq + 1 + uint64(i), value: string(v)})
				}
			}
			x.Apply(seq+1, entries, LogPos{Segment: 1, Offset: seq + uint64(n)}, nil)
			seq += uint64(n)
		case r < 70: // get, now or at a snapshot
			k := key()
			at := seq
			if len(snaps) > 0 && rng.IntN(2) == 0 {
				at = snaps[rng.IntN(len(snaps))].seq
			}
			var v []byte
			var ok bool
			var err error
			if at == seq && rng.IntN(2) == 0 {
				v, ok, err = x.GetVisible([]byte(k), func() uint64 { return seq })
			} else {
				v, ok, err = x.Get([]byte(k), at)
			}
			require.NoError(t, err)
			wv, wok := m.get(k, at)
			require.Equal(t, wok, ok, "op %d: Get(%s, %d) found", op, k, at)
			require.Equal(t, wv, string(v), "op %d: Get(%s, %d)", op, k, at)
		case r < 78: // scan
			at := seq
			if len(snaps) > 0 && rng.IntN(2) == 0 {
				at = snaps[rng.IntN(len(snaps))].seq
			}
			var lo, hi string
			if rng.IntN(2) == 0 {
				lo = key()
			}
			if rng.IntN(2) == 0 {
				hi = key()
			}
			o := IterOptions{Seq: at}
			if at == seq && rng.IntN(2) == 0 {
				o = IterOptions{Visible: func() uint64 { return seq }}
			}
			if lo != "" {
				o.Lower = []byte(lo)
			}
			if hi != "" {
				o.Upper = []byte(hi)
			}
			it := x.NewIter(o)
			var got []string
			if rng.IntN(3) == 0 {
				sk := key()
				for ok := it.SeekGE([]byte(sk)); ok; ok = it.Next() {
					got = append(got, string(it.Key())+"="+string(it.Value()))
				}
				want := m.scan(max(lo, sk), hi, at)
				require.Equal(t, want, got, "op %d: SeekGE(%s) over [%s,%s) at %d", op, sk, lo, hi, at)
			} else {
				for ok := it.First(); ok; ok = it.Next() {
					got = append(got, string(it.Key())+"="+string(it.Value()))
				}
				require.Equal(t, m.scan(lo, hi, at), got, "op %d: scan [%s,%s) at %d", op, lo, hi, at)
			}
			require.NoError(t, it.Error())
			require.NoError(t, it.Close())
		case r < 82:
			snaps = append(snaps, snap{x.NewSnapshot(seq), seq})
		case r < 85:
			if len(snaps) > 0 {
				i := rng.IntN(len(snaps))
				snaps[i].s.Close()
				snaps = append(snaps[:i], snaps[i+1:]...)
			}
		case r < 90:
			require.NoError(t, x.Flush(ctx))
		case r < 93:
			require.NoError(t, x.Flush(ctx))
			require.NoError(t, x.Compact(ctx))
			require.NoError(t, x.WaitIdle(ctx))
			require.Equal(t, nonZero(tableLive(t, x)), nonZero(x.SegmentLive()), "op %d: SegmentLive", op)
		case r < 95: // close and reopen; the memtable is not persisted, so flush first
			require.NoError(t, x.Flush(ctx))
			for _, s := range snaps {
				s.s.Close()
			}
			snaps = nil
			require.NoError(t, x.WaitIdle(ctx))
			live := nonZero(x.SegmentLive())
			mt := x.Metrics()
			flushes += mt.Flushes
			compactions += mt.Compactions
			rollovers += mt.ManifestRollovers
			require.NoError(t, x.Close())
			x, err = Open("db", opts)
			require.NoError(t, err)
			require.Equal(t, seq, x.LastSeq(), "op %d: LastSeq after reopen", op)
			require.Equal(t, LogPos{1, seq}, x.Checkpoint())
			require.Equal(t, live, nonZero(x.SegmentLive()))
		default:
			require.NoError(t, x.WaitIdle(ctx))
		}
	}
	// Final full check.
	require.NoError(t, x.Flush(ctx))
	require.NoError(t, x.Compact(ctx))
	for _, s := range snaps {
		s.s.Close()
	}
	it := x.NewIter(IterOptions{Seq: seq})
	var got []string
	for ok := it.First(); ok; ok = it.Next() {
		got = append(got, string(it.Key())+"="+string(it.Value()))
	}
	require.NoError(t, it.Close())
	require.Equal(t, m.scan("", "", seq), got)
	require.NoError(t, x.VerifyTables())
	met := x.Metrics()
	require.Greater(t, flushes+met.Flushes, uint64(50))
	require.Greater(t, compactions+met.Compactions, uint64(10))
	require.Greater(t, rollovers+met.ManifestRollovers, uint64(3))
	t.Logf("seed %d: %d flushes, %d compactions", seed, flushes+met.Flushes, compactions+met.Compactions)
	checkLevelsSorted(t, x)
}

func checkLevelsSorted(t *testing.T, x *Index) {
	for _, l := range x.Levels() {
		if l.Level == 0 {
			continue
		}
		for i := 1; i < len(l.Tables); i++ {
			require.Negative(t, bytes.Compare(l.Tables[i-1].Largest, l.Tables[i].Smallest), "L%d tables overlap", l.Level)
		}
	}
}

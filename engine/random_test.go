package engine

import (
	"bytes"
	"context"
	"fmt"
	"maps"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/stretchr/testify/require"
)

func randValue(rng *rand.Rand) []byte {
	n := rng.IntN(20)
	if rng.IntN(2) == 0 {
		n = 32 + rng.IntN(400)
	}
	v := make([]byte, n)
	for i := range v {
		v[i] = byte('a' + rng.IntN(26))
	}
	return v
}

func randKey(rng *rand.Rand, n int) []byte { return fmt.Appendf(nil, "key%05d", rng.IntN(n)) }

// checkScan compares a scan of [lo, hi) with the model.
func checkScan(t *testing.T, kvs []KV, model map[string]string, lo, hi []byte) {
	t.Helper()
	var want []string
	for k := range model {
		if (lo == nil || k >= string(lo)) && (hi == nil || k < string(hi)) {
			want = append(want, k)
		}
	}
	slices.Sort(want)
	require.Len(t, kvs, len(want), "scan [%q, %q)", lo, hi)
	for i, kv := range kvs {
		require.Equal(t, want[i], string(kv.Key))
		require.Equal(t, model[want[i]], string(kv.Value), "key %s", kv.Key)
	}
}

// TestRandomAgainstModel runs random operations against a Go map, with tiny
// memtables and segments so that it crosses many flushes, compactions,
// segment seals and GC passes, closing and reopening along the way.
func TestRandomAgainstModel(t *testing.T) {
	rng := testSeed(t)
	fs := vfs.NewMem()
	opts := tinyOptions(fs)
	db, err := Open("db", opts)
	require.NoError(t, err)
	model := map[string]string{}
	type snap struct {
		s     *Snapshot
		model map[string]string
	}
	var snaps []snap
	const keys = 400
	ops := 20000
	if testing.Short() {
		ops = 4000
	}
	var gcSegments int
	var flushes, compactions uint64
	account := func() {
		m := db.Metrics()
		flushes += m.Index.Flushes
		compactions += m.Index.Compactions
	}
	for i := 0; i < ops; i++ {
		switch op := rng.IntN(100); {
		case op < 45:
			k, v := randKey(rng, keys), randValue(rng)
			require.NoError(t, db.Put(k, v))
			model[string(k)] = string(v)
		case op < 55:
			k := randKey(rng, keys)
			require.NoError(t, db.Delete(k))
			delete(model, string(k))
		case op < 75:
			k := randKey(rng, keys)
			v, err := db.Get(k)
			if want, ok := model[string(k)]; ok {
				require.NoError(t, err, "op %d get %s", i, k)
				require.Equal(t, want, string(v), "op %d get %s", i, k)
			} else {
				require.ErrorIs(t, err, ErrNotFound, "op %d get %s", i, k)
			}
		case op < 80:
			var b Batch
			pending := map[string]*string{}
			for range 1 + rng.IntN(8) {
				k := randKey(rng, keys)
				if rng.IntN(4) == 0 {
					b.Delete(k)
					pending[string(k)] = nil
				} else {
					v := string(randValue(rng))
					b.Set(k, []byte(v))
					pending[string(k)] = &v
				}
			}
			require.NoError(t, db.Apply(&b))
			for k, v := range pending {
				if v == nil {
					delete(model, k)
				} else {
					model[k] = *v
				}
			}
		case op < 84:
			lo, hi := randKey(rng, keys), randKey(rng, keys)
			if bytes.Compare(lo, hi) > 0 {
				lo, hi = hi, lo
			}
			if rng.IntN(5) == 0 {
				lo = nil
			}
			kvs, err := db.Scan(lo, hi)
			require.NoError(t, err)
			checkScan(t, kvs, model, lo, hi)
		case op < 86:
			if len(snaps) < 3 {
				snaps = append(snaps, snap{db.NewSnapshot(), maps.Clone(model)})
			}
		case op < 88:
			if len(snaps) > 0 {
				j := rng.IntN(len(snaps))
				s := snaps[j]
				kvs, err := s.s.Scan(nil, nil)
				require.NoError(t, err)
				checkScan(t, kvs, s.model, nil, nil)
				s.s.Close()
				snaps = slices.Delete(snaps, j, j+1)
			}
		case op < 90:
			res, err := db.RunGC(context.Background())
			require.NoError(t, err)
			gcSegments += len(res.Segments)
		case op < 91:
			require.NoError(t, db.Flush(context.Background()))
		case op < 92:
			for _, s := range snaps {
				s.s.Close()
			}
			snaps = nil
			account()
			require.NoError(t, db.Close())
			db, err = Open("db", opts)
			require.NoError(t, err)
		}
	}
	kvs, err := db.Scan(nil, nil)
	require.NoError(t, err)
	checkScan(t, kvs, model, nil, nil)
	account()
	t.Logf("flushes %d compactions %d gc segments %d levels %v", flushes, compactions, gcSegments, levelSizes(db))
	require.NotZero(t, compactions)
	require.NotZero(t, gcSegments)
	for _, s := range snaps {
		s.s.Close()
	}
	require.NoError(t, db.Close())
}

func levelSizes(db *DB) []uint64 {
	var out []uint64
	for _, l := range db.Levels() {
		out = append(out, l.Size)
	}
	return out
}

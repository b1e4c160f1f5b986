package engine

import (
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/stretchr/testify/require"
)

// possible records, per key, every value a key may hold after a crash: the
// last acknowledged one and any written after it whose call had not
// returned ("" marks a deletion).
type possible map[string]map[string]bool

func (p possible) acked(k, v string) { p[k] = map[string]bool{v: true} }
func (p possible) maybe(k, v string) {
	if p[k] == nil {
		p[k] = map[string]bool{"": true}
	}
	p[k][v] = true
}

// verify opens the store in fs and checks every key against p: each
// key's value must be one p allows, and no key p never saw may exist.
func verify(t *testing.T, fs vfs.FS, opts Options, p possible, what string) {
	t.Helper()
	opts.FS = fs
	db, err := Open("db", opts)
	require.NoError(t, err, what)
	defer func() { require.NoError(t, db.Close(), what) }()
	for k, vals := range p {
		v, err := db.Get([]byte(k))
		got := string(v)
		if err == ErrNotFound {
			got = ""
		} else {
			require.NoError(t, err, what)
		}
		require.True(t, vals[got], "%s: key %s has %.20q, allowed %d values", what, k, got, len(vals))
	}
	kvs, err := db.Scan(nil, nil)
	require.NoError(t, err, what)
	for _, kv := range kvs {
		require.Contains(t, p, string(kv.Key), "%s: key %s was never written", what, kv.Key)
	}
}

// TestCrashRecovery crashes (CrashClone keeps only synced data, or synced
// data plus a random part of the rest) at many points of a workload that
// crosses flushes, compactions, seals and GC: every acknowledged (synced)
// write is there after reopening and nothing never written appears.
func TestCrashRecovery(t *testing.T) {
	rng := testSeed(t)
	mem := vfs.NewCrashableMem()
	opts := tinyOptions(mem)
	db, err := Open("db", opts)
	require.NoError(t, err)
	p := possible{}
	ops := 3000
	if testing.Short() {
		ops = 800
	}
	crashes := 0
	for i := 0; i < ops; i++ {
		k := string(randKey(rng, 300))
		switch op := rng.IntN(100); {
		case op < 70:
			v := string(randValue(rng))
			require.NoError(t, db.Put([]byte(k), []byte(v)))
			p.acked(k, v)
		case op < 80:
			require.NoError(t, db.Delete([]byte(k)))
			p.acked(k, "")
		case op < 85:
			var b Batch
			kv := map[string]string{}
			for range 1 + rng.IntN(6) {
				k := string(randKey(rng, 300))
				v := string(randValue(rng))
				b.Set([]byte(k), []byte(v))
				kv[k] = v
			}
			require.NoError(t, db.Apply(&b))
			for k, v := range kv {
				p.acked(k, v)
			}
		case op < 87:
			_, err := db.RunGC(t.Context())
			require.NoError(t, err)
		}
		if rng.IntN(ops/40) == 0 {
			crashes++
			cfg := vfs.CrashCloneCfg{}
			if rng.IntN(2) == 0 {
				cfg = vfs.CrashCloneCfg{UnsyncedDataPercent: rng.IntN(100), RNG: rand.New(rand.NewPCG(rng.Uint64(), 1))}
			}
			clone := mem.CrashClone(cfg)
			verify(t, clone, opts, p, fmt.Sprintf("crash %d after op %d (unsynced %d%%)", crashes, i, cfg.UnsyncedDataPercent))
		}
	}
	require.NoError(t, db.Close())
	verify(t, mem.CrashClone(vfs.CrashCloneCfg{}), opts, p, "after close")
	t.Logf("%d crash points", crashes)
}

// TestCrashConcurrentWriters crashes while several writers commit in groups:
// every write acknowledged before the crash is there; any value found was
// written.
func TestCrashConcurrentWriters(t *testing.T) {
	rng := testSeed(t)
	mem := vfs.NewCrashableMem()
	opts := tinyOptions(mem)
	db, err := Open("db", opts)
	require.NoError(t, err)
	const writers = 4
	// Each writer owns its keys, so per key the order of writes is known.
	var mu sync.Mutex
	p := possible{}
	var stop atomic.Bool
	var wg sync.WaitGroup
	for w := range writers {
		wg.Add(1)
		seed := rng.Uint64()
		go func() {
			defer wg.Done()
			r := rand.New(rand.NewPCG(seed, uint64(w)))
			for i := 0; !stop.Load(); i++ {
				k := fmt.Sprintf("w%d-%03d", w, r.IntN(100))
				v := fmt.Sprintf("%s-%d-%s", k, i, randValue(r))
				mu.Lock()
				p.maybe(k, v)
				mu.Unlock()
				if err := db.Put([]byte(k), []byte(v)); err != nil {
					t.Errorf("put: %v", err)
					return
				}
				mu.Lock()
				p.acked(k, v)
				mu.Unlock()
			}
		}()
	}
	for c := range 15 {
		// Let the writers make progress between crash points.
		start := db.Metrics().Commits
		for db.Metrics().Commits < start+200 {
			_, _ = db.Get([]byte("w0-000"))
		}
		mu.Lock()
		snap := possible{}
		for k, vals := range p {
			snap[k] = map[string]bool{}
			for v := range vals {
				snap[k][v] = true
			}
		}
		mu.Unlock()
		// Writes acknowledged after snap was taken may be in the clone too:
		// widen snap with every value written until the clone is done.
		clone := mem.CrashClone(vfs.CrashCloneCfg{})
		mu.Lock()
		for k, vals := range p {
			if snap[k] == nil {
				snap[k] = map[string]bool{"": true}
			}
			for v := range vals {
				snap[k][v] = true
			}
		}
		mu.Unlock()
		verify(t, clone, opts, snap, fmt.Sprintf("crash %d", c))
	}
	stop.Store(true)
	wg.Wait()
	m := db.Metrics()
	t.Logf("commits %d in %d groups", m.Commits, m.CommitGroups)
	require.NoError(t, db.Close())
}

package engine

import (
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/stretchr/testify/require"
)

// TestBackgroundWork runs writers, readers and iterators concurrently with
// the background GC and interval-sync goroutines, then checks the result
// and that Close stops everything.
func TestBackgroundWork(t *testing.T) {
	rng := testSeed(t)
	fs := vfs.NewMem()
	opts := tinyOptions(fs)
	opts.Sync = SyncInterval
	opts.SyncInterval = time.Millisecond
	opts.GC = GCOptions{Interval: time.Millisecond, BytesPerSecond: -1}
	db, err := Open("db", opts)
	require.NoError(t, err)
	const writers = 3
	models := make([]map[string]string, writers)
	var wg sync.WaitGroup
	for w := range writers {
		models[w] = map[string]string{}
		seed := rng.Uint64()
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := rand.New(rand.NewPCG(seed, 1))
			for i := range 3000 {
				k := fmt.Sprintf("w%d-%03d", w, r.IntN(150))
				if i%7 == 0 {
					if err := db.Delete([]byte(k)); err != nil {
						t.Error(err)
						return
					}
					delete(models[w], k)
					continue
				}
				v := string(randValue(r))
				if err := db.Put([]byte(k), []byte(v)); err != nil {
					t.Error(err)
					return
				}
				models[w][k] = v
			}
		}()
	}
	done := make(chan struct{})
	var rwg sync.WaitGroup
	rwg.Add(1)
	go func() {
		defer rwg.Done()
		for {
			select {
			case <-done:
				return
			default:
			}
			it := db.NewIter(nil, nil)
			prev := ""
			for ok := it.First(); ok; ok = it.Next() {
				if string(it.Key()) <= prev {
					t.Errorf("iterator out of order: %q after %q", it.Key(), prev)
				}
				prev = string(it.Key())
				if it.Value() == nil && it.Error() != nil {
					break
				}
			}
			if err := it.Close(); err != nil {
				t.Error(err)
				return
			}
		}
	}()
	wg.Wait()
	close(done)
	rwg.Wait()
	model := map[string]string{}
	for _, m := range models {
		for k, v := range m {
			model[k] = v
		}
	}
	kvs, err := db.Scan(nil, nil)
	require.NoError(t, err)
	checkScan(t, kvs, model, nil, nil)
	m := db.Metrics()
	t.Logf("gc runs %d, segments %d; syncs %d; groups %d for %d commits", m.GC.Runs, m.GC.Segments, m.Syncs, m.CommitGroups, m.Commits)
	require.NoError(t, db.Close())
	db, err = Open("db", opts)
	require.NoError(t, err)
	kvs, err = db.Scan(nil, nil)
	require.NoError(t, err)
	checkScan(t, kvs, model, nil, nil)
	require.NoError(t, db.Close())
}

package engine

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"strconv"
	"sync/atomic"
	"testing"

	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/cockroachdb/pebble/v2/vfs/errorfs"
	"github.com/stretchr/testify/require"
)

// TestErrorFSSweep fails file operation i (i = 0, 1, 2, ...) during a
// workload: each failing call returns an error or the store stops taking
// writes, and reopening (keeping only synced data) loses no acknowledged
// write.
func TestErrorFSSweep(t *testing.T) {
	seed := testSeed(t).Uint64()
	step := int32(1)
	if testing.Short() {
		step = 7
	}
	var failures, stopped int
	start := int32(0)
	if v, err := strconv.Atoi(os.Getenv("TALOS_SWEEP_START")); err == nil {
		start = int32(v)
	}
	for i := start; ; i += step {
		mem := vfs.NewCrashableMem()
		var n atomic.Int32
		fs := errorfs.Wrap(mem, errorfs.InjectorFunc(func(errorfs.Op) error {
			if n.Add(1)-1 == i {
				return errorfs.ErrInjected
			}
			return nil
		}))
		opts := tinyOptions(fs)
		rng := rand.New(rand.NewPCG(seed, 7))
		p := possible{}
		injected := false
		db, err := Open("db", opts)
		if err != nil {
			require.True(t, errors.Is(err, errorfs.ErrInjected), "op %d: open: %v", i, err)
			failures++
			continue
		}
		for j := 0; j < 250; j++ {
			k := string(randKey(rng, 60))
			v := string(randValue(rng))
			var err error
			write := false
			switch op := rng.IntN(20); {
			case op == 0:
				err = db.Flush(t.Context())
			case op == 1:
				_, err = db.RunGC(t.Context())
			case op < 5:
				err = db.Delete([]byte(k))
				v, write = "", true
			case op < 7:
				_, err = db.Get([]byte(k))
				if errors.Is(err, ErrNotFound) {
					err = nil
				}
			default:
				err = db.Put([]byte(k), []byte(v))
				write = true
			}
			if err != nil {
				if testing.Verbose() {
					t.Logf("op %d step %d: %v", i, j, err)
				}
				injected = true
				require.True(t, errors.Is(err, errorfs.ErrInjected) || errors.Is(err, ErrStopped),
					"op %d step %d: %v", i, j, err)
				if write {
					p.maybe(k, v)
				}
				if errors.Is(err, ErrStopped) {
					stopped++
					break
				}
				continue
			}
			if write {
				p.acked(k, v)
			}
		}
		closeErr := db.Close()
		if testing.Verbose() && closeErr != nil {
			t.Logf("op %d close: %v", i, closeErr)
		}
		if closeErr != nil {
			injected = true
		}
		if !injected && db.Err() == nil && n.Load() <= i {
			// The workload never reached operation i: the sweep is done.
			t.Logf("swept %d operations: %d failed calls, %d stopped stores", i, failures, stopped)
			break
		}
		if injected {
			failures++
		}
		verify(t, mem.CrashClone(vfs.CrashCloneCfg{}), tinyOptions(nil), p, fmt.Sprintf("error at op %d", i))
	}
}

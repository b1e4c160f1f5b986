package index

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"testing"

	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/cockroachdb/pebble/v2/vfs/errorfs"
	"github.com/stretchr/testify/require"
)

// TestErrorFSSweep fails file operation i, for i = 0, 1, 2, ... until a run
// completes without reaching i, during open, writes, flushes and
// compactions. The failing call must return an error (or the index stops
// and later calls do); reopening afterwards (after a crash that keeps only
// synced data) must lose nothing that a completed Flush made durable.
func TestErrorFSSweep(t *testing.T) {
	base := vfs.NewCrashableMem()
	opts := smallOpts(base)
	opts.ValueRef = testValueRef
	m := model{}
	seq := uint64(0)
	write := func(x *Index, n int) error {
		for i := 0; i < n; i++ {
			if err := x.MakeRoom(context.Background()); err != nil {
				return err
			}
			seq++
			k := fmt.Sprintf("k%03d", (seq*7919)%300)
			v := fmt.Sprintf("%c-%d", 'a'+seq%26, seq)
			x.Apply(seq, []Entry{{Kind: KindSet, Key: []byte(k), Value: []byte(v)}}, LogPos{1, seq}, nil)
			m[k] = append(m[k], modelVersion{seq: seq, value: v})
		}
		return nil
	}
	// A durable starting state with a few levels.
	x, err := Open("db", opts)
	require.NoError(t, err)
	require.NoError(t, write(x, 600))
	require.NoError(t, x.Flush(context.Background()))
	require.NoError(t, x.Compact(context.Background()))
	require.NoError(t, x.Close())
	durable := seq
	start := base.CrashClone(vfs.CrashCloneCfg{})
	startModel := model{}
	for k, v := range m {
		startModel[k] = append([]modelVersion(nil), v...)
	}

	failures := 0
	for i := int64(0); ; i++ {
		// Each run starts from the same durable state.
		fs := start.CrashClone(vfs.CrashCloneCfg{})
		m = model{}
		for k, v := range startModel {
			m[k] = append([]modelVersion(nil), v...)
		}
		seq = durable
		runDurable := durable
		var ops atomic.Int64
		var fired atomic.Bool
		inj := errorfs.InjectorFunc(func(op errorfs.Op) error {
			if ops.Add(1)-1 == i {
				fired.Store(true)
				return errorfs.ErrInjected
			}
			return nil
		})
		o := opts
		o.FS = errorfs.Wrap(fs, inj)
		runErr := func() error {
			x, err := Open("db", o)
			if err != nil {
				return err
			}
			defer x.Close()
			for round := 0; round < 3; round++ {
				if err := write(x, 100); err != nil {
					return err
				}
				if err := x.Flush(context.Background()); err != nil {
					return err
				}
				runDurable = seq
			}
			if err := x.Compact(context.Background()); err != nil {
				return err
			}
			if err := x.WaitIdle(context.Background()); err != nil {
				return err
			}
			return x.Close()
		}()
		if !fired.Load() {
			require.NoError(t, runErr)
			t.Logf("sweep done: %d operations, %d runs saw an error", i, failures)
			break
		}
		if runErr != nil {
			failures++
			require.True(t, errors.Is(runErr, errorfs.ErrInjected) || errors.Is(runErr, ErrStopped) || errors.Is(runErr, ErrClosed),
				"op %d: unexpected error %v", i, runErr)
		}
		// Crash, keep only synced data, reopen without injection.
		o.FS = fs.CrashClone(vfs.CrashCloneCfg{})
		y, err := Open("db", o)
		require.NoError(t, err, "op %d: reopen", i)
		l := y.LastSeq()
		require.GreaterOrEqual(t, l, runDurable, "op %d: durable writes lost", i)
		it := y.NewIter(IterOptions{Seq: l})
		var got []string
		for ok := it.First(); ok; ok = it.Next() {
			got = append(got, string(it.Key())+"="+string(it.Value()))
		}
		require.NoError(t, it.Close())
		require.Equal(t, m.scan("", "", l), got, "op %d: content at LastSeq %d", i, l)
		require.NoError(t, y.VerifyTables(), "op %d", i)
		require.NoError(t, y.Close())
	}
	require.Greater(t, failures, 100)
}

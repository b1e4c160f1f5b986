package index

import (
	"context"
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/stretchr/testify/require"
)

// TestCrash takes crash clones of the file system at many points of a
// workload, with background flushes and compactions in flight. The clone
// keeps what was synced (UnsyncedDataPercent 0) or everything (100). After
// reopening a clone: LastSeq L is at least the seq of the last completed
// Flush (everything synced is there) and at most the last applied seq, the
// checkpoint is L's log position, and the content is exactly the model at
// L (memtables flush in order, so what survives is a prefix of the writes,
// and nothing unwritten appears).
func TestCrash(t *testing.T) {
	forSeeds(t, runCrash)
}

func runCrash(t *testing.T, seed uint64) {
	rng := rand.New(rand.NewPCG(seed, 99))
	fs := vfs.NewCrashableMem()
	opts := smallOpts(fs)
	opts.ValueRef = testValueRef
	opts.manifestRollover = 1 << 10
	x, err := Open("db", opts)
	require.NoError(t, err)
	defer x.Close()
	ctx := context.Background()
	m := model{}
	seq, durable := uint64(0), uint64(0)
	crashes := 0
	for op := 0; op < 3000; op++ {
		switch r := rng.IntN(100); {
		case r < 90:
			require.NoError(t, x.MakeRoom(ctx))
			k := fmt.Sprintf("k%03d", rng.IntN(400))
			seq++
			if rng.IntN(5) == 0 {
				x.Apply(seq, []Entry{{Kind: KindDelete, Key: []byte(k)}}, LogPos{1, seq}, nil)
				m[k] = append(m[k], modelVersion{seq: seq, del: true})
			} else {
				v := fmt.Sprintf("%c%d", 'a'+rng.IntN(26), seq)
				x.Apply(seq, []Entry{{Kind: KindSet, Key: []byte(k), Value: []byte(v)}}, LogPos{1, seq}, nil)
				m[k] = append(m[k], modelVersion{seq: seq, value: v})
			}
		case r < 94:
			require.NoError(t, x.Flush(ctx))
			durable = seq
		default:
			pct := 0
			if rng.IntN(2) == 0 {
				pct = 100
			}
			clone := fs.CrashClone(vfs.CrashCloneCfg{UnsyncedDataPercent: pct, RNG: rng})
			checkCrashClone(t, clone, opts, m, durable, seq)
			crashes++
		}
	}
	require.Greater(t, crashes, 50)
}

func checkCrashClone(t *testing.T, clone vfs.FS, opts Options, m model, durable, applied uint64) {
	opts.FS = clone
	y, err := Open("db", opts)
	require.NoError(t, err)
	defer y.Close()
	l := y.LastSeq()
	require.GreaterOrEqual(t, l, durable, "synced writes lost")
	require.LessOrEqual(t, l, applied)
	if l > 0 {
		require.Equal(t, LogPos{1, l}, y.Checkpoint())
	}
	it := y.NewIter(IterOptions{Seq: l})
	var got []string
	for ok := it.First(); ok; ok = it.Next() {
		got = append(got, string(it.Key())+"="+string(it.Value()))
	}
	require.NoError(t, it.Close())
	require.Equal(t, m.scan("", "", l), got, "content after crash at LastSeq %d", l)
	require.NoError(t, y.VerifyTables())
	// The recovered index keeps working: write, flush, compact.
	y.Apply(applied+1, []Entry{{Kind: KindSet, Key: []byte("after"), Value: []byte("x")}}, LogPos{2, 0}, nil)
	require.NoError(t, y.Flush(context.Background()))
	require.NoError(t, y.Compact(context.Background()))
}

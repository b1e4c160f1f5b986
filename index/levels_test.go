package index

import (
	"context"
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/stretchr/testify/require"
)

// TestLevelShape loads enough keys to fill several levels and checks that
// the level sizes follow the growth factor: after compaction every level
// above the bottom is within its target (BaseLevelSize*G^(l-1)), the
// levels above the bottom are filled to a good part of their target, and
// the bottom level is the largest.
func TestLevelShape(t *testing.T) {
	for _, g := range []int{4, 10} {
		t.Run(fmt.Sprintf("growth%d", g), func(t *testing.T) {
			fs := vfs.NewMem()
			opts := Options{
				FS:                    fs,
				MemtableSize:          32 << 10,
				TargetFileSize:        8 << 10,
				BaseLevelSize:         32 << 10,
				GrowthFactor:          g,
				NumLevels:             5,
				L0CompactionThreshold: 2,
				BlockSize:             1 << 10,
			}
			// Fill L1..L3 (sum of targets) and put the rest in L4.
			var want int64
			for l := 1; l <= 3; l++ {
				want += opts.BaseLevelSize * pow(int64(g), l-1)
			}
			want = want * 3 / 2
			x, err := Open("db", opts)
			require.NoError(t, err)
			defer x.Close()
			ctx := context.Background()
			rng := rand.New(rand.NewPCG(uint64(g), 7))
			seq := uint64(1)
			val := make([]byte, 100)
			for written := int64(0); written < want; written += 116 {
				require.NoError(t, x.MakeRoom(ctx))
				for i := range val {
					val[i] = byte(rng.Uint32())
				}
				x.Apply(seq, []Entry{{Kind: KindSet, Key: fmt.Appendf(nil, "%016x", rng.Uint64()), Value: val}}, LogPos{}, nil)
				seq++
			}
			require.NoError(t, x.Flush(ctx))
			require.NoError(t, x.Compact(ctx))
			levels := x.Levels()
			bottom := 0
			for _, l := range levels {
				t.Logf("L%d: %3d tables %8d bytes target %8d", l.Level, len(l.Tables), l.Size, l.TargetSize)
				if l.Size > 0 {
					bottom = l.Level
				}
			}
			require.Equal(t, 4, bottom, "data should reach L4")
			for l := 1; l < bottom; l++ {
				target := float64(opts.BaseLevelSize) * float64(pow(int64(g), l-1))
				require.LessOrEqual(t, float64(levels[l].Size), target, "L%d over its target", l)
				require.Equal(t, float64(levels[l].TargetSize), target)
				// Compaction moves data down only once a level passes its
				// target, so each level keeps a good share of it.
				require.GreaterOrEqual(t, float64(levels[l].Size), target/4, "L%d nearly empty", l)
			}
			for l := 2; l < bottom; l++ {
				ratio := float64(levels[l].Size) / float64(levels[l-1].Size)
				t.Logf("L%d/L%d = %.1f", l, l-1, ratio)
				require.Greater(t, ratio, float64(g)/2)
				require.Less(t, ratio, float64(g)*2)
			}
			require.Greater(t, levels[bottom].Size, levels[bottom-1].Size/uint64(g))
			checkLevelsSorted(t, x)
		})
	}
}

func pow(b int64, e int) int64 {
	r := int64(1)
	for ; e > 0; e-- {
		r *= b
	}
	return r
}

// TestTombstonesDroppedAtBottom deletes every key: once compaction reaches
// the bottom of the data, neither the values nor the tombstones remain,
// and the live value-log bytes drop to zero. An open snapshot keeps them.
func TestTombstonesDroppedAtBottom(t *testing.T) {
	opts := smallOpts(vfs.NewMem())
	opts.ValueRef = testValueRef
	opts.L0CompactionThreshold = 1
	x, err := Open("db", opts)
	require.NoError(t, err)
	defer x.Close()
	ctx := context.Background()
	seq := uint64(0)
	for i := 0; i < 500; i++ {
		seq++
		require.NoError(t, x.MakeRoom(ctx))
		x.Apply(seq, []Entry{{Kind: KindSet, Key: fmt.Appendf(nil, "k%04d", i), Value: []byte("value")}}, LogPos{}, nil)
	}
	require.NoError(t, x.Flush(ctx))
	require.NoError(t, x.Compact(ctx))
	require.Positive(t, nonZero(x.SegmentLive())[uint64('v'%8)])
	snap := x.NewSnapshot(seq)
	for i := 0; i < 500; i++ {
		seq++
		require.NoError(t, x.MakeRoom(ctx))
		x.Apply(seq, []Entry{{Kind: KindDelete, Key: fmt.Appendf(nil, "k%04d", i)}}, LogPos{}, nil)
	}
	require.NoError(t, x.Flush(ctx))
	require.NoError(t, x.Compact(ctx))
	entries := func() (n uint64) {
		for _, l := range x.Levels() {
			for _, tm := range l.Tables {
				n += tm.Entries
			}
		}
		return n
	}
	// The snapshot still reads the values.
	require.GreaterOrEqual(t, entries(), uint64(1000))
	v, ok, err := x.Get([]byte("k0007"), snap.Seq())
	require.NoError(t, err)
	require.True(t, ok)
	require.Equal(t, "value", string(v))
	snap.Close()
	// Rewrite everything once more with no snapshot: all of it goes.
	require.NoError(t, x.CompactAll(ctx))
	require.Zero(t, entries())
	require.Empty(t, nonZero(x.SegmentLive()))
}

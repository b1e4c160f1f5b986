package index

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestOptionsDefaultsAndValidate(t *testing.T) {
	var o Options
	o.EnsureDefaults()
	require.NoError(t, o.Validate())
	require.Equal(t, 10, o.GrowthFactor)
	require.Equal(t, int64(64<<20), o.MemtableSize)
	require.Equal(t, 7, o.NumLevels)

	for _, tc := range []struct {
		mut  func(*Options)
		want []string
	}{
		{func(o *Options) { o.GrowthFactor = 3 }, []string{"GrowthFactor 3"}},
		{func(o *Options) { o.GrowthFactor = 17 }, []string{"GrowthFactor 17"}},
		{func(o *Options) { o.L0StopThreshold = 5 }, []string{"L0StopThreshold 5 < L0SlowdownThreshold 12"}},
		{func(o *Options) { o.NumLevels = 1; o.BlockSize = 1 }, []string{"NumLevels 1", "BlockSize 1"}},
		{func(o *Options) { o.MaxImmutableMemtables = -1 }, []string{"MaxImmutableMemtables -1"}},
	} {
		o := Options{}
		o.EnsureDefaults()
		tc.mut(&o)
		err := o.Validate()
		require.Error(t, err)
		for _, w := range tc.want {
			require.True(t, strings.Contains(err.Error(), w), "%q lacks %q", err, w)
		}
	}
	for g := 4; g <= 16; g++ {
		o := Options{GrowthFactor: g}
		o.EnsureDefaults()
		require.NoError(t, o.Validate())
	}
}

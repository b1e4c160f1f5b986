package epoch

import (
	"testing"

	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/stretchr/testify/require"
)

func TestStoreLoad(t *testing.T) {
	fs := vfs.NewMem()
	require.NoError(t, fs.MkdirAll("d", 0o755))
	e, err := Load(fs, "d")
	require.NoError(t, err)
	require.Zero(t, e)
	require.NoError(t, Store(fs, "d", 7))
	require.NoError(t, Store(fs, "d", 9))
	e, err = Load(fs, "d")
	require.NoError(t, err)
	require.Equal(t, uint64(9), e)
}

func TestCorruptionDetected(t *testing.T) {
	fs := vfs.NewMem()
	require.NoError(t, fs.MkdirAll("d", 0o755))
	require.NoError(t, Store(fs, "d", 3))
	f, err := fs.OpenReadWrite("d/EPOCH", vfs.WriteCategoryUnspecified)
	require.NoError(t, err)
	_, err = f.WriteAt([]byte{0xff}, 5)
	require.NoError(t, err)
	require.NoError(t, f.Close())
	_, err = Load(fs, "d")
	require.ErrorIs(t, err, ErrCorrupt)
}

func TestSurvivesCrashOnlyWhenSynced(t *testing.T) {
	fs := vfs.NewCrashableMem()
	require.NoError(t, fs.MkdirAll("d", 0o755))
	d, err := fs.OpenDir("/")
	require.NoError(t, err)
	require.NoError(t, d.Sync())
	require.NoError(t, d.Close())
	require.NoError(t, Store(fs, "d", 5))
	crashed := fs.CrashClone(vfs.CrashCloneCfg{UnsyncedDataPercent: 0})
	e, err := Load(crashed, "d")
	require.NoError(t, err)
	require.Equal(t, uint64(5), e)
}

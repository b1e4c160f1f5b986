package engine

import (
	"fmt"
	"os"
	"testing"

	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/stretchr/testify/require"
)

// TestRealFSStore makes a store on the real file system (TALOS_KEEP_STORE
// names a directory to keep it in, for trying talosd inspect and check by
// hand) and checks it through the overlay on a real directory.
func TestRealFSStore(t *testing.T) {
	dir := t.TempDir()
	if d := os.Getenv("TALOS_KEEP_STORE"); d != "" {
		dir = d
	}
	opts := tinyOptions(vfs.Default)
	db, err := Open(dir, opts)
	require.NoError(t, err)
	for i := range 500 {
		require.NoError(t, db.Put(fmt.Appendf(nil, "k%04d", i), make([]byte, 40+i%100)))
	}
	require.NoError(t, db.Flush(t.Context()))
	for i := range 50 {
		require.NoError(t, db.Put(fmt.Appendf(nil, "k%04d", i), make([]byte, 10)))
	}
	require.NoError(t, db.Close())
	before := snapshotFiles(t, vfs.Default, dir)
	r, err := Check(vfs.Default, dir)
	require.NoError(t, err)
	require.True(t, r.OK(), "%v", r.Problems)
	require.Equal(t, 500, r.Keys)
	_, err = Inspect(vfs.Default, dir)
	require.NoError(t, err)
	require.Equal(t, before, snapshotFiles(t, vfs.Default, dir))
}

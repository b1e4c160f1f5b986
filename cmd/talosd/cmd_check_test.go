package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	"github.com/talos-kv/talos/engine"
	"github.com/talos-kv/talos/index"
)

func makeStore(t *testing.T) string {
	dir := t.TempDir()
	db, err := engine.Open(dir, engine.Options{
		SegmentSize:    16 << 10,
		ValueThreshold: 32,
		Index:          index.Options{MemtableSize: 8 << 10},
		GC:             engine.GCOptions{Disable: true},
	})
	require.NoError(t, err)
	for i := range 300 {
		require.NoError(t, db.Put(fmt.Appendf(nil, "k%04d", i), bytes.Repeat([]byte{'v'}, 100)))
	}
	require.NoError(t, db.Flush(t.Context()))
	require.NoError(t, db.Close())
	return dir
}

func TestCheckAndInspectCommands(t *testing.T) {
	dir := makeStore(t)
	var out, errOut bytes.Buffer
	require.Equal(t, 0, run([]string{"check", "--data-dir", dir}, &out, &errOut), errOut.String())
	require.Contains(t, out.String(), "OK")

	out.Reset()
	require.Equal(t, 0, run([]string{"inspect", "--data-dir", dir, "--json"}, &out, &errOut), errOut.String())
	var m map[string]any
	require.NoError(t, json.Unmarshal(out.Bytes(), &m))
	for _, k := range []string{"vlog", "flush", "compaction", "gc", "manifest", "get", "scan", "replication"} {
		require.Contains(t, m, k+"_bytes_read")
		require.Contains(t, m, k+"_bytes_written")
	}
	require.NotZero(t, m["vlog_bytes_written"])
	out.Reset()
	require.Equal(t, 0, run([]string{"inspect", "--data-dir", dir}, &out, &errOut), errOut.String())
	require.Contains(t, out.String(), "000001.vlog")

	// Flip a byte in the first (sealed) segment: check exits 1 and says why.
	seg := filepath.Join(dir, "vlog", "000001.vlog")
	b, err := os.ReadFile(seg)
	require.NoError(t, err)
	b[200] ^= 0x01
	require.NoError(t, os.WriteFile(seg, b, 0o644))
	out.Reset()
	errOut.Reset()
	require.Equal(t, 1, run([]string{"check", "--data-dir", dir}, &out, &errOut))
	require.Contains(t, out.String(), "CORRUPT")
	require.True(t, strings.Contains(out.String(), "checksum"), out.String())
	require.Equal(t, 2, run([]string{"check"}, &out, &errOut))
}

package engine

import (
	"bytes"
	"context"
	"fmt"
	"testing"

	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/stretchr/testify/require"
	"github.com/talos-kv/talos/index"
	"github.com/talos-kv/talos/internal/iostat"
	"github.com/talos-kv/talos/kvsep"
)

// With ValuePrefix, a compaction filter reads the first bytes of every
// value-log value from its index entry: no value-log read, the same bytes.
// GC still recognises the entries it rewrites, and a store reopened
// without the option reads them all.
func TestValuePrefix(t *testing.T) {
	rng := testSeed(t)
	fs := vfs.NewMem()
	opts := tinyOptions(fs)
	opts.ValuePrefix = 9
	var seen, fromEntry, short int
	var mismatch []string
	opts.CompactionFilter = func(index.CompactionInfo) func(*FilterEntry) FilterDecision {
		return func(e *FilterEntry) FilterDecision {
			seen++
			p, ok := e.ValuePrefix(9)
			if !ok {
				return FilterKeep
			}
			fromEntry++
			want := fmt.Appendf(nil, "%s=", e.Key)
			if len(p) < 9 {
				short++
			}
			if !bytes.HasPrefix(want, p) && !bytes.HasPrefix(p, want[:min(len(want), len(p))]) {
				mismatch = append(mismatch, fmt.Sprintf("%s: %q", e.Key, p))
			}
			return FilterKeep
		}
	}
	db, err := Open("db", opts)
	require.NoError(t, err)
	model := map[string]string{}
	for i := range 6000 {
		k := fmt.Sprintf("k%04d", rng.IntN(800))
		// Values of 3..200 bytes: inline below 32, in the value log above,
		// some shorter than the 9-byte prefix... all start with "key=".
		v := fmt.Sprintf("%s=%d-%s", k, i, bytes.Repeat([]byte{'x'}, rng.IntN(190)))
		require.NoError(t, db.Put([]byte(k), []byte(v)))
		model[k] = v
		if i%1500 == 1499 {
			_, err := db.RunGC(context.Background())
			require.NoError(t, err)
		}
	}
	before := db.Metrics().IO.Read[iostat.Compaction]
	require.NoError(t, db.CompactAll(context.Background()))
	m := db.Metrics()
	require.NotZero(t, m.GC.KeysRewritten, "GC rewrote nothing: it no longer recognises its entries")
	require.NotZero(t, seen)
	require.Equal(t, seen, fromEntry, "every entry's prefix came from the index")
	require.Empty(t, mismatch)
	// The full compaction read its input tables, not the values: far less
	// than the value-log bytes it would read otherwise.
	t.Logf("filter saw %d entries; compaction read %d bytes", seen, m.IO.Read[iostat.Compaction]-before)
	for k, v := range model {
		got, err := db.Get([]byte(k))
		require.NoError(t, err)
		require.Equal(t, v, string(got))
	}
	require.NoError(t, db.Close())

	rep, err := Check(fs, "db")
	require.NoError(t, err)
	require.True(t, rep.OK(), "%v", rep)

	opts.ValuePrefix = 0
	opts.CompactionFilter = nil
	db, err = Open("db", opts)
	require.NoError(t, err)
	for k, v := range model {
		got, err := db.Get([]byte(k))
		require.NoError(t, err)
		require.Equal(t, v, string(got))
	}
	require.NoError(t, db.Close())
}

func TestValuePrefixDecode(t *testing.T) {
	p := kvsep.Pointer{Segment: 3, Offset: 64, Length: uint32(kvsep.RecordLen(2, 20))}
	v := encodePointerPrefix(nil, p, []byte("0123456789"))
	_, got, pre, isPtr, err := decodeIndexValuePrefix(v)
	require.NoError(t, err)
	require.True(t, isPtr)
	require.Equal(t, p, got)
	require.Equal(t, "0123456789", string(pre))
	seg, n, ok := valueRef(v)
	require.True(t, ok)
	require.Equal(t, uint64(3), seg)
	require.Equal(t, int64(p.Length), n)

	long := encodePointerPrefix(nil, p, bytes.Repeat([]byte{'a'}, MaxValuePrefix+1))
	_, _, _, _, err = decodeIndexValuePrefix(long)
	require.ErrorIs(t, err, ErrCorrupt)
	tooLong := encodePointerPrefix(nil, kvsep.Pointer{Segment: 1, Length: 4}, []byte("abcdefgh"))
	_, _, _, _, err = decodeIndexValuePrefix(tooLong)
	require.ErrorIs(t, err, ErrCorrupt)
	plain := append(encodePointer(nil, p), 'x')
	_, _, _, _, err = decodeIndexValuePrefix(plain)
	require.ErrorIs(t, err, ErrCorrupt, "a plain pointer entry has no room for more bytes")

	o := Options{ValuePrefix: MaxValuePrefix + 1}
	o.EnsureDefaults()
	require.Error(t, o.Validate())
}

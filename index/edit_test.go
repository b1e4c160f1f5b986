package index

import (
	"errors"
	"reflect"
	"testing"

	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/stretchr/testify/require"
)

func sampleEdits() []*VersionEdit {
	return []*VersionEdit{
		{},
		{NextFileNum: 9, LastSeq: 100},
		{
			Added: []NewTable{
				{Level: 0, Meta: TableMeta{Num: 12, Size: 4096, Smallest: []byte("a"), Largest: []byte("zz"), SmallestSeq: 3, LargestSeq: 99, Entries: 40, Checksum: 0xdeadbeef}},
				{Level: 6, Meta: TableMeta{Num: 13, Size: 1, Smallest: []byte{}, Largest: []byte{0, 1}, Checksum: 1}},
			},
			Deleted:         []DeletedTable{{Level: 1, Num: 4}, {Level: 2, Num: 5}},
			NextFileNum:     14,
			LastSeq:         1 << 40,
			Checkpoint:      &LogPos{Segment: 3, Offset: 1 << 20},
			SegmentLive:     map[uint64]int64{1: 100, 2: -50, 7: 0},
			DeletedSegments: []uint64{0, 5},
		},
	}
}

func TestEditRoundTrip(t *testing.T) {
	for _, e := range sampleEdits() {
		b := e.Encode()
		d, err := DecodeVersionEdit(b)
		require.NoError(t, err)
		require.Equal(t, b, d.Encode())
		if len(e.Added) > 0 {
			require.Equal(t, e.Added[0].Meta, d.Added[0].Meta)
			require.Equal(t, e.SegmentLive, d.SegmentLive)
			require.Equal(t, *e.Checkpoint, *d.Checkpoint)
		}
	}
}

func TestEditCorrupt(t *testing.T) {
	b := sampleEdits()[2].Encode()
	for i := range b {
		c := append([]byte(nil), b...)
		c[i] ^= 0x40
		_, err := DecodeVersionEdit(c)
		require.True(t, errors.Is(err, ErrCorrupt), "flip at %d: %v", i, err)
	}
	for n := 0; n < len(b); n++ {
		_, err := DecodeVersionEdit(b[:n])
		require.True(t, errors.Is(err, ErrCorrupt), "truncated to %d: %v", n, err)
	}
}

func FuzzDecodeVersionEdit(f *testing.F) {
	for _, e := range sampleEdits() {
		f.Add(e.Encode())
	}
	f.Add([]byte{})
	f.Add([]byte{1, 2, 3, 4, 5})
	f.Fuzz(func(t *testing.T, b []byte) {
		e, err := DecodeVersionEdit(b)
		if err != nil {
			if !errors.Is(err, ErrCorrupt) {
				t.Fatalf("error not ErrCorrupt: %v", err)
			}
			return
		}
		b2 := e.Encode()
		e2, err := DecodeVersionEdit(b2)
		if err != nil {
			t.Fatalf("re-decode: %v", err)
		}
		if !reflect.DeepEqual(e, e2) {
			t.Fatalf("round trip: %+v != %+v", e, e2)
		}
		if b3 := e2.Encode(); string(b3) != string(b2) {
			t.Fatalf("encoding not canonical")
		}
	})
}

// TestSegmentLiveDropsDeletedCounts: a count that falls to zero or below is
// dropped, so a deleted segment whose shadowed entries a later compaction
// drops leaves no negative entry behind, in memory or after reopening.
func TestSegmentLiveDropsDeletedCounts(t *testing.T) {
	fs := vfs.NewMem()
	x, err := Open("db", Options{FS: fs})
	require.NoError(t, err)
	apply := func(e *VersionEdit) { require.NoError(t, x.ApplyEdit(e)) }
	apply(&VersionEdit{SegmentLive: map[uint64]int64{5: 100, 6: 10, 7: 30}})
	apply(&VersionEdit{DeletedSegments: []uint64{5}})
	apply(&VersionEdit{SegmentLive: map[uint64]int64{5: -40, 6: -10, 7: -5}})
	want := map[uint64]int64{7: 25}
	require.Equal(t, want, x.SegmentLive())
	require.NoError(t, x.Close())
	x, err = Open("db", Options{FS: fs})
	require.NoError(t, err)
	defer x.Close()
	require.Equal(t, want, x.SegmentLive())
}

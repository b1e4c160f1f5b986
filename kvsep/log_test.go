package kvsep

import (
	"context"
	"flag"
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/stretchr/testify/require"
	"github.com/talos-kv/talos/internal/iostat"
)

const testSegSize = 8192

type rec struct {
	seq        uint64
	kind       Kind
	key, value string
	ptr        Pointer
}

// appendRandom appends n random batches and returns the records written.
func appendRandom(t *testing.T, l *Log, rng *rand.Rand, seq uint64, n int) ([]rec, uint64) {
	t.Helper()
	var out []rec
	for range n {
		var bs []*Records
		for range 1 + rng.IntN(3) {
			b := new(Records)
			for range 1 + rng.IntN(4) {
				k := fmt.Sprintf("key%05d", rng.IntN(1000))
				v := make([]byte, rng.IntN(600))
				for i := range v {
					v[i] = byte(rng.Uint32())
				}
				kind := KindSet
				if rng.IntN(5) == 0 {
					kind, v = KindDelete, nil
				}
				b.Add(kind, []byte(k), v)
			}
			bs = append(bs, b)
		}
		pos := make([]FramePos, len(bs))
		var ranges []Range
		require.NoError(t, l.Append(bs, seq, pos, func(r Range) error {
			ranges = append(ranges, r)
			return nil
		}))
		require.NotEmpty(t, ranges)
		for i, b := range bs {
			for j := range b.Count() {
				kind, k, v := b.At(j)
				out = append(out, rec{seq: seq, kind: kind, key: string(k), value: string(v), ptr: b.Pointer(pos[i], j)})
				seq++
			}
		}
	}
	return out, seq
}

func replayAll(t *testing.T, l *Log, from Pos) []rec {
	t.Helper()
	var got []rec
	require.NoError(t, l.Replay(context.Background(), from, func(f *Frame) error {
		for i, r := range f.Records {
			got = append(got, rec{seq: r.Seq, kind: r.Kind, key: string(r.Key), value: string(r.Value), ptr: f.Pointers[i]})
		}
		return nil
	}))
	return got
}

var seedFlag = flag.Uint64("seed", 20261122, "seed of the randomized kvsep tests (printed by each)")

// seed returns the test's random source: fixed by default so runs repeat,
// another with -seed N.
func seed(t *testing.T) *rand.Rand {
	s := *seedFlag
	t.Logf("seed %d", s)
	return rand.New(rand.NewPCG(s, s))
}

func TestAppendReplayRead(t *testing.T) {
	rng := seed(t)
	fs := vfs.NewMem()
	var sealed []uint64
	opts := Options{FS: fs, SegmentSize: testSegSize, Listener: Listener{SegmentSealed: func(n uint64, buf []byte) {
		require.Len(t, buf, testSegSize)
		sealed = append(sealed, n)
	}}}
	l, err := Open("vlog", opts)
	require.NoError(t, err)
	want, seq := appendRandom(t, l, rng, 1, 200)
	require.Greater(t, len(sealed), 3)
	for _, r := range want {
		got, _, err := l.ReadRecord(context.Background(), r.ptr, nil)
		require.NoError(t, err)
		require.Equal(t, r.seq, got.Seq)
		require.Equal(t, r.key, string(got.Key))
		require.Equal(t, r.value, string(got.Value))
	}
	require.Equal(t, want, replayAll(t, l, Pos{Segment: 1}))
	require.NoError(t, l.Sync())
	end := l.End()
	require.NoError(t, l.Close())

	// Sealed segments are exactly the segment size.
	for _, n := range sealed {
		st, err := fs.Stat("vlog/" + SegmentFileName(n))
		require.NoError(t, err)
		require.EqualValues(t, testSegSize, st.Size())
	}

	l, err = Open("vlog", opts)
	require.NoError(t, err)
	require.Equal(t, end, l.End())
	require.Equal(t, seq, l.NextSeq())
	require.Equal(t, want, replayAll(t, l, Pos{Segment: 1}))
	// Replay from the middle: a frame position.
	mid := want[len(want)/2].ptr
	var from Pos
	require.NoError(t, l.Replay(context.Background(), Pos{Segment: mid.Segment}, func(f *Frame) error {
		if from == (Pos{}) {
			from = Pos{Segment: f.Pos.Segment, Offset: uint64(f.Pos.Offset)}
		}
		return nil
	}))
	got := replayAll(t, l, from)
	require.Equal(t, want[len(want)-len(got):], got)
	more, _ := appendRandom(t, l, rng, seq, 50)
	require.Equal(t, append(want, more...), replayAll(t, l, Pos{Segment: 1}))
	require.NoError(t, l.Close())
}

func TestTornTailEndsReplay(t *testing.T) {
	rng := seed(t)
	for cut := 0; cut < 40; cut++ {
		fs := vfs.NewMem()
		l, err := Open("vlog", Options{FS: fs, SegmentSize: testSegSize})
		require.NoError(t, err)
		want, _ := appendRandom(t, l, rng, 1, 30)
		active, _ := l.Active()
		require.NoError(t, l.Close())
		name := "vlog/" + SegmentFileName(active)
		st, err := fs.Stat(name)
		require.NoError(t, err)
		size := st.Size()
		// Tear the newest segment at a random point: truncate or scribble.
		tearAt := int64(rng.IntN(int(size)))
		f, err := fs.OpenReadWrite(name, vfs.WriteCategoryUnspecified)
		require.NoError(t, err)
		if cut%2 == 0 {
			garbage := make([]byte, size-tearAt)
			for i := range garbage {
				garbage[i] = byte(rng.Uint32())
			}
			_, err = f.WriteAt(garbage, tearAt)
		} else {
			_, err = f.WriteAt(make([]byte, size-tearAt), tearAt)
		}
		require.NoError(t, err)
		require.NoError(t, f.Close())

		l, err = Open("vlog", Options{FS: fs, SegmentSize: testSegSize})
		require.NoError(t, err, "cut %d", cut)
		got := replayAll(t, l, Pos{Segment: 1})
		require.LessOrEqual(t, len(got), len(want))
		require.Equal(t, want[:len(got)], got, "replay must be a prefix")
		next := uint64(1)
		if len(got) > 0 {
			next = got[len(got)-1].seq + 1
			require.Equal(t, next, l.NextSeq())
		}
		// The log continues after the torn tail.
		more, _ := appendRandom(t, l, rng, next, 5)
		require.Equal(t, append(got, more...), replayAll(t, l, Pos{Segment: 1}))
		require.NoError(t, l.Close())
	}
}

func TestCorruptSealedSegment(t *testing.T) {
	rng := seed(t)
	for i := 0; i < 30; i++ {
		fs := vfs.NewMem()
		l, err := Open("vlog", Options{FS: fs, SegmentSize: testSegSize})
		require.NoError(t, err)
		want, _ := appendRandom(t, l, rng, 1, 60)
		require.NoError(t, l.Close())
		name := "vlog/" + SegmentFileName(1)
		f, err := fs.OpenReadWrite(name, vfs.WriteCategoryUnspecified)
		require.NoError(t, err)
		off := int64(rng.IntN(testSegSize))
		b := make([]byte, 1)
		_, err = f.ReadAt(b, off)
		require.NoError(t, err)
		b[0] ^= 1 << rng.IntN(8)
		_, err = f.WriteAt(b, off)
		require.NoError(t, err)
		require.NoError(t, f.Close())

		l, err = Open("vlog", Options{FS: fs, SegmentSize: testSegSize})
		require.NoError(t, err)
		err = l.Replay(context.Background(), Pos{Segment: 1}, func(*Frame) error { return nil })
		require.ErrorIs(t, err, ErrCorrupt, "flipped byte at %d", off)
		// A pointer read covering the byte reports corruption, never data.
		for _, r := range want {
			if r.ptr.Segment == 1 && int64(r.ptr.Offset) <= off && off < int64(r.ptr.Offset+r.ptr.Length) {
				_, _, err := l.ReadRecord(context.Background(), r.ptr, nil)
				require.ErrorIs(t, err, ErrCorrupt)
			}
		}
		require.NoError(t, l.Close())
	}
}

func TestWriteSegmentBackup(t *testing.T) {
	rng := seed(t)
	primary := vfs.NewMem()
	var images [][]byte
	l, err := Open("vlog", Options{FS: primary, SegmentSize: testSegSize, Listener: Listener{
		SegmentSealed: func(n uint64, buf []byte) {
			require.EqualValues(t, len(images)+1, n)
			images = append(images, append([]byte(nil), buf...))
		}}})
	require.NoError(t, err)
	want, _ := appendRandom(t, l, rng, 1, 100)
	n, active := l.Active()
	activeImg := append([]byte(nil), active...)
	require.NoError(t, l.Close())

	backup := vfs.NewMem()
	b, err := Open("vlog", Options{FS: backup, SegmentSize: testSegSize})
	require.NoError(t, err)
	for i, img := range images {
		require.NoError(t, b.WriteSegment(uint64(i+1), img))
	}
	require.NoError(t, b.WriteSegment(n, activeImg))
	// A damaged image is refused.
	bad := append([]byte(nil), images[0]...)
	bad[100] ^= 0xff
	require.ErrorIs(t, b.WriteSegment(1, bad), ErrCorrupt)
	require.NoError(t, b.Close())
	// Sealed segments are byte-identical.
	for i := range images {
		name := "vlog/" + SegmentFileName(uint64(i+1))
		require.Equal(t, readFile(t, primary, name), readFile(t, backup, name))
	}
	b, err = Open("vlog", Options{FS: backup, SegmentSize: testSegSize})
	require.NoError(t, err)
	require.Equal(t, want, replayAll(t, b, Pos{Segment: 1}))
	require.NoError(t, b.Close())
}

// TestWriteSegmentFrom: persisting a growing prefix writes only the new
// bytes and ends with the same file as writing the whole image; a file of
// another length makes it rewrite the image whole.
func TestWriteSegmentFrom(t *testing.T) {
	rng := seed(t)
	primary := vfs.NewMem()
	l, err := Open("vlog", Options{FS: primary, SegmentSize: testSegSize})
	require.NoError(t, err)
	var ends []int
	seq := uint64(1)
	// Five small batches: several frame-aligned prefixes of segment 1.
	for i := 0; i < 5; i++ {
		var r Records
		for j := 0; j < 1+rng.IntN(4); j++ {
			r.Add(KindSet, fmt.Appendf(nil, "key-%d-%d", i, j), make([]byte, rng.IntN(64)))
		}
		pos := make([]FramePos, 1)
		require.NoError(t, l.Append([]*Records{&r}, seq, pos, nil))
		seq += uint64(r.Count())
		require.EqualValues(t, 1, l.End().Segment)
		ends = append(ends, int(l.End().Offset))
	}
	require.GreaterOrEqual(t, len(ends), 3, "the test wants several prefixes of segment 1")
	n, active := l.Active()
	img := append([]byte(nil), active[:ends[len(ends)-1]]...)
	require.NoError(t, l.Close())

	var c iostat.Counters
	backup := vfs.NewMem()
	b, err := Open("vlog", Options{FS: backup, SegmentSize: testSegSize, Counters: &c})
	require.NoError(t, err)
	from := 0
	for _, end := range ends {
		before := c.Snapshot().Written[iostat.Replication]
		require.NoError(t, b.WriteSegmentFrom(n, img[:end], from))
		if from > 0 {
			require.EqualValues(t, end-from, c.Snapshot().Written[iostat.Replication]-before, "only the new bytes are written")
		}
		from = end
	}
	require.Equal(t, img, readFile(t, backup, "vlog/"+SegmentFileName(n)))
	// A stale from (the file is longer) rewrites the image whole.
	require.NoError(t, b.WriteSegmentFrom(n, img, ends[0]))
	require.Equal(t, img, readFile(t, backup, "vlog/"+SegmentFileName(n)))
	// Damage after from is refused.
	bad := append([]byte(nil), img...)
	bad[len(bad)-3] ^= 0xff
	require.Error(t, b.WriteSegmentFrom(n, bad, ends[len(ends)-2]))
	require.NoError(t, b.Close())
}

func readFile(t *testing.T, fs vfs.FS, name string) []byte {
	f, err := fs.Open(name)
	require.NoError(t, err)
	defer f.Close()
	st, err := f.Stat()
	require.NoError(t, err)
	b := make([]byte, st.Size())
	_, err = f.ReadAt(b, 0)
	require.NoError(t, err)
	return b
}

func TestValidate(t *testing.T) {
	o := Options{SegmentSize: 3000, Buffers: 1}
	o.EnsureDefaults()
	err := o.Validate()
	require.ErrorIs(t, err, ErrInvalidOptions)
	require.Contains(t, err.Error(), "power of two")
	require.Contains(t, err.Error(), "Buffers")
	o = Options{}
	o.EnsureDefaults()
	require.NoError(t, o.Validate())
	require.EqualValues(t, DefaultSegmentSize, o.SegmentSize)
}

func TestPointerEncoding(t *testing.T) {
	p := Pointer{Segment: 7, Offset: 4096, Length: 300}
	b := p.Encode(nil)
	require.Len(t, b, PointerLen)
	got, err := DecodePointer(b)
	require.NoError(t, err)
	require.Equal(t, p, got)
	_, err = DecodePointer(b[:15])
	require.ErrorIs(t, err, ErrCorrupt)
}

func TestLazyWrite(t *testing.T) {
	rng := seed(t)
	fs := vfs.NewMem()
	opts := Options{FS: fs, SegmentSize: testSegSize, LazyWrite: 3000}
	l, err := Open("vlog", opts)
	require.NoError(t, err)
	want, seq := appendRandom(t, l, rng, 1, 100)
	require.NoError(t, l.Sync())
	var tiny Records
	tiny.Add(KindSet, []byte("tiny"), []byte("value"))
	pos := make([]FramePos, 1)
	require.NoError(t, l.Append([]*Records{&tiny}, seq, pos, nil))
	want = append(want, rec{seq: seq, kind: KindSet, key: "tiny", value: "value", ptr: tiny.Pointer(pos[0], 0)})
	// Records still only in the buffer read back through their pointers.
	for _, r := range want {
		got, _, err := l.ReadRecord(context.Background(), r.ptr, nil)
		require.NoError(t, err)
		require.Equal(t, r.value, string(got.Value))
	}
	active, _ := l.Active()
	st, err := fs.Stat("vlog/" + SegmentFileName(active))
	require.NoError(t, err)
	require.Less(t, st.Size(), int64(l.End().Offset), "the tail should still be pending")
	require.NoError(t, l.Close())
	l, err = Open("vlog", opts)
	require.NoError(t, err)
	require.Equal(t, want, replayAll(t, l, Pos{Segment: 1}))
	require.NoError(t, l.Close())
}

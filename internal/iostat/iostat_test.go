package iostat

import (
	"context"
	"testing"

	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/stretchr/testify/require"
)

func TestCountingFS(t *testing.T) {
	var c Counters
	mem := vfs.NewMem()
	fs := c.FS(mem, Flush)
	f, err := fs.Create("a", vfs.WriteCategoryUnspecified)
	require.NoError(t, err)
	_, err = f.Write(make([]byte, 100))
	require.NoError(t, err)
	_, err = f.WriteAt(make([]byte, 10), 100)
	require.NoError(t, err)
	require.NoError(t, f.Close())

	r, err := c.FS(mem, Compaction).Open("a")
	require.NoError(t, err)
	buf := make([]byte, 50)
	_, err = r.ReadAt(buf, 0)
	require.NoError(t, err)
	_, err = r.(ContextReaderAt).ReadAtContext(WithKind(context.Background(), Get), buf[:7], 0)
	require.NoError(t, err)
	require.NoError(t, r.Close())

	s := c.Snapshot()
	require.Equal(t, uint64(110), s.Written[Flush])
	require.Equal(t, uint64(50), s.Read[Compaction])
	require.Equal(t, uint64(7), s.Read[Get])
	m := s.Map()
	require.Equal(t, uint64(110), m["flush_bytes_written"])
	require.Equal(t, uint64(7), m["get_bytes_read"])
	require.Len(t, m, 2*int(NumKinds))
}

func TestPersistRoundTripAndCorruption(t *testing.T) {
	mem := vfs.NewMem()
	s, err := Load(mem, "IOSTATS")
	require.NoError(t, err)
	require.Equal(t, Snapshot{}, s)

	var c Counters
	c.AddRead(Scan, 12)
	c.AddWritten(Vlog, 1<<40)
	require.NoError(t, Store(mem, "IOSTATS", c.Snapshot()))
	got, err := Load(mem, "IOSTATS")
	require.NoError(t, err)
	require.Equal(t, c.Snapshot(), got)

	b := c.Snapshot().Encode()
	for i := range b {
		bad := append([]byte(nil), b...)
		bad[i] ^= 0x40
		_, err := Decode(bad)
		require.ErrorIs(t, err, ErrCorrupt, "flipped byte %d", i)
	}
	_, err = Decode(b[:len(b)-1])
	require.ErrorIs(t, err, ErrCorrupt)
}

func FuzzDecode(f *testing.F) {
	var c Counters
	c.AddRead(Get, 3)
	f.Add(c.Snapshot().Encode())
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		s, err := Decode(b)
		if err != nil {
			return
		}
		again, err := Decode(s.Encode())
		if err != nil || again != s {
			t.Fatalf("round trip: %v %v %v", s, again, err)
		}
	})
}

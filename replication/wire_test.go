package replication

import (
	"testing"

	"github.com/stretchr/testify/require"
)

func sampleMessages() []Message {
	return []Message{
		{Type: MsgHello, Epoch: 3, Seg: 1 << 21, Text: "backup-1", Kind: uint8(ModeShipIndex), Slot: 4, Length: 16, Offset: 1 << 18},
		{Type: MsgWelcome, Epoch: 3, Seg: 9, Kind: uint8(ModeBuildIndex) | uint8(AckDisk)<<4},
		{Type: MsgCommit, Epoch: 1, Seg: 2, Offset: 4096},
		{Type: MsgSeal, Epoch: 1, Seg: 2, Length: 2 << 20, CRC: 0xdeadbeef},
		{Type: MsgObjectEnd, Epoch: 1, Kind: uint8(ObjectEdit), ID: 12, Length: 300, CRC: 7, Seg: 2, Offset: 77},
		{Type: MsgChunkCredit, Epoch: 1, Slot: 3},
		{Type: MsgHeartbeatAck, Epoch: 1, ID: 99, Seg: 4, Offset: 5},
		{Type: MsgError, Epoch: 1, Text: "stale epoch"},
	}
}

func TestMessageRoundTrip(t *testing.T) {
	for _, m := range sampleMessages() {
		b := m.Encode(nil)
		got, err := DecodeMessage(b)
		require.NoError(t, err, "%s", m)
		require.Equal(t, m, got)
	}
}

func TestMessageDamageIsMalformed(t *testing.T) {
	m := Message{Type: MsgSeal, Epoch: 1, Seg: 2, Length: 64, CRC: 1}
	b := m.Encode(nil)
	for i := range b {
		for _, bit := range []byte{1, 0x80} {
			bad := append([]byte(nil), b...)
			bad[i] ^= bit
			_, err := DecodeMessage(bad)
			require.ErrorIs(t, err, ErrMalformed, "byte %d bit %#x", i, bit)
		}
	}
	for n := 0; n < len(b); n++ {
		_, err := DecodeMessage(b[:n])
		require.ErrorIs(t, err, ErrMalformed, "truncated to %d", n)
	}
	_, err := DecodeMessage(append(b, 0))
	require.ErrorIs(t, err, ErrMalformed)
}

func TestMessageUnusedFieldRejected(t *testing.T) {
	// A Seal carrying a slot is well-framed but not a valid Seal.
	b := (&Message{Type: MsgSeal, Epoch: 1, Seg: 2, Slot: 5}).Encode(nil)
	_, err := DecodeMessage(b)
	require.ErrorIs(t, err, ErrMalformed)
	require.Contains(t, err.Error(), "Seal sets fields it does not use")
}

func TestChunkRoundTripAndDamage(t *testing.T) {
	slot := make([]byte, 256)
	data := []byte("table bytes, chunk two")
	n := EncodeChunk(slot, ChunkHeader{Kind: ObjectTable, Epoch: 2, ID: 7, Offset: 4096}, data)
	require.Equal(t, ChunkHeaderSize+len(data), n)
	h, got, err := DecodeChunk(slot)
	require.NoError(t, err)
	require.Equal(t, data, got)
	require.Equal(t, ChunkHeader{Kind: ObjectTable, Epoch: 2, ID: 7, Offset: 4096, Length: uint32(len(data)), CRC: h.CRC}, h)
	for i := 0; i < n; i++ {
		bad := append([]byte(nil), slot...)
		bad[i] ^= 0x10
		_, _, err := DecodeChunk(bad)
		require.ErrorIs(t, err, ErrMalformed, "byte %d", i)
	}
	_, _, err = DecodeChunk(slot[:ChunkHeaderSize+len(data)-1])
	require.ErrorIs(t, err, ErrMalformed)
	// Every object kind round-trips; an unknown kind is malformed.
	for _, k := range []ObjectKind{ObjectTable, ObjectEdit, ObjectSegment, ObjectSnapshot} {
		EncodeChunk(slot, ChunkHeader{Kind: k, Epoch: 1, ID: 9}, data)
		h, _, err := DecodeChunk(slot)
		require.NoError(t, err, "%s", k)
		require.Equal(t, k, h.Kind)
	}
	EncodeChunk(slot, ChunkHeader{Kind: ObjectSnapshot + 1, Epoch: 1, ID: 9}, data)
	_, _, err = DecodeChunk(slot)
	require.ErrorIs(t, err, ErrMalformed)
}

func FuzzDecodeMessage(f *testing.F) {
	for _, m := range sampleMessages() {
		f.Add(m.Encode(nil))
	}
	f.Add([]byte("TL"))
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := DecodeMessage(b)
		if err != nil {
			return
		}
		again, err := DecodeMessage(m.Encode(nil))
		if err != nil {
			t.Fatalf("re-decode of %s: %v", m, err)
		}
		if again != m {
			t.Fatalf("round trip changed %v to %v", m, again)
		}
		_ = m.String()
	})
}

func FuzzDecodeChunk(f *testing.F) {
	slot := make([]byte, 128)
	EncodeChunk(slot, ChunkHeader{Kind: ObjectEdit, Epoch: 1, ID: 3}, []byte("edit"))
	f.Add(slot)
	for _, k := range []ObjectKind{ObjectSegment, ObjectSnapshot} {
		s := make([]byte, 128)
		EncodeChunk(s, ChunkHeader{Kind: k, Epoch: 1, ID: 4, Offset: 64}, []byte("catch-up"))
		f.Add(s)
	}
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		h, data, err := DecodeChunk(b)
		if err != nil {
			return
		}
		out := make([]byte, ChunkHeaderSize+len(data))
		EncodeChunk(out, h, data)
		h2, data2, err := DecodeChunk(out)
		if err != nil || h2 != h || string(data2) != string(data) {
			t.Fatalf("round trip: %+v %+v %v", h, h2, err)
		}
	})
}

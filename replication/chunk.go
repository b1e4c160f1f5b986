package replication

import (
	"encoding/binary"
	"fmt"
	"hash/crc32"
)

// ChunkHeaderSize is the size of the header at the start of a chunk slot.
const ChunkHeaderSize = 40

// ChunkHeader describes the object data that follows it in a chunk slot.
type ChunkHeader struct {
	Kind   ObjectKind
	Epoch  uint64
	ID     uint64
	Offset uint64 // of this chunk's data within the object
	Length uint32 // bytes of data after the header
	CRC    uint32 // crc32c of the header (crc zeroed) and the data
}

// EncodeChunk writes the header for data into slot[:ChunkHeaderSize] and
// copies data after it. slot must hold ChunkHeaderSize+len(data) bytes. It
// returns the number of bytes to write to the peer's slot.
func EncodeChunk(slot []byte, h ChunkHeader, data []byte) int {
	n := ChunkHeaderSize + len(data)
	if len(slot) < n {
		panic(fmt.Sprintf("replication: chunk slot of %d bytes cannot hold %d", len(slot), n))
	}
	copy(slot[ChunkHeaderSize:], data)
	h.Length = uint32(len(data))
	putChunkHeader(slot, h)
	sum := crc32.Checksum(slot[:n], castagnoli)
	binary.LittleEndian.PutUint32(slot[36:40], sum)
	return n
}

func putChunkHeader(b []byte, h ChunkHeader) {
	copy(b[0:4], "TCHK")
	b[4] = byte(h.Kind)
	b[5], b[6], b[7] = 0, 0, 0
	binary.LittleEndian.PutUint64(b[8:], h.Epoch)
	binary.LittleEndian.PutUint64(b[16:], h.ID)
	binary.LittleEndian.PutUint64(b[24:], h.Offset)
	binary.LittleEndian.PutUint32(b[32:], h.Length)
	binary.LittleEndian.PutUint32(b[36:], 0)
}

// DecodeChunk parses and verifies the chunk at the start of slot (whose
// length is the slot size) and returns its header and data (a sub-slice of
// slot). Damage is ErrMalformed.
func DecodeChunk(slot []byte) (ChunkHeader, []byte, error) {
	var h ChunkHeader
	if len(slot) < ChunkHeaderSize {
		return h, nil, fmt.Errorf("%w: chunk slot of %d bytes", ErrMalformed, len(slot))
	}
	if string(slot[0:4]) != "TCHK" {
		return h, nil, fmt.Errorf("%w: bad chunk magic %q", ErrMalformed, slot[0:4])
	}
	if slot[5] != 0 || slot[6] != 0 || slot[7] != 0 {
		return h, nil, fmt.Errorf("%w: chunk reserved bytes set", ErrMalformed)
	}
	h.Kind = ObjectKind(slot[4])
	if !h.Kind.valid() {
		return h, nil, fmt.Errorf("%w: unknown chunk kind %d", ErrMalformed, slot[4])
	}
	h.Epoch = binary.LittleEndian.Uint64(slot[8:])
	h.ID = binary.LittleEndian.Uint64(slot[16:])
	h.Offset = binary.LittleEndian.Uint64(slot[24:])
	h.Length = binary.LittleEndian.Uint32(slot[32:])
	h.CRC = binary.LittleEndian.Uint32(slot[36:])
	if uint64(h.Length) > uint64(len(slot)-ChunkHeaderSize) {
		return h, nil, fmt.Errorf("%w: chunk length %d exceeds slot of %d", ErrMalformed, h.Length, len(slot))
	}
	end := ChunkHeaderSize + int(h.Length)
	c := crc32.Update(0, castagnoli, slot[:36])
	c = crc32.Update(c, castagnoli, []byte{0, 0, 0, 0})
	c = crc32.Update(c, castagnoli, slot[ChunkHeaderSize:end])
	if c != h.CRC {
		return h, nil, fmt.Errorf("%w: chunk checksum %08x, want %08x", ErrMalformed, c, h.CRC)
	}
	return h, slot[ChunkHeaderSize:end], nil
}

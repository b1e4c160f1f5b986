package rdma

import (
	"encoding/binary"
	"fmt"
	"hash/crc32"
)

// TCP frames: a fixed 40-byte header followed by the payload. The layout
// is drawn in doc.go.

const frameHeaderLen = 40

type frameType uint8

const (
	frameHello    frameType = 1 // dialer -> listener: connect private data
	frameAccept   frameType = 2 // listener -> dialer: accept private data
	frameReject   frameType = 3 // listener -> dialer: reject private data
	frameWrite    frameType = 4 // RDMA WRITE: payload lands at addr under rkey
	frameWriteImm frameType = 5 // WRITE_WITH_IMM: as Write, then imm to the next receive
	frameSend     frameType = 6 // SEND: payload into the next receive
	frameAck      frameType = 7 // every request up to and including seq succeeded
	frameNak      frameType = 8 // request seq failed with status; connection is broken
)

func (t frameType) String() string {
	switch t {
	case frameHello:
		return "hello"
	case frameAccept:
		return "accept"
	case frameReject:
		return "reject"
	case frameWrite:
		return "write"
	case frameWriteImm:
		return "write-imm"
	case frameSend:
		return "send"
	case frameAck:
		return "ack"
	case frameNak:
		return "nak"
	}
	return fmt.Sprintf("frame-type(%d)", uint8(t))
}

// maxPayload is the largest payload a frame of type t may carry.
func (t frameType) maxPayload() int {
	switch t {
	case frameHello:
		return privMaxConnect
	case frameAccept:
		return privMaxAccept
	case frameReject:
		return privMaxReject
	case frameWrite, frameWriteImm, frameSend:
		return MaxMessageSize
	default:
		return 0
	}
}

type frameHeader struct {
	length uint32 // payload length
	typ    frameType
	status Status // for frameNak
	seq    uint64
	addr   uint64
	rkey   uint32
	imm    uint32
	pcrc   uint32 // crc32c of the payload
}

// encode writes h into b[:frameHeaderLen], computing the header checksum.
func (h *frameHeader) encode(b []byte) {
	_ = b[frameHeaderLen-1]
	binary.LittleEndian.PutUint32(b[0:], h.length)
	b[4] = byte(h.typ)
	b[5] = 0
	b[6] = byte(h.status)
	b[7] = 0
	binary.LittleEndian.PutUint64(b[8:], h.seq)
	binary.LittleEndian.PutUint64(b[16:], h.addr)
	binary.LittleEndian.PutUint32(b[24:], h.rkey)
	binary.LittleEndian.PutUint32(b[28:], h.imm)
	binary.LittleEndian.PutUint32(b[32:], h.pcrc)
	binary.LittleEndian.PutUint32(b[36:], crc32.Checksum(b[:36], castagnoli))
}

// decodeFrameHeader checks and decodes a header. The payload checksum is
// checked by the caller once the payload has been read.
func decodeFrameHeader(b []byte) (frameHeader, error) {
	var h frameHeader
	if len(b) < frameHeaderLen {
		return h, fmt.Errorf("%w: header of %d bytes, want %d", ErrCorruptFrame, len(b), frameHeaderLen)
	}
	if got, want := binary.LittleEndian.Uint32(b[36:]), crc32.Checksum(b[:36], castagnoli); got != want {
		return h, fmt.Errorf("%w: header crc32c 0x%08x, computed 0x%08x", ErrCorruptFrame, got, want)
	}
	h.length = binary.LittleEndian.Uint32(b[0:])
	h.typ = frameType(b[4])
	h.status = Status(b[6])
	h.seq = binary.LittleEndian.Uint64(b[8:])
	h.addr = binary.LittleEndian.Uint64(b[16:])
	h.rkey = binary.LittleEndian.Uint32(b[24:])
	h.imm = binary.LittleEndian.Uint32(b[28:])
	h.pcrc = binary.LittleEndian.Uint32(b[32:])
	if h.typ < frameHello || h.typ > frameNak {
		return h, fmt.Errorf("%w: unknown frame type %d", ErrCorruptFrame, uint8(h.typ))
	}
	if b[5] != 0 || b[7] != 0 {
		return h, fmt.Errorf("%w: %s frame has reserved bytes 0x%02x 0x%02x set", ErrCorruptFrame, h.typ, b[5], b[7])
	}
	if int64(h.length) > int64(h.typ.maxPayload()) {
		return h, fmt.Errorf("%w: %s frame payload of %d bytes exceeds %d", ErrCorruptFrame, h.typ, h.length, h.typ.maxPayload())
	}
	if h.typ == frameNak && h.status == StatusSuccess {
		return h, fmt.Errorf("%w: nak frame with success status", ErrCorruptFrame)
	}
	if h.typ != frameNak && h.status != StatusSuccess {
		return h, fmt.Errorf("%w: %s frame with status %d", ErrCorruptFrame, h.typ, uint8(h.status))
	}
	return h, nil
}

// checkPayload verifies a payload against its header.
func (h *frameHeader) checkPayload(p []byte) error {
	if len(p) != int(h.length) {
		return fmt.Errorf("%w: %s frame payload is %d bytes, header says %d", ErrCorruptFrame, h.typ, len(p), h.length)
	}
	if got := crc32.Checksum(p, castagnoli); got != h.pcrc {
		return fmt.Errorf("%w: %s frame (seq %d) payload crc32c 0x%08x, header says 0x%08x", ErrCorruptFrame, h.typ, h.seq, got, h.pcrc)
	}
	return nil
}

// decodeFrame decodes one whole frame from b, returning the header, the
// payload and the bytes after the frame. Used for handshakes and fuzzing;
// the data path reads payloads straight into regions.
func decodeFrame(b []byte) (frameHeader, []byte, []byte, error) {
	h, err := decodeFrameHeader(b)
	if err != nil {
		return h, nil, nil, err
	}
	rest := b[frameHeaderLen:]
	if uint64(len(rest)) < uint64(h.length) {
		return h, nil, nil, fmt.Errorf("%w: %s frame truncated: payload %d bytes, have %d", ErrCorruptFrame, h.typ, h.length, len(rest))
	}
	p := rest[:h.length]
	if err := h.checkPayload(p); err != nil {
		return h, nil, nil, err
	}
	return h, p, rest[h.length:], nil
}

// appendFrame appends a whole frame with payload p.
func appendFrame(dst []byte, h frameHeader, p []byte) []byte {
	h.length = uint32(len(p))
	h.pcrc = crc32.Checksum(p, castagnoli)
	var hb [frameHeaderLen]byte
	h.encode(hb[:])
	dst = append(dst, hb[:]...)
	return append(dst, p...)
}

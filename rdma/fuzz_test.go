package rdma

import (
	"bytes"
	"testing"
)

func FuzzDecodeFrame(f *testing.F) {
	f.Add(appendFrame(nil, frameHeader{typ: frameWrite, seq: 1, addr: 0x1000, rkey: 7}, []byte("hello")))
	f.Add(appendFrame(nil, frameHeader{typ: frameAck, seq: 99}, nil))
	f.Add(appendFrame(nil, frameHeader{typ: frameNak, seq: 3, status: StatusRemoteAccess}, nil))
	pd, _ := encodePrivData(privData{kind: privConnect, token: 5})
	f.Add(appendFrame(nil, frameHeader{typ: frameHello}, pd))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		h, p, rest, err := decodeFrame(b)
		if err != nil {
			return
		}
		// What decodes re-encodes to the same bytes.
		again := appendFrame(nil, h, p)
		if !bytes.Equal(again, b[:len(b)-len(rest)]) {
			t.Fatalf("frame %+v re-encodes to %x, decoded from %x", h, again, b[:len(b)-len(rest)])
		}
	})
}

func FuzzDecodePrivData(f *testing.F) {
	for _, p := range []privData{
		{kind: privConnect, token: 1, regions: []RemoteRegion{{Addr: 1, Len: 2, RKey: 3}}},
		{kind: privAccept, token: 2, regions: make([]RemoteRegion, 5)},
		{kind: privReject, reason: RejectToken},
	} {
		b, _ := encodePrivData(p)
		f.Add(b, uint8(p.kind))
	}
	f.Fuzz(func(t *testing.T, b []byte, kind uint8) {
		p, err := decodePrivData(b, privKind(kind))
		if err != nil {
			return
		}
		again, err := encodePrivData(p)
		if err != nil {
			t.Fatalf("decoded %+v does not re-encode: %v", p, err)
		}
		if !bytes.Equal(again, b[:len(again)]) {
			t.Fatalf("private data %+v re-encodes to %x, decoded from %x", p, again, b[:len(again)])
		}
	})
}

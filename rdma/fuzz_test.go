package rdma

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
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

// FuzzTCPReceiver feeds arbitrary bytes to a TCP connection's receiver
// after the handshake. Whatever arrives, nothing panics or hangs: once the
// input ends the connection is broken, every posted receive is reported,
// and Close returns.
func FuzzTCPReceiver(f *testing.F) {
	f.Add(appendFrame(nil, frameHeader{typ: frameWrite, seq: 0, addr: 0, rkey: 1}, []byte("x")))
	f.Add(appendFrame(nil, frameHeader{typ: frameAck, seq: 0}, nil))
	f.Add(appendFrame(nil, frameHeader{typ: frameSend, seq: 0}, []byte("hello")))
	f.Add(appendFrame(appendFrame(nil, frameHeader{typ: frameWriteImm, seq: 0, imm: 9}, nil), frameHeader{typ: frameNak, seq: 0, status: StatusRemoteAccess}, nil))
	f.Fuzz(func(t *testing.T, in []byte) {
		p, err := Open("tcp", Options{ClusterToken: 1})
		if err != nil {
			t.Fatal(err)
		}
		r, err := p.RegisterRegion(4096, AccessRemoteWrite)
		if err != nil {
			t.Fatal(err)
		}
		// Frames may name the region by offset: an addr below 4096 is
		// rebased onto it and rkey 1 means its key, so valid writes occur.
		b := append([]byte(nil), in...)
		for off := 0; off+frameHeaderLen <= len(b); {
			h, err := decodeFrameHeader(b[off:])
			if err != nil {
				break
			}
			if h.addr < 4096 {
				h.addr += r.Addr()
			}
			if h.rkey == 1 {
				h.rkey = r.RKey()
			}
			h.encode(b[off:])
			off += frameHeaderLen + int(h.length)
		}
		local, remote := net.Pipe()
		c := newTCPConn(p.(*tcpProvider), local, nil)
		_ = c.PostRecv([]RecvRequest{{ID: 1, Region: r, Length: 64}})
		drained := make(chan struct{})
		go func() { _, _ = io.Copy(io.Discard, remote); close(drained) }()
		_, _ = remote.Write(b)
		_ = remote.Close()
		<-drained
		// The receiver saw the end of its input: the connection is broken.
		if _, err := c.Wait(context.Background(), make([]Completion, 4)); err == nil {
			for {
				if _, err := c.Wait(context.Background(), make([]Completion, 4)); err != nil {
					break
				}
			}
		}
		if !errors.Is(c.Err(), ErrConnBroken) {
			t.Fatalf("after the input ended: Err() = %v", c.Err())
		}
		c.Close()
		r.Close()
		if err := p.Close(); err != nil {
			t.Fatal(err)
		}
	})
}

package rdma

import (
	"bytes"
	"errors"
	"net"
	"testing"
	"time"
)

func TestPrivDataRoundTrip(t *testing.T) {
	regs := []RemoteRegion{{Addr: 0x7f0000001000, Len: 1 << 20, RKey: 0x1234}, {Addr: 1, Len: 2, RKey: 3}}
	for _, tc := range []struct {
		p   privData
		max int
	}{
		{privData{kind: privConnect, token: 42, regions: regs}, privMaxConnect},
		{privData{kind: privAccept, token: 1<<64 - 1, regions: make([]RemoteRegion, MaxAcceptRegions)}, privMaxAccept},
		{privData{kind: privReject, reason: RejectToken}, privMaxReject},
	} {
		b, err := encodePrivData(tc.p)
		if err != nil {
			t.Fatalf("encode %+v: %v", tc.p, err)
		}
		if len(b) > tc.max {
			t.Fatalf("%s encodes to %d bytes, limit %d", tc.p.kind, len(b), tc.max)
		}
		// InfiniBand pads private data with zeros: decoding ignores them.
		padded := append(append([]byte(nil), b...), make([]byte, tc.max-len(b))...)
		got, err := decodePrivData(padded, tc.p.kind)
		if err != nil {
			t.Fatalf("decode %s: %v", tc.p.kind, err)
		}
		if got.token != tc.p.token || got.reason != tc.p.reason || !equalRegions(got.regions, tc.p.regions) {
			t.Fatalf("decoded %+v, encoded %+v", got, tc.p)
		}
	}
	if _, err := encodePrivData(privData{kind: privConnect, regions: make([]RemoteRegion, MaxDialRegions+1)}); !errors.Is(err, ErrInvalidRequest) {
		t.Fatalf("encoding %d regions in a connect request: %v, want ErrInvalidRequest", MaxDialRegions+1, err)
	}
}

func TestPrivDataCorruption(t *testing.T) {
	good, _ := encodePrivData(privData{kind: privConnect, token: 7, regions: []RemoteRegion{{Addr: 9, Len: 10, RKey: 11}}})
	for i := range good {
		for _, bit := range []byte{1, 0x80} {
			b := append([]byte(nil), good...)
			b[i] ^= bit
			if _, err := decodePrivData(b, privConnect); !errors.Is(err, ErrBadPrivateData) {
				t.Fatalf("flipping bit 0x%x of byte %d: %v, want ErrBadPrivateData", bit, i, err)
			}
		}
	}
	for n := 0; n < len(good); n++ {
		if _, err := decodePrivData(good[:n], privConnect); !errors.Is(err, ErrBadPrivateData) {
			t.Fatalf("truncated to %d bytes: %v, want ErrBadPrivateData", n, err)
		}
	}
	if _, err := decodePrivData(good, privAccept); !errors.Is(err, ErrBadPrivateData) {
		t.Fatalf("connect data decoded as accept: %v", err)
	}
}

func TestFrameCorruption(t *testing.T) {
	f := appendFrame(nil, frameHeader{typ: frameWrite, seq: 5, addr: 0x1000, rkey: 9, imm: 3}, []byte("payload bytes"))
	h, p, rest, err := decodeFrame(f)
	if err != nil || string(p) != "payload bytes" || len(rest) != 0 || h.seq != 5 || h.addr != 0x1000 || h.rkey != 9 || h.imm != 3 {
		t.Fatalf("decodeFrame = %+v %q %q %v", h, p, rest, err)
	}
	for i := range f {
		b := append([]byte(nil), f...)
		b[i] ^= 0x10
		if _, _, _, err := decodeFrame(b); !errors.Is(err, ErrCorruptFrame) {
			t.Fatalf("flipping a bit of byte %d: %v, want ErrCorruptFrame", i, err)
		}
	}
	for n := 0; n < len(f); n++ {
		if _, _, _, err := decodeFrame(f[:n]); !errors.Is(err, ErrCorruptFrame) {
			t.Fatalf("truncated to %d bytes: %v, want ErrCorruptFrame", n, err)
		}
	}
	// A length beyond the type's limit is refused before any payload is read.
	big := frameHeader{typ: frameHello, length: privMaxConnect + 1}
	var hb [frameHeaderLen]byte
	big.encode(hb[:])
	if _, err := decodeFrameHeader(hb[:]); !errors.Is(err, ErrCorruptFrame) {
		t.Fatalf("oversized hello: %v, want ErrCorruptFrame", err)
	}
}

// TestTCPCorruptFrameBreaksConn speaks the wire protocol by hand: a WRITE
// whose payload fails its checksum breaks the receiving connection, and
// the bytes it carried are not reported as written.
func TestTCPCorruptFrameBreaksConn(t *testing.T) {
	env := tcpEnv()
	p := openProvider(t, env, Options{ClusterToken: testToken})
	target := mustRegion(t, p, 4096, AccessRemoteWrite)
	l, err := p.Listen("127.0.0.1:0", ListenOptions{Regions: []RemoteRegion{target.Remote()}})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	ctx := testCtx(t)
	type res struct {
		c   Conn
		err error
	}
	ch := make(chan res, 1)
	go func() { c, err := l.Accept(ctx); ch <- res{c, err} }()
	raw, err := net.Dial("tcp", l.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	hello, _ := encodePrivData(privData{kind: privConnect, token: testToken})
	if _, err := raw.Write(appendFrame(nil, frameHeader{typ: frameHello}, hello)); err != nil {
		t.Fatal(err)
	}
	_ = raw.SetReadDeadline(time.Now().Add(30 * time.Second))
	h, _, err := readHandshakeFrame(raw)
	if err != nil || h.typ != frameAccept {
		t.Fatalf("handshake: %v %v", h.typ, err)
	}
	r := <-ch
	if r.err != nil {
		t.Fatal(r.err)
	}
	defer r.c.Close()
	// A good write, then one with a wrong payload checksum.
	good := appendFrame(nil, frameHeader{typ: frameWrite, seq: 0, addr: target.Addr(), rkey: target.RKey()}, []byte("good"))
	bad := appendFrame(nil, frameHeader{typ: frameWrite, seq: 1, addr: target.Addr() + 100, rkey: target.RKey()}, []byte("evil"))
	bad[len(bad)-1] ^= 1
	if _, err := raw.Write(append(good, bad...)); err != nil {
		t.Fatal(err)
	}
	// The receiver may or may not get its ack for the good write out
	// before it drops the connection; it never acks the bad one.
	for {
		h, _, err := readHandshakeFrameAny(raw)
		if err != nil {
			break
		}
		if h.typ != frameAck || h.seq != 0 {
			t.Fatalf("after a good and a corrupt write the receiver sent %+v; want at most ack 0", h)
		}
	}
	if _, err := r.c.Wait(ctx, make([]Completion, 1)); !errors.Is(err, ErrConnBroken) || !errors.Is(r.c.Err(), ErrCorruptFrame) {
		t.Fatalf("Wait after a corrupt frame: %v (Err %v), want ErrConnBroken caused by ErrCorruptFrame", err, r.c.Err())
	}
	if !bytes.Equal(target.Bytes()[:4], []byte("good")) {
		t.Fatalf("good write did not land: %q", target.Bytes()[:4])
	}
	t.Logf("receiver: %v", r.c.Err())
}

// readHandshakeFrameAny reads one frame of any type (test helper).
func readHandshakeFrameAny(c net.Conn) (frameHeader, []byte, error) {
	var hb [frameHeaderLen]byte
	if _, err := readFull(c, hb[:]); err != nil {
		return frameHeader{}, nil, err
	}
	h, err := decodeFrameHeader(hb[:])
	if err != nil {
		return h, nil, err
	}
	p := make([]byte, h.length)
	if _, err := readFull(c, p); err != nil {
		return h, nil, err
	}
	return h, p, h.checkPayload(p)
}

func readFull(c net.Conn, b []byte) (int, error) {
	n := 0
	for n < len(b) {
		k, err := c.Read(b[n:])
		n += k
		if err != nil {
			return n, err
		}
	}
	return n, nil
}

func TestCheckMemlock(t *testing.T) {
	noCap := func() bool { return false }
	yesCap := func() bool { return true }
	if err := checkMemlock(64<<10, 0, 1<<20, noCap); !errors.Is(err, ErrMemlock) {
		t.Fatalf("1 MiB under a 64 KiB limit: %v, want ErrMemlock", err)
	} else {
		for _, want := range []string{"ulimit -l unlimited", "LimitMEMLOCK", "65536"} {
			if !bytes.Contains([]byte(err.Error()), []byte(want)) {
				t.Fatalf("error %q does not mention %q", err, want)
			}
		}
	}
	if err := checkMemlock(2<<20, 1<<20, 1<<20, noCap); err != nil {
		t.Fatalf("exactly at the limit: %v", err)
	}
	if err := checkMemlock(2<<20, 1<<20+1, 1<<20, noCap); !errors.Is(err, ErrMemlock) {
		t.Fatalf("one byte over counting what is already pinned: %v", err)
	}
	if err := checkMemlock(64<<10, 0, 1<<30, yesCap); err != nil {
		t.Fatalf("with CAP_IPC_LOCK: %v", err)
	}
	if err := checkMemlock(1<<64-1, 0, 1<<40, noCap); err != nil {
		t.Fatalf("unlimited: %v", err)
	}
}

func TestOpenAndOptions(t *testing.T) {
	if _, err := Open("infiniband", Options{}); !errors.Is(err, ErrUnknownProvider) {
		t.Fatalf("Open(infiniband): %v, want ErrUnknownProvider", err)
	}
	o := Options{SendQueueDepth: 8, SignalInterval: 9, RecvQueueDepth: -1, MaxInline: 5000}
	o.EnsureDefaults()
	err := o.Validate()
	for _, want := range []string{"SignalInterval 9", "RecvQueueDepth -1", "MaxInline 5000"} {
		if err == nil || !bytes.Contains([]byte(err.Error()), []byte(want)) {
			t.Fatalf("Validate() = %v, want it to report %q", err, want)
		}
	}
	var d Options
	d.EnsureDefaults()
	if err := d.Validate(); err != nil || d.SendQueueDepth != 256 || d.SignalInterval != 64 || d.MaxInline != 64 {
		t.Fatalf("defaults %+v: %v", d, err)
	}
}

package rdma

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"sync"
	"time"
)

// tcpProvider is the TCP twin of the verbs provider: regions are mmap'd
// memory looked up by rkey, and a receiver goroutine per connection places
// the peer's WRITEs into them.
type tcpProvider struct {
	opts Options
	mu   struct {
		sync.Mutex
		regions map[uint32]*Region
		nextKey uint32
		closed  bool
	}
}

func newTCPProvider(opts Options) (Provider, error) {
	p := &tcpProvider{opts: opts}
	p.mu.regions = make(map[uint32]*Region)
	// Start keys at a random point so that keys of different processes
	// (and of a restarted process) rarely coincide.
	p.mu.nextKey = rand.Uint32() | 1
	return p, nil
}

func (p *tcpProvider) Name() string   { return "tcp" }
func (p *tcpProvider) Device() string { return "tcp" }

func (p *tcpProvider) RegisterRegion(size int, access Access) (*Region, error) {
	p.mu.Lock()
	closed := p.mu.closed
	p.mu.Unlock()
	if closed {
		return nil, fmt.Errorf("%w: provider tcp", ErrClosed)
	}
	r, err := newMappedRegion(size, access)
	if err != nil {
		return nil, err
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	for {
		k := p.mu.nextKey
		p.mu.nextKey++
		if _, used := p.mu.regions[k]; !used && k != 0 {
			r.rkey, r.lkey = k, k
			break
		}
	}
	p.mu.regions[r.rkey] = r
	r.owner = p
	key := r.rkey
	r.release = func() error {
		p.mu.Lock()
		delete(p.mu.regions, key)
		p.mu.Unlock()
		return nil
	}
	return r, nil
}

// lookupLocked returns the remotely writable region holding
// [addr, addr+n) under rkey, with r.mu read-locked, or a status.
func (p *tcpProvider) lookupRemote(rkey uint32, addr uint64, n uint32) (*Region, int, Status) {
	p.mu.Lock()
	r := p.mu.regions[rkey]
	p.mu.Unlock()
	if r == nil {
		return nil, 0, StatusRemoteAccess
	}
	r.mu.RLock()
	if r.mu.closed || r.access&AccessRemoteWrite == 0 {
		r.mu.RUnlock()
		return nil, 0, StatusRemoteAccess
	}
	base := r.Addr()
	if addr < base || addr-base > uint64(len(r.buf)) || uint64(len(r.buf))-(addr-base) < uint64(n) {
		r.mu.RUnlock()
		return nil, 0, StatusRemoteAccess
	}
	return r, int(addr - base), StatusSuccess
}

func (p *tcpProvider) Close() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.mu.closed {
		return nil
	}
	if n := len(p.mu.regions); n > 0 {
		return fmt.Errorf("rdma: closing provider tcp with %d regions still registered", n)
	}
	p.mu.closed = true
	return nil
}

type tcpListener struct {
	p      *tcpProvider
	ln     net.Listener
	accept []byte // encoded accept private data
	mu     sync.Mutex
	closed bool
}

func (p *tcpProvider) Listen(addr string, opts ListenOptions) (Listener, error) {
	pd, err := encodePrivData(privData{kind: privAccept, token: p.opts.ClusterToken, regions: opts.Regions})
	if err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("rdma: tcp listen on %s: %w", addr, err)
	}
	return &tcpListener{p: p, ln: ln, accept: pd}, nil
}

func (l *tcpListener) Addr() string { return l.ln.Addr().String() }

func (l *tcpListener) Close() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return nil
	}
	l.closed = true
	return l.ln.Close()
}

// setDeadlineOnCancel arranges for set(past) when ctx ends; the returned
// stop undoes the arrangement and waits for a set already under way.
func setDeadlineOnCancel(ctx context.Context, set func(time.Time) error) (stop func()) {
	done := make(chan struct{})
	stopf := context.AfterFunc(ctx, func() {
		defer close(done)
		_ = set(time.Unix(1, 0))
	})
	var once sync.Once
	return func() {
		once.Do(func() {
			if !stopf() {
				<-done
			}
		})
	}
}

func (l *tcpListener) Accept(ctx context.Context) (Conn, error) {
	tl := l.ln.(*net.TCPListener)
	if err := tl.SetDeadline(time.Time{}); err != nil {
		return nil, fmt.Errorf("rdma: tcp accept on %s: %w", l.Addr(), err)
	}
	stop := setDeadlineOnCancel(ctx, tl.SetDeadline)
	c, err := l.ln.Accept()
	stop()
	if err != nil {
		l.mu.Lock()
		closed := l.closed
		l.mu.Unlock()
		switch {
		case closed:
			return nil, fmt.Errorf("%w: listener %s", ErrClosed, l.Addr())
		case ctx.Err() != nil:
			return nil, fmt.Errorf("rdma: accept on %s: %w", l.Addr(), ctx.Err())
		}
		return nil, fmt.Errorf("rdma: tcp accept on %s: %w", l.Addr(), err)
	}
	return l.handshake(ctx, c)
}

func (l *tcpListener) handshake(ctx context.Context, c net.Conn) (Conn, error) {
	deadline := time.Now().Add(l.p.opts.HandshakeTimeout)
	if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
		deadline = d
	}
	_ = c.SetDeadline(deadline)
	peer := c.RemoteAddr().String()
	h, payload, err := readHandshakeFrame(c)
	if err != nil {
		c.Close()
		return nil, fmt.Errorf("rdma: handshake with %s: %w", peer, err)
	}
	reason := RejectNone
	var pd privData
	if h.typ != frameHello {
		reason = RejectPrivateData
	} else if pd, err = decodePrivData(payload, privConnect); err != nil {
		reason = RejectPrivateData
	} else if pd.token != l.p.opts.ClusterToken {
		reason = RejectToken
	}
	if reason != RejectNone {
		rej, _ := encodePrivData(privData{kind: privReject, reason: reason})
		_, _ = c.Write(appendFrame(nil, frameHeader{typ: frameReject}, rej))
		c.Close()
		return nil, &RefusedError{Addr: peer, Reason: reason, Side: "listener"}
	}
	if _, err := c.Write(appendFrame(nil, frameHeader{typ: frameAccept}, l.accept)); err != nil {
		c.Close()
		return nil, fmt.Errorf("rdma: handshake with %s: %w", peer, err)
	}
	_ = c.SetDeadline(time.Time{})
	return newTCPConn(l.p, c, pd.regions), nil
}

func (p *tcpProvider) Dial(ctx context.Context, addr string, opts DialOptions) (Conn, error) {
	pd, err := encodePrivData(privData{kind: privConnect, token: p.opts.ClusterToken, regions: opts.Regions})
	if err != nil {
		return nil, err
	}
	p.mu.Lock()
	closed := p.mu.closed
	p.mu.Unlock()
	if closed {
		return nil, fmt.Errorf("%w: provider tcp", ErrClosed)
	}
	hctx, cancel := context.WithTimeout(ctx, p.opts.HandshakeTimeout)
	defer cancel()
	var d net.Dialer
	c, err := d.DialContext(hctx, "tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("rdma: tcp dial %s: %w", addr, err)
	}
	if tc, ok := c.(*net.TCPConn); ok {
		_ = tc.SetNoDelay(true)
	}
	dl, _ := hctx.Deadline()
	_ = c.SetDeadline(dl)
	stop := setDeadlineOnCancel(hctx, c.SetDeadline)
	defer stop()
	if _, err := c.Write(appendFrame(nil, frameHeader{typ: frameHello}, pd)); err != nil {
		c.Close()
		return nil, fmt.Errorf("rdma: handshake with %s: %w", addr, err)
	}
	h, payload, err := readHandshakeFrame(c)
	if err != nil {
		c.Close()
		if errors.Is(err, io.EOF) {
			err = fmt.Errorf("%w (listener closed the connection during the handshake)", err)
		}
		return nil, fmt.Errorf("rdma: handshake with %s: %w", addr, err)
	}
	switch h.typ {
	case frameReject:
		c.Close()
		rp, err := decodePrivData(payload, privReject)
		if err != nil {
			return nil, fmt.Errorf("rdma: handshake with %s: undecodable reject: %w", addr, err)
		}
		return nil, &RefusedError{Addr: addr, Reason: rp.reason, Side: "dialer"}
	case frameAccept:
		ap, err := decodePrivData(payload, privAccept)
		if err != nil {
			c.Close()
			return nil, fmt.Errorf("rdma: handshake with %s: %w", addr, err)
		}
		stop()
		_ = c.SetDeadline(time.Time{})
		return newTCPConn(p, c, ap.regions), nil
	default:
		c.Close()
		return nil, fmt.Errorf("rdma: handshake with %s: %w: unexpected %s frame", addr, ErrCorruptFrame, h.typ)
	}
}

// readHandshakeFrame reads one small frame.
func readHandshakeFrame(r io.Reader) (frameHeader, []byte, error) {
	var hb [frameHeaderLen]byte
	if _, err := io.ReadFull(r, hb[:]); err != nil {
		return frameHeader{}, nil, err
	}
	h, err := decodeFrameHeader(hb[:])
	if err != nil {
		return h, nil, err
	}
	if h.typ != frameHello && h.typ != frameAccept && h.typ != frameReject {
		return h, nil, fmt.Errorf("%w: %s frame during handshake", ErrCorruptFrame, h.typ)
	}
	p := make([]byte, h.length)
	if _, err := io.ReadFull(r, p); err != nil {
		return h, nil, err
	}
	return h, p, h.checkPayload(p)
}

//go:build linux && cgo

package rdma

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// verbsWR mirrors struct talos_wr in verbs_cgo.go.
type verbsWR struct {
	wrID       uint64
	localAddr  uint64
	remoteAddr uint64
	length     uint32
	lkey       uint32
	rkey       uint32
	imm        uint32
	opcode     uint8
	signaled   uint8
	inline     uint8
	_          [5]uint8
}

// verbsWC mirrors struct talos_wc.
type verbsWC struct {
	wrID      uint64
	status    uint32
	opcode    uint32
	byteLen   uint32
	imm       uint32
	vendorErr uint32
	flags     uint32
}

// recvBit marks receive work request ids (send ids are sequence numbers
// below it).
const recvBit = 1 << 63

// fdWaiter waits for a non-blocking verbs file descriptor (an rdma_cm
// event channel or a completion channel) through the Go poller, on a
// duplicate of the descriptor so that closing the waiter wakes a blocked
// waiter without touching the descriptor the library owns.
type fdWaiter struct {
	f     *os.File
	rc    syscall.RawConn
	woken atomic.Bool // set by wake: every later wait returns at once
}

// errWoken is what wait returns after wake.
var errWoken = errors.New("rdma: waiter woken")

// wake makes a blocked wait, and every later one, return errWoken.
func (w *fdWaiter) wake() {
	w.woken.Store(true)
	_ = w.f.SetReadDeadline(time.Unix(1, 0))
}

func newFDWaiter(fd int, name string) (*fdWaiter, error) {
	dup, err := unix.Dup(fd)
	if err != nil {
		return nil, fmt.Errorf("rdma: dup of %s descriptor: %w", name, err)
	}
	unix.CloseOnExec(dup)
	f := os.NewFile(uintptr(dup), name)
	rc, err := f.SyscallConn()
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("rdma: %s descriptor: %w", name, err)
	}
	return &fdWaiter{f: f, rc: rc}, nil
}

// wait calls try until it reports done, sleeping in the poller while the
// descriptor is not readable. ctx ends the wait.
func (w *fdWaiter) wait(ctx context.Context, try func() bool) error {
	if d, ok := ctx.Deadline(); ok {
		_ = w.f.SetReadDeadline(d)
	} else {
		_ = w.f.SetReadDeadline(time.Time{})
	}
	// wake sets the flag before its deadline: either it is seen here, or
	// its deadline lands after the one just set.
	if w.woken.Load() {
		return errWoken
	}
	stop := setDeadlineOnCancel(ctx, w.f.SetReadDeadline)
	defer stop()
	err := w.rc.Read(func(uintptr) bool { return try() })
	if err != nil && ctx.Err() != nil {
		return ctx.Err()
	}
	return err
}

func (w *fdWaiter) close() { _ = w.f.Close() }

// nextCMEvent waits for the next rdma_cm event on ch.
func nextCMEvent(ctx context.Context, ch *verbsChannel, w *fdWaiter) (cmEvent, error) {
	var ev cmEvent
	var errno syscall.Errno
	err := w.wait(ctx, func() bool {
		ev, errno = ch.next()
		return errno != syscall.EAGAIN
	})
	if err != nil {
		return ev, err
	}
	if errno != 0 {
		return ev, &OpError{Call: "rdma_get_cm_event", Errno: errno}
	}
	return ev, nil
}

type verbsProvider struct {
	opts Options
	dev  *verbsDevice
	mu   struct {
		sync.Mutex
		regions int
		pinned  uint64
		closed  bool
	}
}

func newVerbsProvider(opts Options) (Provider, error) {
	dev, err := openVerbsDevice(opts.Device)
	if err != nil {
		return nil, err
	}
	return &verbsProvider{opts: opts, dev: dev}, nil
}

func (p *verbsProvider) Name() string   { return "verbs" }
func (p *verbsProvider) Device() string { return p.dev.name }

func (p *verbsProvider) RegisterRegion(size int, access Access) (*Region, error) {
	p.mu.Lock()
	if p.mu.closed {
		p.mu.Unlock()
		return nil, fmt.Errorf("%w: provider verbs on %s", ErrClosed, p.dev.name)
	}
	pinned := p.mu.pinned
	p.mu.Unlock()
	if size > 0 {
		if err := CheckMemlock(pinned, uint64(size)); err != nil {
			return nil, err
		}
	}
	r, err := newMappedRegion(size, access)
	if err != nil {
		return nil, err
	}
	mr, lkey, rkey, err := p.dev.regMR(r.buf, r.access)
	if err != nil {
		_ = unmapRegion(r.buf)
		return nil, err
	}
	r.handle, r.lkey, r.rkey, r.owner = mr, lkey, rkey, p
	r.release = func() error {
		err := p.dev.deregMR(mr)
		p.mu.Lock()
		p.mu.regions--
		p.mu.pinned -= uint64(size)
		p.mu.Unlock()
		return err
	}
	p.mu.Lock()
	p.mu.regions++
	p.mu.pinned += uint64(size)
	p.mu.Unlock()
	return r, nil
}

func (p *verbsProvider) Close() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.mu.closed {
		return nil
	}
	if p.mu.regions > 0 {
		return fmt.Errorf("rdma: closing provider verbs on %s with %d regions still registered", p.dev.name, p.mu.regions)
	}
	p.mu.closed = true
	return p.dev.close()
}

func splitAddr(addr string) (net.IP, int, error) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, 0, fmt.Errorf("rdma: address %q: %w", addr, err)
	}
	ip := net.ParseIP(host)
	if ip == nil {
		ips, err := net.LookupIP(host)
		if err != nil || len(ips) == 0 {
			return nil, 0, fmt.Errorf("rdma: address %q: cannot resolve host: %v", addr, err)
		}
		ip = ips[0]
	}
	pn, err := strconv.Atoi(port)
	if err != nil || pn < 0 || pn > 65535 {
		return nil, 0, fmt.Errorf("rdma: address %q: bad port", addr)
	}
	return ip, pn, nil
}

type verbsListener struct {
	p      *verbsProvider
	ch     *verbsChannel
	w      *fdWaiter
	id     verbsID
	accept []byte
	addr   string

	acceptMu sync.Mutex // held by Accept; Close takes it to wait for Accept
	mu       sync.Mutex
	closed   bool
}

func (p *verbsProvider) Listen(addr string, opts ListenOptions) (Listener, error) {
	pd, err := encodePrivData(privData{kind: privAccept, token: p.opts.ClusterToken, regions: opts.Regions})
	if err != nil {
		return nil, err
	}
	ip, port, err := splitAddr(addr)
	if err != nil {
		return nil, err
	}
	ch, fd, err := newVerbsChannel(p.dev.name)
	if err != nil {
		return nil, err
	}
	l := &verbsListener{p: p, ch: ch, accept: pd}
	fail := func(err error) (Listener, error) {
		if l.id.valid() {
			_ = l.id.destroy(p.dev.name)
		}
		if l.w != nil {
			l.w.close()
		}
		ch.destroy()
		return nil, err
	}
	if l.w, err = newFDWaiter(fd, "rdma_cm listener channel"); err != nil {
		return fail(err)
	}
	if l.id, err = newVerbsID(ch, p.dev.name); err != nil {
		return fail(err)
	}
	if err := l.id.bind(ip, port, p.dev.name); err != nil {
		return fail(err)
	}
	if err := l.id.listen(64, p.dev.name); err != nil {
		return fail(err)
	}
	l.addr = l.id.localAddr()
	return l, nil
}

func (l *verbsListener) Addr() string { return l.addr }

func (l *verbsListener) Close() error {
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return nil
	}
	l.closed = true
	l.mu.Unlock()
	l.w.close() // wakes a blocked Accept
	l.acceptMu.Lock()
	defer l.acceptMu.Unlock()
	err := l.id.destroy(l.p.dev.name)
	l.ch.destroy()
	return err
}

func (l *verbsListener) Accept(ctx context.Context) (Conn, error) {
	l.acceptMu.Lock()
	defer l.acceptMu.Unlock()
	for {
		l.mu.Lock()
		closed := l.closed
		l.mu.Unlock()
		if closed {
			return nil, fmt.Errorf("%w: listener %s", ErrClosed, l.addr)
		}
		ev, err := nextCMEvent(ctx, l.ch, l.w)
		if err != nil {
			l.mu.Lock()
			closed := l.closed
			l.mu.Unlock()
			if closed {
				return nil, fmt.Errorf("%w: listener %s", ErrClosed, l.addr)
			}
			return nil, fmt.Errorf("rdma: accept on %s (%s): %w", l.addr, l.p.dev.name, err)
		}
		if ev.event != cmConnectRequest {
			continue // nothing else is expected on a listening id
		}
		return l.handle(ctx, ev)
	}
}

func (l *verbsListener) refuse(id verbsID, reason RejectReason) error {
	dev := l.p.dev.name
	peer := id.peerAddr()
	rej, _ := encodePrivData(privData{kind: privReject, reason: reason})
	err := id.reject(rej, dev)
	id.destroyQP()
	if derr := id.destroy(dev); err == nil {
		err = derr
	}
	re := &RefusedError{Addr: peer, Reason: reason, Side: "listener"}
	if err != nil {
		return errors.Join(re, err)
	}
	return re
}

func (l *verbsListener) handle(ctx context.Context, ev cmEvent) (Conn, error) {
	p := l.p
	id := ev.id
	pd, err := decodePrivData(ev.privateData, privConnect)
	switch {
	case err != nil:
		return nil, errors.Join(l.refuse(id, RejectPrivateData), err)
	case pd.token != p.opts.ClusterToken:
		return nil, l.refuse(id, RejectToken)
	case !id.onDevice(p.dev):
		return nil, l.refuse(id, RejectDevice)
	}
	c, err := newVerbsConn(p, id, pd.regions, l.refuse)
	if err != nil {
		return nil, err
	}
	if err := c.id.connect(l.accept, true, p.dev.name); err != nil {
		c.destroy()
		return nil, err
	}
	hctx, cancel := context.WithTimeout(ctx, p.opts.HandshakeTimeout)
	defer cancel()
	for {
		ev, err := nextCMEvent(hctx, c.ch, c.chw)
		if err != nil {
			c.destroy()
			return nil, fmt.Errorf("rdma: accept from %s on %s: waiting for ESTABLISHED: %w", c.remote, p.dev.name, err)
		}
		switch ev.event {
		case cmEstablished:
			c.start()
			return c, nil
		case cmTimewaitExit:
			continue
		default:
			c.destroy()
			return nil, fmt.Errorf("rdma: accept from %s on %s: %s (status %d) instead of ESTABLISHED", c.remote, p.dev.name, cmEventName(ev.event), ev.status)
		}
	}
}

func (p *verbsProvider) Dial(ctx context.Context, addr string, opts DialOptions) (Conn, error) {
	pd, err := encodePrivData(privData{kind: privConnect, token: p.opts.ClusterToken, regions: opts.Regions})
	if err != nil {
		return nil, err
	}
	ip, port, err := splitAddr(addr)
	if err != nil {
		return nil, err
	}
	p.mu.Lock()
	closed := p.mu.closed
	p.mu.Unlock()
	if closed {
		return nil, fmt.Errorf("%w: provider verbs on %s", ErrClosed, p.dev.name)
	}
	dev := p.dev.name
	hctx, cancel := context.WithTimeout(ctx, p.opts.HandshakeTimeout)
	defer cancel()
	timeoutMS := int(p.opts.HandshakeTimeout / time.Millisecond)

	ch, fd, err := newVerbsChannel(dev)
	if err != nil {
		return nil, err
	}
	w, err := newFDWaiter(fd, "rdma_cm channel")
	if err != nil {
		ch.destroy()
		return nil, err
	}
	id, err := newVerbsID(ch, dev)
	if err != nil {
		w.close()
		ch.destroy()
		return nil, err
	}
	cleanup := func() {
		id.destroyQP()
		_ = id.destroy(dev)
		w.close()
		ch.destroy()
	}
	expect := func(want int, step string) (cmEvent, error) {
		ev, err := nextCMEvent(hctx, ch, w)
		if err != nil {
			return ev, fmt.Errorf("rdma: dial %s on %s: %s: %w", addr, dev, step, err)
		}
		if ev.event != want {
			return ev, fmt.Errorf("rdma: dial %s on %s: %s: got %s (status %d), want %s",
				addr, dev, step, cmEventName(ev.event), ev.status, cmEventName(want))
		}
		return ev, nil
	}
	if err := id.resolveAddr(ip, port, timeoutMS, dev); err != nil {
		cleanup()
		return nil, err
	}
	if _, err := expect(cmAddrResolved, "resolving the address"); err != nil {
		cleanup()
		return nil, err
	}
	if err := id.resolveRoute(timeoutMS, dev); err != nil {
		cleanup()
		return nil, err
	}
	if _, err := expect(cmRouteResolved, "resolving the route"); err != nil {
		cleanup()
		return nil, err
	}
	if !id.onDevice(p.dev) {
		got := id.device()
		cleanup()
		return nil, fmt.Errorf("%w: %s is reached through device %s, but the provider opened %s", ErrNotSupported, addr, got, dev)
	}
	c, err := newVerbsConnOn(p, id, ch, w, nil)
	if err != nil {
		cleanup()
		return nil, err
	}
	if err := id.connect(pd, false, dev); err != nil {
		c.destroy()
		return nil, err
	}
	for {
		ev, err := nextCMEvent(hctx, ch, w)
		if err != nil {
			c.destroy()
			return nil, fmt.Errorf("rdma: dial %s on %s: waiting for the accept: %w", addr, dev, err)
		}
		switch ev.event {
		case cmEstablished:
			ap, err := decodePrivData(ev.privateData, privAccept)
			if err != nil {
				c.destroy()
				return nil, fmt.Errorf("rdma: dial %s on %s: accept: %w", addr, dev, err)
			}
			c.peerRegions = ap.regions
			c.start()
			return c, nil
		case cmRejected:
			c.destroy()
			if rp, err := decodePrivData(ev.privateData, privReject); err == nil {
				return nil, &RefusedError{Addr: addr, Reason: rp.reason, Side: "dialer"}
			}
			return nil, fmt.Errorf("%w: %s on %s rejected the connection (status %d; no listener there?)", ErrRefused, addr, dev, ev.status)
		default:
			c.destroy()
			return nil, fmt.Errorf("rdma: dial %s on %s: %s (status %d)", addr, dev, cmEventName(ev.event), ev.status)
		}
	}
}

// verbsConn is a verbs connection: an rdma_cm id with its own event
// channel, an RC queue pair, and one completion queue for sends and
// receives. It owns one goroutine, which watches the event channel for a
// disconnect; Close stops it.
type verbsConn struct {
	p           *verbsProvider
	dev         string
	id          verbsID
	ch          *verbsChannel
	chw         *fdWaiter
	cq          *verbsCQ
	cqw         *fdWaiter
	peerRegions []RemoteRegion
	local       string
	remote      string
	maxInline   int
	wg          sync.WaitGroup

	// pollMu serialises Poll and Wait and guards wcs.
	pollMu sync.Mutex
	wcs    []verbsWC

	mu struct {
		sync.Mutex
		sq      *sendQueue
		rq      *recvQueue
		wrs     []verbsWR
		ready   []Completion // translated, not yet returned
		broken  error
		closed  bool
		started bool
	}
}

// newVerbsConn sets up a connection for an incoming request's id: its own
// event channel, CQ and QP.
// On failure it refuses the request (with refuse while the id is still
// on the listener's channel) and releases everything.
func newVerbsConn(p *verbsProvider, id verbsID, peer []RemoteRegion, refuse func(verbsID, RejectReason) error) (*verbsConn, error) {
	ch, fd, err := newVerbsChannel(p.dev.name)
	if err != nil {
		return nil, errors.Join(err, refuse(id, RejectResources))
	}
	w, err := newFDWaiter(fd, "rdma_cm channel")
	if err != nil {
		ch.destroy()
		return nil, errors.Join(err, refuse(id, RejectResources))
	}
	if err := id.migrate(ch, p.dev.name); err != nil {
		w.close()
		ch.destroy()
		return nil, errors.Join(err, refuse(id, RejectResources))
	}
	c, err := newVerbsConnOn(p, id, ch, w, peer)
	if err != nil {
		// The id now belongs to ch: refuse it, then drop ch.
		rerr := refuse(id, RejectResources)
		w.close()
		ch.destroy()
		return nil, errors.Join(err, rerr)
	}
	return c, nil
}

func newVerbsConnOn(p *verbsProvider, id verbsID, ch *verbsChannel, w *fdWaiter, peer []RemoteRegion) (*verbsConn, error) {
	o := p.opts
	cq, cfd, err := newVerbsCQ(p.dev, o.SendQueueDepth+o.RecvQueueDepth)
	if err != nil {
		return nil, err
	}
	cqw, err := newFDWaiter(cfd, "completion channel")
	if err != nil {
		_ = cq.destroy(p.dev.name)
		return nil, err
	}
	inl, err := id.createQP(p.dev, cq, o.SendQueueDepth, o.RecvQueueDepth, o.MaxInline)
	if err != nil {
		cqw.close()
		_ = cq.destroy(p.dev.name)
		return nil, err
	}
	c := &verbsConn{
		p: p, dev: p.dev.name, id: id, ch: ch, chw: w, cq: cq, cqw: cqw,
		peerRegions: peer, maxInline: min(inl, o.MaxInline),
		wcs: make([]verbsWC, verbsMaxChain),
	}
	c.mu.sq = newSendQueue(o.SendQueueDepth, o.SignalInterval, p.dev.name)
	c.mu.rq = newRecvQueue(o.RecvQueueDepth, p.dev.name)
	c.mu.wrs = make([]verbsWR, 0, verbsMaxChain)
	c.local, c.remote = id.localAddr(), id.peerAddr()
	return c, nil
}

// start begins watching for disconnects once the connection is up.
func (c *verbsConn) start() {
	c.mu.Lock()
	c.mu.started = true
	c.mu.Unlock()
	c.wg.Add(1)
	go c.watch()
}

func (c *verbsConn) watch() {
	defer c.wg.Done()
	for {
		ev, err := nextCMEvent(context.Background(), c.ch, c.chw)
		if err != nil {
			return // the waiter was closed by Close
		}
		switch ev.event {
		case cmDisconnected:
			c.fail(fmt.Errorf("%w: %s disconnected", ErrDisconnected, c.remote))
		case cmDeviceRemoval:
			c.fail(fmt.Errorf("%w: device %s removed", ErrDisconnected, c.dev))
		}
	}
}

func (c *verbsConn) fail(cause error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.breakLocked(cause)
}

// breakLocked moves the queue pair to the error state: the device
// flushes every outstanding request with an error completion, so Wait
// returns; later posts fail.
func (c *verbsConn) breakLocked(cause error) {
	if c.mu.broken != nil {
		return
	}
	c.mu.broken = fmt.Errorf("%w: %s connection %s -> %s: %w", ErrConnBroken, c.dev, c.local, c.remote, cause)
	if err := c.id.disconnect(c.dev); err != nil && c.mu.started {
		c.mu.broken = errors.Join(c.mu.broken, err)
	}
	// Wake Wait: if nothing is outstanding no completion will come, and
	// otherwise it polls until the flushed requests are all reported.
	c.cqw.wake()
}

func (c *verbsConn) PeerRegions() []RemoteRegion {
	return append([]RemoteRegion(nil), c.peerRegions...)
}
func (c *verbsConn) Device() string     { return c.dev }
func (c *verbsConn) LocalAddr() string  { return c.local }
func (c *verbsConn) RemoteAddr() string { return c.remote }

func (c *verbsConn) Err() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.mu.broken
}

func (c *verbsConn) Post(wrs []WorkRequest) error {
	for i := range wrs {
		if err := validateWR(&wrs[i], c.p); err != nil {
			return err
		}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.mu.broken != nil {
		return c.mu.broken
	}
	if len(wrs) > c.mu.sq.free() {
		return fmt.Errorf("%w: posting %d requests, %d of %d send slots free", ErrQueueFull, len(wrs), c.mu.sq.free(), len(c.mu.sq.slots))
	}
	for len(wrs) > 0 {
		n := min(len(wrs), verbsMaxChain)
		ws := c.mu.wrs[:0]
		for i := range wrs[:n] {
			wr := &wrs[i]
			seq, signal := c.mu.sq.push(wr)
			w := verbsWR{wrID: seq, length: uint32(wr.Length), remoteAddr: wr.Remote.Addr + wr.RemoteOffset,
				rkey: wr.Remote.RKey, imm: wr.Imm}
			if wr.Length > 0 {
				w.localAddr = wr.Local.Addr() + uint64(wr.LocalOffset)
				w.lkey = wr.Local.lkey
				if wr.Length <= c.maxInline {
					w.inline = 1
				}
			}
			switch wr.Op {
			case OpWrite:
				w.opcode = 1
			case OpWriteImm:
				w.opcode = 2
			case OpSend:
				w.opcode = 3
			}
			if signal {
				w.signaled = 1
			}
			ws = append(ws, w)
		}
		if bad, err := c.id.postSend(ws, c.dev); err != nil {
			// The first bad requests went to the device and will
			// complete; the rest never will. The connection cannot be
			// trusted after a refused post: break it.
			c.mu.sq.unpush(n - bad)
			c.breakLocked(err)
			return fmt.Errorf("%w (%d of the chain posted, connection broken)", err, bad)
		}
		wrs = wrs[n:]
	}
	return nil
}

func (c *verbsConn) PostRecv(rrs []RecvRequest) error {
	for i := range rrs {
		if err := validateRR(&rrs[i], c.p); err != nil {
			return err
		}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.mu.broken != nil {
		return c.mu.broken
	}
	if len(rrs) > c.mu.rq.free() {
		return fmt.Errorf("%w: posting %d receives, %d of %d receive slots free", ErrQueueFull, len(rrs), c.mu.rq.free(), len(c.mu.rq.slots))
	}
	for len(rrs) > 0 {
		n := min(len(rrs), verbsMaxChain)
		ws := c.mu.wrs[:0]
		for i := range rrs[:n] {
			rr := &rrs[i]
			seq := c.mu.rq.push(rr)
			w := verbsWR{wrID: seq | recvBit, length: uint32(rr.Length)}
			if rr.Length > 0 {
				w.localAddr = rr.Region.Addr() + uint64(rr.Offset)
				w.lkey = rr.Region.lkey
			}
			ws = append(ws, w)
		}
		if bad, err := c.id.postRecv(ws, c.dev); err != nil {
			c.mu.rq.unpush(n - bad)
			c.breakLocked(err)
			return fmt.Errorf("%w (%d of the chain posted, connection broken)", err, bad)
		}
		rrs = rrs[n:]
	}
	return nil
}

func (c *verbsConn) Poll(cs []Completion) (int, error) {
	c.pollMu.Lock()
	defer c.pollMu.Unlock()
	return c.pollLocked(cs)
}

func (c *verbsConn) pollLocked(cs []Completion) (int, error) {
	if len(cs) == 0 {
		return 0, nil
	}
	c.mu.Lock()
	if c.mu.closed {
		c.mu.Unlock()
		return 0, c.mu.broken
	}
	c.mu.Unlock()
	for {
		c.mu.Lock()
		if len(c.mu.ready) > 0 {
			n := copy(cs, c.mu.ready)
			c.mu.ready = append(c.mu.ready[:0], c.mu.ready[n:]...)
			c.mu.rq.reap(cs[:n])
			c.mu.Unlock()
			return n, nil
		}
		c.mu.Unlock()
		got, err := c.cq.poll(c.wcs[:min(len(c.wcs), len(cs))], c.dev)
		c.mu.Lock()
		if err != nil {
			c.breakLocked(err)
		}
		for _, wc := range c.wcs[:got] {
			c.translateLocked(wc)
		}
		if got == 0 && len(c.mu.ready) == 0 {
			var err error
			if c.mu.broken != nil && c.mu.sq.outstanding() == 0 && c.mu.rq.outstanding() == 0 {
				err = c.mu.broken
			}
			c.mu.Unlock()
			return 0, err
		}
		c.mu.Unlock()
	}
}

func (c *verbsConn) translateLocked(wc verbsWC) {
	st := Status(wc.status)
	if wc.status > 255 {
		st = StatusGeneral
	}
	var cause error
	if st != StatusSuccess && st != StatusFlushed {
		cause = fmt.Errorf("work completion status %d (%s) on %s", wc.status, st, c.dev)
	}
	if wc.wrID&recvBit != 0 {
		seq := wc.wrID &^ recvBit
		comp := Completion{Op: OpRecv, Status: st, Bytes: int(wc.byteLen)}
		if wc.opcode == wcRecvRDMAWithImm {
			comp.Op, comp.Imm = OpRecvImm, wc.imm
		}
		if st != StatusSuccess {
			comp.Bytes, comp.Imm = 0, 0
		}
		c.mu.ready = c.mu.rq.complete(seq, comp, nil, c.mu.ready)
		if st != StatusSuccess {
			if ce, ok := c.mu.ready[len(c.mu.ready)-1].Err.(*CompletionError); ok {
				ce.VendorErr = wc.vendorErr
			}
		}
	} else {
		c.mu.ready = c.mu.sq.complete(wc.wrID, st, wc.vendorErr, nil, c.mu.ready)
	}
	if st != StatusSuccess {
		if cause == nil {
			cause = fmt.Errorf("work request flushed on %s", c.dev)
		}
		c.breakLocked(cause)
	}
}

func (c *verbsConn) Wait(ctx context.Context, cs []Completion) (int, error) {
	c.pollMu.Lock()
	defer c.pollMu.Unlock()
	if spin := c.p.opts.SpinPoll; spin > 0 {
		until := time.Now().Add(spin)
		for i := 1; ; i++ {
			n, err := c.pollLocked(cs)
			if n > 0 || err != nil {
				return n, err
			}
			if i%16 == 0 && (ctx.Err() != nil || time.Now().After(until)) {
				break
			}
		}
	}
	for {
		n, err := c.pollLocked(cs)
		if n > 0 || err != nil {
			return n, err
		}
		if err := c.cq.reqNotify(c.dev); err != nil {
			c.fail(err)
			continue
		}
		// A completion may have arrived before the CQ was armed.
		if n, err := c.pollLocked(cs); n > 0 || err != nil {
			return n, err
		}
		var errno syscall.Errno
		werr := c.cqw.wait(ctx, func() bool {
			errno = c.cq.event()
			return errno != syscall.EAGAIN
		})
		if errno != 0 && errno != syscall.EAGAIN {
			c.fail(&OpError{Call: "ibv_get_cq_event", Device: c.dev, Errno: errno})
		}
		if werr != nil {
			if ctx.Err() != nil {
				return 0, fmt.Errorf("rdma: wait on %s connection to %s: %w", c.dev, c.remote, ctx.Err())
			}
			c.mu.Lock()
			broken, closed := c.mu.broken, c.mu.closed
			c.mu.Unlock()
			if closed {
				return 0, broken
			}
			if broken == nil {
				c.fail(fmt.Errorf("waiting on the completion channel: %w", werr))
			}
			// Broken: poll until the flushes are in (the deadline is in
			// the past, so this loop does not sleep long).
		}
	}
}

// destroy releases everything (for connections that never started).
func (c *verbsConn) destroy() {
	c.id.destroyQP()
	_ = c.id.destroy(c.dev)
	c.cqw.close()
	_ = c.cq.destroy(c.dev)
	c.chw.close()
	c.ch.destroy()
}

func (c *verbsConn) Close() error {
	c.mu.Lock()
	if c.mu.closed {
		c.mu.Unlock()
		return nil
	}
	c.breakLocked(fmt.Errorf("%w: connection closed locally", ErrClosed))
	c.mu.closed = true
	c.mu.Unlock()
	c.chw.close() // stops watch
	c.wg.Wait()
	c.cqw.close() // wakes a Wait
	c.pollMu.Lock()
	defer c.pollMu.Unlock()
	var errs []error
	c.id.destroyQP()
	if err := c.cq.destroy(c.dev); err != nil {
		errs = append(errs, err)
	}
	if err := c.id.destroy(c.dev); err != nil {
		errs = append(errs, err)
	}
	c.ch.destroy()
	return errors.Join(errs...)
}

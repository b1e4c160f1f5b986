package server

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/talos-kv/talos/server/resp"
)

// Server serves the Redis protocol over a Store. Create it with New, run
// Serve on one or more listeners, stop it with Shutdown. Safe for
// concurrent use.
type Server struct {
	store   Store
	opts    Options
	locks   *keyLocks
	metrics *metrics
	cursors *cursorTable
	started time.Time

	closing  atomic.Bool
	nextID   atomic.Uint64
	lastVer  atomic.Uint64
	conns    sync.WaitGroup // one per connection goroutine
	shutdown chan struct{}  // closed by Shutdown

	stats struct {
		commands, connections, rejected, hits, misses, expired atomic.Int64
		netIn, netOut                                          atomic.Int64
	}

	mu struct {
		sync.Mutex
		listeners map[net.Listener]struct{}
		clients   map[uint64]*client
	}
}

// New returns a Server over store. It validates opts (after
// EnsureDefaults) and registers the metrics.
func New(store Store, opts Options) (*Server, error) {
	if store == nil {
		return nil, errors.New("server: nil Store")
	}
	opts.EnsureDefaults()
	if err := opts.Validate(); err != nil {
		return nil, err
	}
	m, err := newMetrics(opts.Registerer)
	if err != nil {
		return nil, fmt.Errorf("server: registering metrics: %w", err)
	}
	s := &Server{
		store:    store,
		opts:     opts,
		locks:    newKeyLocks(),
		metrics:  m,
		cursors:  newCursorTable(opts.MaxScanCursors),
		started:  time.Now(),
		shutdown: make(chan struct{}),
	}
	s.mu.listeners = map[net.Listener]struct{}{}
	s.mu.clients = map[uint64]*client{}
	for _, spec := range commandTable {
		spec.bindMetrics(m)
	}
	return s, nil
}

// Serve accepts connections on ln and serves each on its own goroutine
// until Shutdown; it then returns ErrServerClosed. Serve closes ln.
func (s *Server) Serve(ln net.Listener) error {
	s.mu.Lock()
	if s.closing.Load() {
		s.mu.Unlock()
		ln.Close()
		return ErrServerClosed
	}
	s.mu.listeners[ln] = struct{}{}
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		delete(s.mu.listeners, ln)
		s.mu.Unlock()
		ln.Close()
	}()
	var backoff time.Duration
	for {
		nc, err := ln.Accept()
		if err != nil {
			if s.closing.Load() {
				return ErrServerClosed
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() || errors.Is(err, os.ErrDeadlineExceeded) || isTemporary(err) {
				// Out of file descriptors and the like: wait and retry.
				backoff = min(max(2*backoff, 5*time.Millisecond), time.Second)
				s.opts.Logger.Warn("accept failed; retrying", "err", err, "backoff", backoff)
				select {
				case <-time.After(backoff):
				case <-s.shutdown:
				}
				continue
			}
			return fmt.Errorf("server: accept: %w", err)
		}
		backoff = 0
		s.startConn(nc)
	}
}

func isTemporary(err error) bool {
	var t interface{ Temporary() bool }
	return errors.As(err, &t) && t.Temporary()
}

func (s *Server) startConn(nc net.Conn) {
	s.mu.Lock()
	if s.closing.Load() {
		s.mu.Unlock()
		nc.Close()
		return
	}
	if len(s.mu.clients) >= s.opts.MaxClients {
		s.mu.Unlock()
		s.stats.rejected.Add(1)
		s.metrics.rejected.Inc()
		nc.SetWriteDeadline(time.Now().Add(time.Second))
		nc.Write([]byte("-ERR max number of clients reached\r\n"))
		nc.Close()
		return
	}
	c := newClient(s, nc)
	s.mu.clients[c.id] = c
	s.conns.Add(1)
	s.mu.Unlock()
	s.stats.connections.Add(1)
	s.metrics.accepted.Inc()
	s.metrics.clients.Inc()
	go c.serve()
}

func (s *Server) removeClient(c *client) {
	s.mu.Lock()
	delete(s.mu.clients, c.id)
	s.mu.Unlock()
	s.metrics.clients.Dec()
	s.conns.Done()
}

// Shutdown stops accepting connections, lets every connection finish the
// command it is executing and send its replies, closes the connections and
// waits for their goroutines. If ctx ends first, the remaining connections
// are closed at once (a command already executing still completes before
// its goroutine exits) and ctx's error is returned after they exit. The
// Store is not closed: its owner closes it after Shutdown returns.
func (s *Server) Shutdown(ctx context.Context) error {
	s.mu.Lock()
	first := !s.closing.Swap(true)
	if first {
		close(s.shutdown)
	}
	for ln := range s.mu.listeners {
		ln.Close()
	}
	for _, c := range s.mu.clients {
		c.interrupt()
	}
	s.mu.Unlock()

	done := make(chan struct{})
	go func() {
		s.conns.Wait()
		close(done)
	}()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
	}
	s.mu.Lock()
	for _, c := range s.mu.clients {
		c.nc.Close()
	}
	s.mu.Unlock()
	<-done
	return ctx.Err()
}

// nowMs is the expiry clock in unix milliseconds.
func (s *Server) nowMs() int64 { return s.opts.Clock.Now().UnixMilli() }

// newVersion returns a hash version larger than every version this process
// handed out and, by using the wall clock in nanoseconds, than versions of
// earlier runs (see doc.go).
func (s *Server) newVersion() uint64 {
	for {
		last := s.lastVer.Load()
		v := max(uint64(time.Now().UnixNano()), last+1)
		if s.lastVer.CompareAndSwap(last, v) {
			return v
		}
	}
}

// client is one connection. Its fields are owned by its goroutine except
// where noted.
type client struct {
	srv     *Server
	nc      net.Conn
	id      uint64
	addr    string
	laddr   string
	created time.Time
	r       *resp.Reader
	w       *resp.Writer
	authed  bool
	quit    bool

	// info is read by CLIENT LIST/INFO from other connections.
	info struct {
		sync.Mutex
		name, libName, libVer string
		proto                 int
		lastCmd               string
		lastActive            time.Time
	}
}

// flushingConn flushes pending replies before blocking on a read: replies to
// pipelined commands go out together, and never wait behind a partial
// request.
type flushingConn struct{ c *client }

func (f flushingConn) Read(p []byte) (int, error) {
	if f.c.w.Buffered() > 0 {
		if err := f.c.w.Flush(); err != nil {
			return 0, err
		}
	}
	if f.c.srv.opts.IdleTimeout > 0 {
		f.c.nc.SetReadDeadline(time.Now().Add(f.c.srv.opts.IdleTimeout))
		if f.c.srv.closing.Load() {
			f.c.nc.SetReadDeadline(time.Now())
		}
	}
	n, err := f.c.nc.Read(p)
	f.c.srv.stats.netIn.Add(int64(n))
	return n, err
}

type countingWriter struct{ c *client }

func (w countingWriter) Write(p []byte) (int, error) {
	n, err := w.c.nc.Write(p)
	w.c.srv.stats.netOut.Add(int64(n))
	return n, err
}

func newClient(s *Server, nc net.Conn) *client {
	c := &client{
		srv:     s,
		nc:      nc,
		id:      s.nextID.Add(1),
		addr:    nc.RemoteAddr().String(),
		laddr:   nc.LocalAddr().String(),
		created: time.Now(),
		authed:  s.opts.Password == "",
	}
	c.r = resp.NewReader(bufio.NewReaderSize(flushingConn{c}, 16<<10), s.opts.Limits)
	c.w = resp.NewWriter(countingWriter{c})
	c.info.proto = 2
	c.info.lastActive = c.created
	return c
}

// interrupt makes a blocked read return so the connection goroutine exits
// after the command it is executing. Called with s.mu held.
func (c *client) interrupt() { c.nc.SetReadDeadline(time.Now()) }

func (c *client) serve() {
	defer c.srv.removeClient(c)
	defer c.nc.Close()
	log := c.srv.opts.Logger
	for !c.quit && !c.srv.closing.Load() {
		args, err := c.r.ReadCommand()
		for err == nil && args != nil {
			if c.plainSet(args) && c.r.CommandBuffered() {
				args, err = c.setRun(args)
				continue
			}
			c.dispatch(args)
			args = nil
		}
		if err != nil {
			var pe *resp.ProtocolError
			if errors.As(err, &pe) {
				c.srv.metrics.protoErrors.Inc()
				log.Info("closing connection after protocol error", "client", c.addr, "err", pe.Msg)
				c.w.Error("ERR Protocol error: " + pe.Msg)
			}
			break
		}
		if c.w.Buffered() > 64<<10 {
			if c.w.Flush() != nil {
				break
			}
		}
	}
	c.w.Flush()
}

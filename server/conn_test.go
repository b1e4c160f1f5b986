package server

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"github.com/talos-kv/talos/internal/testseed"
	"github.com/talos-kv/talos/server/resp"
)

// TestProtocolErrors sends malformed and oversized requests on their own
// connections: each gets an "ERR Protocol error" reply and is closed, while
// another client keeps working throughout.
func TestProtocolErrors(t *testing.T) {
	limits := resp.Limits{MaxArgs: 16, MaxBulkLen: 1024, MaxRequestBytes: 4096, MaxInlineLen: 256}
	h := newHarness(t, newMemStore(), Options{Limits: limits})
	ctx := h.ctx

	// A well-behaved client works in the background the whole time.
	stop := make(chan struct{})
	var wg sync.WaitGroup
	var bgErr error
	ops := 0
	wg.Add(1)
	go func() {
		defer wg.Done()
		c := h.newClient("")
		defer c.Close()
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			k := fmt.Sprintf("bg:%d", i%50)
			if err := c.Set(ctx, k, i, 0).Err(); err != nil {
				bgErr = err
				return
			}
			if v, err := c.Get(ctx, k).Int(); err != nil || v != i {
				bgErr = fmt.Errorf("GET %s = %d, %v; want %d", k, v, err, i)
				return
			}
			ops++
		}
	}()

	seed := testseed.Seed(t, 20261123)
	rng := rand.New(rand.NewPCG(seed, 0))
	garbage := make([]byte, 300)
	for i := range garbage {
		garbage[i] = byte(rng.IntN(256))
	}
	garbage[0] = '*'
	garbage[1] = 'x'

	for _, tc := range []struct{ name, in, want string }{
		{"bad multibulk length", "*abc\r\n", "invalid multibulk length"},
		{"bad bulk prefix", "*2\r\n$3\r\nGET\r\n:1\r\n", "expected '$', got ':'"},
		{"bulk over limit", "*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$2000\r\n" + strings.Repeat("v", 2000) + "\r\n", "invalid bulk length"},
		{"too many args", "*100\r\n", "invalid multibulk length"},
		{"request over limit", "*6\r\n" + strings.Repeat("$1000\r\n"+strings.Repeat("x", 1000)+"\r\n", 5), "request larger than 4096 bytes"},
		{"inline too long", strings.Repeat("a", 300) + "\r\n", "too big inline request"},
		{"unbalanced quotes", "SET \"abc\r\n", "unbalanced quotes in request"},
		{"bad terminator", "*1\r\n$4\r\nPINGxx", "bulk string not terminated by CRLF"},
		{"random garbage", string(garbage), "invalid multibulk length"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := h.raw()
			require.Equal(t, "+PONG\r\n", r.do("PING"))
			r.send(tc.in)
			require.Equal(t, "-ERR Protocol error: "+tc.want+"\r\n", r.reply())
			r.expectClosed()
			require.Equal(t, "PONG", h.client.Ping(ctx).Val())
		})
	}
	// A connection that hangs up in the middle of a request changes nothing.
	r := h.raw()
	r.send("*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$5\r\nab")
	r.nc.Close()
	require.Equal(t, "PONG", h.client.Ping(ctx).Val())
	require.Equal(t, int64(0), h.client.Exists(ctx, "k").Val())

	close(stop)
	wg.Wait()
	require.NoError(t, bgErr)
	require.Positive(t, ops)
}

func TestPipelining(t *testing.T) {
	forEachStore(t, Options{}, func(t *testing.T, h *harness) {
		// Raw: 1000 requests in one write, replies in order.
		r := h.raw()
		var req []byte
		for i := 0; i < 500; i++ {
			req = resp.AppendCommand(req, []byte("SET"), fmt.Appendf(nil, "p%d", i), fmt.Appendf(nil, "%d", i))
			req = resp.AppendCommand(req, []byte("GET"), fmt.Appendf(nil, "p%d", i))
		}
		r.send(string(req))
		for i := 0; i < 500; i++ {
			require.Equal(t, "+OK\r\n", r.reply())
			v := fmt.Sprint(i)
			require.Equal(t, fmt.Sprintf("$%d\r\n%s\r\n", len(v), v), r.reply())
		}
		// Inline pipelined requests too (as redis-cli and telnet send them).
		r.send("PING\r\nECHO hi\r\nGET p7\r\n")
		require.Equal(t, "+PONG\r\n", r.reply())
		require.Equal(t, "$2\r\nhi\r\n", r.reply())
		require.Equal(t, "$1\r\n7\r\n", r.reply())

		// go-redis pipeline.
		pipe := h.client.Pipeline()
		for i := 0; i < 200; i++ {
			pipe.Incr(h.ctx, "counter")
		}
		cmds, err := pipe.Exec(h.ctx)
		require.NoError(t, err)
		require.Len(t, cmds, 200)
		require.Equal(t, "200", h.client.Get(h.ctx, "counter").Val())
	})
}

// TestManyConnections holds 2000 connections open at once, each doing a
// read-modify-write on a shared counter.
func TestManyConnections(t *testing.T) {
	h := newHarness(t, newMemStore(), Options{})
	const n = 2000
	conns := make([]net.Conn, n)
	for i := range conns {
		nc, err := net.Dial("tcp", h.addr)
		require.NoError(t, err)
		conns[i] = nc
		defer nc.Close()
	}
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i, nc := range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			nc.SetDeadline(time.Now().Add(time.Minute))
			req := resp.AppendCommand(nil, []byte("INCR"), []byte("shared"))
			req = resp.AppendCommand(req, []byte("SET"), fmt.Appendf(nil, "c%d", i), []byte("x"))
			if _, err := nc.Write(req); err != nil {
				errs <- err
				return
			}
			buf := make([]byte, 0, 64)
			tmp := make([]byte, 64)
			for !strings.HasSuffix(string(buf), "+OK\r\n") {
				m, err := nc.Read(tmp)
				if err != nil {
					errs <- fmt.Errorf("conn %d: %w (got %q)", i, err, buf)
					return
				}
				buf = append(buf, tmp[:m]...)
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	require.Equal(t, fmt.Sprint(n), h.client.Get(h.ctx, "shared").Val())
	require.Equal(t, int64(n+1), h.client.DBSize(h.ctx).Val())
	require.Contains(t, h.client.Info(h.ctx, "clients").Val(), fmt.Sprintf("connected_clients:%d", n+1))
}

func TestMaxClients(t *testing.T) {
	h := newHarness(t, newMemStore(), Options{MaxClients: 2})
	require.Equal(t, "PONG", h.client.Ping(h.ctx).Val()) // connection 1
	r := h.raw()                                         // connection 2
	require.Equal(t, "+PONG\r\n", r.do("PING"))
	r3 := h.raw()
	require.Equal(t, "-ERR max number of clients reached\r\n", r3.reply())
	r3.expectClosed()
	require.Contains(t, h.client.Info(h.ctx, "stats").Val(), "rejected_connections:1")
}

func TestIdleTimeout(t *testing.T) {
	h := newHarness(t, newMemStore(), Options{IdleTimeout: 50 * time.Millisecond})
	r := h.raw()
	require.Equal(t, "+PONG\r\n", r.do("PING"))
	r.expectClosed() // blocks until the server's idle deadline passes
}

// TestShutdown checks that Shutdown lets an executing write finish and
// answers it, closes idle connections, and leaves no connection goroutine.
func TestShutdown(t *testing.T) {
	store := newMemStore()
	entered := make(chan struct{})
	release := make(chan struct{})
	var once sync.Once
	store.beforeWrite = func() {
		once.Do(func() {
			close(entered)
			<-release
		})
	}
	srv, err := New(store, Options{})
	require.NoError(t, err)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()

	idle, err := net.Dial("tcp", ln.Addr().String())
	require.NoError(t, err)
	defer idle.Close()
	h := &harness{t: t, addr: ln.Addr().String()}
	busy := h.raw()
	busy.send("*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$1\r\nv\r\n")
	<-entered // the SET is executing, blocked inside Store.Write

	shut := make(chan error, 1)
	go func() { shut <- srv.Shutdown(context.Background()) }()
	// New connections are refused once the listener is closed.
	require.Eventually(t, func() bool {
		c, err := net.Dial("tcp", ln.Addr().String())
		if err == nil {
			c.Close()
		}
		return err != nil
	}, 10*time.Second, time.Millisecond)
	select {
	case err := <-shut:
		t.Fatalf("Shutdown returned %v while a command was executing", err)
	default:
	}
	close(release)
	require.Equal(t, "+OK\r\n", busy.reply(), "the in-flight write is answered")
	busy.expectClosed()
	require.NoError(t, <-shut)
	require.ErrorIs(t, <-served, ErrServerClosed)
	v, err := store.Get(metaKey([]byte("k")))
	require.NoError(t, err)
	require.Equal(t, encodeString([]byte("v"), 0), v)
	srv.mu.Lock()
	require.Empty(t, srv.mu.clients)
	srv.mu.Unlock()
	// Serve after Shutdown refuses at once.
	ln2, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	require.ErrorIs(t, srv.Serve(ln2), ErrServerClosed)
}

// pipeListener hands out the server ends of synchronous in-memory pipes:
// a write blocks until the other end reads it.
type pipeListener struct {
	conns  chan net.Conn
	closed chan struct{}
	once   sync.Once
}

func newPipeListener() *pipeListener {
	return &pipeListener{conns: make(chan net.Conn), closed: make(chan struct{})}
}

func (l *pipeListener) Accept() (net.Conn, error) {
	select {
	case c := <-l.conns:
		return c, nil
	case <-l.closed:
		return nil, net.ErrClosed
	}
}

func (l *pipeListener) Close() error { l.once.Do(func() { close(l.closed) }); return nil }

func (l *pipeListener) Addr() net.Addr { return &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1)} }

func (l *pipeListener) dial() net.Conn {
	client, server := net.Pipe()
	l.conns <- server
	return client
}

// TestShutdownDeadline: a client that never reads its replies cannot hold
// Shutdown past its context; the connection is then closed under it.
func TestShutdownDeadline(t *testing.T) {
	srv, err := New(newMemStore(), Options{})
	require.NoError(t, err)
	ln := newPipeListener()
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	nc := ln.dial()
	defer nc.Close()
	// The pipe is synchronous: once Write returns the server has the
	// request; once it has dispatched it, its reply can never be delivered.
	_, err = nc.Write([]byte("PING\r\n"))
	require.NoError(t, err)
	require.Eventually(t, func() bool { return srv.stats.commands.Load() == 1 }, 10*time.Second, time.Millisecond)
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	err = srv.Shutdown(ctx)
	require.True(t, errors.Is(err, context.DeadlineExceeded), "Shutdown = %v", err)
	require.ErrorIs(t, <-served, ErrServerClosed)
	srv.mu.Lock()
	require.Empty(t, srv.mu.clients)
	srv.mu.Unlock()
}

func TestStoreWriteError(t *testing.T) {
	store := newMemStore()
	h := newHarness(t, store, Options{})
	store.mu.Lock()
	store.writeErr = errors.New("disk on fire")
	store.mu.Unlock()
	require.EqualError(t, h.client.Set(h.ctx, "k", "v", 0).Err(), "ERR store: disk on fire")
	require.Equal(t, int64(0), h.client.Exists(h.ctx, "k").Val())
}

// TestShutdownLeavesNoGoroutines: after Shutdown returns, every goroutine
// the server started (accept loop, connections) has exited.
func TestShutdownLeavesNoGoroutines(t *testing.T) {
	before := runtime.NumGoroutine()
	srv, err := New(newMemStore(), Options{})
	require.NoError(t, err)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	h := &harness{t: t, addr: ln.Addr().String()}
	var conns []*rawConn
	for i := 0; i < 50; i++ {
		r := h.raw()
		require.Equal(t, "+OK\r\n", r.do("SET", fmt.Sprint(i), "v"))
		conns = append(conns, r)
	}
	require.NoError(t, srv.Shutdown(context.Background()))
	require.ErrorIs(t, <-served, ErrServerClosed)
	for _, r := range conns {
		r.expectClosed()
		r.nc.Close()
	}
	waitGoroutines(t, before)
}

// waitGoroutines waits until at most n goroutines run, and fails with
// every goroutine's stack if that does not happen within 10s.
func waitGoroutines(t *testing.T, n int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for runtime.NumGoroutine() > n {
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<20)
			t.Fatalf("%d goroutines, want at most %d:\n%s", runtime.NumGoroutine(), n, buf[:runtime.Stack(buf, true)])
		}
		runtime.Gosched()
	}
}

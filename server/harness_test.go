package server

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/redis/go-redis/v9/maintnotifications"
)

// storeFactory opens a fresh Store for one test. enginestore_test.go adds
// the real engine.
type storeFactory struct {
	name string
	open func(t *testing.T) Store
}

var storeFactories = []storeFactory{
	{"mem", func(t *testing.T) Store { return newMemStore() }},
}

// harness is one running server with a go-redis RESP3 client.
type harness struct {
	t      *testing.T
	store  Store
	clock  *testClock
	srv    *Server
	addr   string
	client *redis.Client
	ctx    context.Context
	served chan error
}

// forEachStore runs fn against every store factory.
func forEachStore(t *testing.T, opts Options, fn func(t *testing.T, h *harness)) {
	for _, f := range storeFactories {
		t.Run(f.name, func(t *testing.T) {
			fn(t, newHarness(t, f.open(t), opts))
		})
	}
}

func newHarness(t *testing.T, store Store, opts Options) *harness {
	t.Helper()
	clock := newTestClock()
	if opts.Clock == nil {
		opts.Clock = clock
	}
	srv, err := New(store, opts)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	h := &harness{t: t, store: store, clock: clock, srv: srv, addr: ln.Addr().String(), ctx: context.Background(), served: make(chan error, 1)}
	go func() { h.served <- srv.Serve(ln) }()
	h.client = h.newClient(opts.Password)
	t.Cleanup(func() {
		h.client.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := srv.Shutdown(ctx); err != nil {
			t.Errorf("Shutdown: %v", err)
		}
		if err := <-h.served; !errors.Is(err, ErrServerClosed) {
			t.Errorf("Serve returned %v, want ErrServerClosed", err)
		}
	})
	return h
}

func (h *harness) newClient(password string) *redis.Client {
	return redis.NewClient(&redis.Options{
		Addr:                     h.addr,
		Protocol:                 3,
		Password:                 password,
		MaxRetries:               -1,
		MaintNotificationsConfig: &maintnotifications.Config{Mode: maintnotifications.ModeDisabled},
	})
}

// rawConn is a plain TCP connection for wire-level checks.
type rawConn struct {
	t  *testing.T
	nc net.Conn
	br *bufio.Reader
}

func (h *harness) raw() *rawConn {
	h.t.Helper()
	nc, err := net.Dial("tcp", h.addr)
	if err != nil {
		h.t.Fatal(err)
	}
	h.t.Cleanup(func() { nc.Close() })
	nc.SetDeadline(time.Now().Add(30 * time.Second))
	return &rawConn{t: h.t, nc: nc, br: bufio.NewReader(nc)}
}

func (r *rawConn) send(s string) {
	r.t.Helper()
	if _, err := io.WriteString(r.nc, s); err != nil {
		r.t.Fatal(err)
	}
}

// do sends args as a multibulk request and returns the reply's wire text.
func (r *rawConn) do(args ...string) string {
	r.t.Helper()
	var b strings.Builder
	fmt.Fprintf(&b, "*%d\r\n", len(args))
	for _, a := range args {
		fmt.Fprintf(&b, "$%d\r\n%s\r\n", len(a), a)
	}
	r.send(b.String())
	return r.reply()
}

// reply reads one whole reply and returns its wire text.
func (r *rawConn) reply() string {
	r.t.Helper()
	s, err := readReply(r.br)
	if err != nil {
		r.t.Fatalf("reading reply: %v", err)
	}
	return s
}

// readReply reads one RESP2/RESP3 reply and returns its exact bytes.
func readReply(br *bufio.Reader) (string, error) {
	line, err := br.ReadString('\n')
	if err != nil {
		return line, err
	}
	if len(line) < 3 || !strings.HasSuffix(line, "\r\n") {
		return line, fmt.Errorf("bad reply line %q", line)
	}
	body := line[1 : len(line)-2]
	switch line[0] {
	case '+', '-', ':', '_', ',', '#':
		return line, nil
	case '$', '=':
		n, err := strconv.Atoi(body)
		if err != nil || n < 0 {
			return line, err
		}
		buf := make([]byte, n+2)
		if _, err := io.ReadFull(br, buf); err != nil {
			return line, err
		}
		return line + string(buf), nil
	case '*', '%', '~':
		n, err := strconv.Atoi(body)
		if err != nil {
			return line, err
		}
		if line[0] == '%' {
			n *= 2
		}
		out := line
		for i := 0; i < n; i++ {
			s, err := readReply(br)
			out += s
			if err != nil {
				return out, err
			}
		}
		return out, nil
	}
	return line, fmt.Errorf("unknown reply type %q", line)
}

// expectClosed checks that the server closed the connection.
func (r *rawConn) expectClosed() {
	r.t.Helper()
	b, err := r.br.ReadByte()
	if err == nil {
		r.t.Fatalf("connection still open: read %q", b)
	}
}

// rawCount counts the store's raw keys that start with prefix.
func (h *harness) rawCount(prefix byte) int {
	n := 0
	if err := h.store.Scan([]byte{prefix}, []byte{prefix + 1}, func(_, _ []byte) bool { n++; return true }); err != nil {
		h.t.Fatal(err)
	}
	return n
}

package server

import (
	"fmt"
	"runtime"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"
	"github.com/talos-kv/talos/server/resp"
)

// countingStore counts Store.Write calls.
type countingStore struct {
	Store
	writes int
}

func (s *countingStore) Write(b *Batch) error {
	s.writes++
	return s.Store.Write(b)
}

func TestPipelinedSetRun(t *testing.T) {
	forEachStore(t, Options{}, func(t *testing.T, h *harness) {
		c, ctx := h.client, h.ctx
		require.NoError(t, c.HSet(ctx, "h", "f", "v").Err())
		require.NoError(t, c.Set(ctx, "e", "old", 1).Err()) // 1ns: expires with the next clock move
		h.clock.Advance(1)
		r := h.raw()
		var req []byte
		var want strings.Builder
		for i := 0; i < 300; i++ {
			req = resp.AppendCommand(req, []byte("set"), fmt.Appendf(nil, "k%d", i%200), fmt.Appendf(nil, "v%d", i))
			want.WriteString("+OK\r\n")
		}
		req = resp.AppendCommand(req, []byte("SET"), []byte("h"), []byte("string now"))
		req = resp.AppendCommand(req, []byte("SET"), []byte("e"), []byte("new"))
		req = resp.AppendCommand(req, []byte("SET"), []byte("x"), []byte("1"), []byte("NX")) // not plain: ends the run
		req = resp.AppendCommand(req, []byte("GET"), []byte("k5"))
		req = resp.AppendCommand(req, []byte("SET"), []byte("k5"), []byte("again"))
		req = resp.AppendCommand(req, []byte("GET"), []byte("k5"))
		want.WriteString("+OK\r\n+OK\r\n+OK\r\n$4\r\nv205\r\n+OK\r\n$5\r\nagain\r\n")
		r.send(string(req))
		var got strings.Builder
		for i := 0; i < 306; i++ {
			got.WriteString(r.reply())
		}
		require.Equal(t, want.String(), got.String())
		require.Equal(t, "v299", c.Get(ctx, "k99").Val())
		require.Equal(t, "v100", c.Get(ctx, "k100").Val())
		require.Equal(t, "string now", c.Get(ctx, "h").Val())
		require.Equal(t, 0, h.rawCount(subkeyPrefix), "the hash's fields went with it")
		require.Equal(t, "new", c.Get(ctx, "e").Val())
		require.Equal(t, int64(200+3), c.DBSize(ctx).Val()) // k0..k199, h, e, x
	})
}

func TestSetRunBatches(t *testing.T) {
	store := &countingStore{Store: newMemStore()}
	h := newHarness(t, store, Options{})
	r := h.raw()
	var req []byte
	for i := 0; i < 64; i++ {
		req = resp.AppendCommand(req, []byte("SET"), fmt.Appendf(nil, "k%d", i), []byte("v"))
	}
	r.send(string(req))
	for i := 0; i < 64; i++ {
		require.Equal(t, "+OK\r\n", r.reply())
	}
	// One TCP write normally arrives as one read; however it was split, far
	// fewer batches than SETs were written.
	require.Less(t, store.writes, 16, "writes for 64 pipelined SETs")
	require.Equal(t, int64(64), h.client.DBSize(h.ctx).Val())
}

func TestSetRunThenProtocolError(t *testing.T) {
	h := newHarness(t, newMemStore(), Options{})
	r := h.raw()
	req := resp.AppendCommand(nil, []byte("SET"), []byte("a"), []byte("1"))
	req = resp.AppendCommand(req, []byte("SET"), []byte("b"), []byte("2"))
	r.send(string(req) + "*1\r\n$x\r\n")
	require.Equal(t, "+OK\r\n", r.reply())
	require.Equal(t, "+OK\r\n", r.reply())
	require.Equal(t, "-ERR Protocol error: invalid bulk length\r\n", r.reply())
	r.expectClosed()
	require.Equal(t, "2", h.client.Get(h.ctx, "b").Val())
}

func TestSetRunRespectsAuthAndReadOnly(t *testing.T) {
	store := newMemStore()
	h := newHarness(t, store, Options{Password: "pw"})
	r := h.raw()
	req := resp.AppendCommand(nil, []byte("SET"), []byte("a"), []byte("1"))
	req = resp.AppendCommand(req, []byte("AUTH"), []byte("pw"))
	req = resp.AppendCommand(req, []byte("SET"), []byte("b"), []byte("2"))
	req = resp.AppendCommand(req, []byte("SET"), []byte("c"), []byte("3"))
	r.send(string(req))
	require.Equal(t, "-NOAUTH Authentication required.\r\n", r.reply())
	require.Equal(t, "+OK\r\n", r.reply())
	require.Equal(t, "+OK\r\n", r.reply())
	require.Equal(t, "+OK\r\n", r.reply())
	require.Equal(t, "$1\r\n3\r\n", r.do("GET", "c"))
	require.Equal(t, "$-1\r\n", r.do("GET", "a"))

	store.setReadOnly("p:1")
	req = resp.AppendCommand(nil, []byte("SET"), []byte("a"), []byte("1"))
	req = resp.AppendCommand(req, []byte("SET"), []byte("b"), []byte("1"))
	r.send(string(req))
	ro := "-READONLY You can't write against a read only replica. primary: p:1\r\n"
	require.Equal(t, ro, r.reply())
	require.Equal(t, ro, r.reply())
}

// TestBlindWriteOrdersReadModifyWrite: an INCR that arrives while a run of
// SETs to its key is being written waits for it and increments its value.
func TestBlindWriteOrdersReadModifyWrite(t *testing.T) {
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
	h := newHarness(t, store, Options{})
	a, b := h.raw(), h.raw()
	req := resp.AppendCommand(nil, []byte("SET"), []byte("k"), []byte("4"))
	req = resp.AppendCommand(req, []byte("SET"), []byte("k"), []byte("5"))
	a.send(string(req))
	<-entered // the run's batch is inside Store.Write, not yet applied
	before := h.srv.stats.commands.Load()
	b.send("*2\r\n$4\r\nINCR\r\n$1\r\nk\r\n")
	for h.srv.stats.commands.Load() == before {
		runtime.Gosched() // until the INCR is dispatched
	}
	close(release)
	require.Equal(t, "+OK\r\n", a.reply())
	require.Equal(t, "+OK\r\n", a.reply())
	require.Equal(t, ":6\r\n", b.reply(), "INCR read the SETs' value")
}

// TestHotKeyConcurrentSetsAndIncrs mixes pipelined SET runs and INCRs on
// one key from many connections; every INCR answers an integer and the
// final value is one a SET or an INCR wrote.
func TestHotKeyConcurrentSetsAndIncrs(t *testing.T) {
	forEachStore(t, Options{}, func(t *testing.T, h *harness) {
		var wg sync.WaitGroup
		errs := make(chan error, 40)
		for w := 0; w < 20; w++ {
			wg.Add(2)
			go func() {
				defer wg.Done()
				c := h.newClient("")
				defer c.Close()
				for i := 0; i < 20; i++ {
					pipe := c.Pipeline()
					for j := 0; j < 8; j++ {
						pipe.Set(h.ctx, "hot", 1000*w+j, 0)
					}
					if _, err := pipe.Exec(h.ctx); err != nil {
						errs <- err
						return
					}
				}
			}()
			go func() {
				defer wg.Done()
				c := h.newClient("")
				defer c.Close()
				for i := 0; i < 40; i++ {
					if err := c.Incr(h.ctx, "hot").Err(); err != nil {
						errs <- err
						return
					}
				}
			}()
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Fatal(err)
		}
		v, err := h.client.Get(h.ctx, "hot").Int()
		require.NoError(t, err)
		require.GreaterOrEqual(t, v, 0)
	})
}

// TestReadModifyWriteNotStarvedByBlindWrites: blind writes arriving while a
// read-modify-write waits for earlier ones queue behind it.
func TestReadModifyWriteNotStarvedByBlindWrites(t *testing.T) {
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
	h := newHarness(t, store, Options{})
	a, b, c := h.raw(), h.raw(), h.raw()
	run := func(v string) string {
		req := resp.AppendCommand(nil, []byte("SET"), []byte("k"), []byte(v))
		return string(resp.AppendCommand(req, []byte("SET"), []byte("k"), []byte(v)))
	}
	waitCommands := func(n int64) {
		for h.srv.stats.commands.Load() < n {
			runtime.Gosched()
		}
	}
	a.send(run("10")) // B1: held inside Store.Write
	<-entered
	b.send("*2\r\n$4\r\nINCR\r\n$1\r\nk\r\n") // R: waits for B1
	waitCommands(3)
	c.send(run("20")) // B2: must queue behind R
	waitCommands(5)
	close(release)
	require.Equal(t, "+OK\r\n", a.reply())
	require.Equal(t, "+OK\r\n", a.reply())
	require.Equal(t, ":11\r\n", b.reply())
	require.Equal(t, "+OK\r\n", c.reply())
	require.Equal(t, "+OK\r\n", c.reply())
	require.Equal(t, "$2\r\n20\r\n", c.do("GET", "k"), "B2 was written after the INCR")
}

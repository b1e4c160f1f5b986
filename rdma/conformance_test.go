package rdma

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"
	"time"
)

// conformanceEnv is what the suite needs from a provider: a way to open
// one and an address to listen on.
type conformanceEnv struct {
	name string
	// open returns a fresh provider with opts; the test closes it.
	open func(t testing.TB, opts Options) Provider
	// listenAddr is host:0 on an address both ends can reach.
	listenAddr string
}

// runConformance runs the conformance suite. Every provider must pass it
// unchanged: code above this package cannot tell the providers apart.
func runConformance(t *testing.T, env conformanceEnv) {
	t.Run("RegisterRegion", func(t *testing.T) { testRegisterRegion(t, env) })
	t.Run("WriteReadBack", func(t *testing.T) { testWriteReadBack(t, env) })
	t.Run("WriteImmOrdering", func(t *testing.T) { testWriteImmOrdering(t, env) })
	t.Run("SendRecv", func(t *testing.T) { testSendRecv(t, env) })
	t.Run("SendTooLarge", func(t *testing.T) { testSendTooLarge(t, env) })
	t.Run("ManyOutstanding", func(t *testing.T) { testManyOutstanding(t, env) })
	t.Run("ConcurrentPosters", func(t *testing.T) { testConcurrentPosters(t, env) })
	t.Run("PeerDisconnect", func(t *testing.T) { testPeerDisconnect(t, env) })
	t.Run("BadRKey", func(t *testing.T) { testBadRemote(t, env, "rkey") })
	t.Run("OutOfBounds", func(t *testing.T) { testBadRemote(t, env, "bounds") })
	t.Run("ClosedRegion", func(t *testing.T) { testBadRemote(t, env, "closed") })
	t.Run("RefusedToken", func(t *testing.T) { testRefusedToken(t, env) })
	t.Run("LocalValidation", func(t *testing.T) { testLocalValidation(t, env) })
}

const testToken = 0x7a105c1057e4

// testCtx bounds every blocking step: a hang fails the test instead of
// stalling it.
func testCtx(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func mustRegion(t testing.TB, p Provider, size int, access Access) *Region {
	t.Helper()
	r, err := p.RegisterRegion(size, access)
	if err != nil {
		t.Fatalf("RegisterRegion(%d, %v) on %s: %v", size, access, p.Name(), err)
	}
	t.Cleanup(func() {
		if err := r.Close(); err != nil {
			t.Errorf("region close: %v", err)
		}
	})
	return r
}

// pair is a connected listener side (a) and dialer side (b), each with
// its own provider.
type pair struct {
	pa, pb Provider
	a, b   Conn
}

func openProvider(t testing.TB, env conformanceEnv, opts Options) Provider {
	p := env.open(t, opts)
	// Registered after regions' cleanups are registered? No: t.Cleanup
	// runs last-in first-out, and regions are registered after the
	// provider, so they are closed before it.
	t.Cleanup(func() {
		if err := p.Close(); err != nil {
			t.Errorf("provider close: %v", err)
		}
	})
	return p
}

// connect opens two providers and connects them. listenRegions are
// offered by a (made by mkRegions on a's provider), dialRegions by b.
func connect(t testing.TB, env conformanceEnv, opts Options,
	mkA func(p Provider) []RemoteRegion, mkB func(p Provider) []RemoteRegion) *pair {
	t.Helper()
	ctx := testCtx(t)
	pa := openProvider(t, env, opts)
	pb := openProvider(t, env, opts)
	var ra, rb []RemoteRegion
	if mkA != nil {
		ra = mkA(pa)
	}
	if mkB != nil {
		rb = mkB(pb)
	}
	l, err := pa.Listen(env.listenAddr, ListenOptions{Regions: ra})
	if err != nil {
		t.Fatalf("Listen(%s): %v", env.listenAddr, err)
	}
	t.Cleanup(func() { l.Close() })
	type res struct {
		c   Conn
		err error
	}
	ch := make(chan res, 1)
	go func() {
		c, err := l.Accept(ctx)
		ch <- res{c, err}
	}()
	b, err := pb.Dial(ctx, l.Addr(), DialOptions{Regions: rb})
	if err != nil {
		t.Fatalf("Dial(%s): %v", l.Addr(), err)
	}
	t.Cleanup(func() { b.Close() })
	r := <-ch
	if r.err != nil {
		t.Fatalf("Accept: %v", r.err)
	}
	t.Cleanup(func() { r.c.Close() })
	if got := b.PeerRegions(); !equalRegions(got, ra) {
		t.Fatalf("dialer sees peer regions %v, listener offered %v", got, ra)
	}
	if got := r.c.PeerRegions(); !equalRegions(got, rb) {
		t.Fatalf("listener sees peer regions %v, dialer offered %v", got, rb)
	}
	return &pair{pa: pa, pb: pb, a: r.c, b: b}
}

func equalRegions(a, b []RemoteRegion) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// waitN collects exactly n completions from c.
func waitN(t testing.TB, ctx context.Context, c Conn, n int) []Completion {
	t.Helper()
	out := make([]Completion, 0, n)
	buf := make([]Completion, 64)
	for len(out) < n {
		k, err := c.Wait(ctx, buf[:min(len(buf), n-len(out))])
		if err != nil {
			t.Fatalf("Wait after %d of %d completions: %v", len(out), n, err)
		}
		out = append(out, buf[:k]...)
	}
	return out
}

func requireOK(t testing.TB, cs []Completion) {
	t.Helper()
	for _, c := range cs {
		if c.Status != StatusSuccess || c.Err != nil {
			t.Fatalf("completion %d (%v) failed: status %v, err %v", c.ID, c.Op, c.Status, c.Err)
		}
	}
}

func testRegisterRegion(t *testing.T, env conformanceEnv) {
	p := openProvider(t, env, Options{ClusterToken: testToken})
	for _, size := range []int{1, 4096, 1 << 20} {
		for _, acc := range []Access{AccessLocalWrite, AccessLocalWrite | AccessRemoteWrite} {
			r, err := p.RegisterRegion(size, acc)
			if err != nil {
				t.Fatalf("RegisterRegion(%d, %v): %v", size, acc, err)
			}
			b := r.Bytes()
			if len(b) != size || r.Len() != size {
				t.Fatalf("region of %d bytes has len %d / %d", size, len(b), r.Len())
			}
			if r.Addr() == 0 || r.Addr()%4096 != 0 {
				t.Fatalf("region address 0x%x: want a non-zero page-aligned mmap address", r.Addr())
			}
			if !bytes.Equal(b, make([]byte, size)) {
				t.Fatalf("new region of %d bytes is not zeroed", size)
			}
			b[0], b[size-1] = 0xa5, 0x5a
			rr := r.Remote()
			if rr.Addr != r.Addr() || int(rr.Len) != size || rr.RKey != r.RKey() {
				t.Fatalf("Remote() = %+v, region addr 0x%x len %d rkey 0x%x", rr, r.Addr(), size, r.RKey())
			}
			if r.Access()&acc != acc {
				t.Fatalf("region access %v, asked %v", r.Access(), acc)
			}
			if err := r.Close(); err != nil {
				t.Fatalf("Close: %v", err)
			}
			if err := r.Close(); err != nil {
				t.Fatalf("second Close: %v", err)
			}
			if r.Bytes() != nil {
				t.Fatalf("Bytes after Close is not nil")
			}
		}
	}
	if _, err := p.RegisterRegion(0, AccessLocalWrite); !errors.Is(err, ErrInvalidRequest) {
		t.Fatalf("RegisterRegion(0): %v, want ErrInvalidRequest", err)
	}
}

func testWriteReadBack(t *testing.T, env conformanceEnv) {
	const size = 1 << 20
	seed := rand.Uint64()
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewPCG(seed, seed))
	var target *Region
	pr := connect(t, env, Options{ClusterToken: testToken},
		func(p Provider) []RemoteRegion {
			target = mustRegion(t, p, size, AccessRemoteWrite)
			return []RemoteRegion{target.Remote()}
		}, nil)
	src := mustRegion(t, pr.pb, size, AccessLocalWrite)
	for i := range src.Bytes() {
		src.Bytes()[i] = byte(rng.Uint32())
	}
	remote := pr.b.PeerRegions()[0]
	// Write the region in pieces of random sizes (small ones go inline),
	// in one chain, only the last signaled.
	var wrs []WorkRequest
	for off := 0; off < size; {
		n := min(1+rng.IntN(40000), size-off)
		if rng.IntN(4) == 0 {
			n = min(1+rng.IntN(64), size-off)
		}
		wrs = append(wrs, WorkRequest{ID: uint64(len(wrs)), Op: OpWrite, Local: src, LocalOffset: off, Length: n,
			Remote: remote, RemoteOffset: uint64(off)})
		off += n
	}
	ctx := testCtx(t)
	for len(wrs) > 0 {
		k := min(len(wrs), 100)
		wrs[k-1].Signaled = true
		if err := pr.b.Post(wrs[:k]); err != nil {
			t.Fatalf("Post: %v", err)
		}
		cs := waitN(t, ctx, pr.b, 1)
		requireOK(t, cs)
		if cs[0].ID != wrs[k-1].ID || cs[0].Op != OpWrite {
			t.Fatalf("completion %+v, want id %d op WRITE", cs[0], wrs[k-1].ID)
		}
		wrs = wrs[k:]
	}
	if !bytes.Equal(target.Bytes(), src.Bytes()) {
		t.Fatalf("target region differs from source after writes (seed %d)", seed)
	}
	// Nothing else is reported.
	if n, err := pr.b.Poll(make([]Completion, 4)); n != 0 || err != nil {
		t.Fatalf("Poll after all completions: %d, %v", n, err)
	}
}

func testWriteImmOrdering(t *testing.T, env conformanceEnv) {
	const n, chunk = 200, 4096
	var target *Region
	pr := connect(t, env, Options{ClusterToken: testToken},
		func(p Provider) []RemoteRegion {
			target = mustRegion(t, p, n*chunk, AccessRemoteWrite)
			return []RemoteRegion{target.Remote()}
		}, nil)
	ctx := testCtx(t)
	rrs := make([]RecvRequest, n)
	for i := range rrs {
		rrs[i] = RecvRequest{ID: 1000 + uint64(i)}
	}
	if err := pr.a.PostRecv(rrs); err != nil {
		t.Fatalf("PostRecv: %v", err)
	}
	src := mustRegion(t, pr.pb, n*chunk, AccessLocalWrite)
	remote := pr.b.PeerRegions()[0]
	wrs := make([]WorkRequest, n)
	for i := range wrs {
		b := src.Bytes()[i*chunk : (i+1)*chunk]
		for j := range b {
			b[j] = byte(i + j)
		}
		wrs[i] = WorkRequest{ID: uint64(i), Op: OpWriteImm, Local: src, LocalOffset: i * chunk, Length: chunk,
			Remote: remote, RemoteOffset: uint64(i * chunk), Imm: uint32(i) * 7, Signaled: i%50 == 49}
	}
	// One zero-length WRITE_WITH_IMM: a pure notification.
	wrs[n-1].Length, wrs[n-1].Local = 0, nil
	for i := 0; i < n; i += 25 {
		if err := pr.b.Post(wrs[i : i+25]); err != nil {
			t.Fatalf("Post: %v", err)
		}
	}
	got := waitN(t, ctx, pr.a, n)
	for i, c := range got {
		want := Completion{ID: 1000 + uint64(i), Op: OpRecvImm, Bytes: chunk, Imm: uint32(i) * 7}
		if i == n-1 {
			want.Bytes = 0
		}
		if c != want {
			t.Fatalf("receive completion %d = %+v, want %+v", i, c, want)
		}
		if i < n-1 && !bytes.Equal(target.Bytes()[i*chunk:(i+1)*chunk], src.Bytes()[i*chunk:(i+1)*chunk]) {
			t.Fatalf("immediate %d delivered but its chunk has not landed", i)
		}
	}
	sc := waitN(t, ctx, pr.b, n/50)
	requireOK(t, sc)
	for i, c := range sc {
		if c.ID != uint64(i*50+49) {
			t.Fatalf("send completion %d has id %d, want %d", i, c.ID, i*50+49)
		}
	}
}

func testSendRecv(t *testing.T, env conformanceEnv) {
	pr := connect(t, env, Options{ClusterToken: testToken}, nil, nil)
	ctx := testCtx(t)
	for dir, ends := range [][2]Conn{{pr.a, pr.b}, {pr.b, pr.a}} {
		from, to := ends[0], ends[1]
		pf, pt := pr.pa, pr.pb
		if dir == 1 {
			pf, pt = pr.pb, pr.pa
		}
		sizes := []int{0, 1, 8, 64, 65, 1000, 4096}
		rbuf := mustRegion(t, pt, len(sizes)*4096, AccessLocalWrite)
		sbuf := mustRegion(t, pf, len(sizes)*4096, AccessLocalWrite)
		var rrs []RecvRequest
		var wrs []WorkRequest
		for i, sz := range sizes {
			rrs = append(rrs, RecvRequest{ID: uint64(i), Region: rbuf, Offset: i * 4096, Length: 4096})
			for j := 0; j < sz; j++ {
				sbuf.Bytes()[i*4096+j] = byte(dir*31 + i + j)
			}
			wrs = append(wrs, WorkRequest{ID: 50 + uint64(i), Op: OpSend, Local: sbuf, LocalOffset: i * 4096, Length: sz, Signaled: true})
		}
		if err := to.PostRecv(rrs); err != nil {
			t.Fatalf("PostRecv: %v", err)
		}
		if err := from.Post(wrs); err != nil {
			t.Fatalf("Post: %v", err)
		}
		got := waitN(t, ctx, to, len(sizes))
		requireOK(t, got)
		for i, c := range got {
			if c.ID != uint64(i) || c.Op != OpRecv || c.Bytes != sizes[i] {
				t.Fatalf("dir %d receive %d = %+v, want id %d RECV %d bytes", dir, i, c, i, sizes[i])
			}
			if !bytes.Equal(rbuf.Bytes()[i*4096:i*4096+sizes[i]], sbuf.Bytes()[i*4096:i*4096+sizes[i]]) {
				t.Fatalf("dir %d message %d arrived with different bytes", dir, i)
			}
		}
		sc := waitN(t, ctx, from, len(sizes))
		requireOK(t, sc)
		for i, c := range sc {
			if c.ID != 50+uint64(i) || c.Op != OpSend {
				t.Fatalf("send completion %d = %+v", i, c)
			}
		}
	}
}

func testManyOutstanding(t *testing.T, env conformanceEnv) {
	const total, size, slot = 20000, 512, 64 << 10
	seed := rand.Uint64()
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewPCG(seed, 1))
	opts := Options{ClusterToken: testToken, SendQueueDepth: 128, SignalInterval: 16}
	var target *Region
	pr := connect(t, env, opts, func(p Provider) []RemoteRegion {
		target = mustRegion(t, p, slot*size/512*8, AccessRemoteWrite)
		return []RemoteRegion{target.Remote()}
	}, nil)
	src := mustRegion(t, pr.pb, 8*slot, AccessLocalWrite)
	for i := range src.Bytes() {
		src.Bytes()[i] = byte(rng.Uint32())
	}
	remote := pr.b.PeerRegions()[0]
	ctx := testCtx(t)
	// Post in chains; every 32nd request signaled; keep the queue as full
	// as it gets; each request writes a random 512-byte piece of src to
	// slot i%(len/512) so the final state is known.
	nslots := target.Len() / size
	want := make([]byte, target.Len())
	posted, completed, lastSignaled := 0, 0, -1
	cs := make([]Completion, 32)
	outstanding := 0
	for completed < total {
		if posted < total {
			var wrs []WorkRequest
			for k := 0; k < 1+rng.IntN(24) && posted < total && outstanding+len(wrs) < 96; k++ {
				so := rng.IntN(src.Len()/size) * size
				do := (posted % nslots) * size
				copy(want[do:do+size], src.Bytes()[so:so+size])
				wrs = append(wrs, WorkRequest{ID: uint64(posted), Op: OpWrite, Local: src, LocalOffset: so, Length: size,
					Remote: remote, RemoteOffset: uint64(do), Signaled: posted%32 == 31 || posted == total-1})
				posted++
			}
			if len(wrs) > 0 {
				if err := pr.b.Post(wrs); err != nil {
					t.Fatalf("Post after %d requests: %v", posted-len(wrs), err)
				}
				outstanding += len(wrs)
			}
		}
		var n int
		var err error
		if posted == total || outstanding >= 96 {
			n, err = pr.b.Wait(ctx, cs)
		} else {
			n, err = pr.b.Poll(cs)
		}
		if err != nil {
			t.Fatalf("after %d completions: %v", completed, err)
		}
		requireOK(t, cs[:n])
		for _, c := range cs[:n] {
			if int(c.ID) <= lastSignaled || (c.ID%32 != 31 && int(c.ID) != total-1) {
				t.Fatalf("completion for id %d after %d: out of order or for an unsignaled request", c.ID, lastSignaled)
			}
			outstanding -= int(c.ID) - lastSignaled
			lastSignaled = int(c.ID)
			completed = lastSignaled + 1
		}
	}
	if !bytes.Equal(target.Bytes(), want) {
		t.Fatalf("target differs from the model after %d writes (seed %d)", total, seed)
	}
}

func testPeerDisconnect(t *testing.T, env conformanceEnv) {
	var target *Region
	pr := connect(t, env, Options{ClusterToken: testToken, SendQueueDepth: 64}, func(p Provider) []RemoteRegion {
		target = mustRegion(t, p, 1<<20, AccessRemoteWrite)
		return []RemoteRegion{target.Remote()}
	}, nil)
	ctx := testCtx(t)
	src := mustRegion(t, pr.pb, 64<<10, AccessLocalWrite)
	rbuf := mustRegion(t, pr.pb, 4096, AccessLocalWrite)
	// The dialer has receives posted: they must fail too.
	if err := pr.b.PostRecv([]RecvRequest{{ID: 900, Region: rbuf, Length: 4096}, {ID: 901, Region: rbuf, Length: 4096}}); err != nil {
		t.Fatalf("PostRecv: %v", err)
	}
	remote := pr.b.PeerRegions()[0]
	// Stream writes; after the first completes, the listener hangs up.
	id := uint64(0)
	post := func(k int) error {
		wrs := make([]WorkRequest, k)
		for i := range wrs {
			wrs[i] = WorkRequest{ID: id, Op: OpWrite, Local: src, Length: src.Len(), Remote: remote,
				RemoteOffset: (id % 16) * uint64(src.Len()), Signaled: true}
			id++
		}
		return pr.b.Post(wrs)
	}
	if err := post(48); err != nil {
		t.Fatalf("Post: %v", err)
	}
	requireOK(t, waitN(t, ctx, pr.b, 1))
	if err := pr.a.Close(); err != nil {
		t.Fatalf("listener-side Close: %v", err)
	}
	// Keep posting until the dialer notices; every request posted must
	// complete (successfully or not) and Wait must then report the break.
	results := map[uint64]Status{0: StatusSuccess}
	recvs := 0
	cs := make([]Completion, 16)
	for {
		if err := post(1); err != nil {
			if !errors.Is(err, ErrConnBroken) && !errors.Is(err, ErrQueueFull) {
				t.Fatalf("Post on a dead connection: %v, want ErrConnBroken or ErrQueueFull", err)
			}
			if errors.Is(err, ErrQueueFull) {
				id--
			} else {
				id--
				break
			}
		}
		n, err := pr.b.Wait(ctx, cs)
		if err != nil {
			if !errors.Is(err, ErrConnBroken) {
				t.Fatalf("Wait: %v, want ErrConnBroken", err)
			}
			break
		}
		for _, c := range cs[:n] {
			if c.ID >= 900 {
				recvs++
			} else {
				results[c.ID] = c.Status
			}
		}
	}
	// Drain whatever is left; then Wait keeps failing, never blocks.
	for {
		n, err := pr.b.Wait(ctx, cs)
		for _, c := range cs[:n] {
			if c.Status == StatusSuccess && c.ID >= 900 {
				t.Fatalf("receive %d succeeded though nothing was sent", c.ID)
			}
			if c.ID >= 900 {
				recvs++
			} else {
				results[c.ID] = c.Status
			}
		}
		if err != nil {
			if !errors.Is(err, ErrConnBroken) {
				t.Fatalf("Wait: %v, want ErrConnBroken", err)
			}
			break
		}
	}
	if recvs != 2 {
		t.Fatalf("%d of 2 posted receives reported, want both flushed", recvs)
	}
	failed := 0
	for i := uint64(0); i < id; i++ {
		st, ok := results[i]
		if !ok {
			t.Fatalf("write %d of %d never completed", i, id)
		}
		if st != StatusSuccess {
			failed++
		}
	}
	if pr.b.Err() == nil || !errors.Is(pr.b.Err(), ErrConnBroken) {
		t.Fatalf("Err() = %v, want ErrConnBroken", pr.b.Err())
	}
	if err := post(1); !errors.Is(err, ErrConnBroken) {
		t.Fatalf("Post after break: %v, want ErrConnBroken", err)
	}
	t.Logf("%d writes posted, %d failed after the peer left: %v", id, failed, pr.b.Err())
}

func testBadRemote(t *testing.T, env conformanceEnv, kind string) {
	var target, other *Region
	pr := connect(t, env, Options{ClusterToken: testToken}, func(p Provider) []RemoteRegion {
		target = mustRegion(t, p, 8192, AccessRemoteWrite)
		// A region registered without remote write: its key must not work.
		other = mustRegion(t, p, 8192, AccessLocalWrite)
		return []RemoteRegion{target.Remote()}
	}, nil)
	ctx := testCtx(t)
	src := mustRegion(t, pr.pb, 8192, AccessLocalWrite)
	for i := range src.Bytes() {
		src.Bytes()[i] = 0xee
	}
	remote := pr.b.PeerRegions()[0]
	good := WorkRequest{ID: 1, Op: OpWrite, Local: src, Length: 4096, Remote: remote, Signaled: true}
	bad := WorkRequest{ID: 2, Op: OpWrite, Local: src, Length: 4096, Remote: remote}
	switch kind {
	case "rkey":
		bad.Remote.RKey = other.RKey()
		bad.Remote.Addr = other.Addr()
	case "bounds":
		bad.RemoteOffset = 8192 - 100
	case "closed":
		// The owner deregisters the region (as a backup fencing an old
		// primary does): writes into it must now fail.
		if err := target.Close(); err != nil {
			t.Fatalf("Close target: %v", err)
		}
		good.Remote.RKey = 0
		good.Remote.Addr = 0
	}
	after := WorkRequest{ID: 3, Op: OpWrite, Local: src, Length: 16, Remote: remote, Signaled: true}
	wrs := []WorkRequest{bad, after}
	if kind != "closed" {
		if err := pr.b.Post([]WorkRequest{good}); err != nil {
			t.Fatalf("Post: %v", err)
		}
		requireOK(t, waitN(t, ctx, pr.b, 1))
	}
	if err := pr.b.Post(wrs); err != nil {
		t.Fatalf("Post: %v", err)
	}
	// The unsignaled bad write reports its failure; the one after it is
	// flushed; then the connection is broken.
	cs := waitN(t, ctx, pr.b, 2)
	if cs[0].ID != 2 || cs[0].Status != StatusRemoteAccess {
		t.Fatalf("bad write completion %+v, want id 2 status %v", cs[0], StatusRemoteAccess)
	}
	var ce *CompletionError
	if !errors.Is(cs[0].Err, ErrCompletion) || !errors.As(cs[0].Err, &ce) || ce.Device != pr.pb.Device() || ce.Status != StatusRemoteAccess {
		t.Fatalf("bad write error %v: want a *CompletionError naming device %s and the status", cs[0].Err, pr.pb.Device())
	}
	if cs[1].ID != 3 || cs[1].Status != StatusFlushed || cs[1].Err == nil {
		t.Fatalf("write after the bad one: %+v, want id 3 flushed", cs[1])
	}
	if err := pr.b.Post([]WorkRequest{good}); !errors.Is(err, ErrConnBroken) {
		t.Fatalf("Post on the broken connection: %v, want ErrConnBroken", err)
	}
	if _, err := pr.b.Wait(ctx, make([]Completion, 1)); !errors.Is(err, ErrConnBroken) {
		t.Fatalf("Wait on the broken connection: %v, want ErrConnBroken", err)
	}
	t.Logf("writer sees: %v; connection: %v", cs[0].Err, pr.b.Err())
	if kind != "closed" && !bytes.Equal(target.Bytes()[4096:], make([]byte, 4096)) {
		t.Fatalf("the failed write changed bytes past the region's first 4096")
	}
}

func testRefusedToken(t *testing.T, env conformanceEnv) {
	ctx := testCtx(t)
	pa := openProvider(t, env, Options{ClusterToken: testToken})
	pbad := openProvider(t, env, Options{ClusterToken: testToken + 1})
	pgood := openProvider(t, env, Options{ClusterToken: testToken})
	l, err := pa.Listen(env.listenAddr, ListenOptions{})
	if err != nil {
		t.Fatalf("Listen: %v", err)
	}
	defer l.Close()
	acc := make(chan error, 1)
	go func() {
		c, err := l.Accept(ctx)
		if c != nil {
			c.Close()
			err = fmt.Errorf("accepted a connection with the wrong token")
		}
		acc <- err
	}()
	c, err := pbad.Dial(ctx, l.Addr(), DialOptions{})
	if err == nil {
		c.Close()
		t.Fatalf("Dial with the wrong token succeeded")
	}
	var re *RefusedError
	if !errors.Is(err, ErrTokenRefused) || !errors.As(err, &re) || re.Reason != RejectToken {
		t.Fatalf("Dial with the wrong token: %v, want a *RefusedError wrapping ErrTokenRefused", err)
	}
	aerr := <-acc
	if !errors.Is(aerr, ErrTokenRefused) || !errors.As(aerr, &re) {
		t.Fatalf("Accept of the wrong token: %v, want ErrTokenRefused", aerr)
	}
	t.Logf("dialer: %v; listener: %v", err, aerr)
	// The listener still works.
	go func() {
		c, err := l.Accept(ctx)
		if err == nil {
			// Closed before the test goes on to close the provider.
			err = c.Close()
		}
		acc <- err
	}()
	c, err = pgood.Dial(ctx, l.Addr(), DialOptions{})
	if err != nil {
		t.Fatalf("Dial with the right token after a refusal: %v", err)
	}
	c.Close()
	if err := <-acc; err != nil {
		t.Fatalf("Accept after a refusal: %v", err)
	}
	// Too many regions for the private data is refused locally.
	if _, err := pgood.Dial(ctx, l.Addr(), DialOptions{Regions: make([]RemoteRegion, MaxDialRegions+1)}); !errors.Is(err, ErrInvalidRequest) {
		t.Fatalf("Dial with %d regions: %v, want ErrInvalidRequest", MaxDialRegions+1, err)
	}
}

func testLocalValidation(t *testing.T, env conformanceEnv) {
	var target *Region
	pr := connect(t, env, Options{ClusterToken: testToken, SendQueueDepth: 4, SignalInterval: 2, RecvQueueDepth: 2},
		func(p Provider) []RemoteRegion {
			target = mustRegion(t, p, 4096, AccessRemoteWrite)
			return []RemoteRegion{target.Remote()}
		}, nil)
	src := mustRegion(t, pr.pb, 4096, AccessLocalWrite)
	remote := pr.b.PeerRegions()[0]
	for _, wr := range []WorkRequest{
		{Op: OpWrite, Local: target, Length: 8, Remote: remote}, // the other provider's region
		{Op: OpWrite, Local: src, LocalOffset: 4000, Length: 100, Remote: remote},
		{Op: OpWrite, Length: 10, Remote: remote},
		{Op: OpRecv, Local: src, Length: 10},
		{Op: OpWrite, Local: src, Length: -1},
	} {
		if err := pr.b.Post([]WorkRequest{wr}); !errors.Is(err, ErrInvalidRequest) {
			t.Fatalf("Post(%+v): %v, want ErrInvalidRequest", wr, err)
		}
	}
	wrs := make([]WorkRequest, 5)
	for i := range wrs {
		wrs[i] = WorkRequest{ID: uint64(i), Op: OpWrite, Local: src, Length: 8, Remote: remote, Signaled: true}
	}
	if err := pr.b.Post(wrs); !errors.Is(err, ErrQueueFull) {
		t.Fatalf("Post of 5 into a queue of 4: %v, want ErrQueueFull", err)
	}
	if err := pr.b.Post(wrs[:4]); err != nil {
		t.Fatalf("Post of 4 into a queue of 4: %v", err)
	}
	requireOK(t, waitN(t, testCtx(t), pr.b, 4))
	// Unsignaled requests keep their slots until a completion is reaped:
	// without a Poll the queue stays full, on both providers alike.
	for i := range wrs {
		wrs[i].Signaled = false
	}
	if err := pr.b.Post(wrs[:4]); err != nil {
		t.Fatalf("Post of 4 unsignaled: %v", err)
	}
	if err := pr.b.Post(wrs[4:]); !errors.Is(err, ErrQueueFull) {
		t.Fatalf("Post into a full queue before any Poll: %v, want ErrQueueFull", err)
	}
	ctx := testCtx(t)
	wrs[4].Signaled = true
	for {
		if n, err := pr.b.Poll(make([]Completion, 4)); n != 0 || err != nil {
			t.Fatalf("Poll with only unsignaled requests outstanding: %d, %v", n, err)
		}
		err := pr.b.Post(wrs[4:])
		if err == nil {
			break
		}
		if !errors.Is(err, ErrQueueFull) || ctx.Err() != nil {
			t.Fatalf("Post while polling frees slots: %v (%v)", err, ctx.Err())
		}
	}
	if cs := waitN(t, ctx, pr.b, 1); cs[0].ID != 4 || cs[0].Err != nil {
		t.Fatalf("completion %+v, want id 4 ok", cs[0])
	}
	if err := pr.a.PostRecv([]RecvRequest{{ID: 1}, {ID: 2}, {ID: 3}}); !errors.Is(err, ErrQueueFull) {
		t.Fatalf("PostRecv of 3 into a queue of 2: %v, want ErrQueueFull", err)
	}
	if err := pr.a.PostRecv([]RecvRequest{{ID: 1, Region: src, Offset: 4090, Length: 10}}); !errors.Is(err, ErrInvalidRequest) {
		t.Fatalf("PostRecv out of bounds: %v, want ErrInvalidRequest", err)
	}
}

// testConcurrentPosters posts from several goroutines while one reaps:
// every signaled request completes exactly once and every byte lands.
func testConcurrentPosters(t *testing.T, env conformanceEnv) {
	const posters, each, size = 4, 300, 256
	var target *Region
	pr := connect(t, env, Options{ClusterToken: testToken, SendQueueDepth: 64}, func(p Provider) []RemoteRegion {
		target = mustRegion(t, p, posters*each*size, AccessRemoteWrite)
		return []RemoteRegion{target.Remote()}
	}, nil)
	src := mustRegion(t, pr.pb, posters*each*size, AccessLocalWrite)
	for i := range src.Bytes() {
		src.Bytes()[i] = byte(i*7 + i>>8)
	}
	remote := pr.b.PeerRegions()[0]
	ctx := testCtx(t)
	var wg sync.WaitGroup
	errc := make(chan error, posters)
	for g := 0; g < posters; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < each; {
				id := g*each + i
				wr := WorkRequest{ID: uint64(id), Op: OpWrite, Local: src, LocalOffset: id * size, Length: size,
					Remote: remote, RemoteOffset: uint64(id * size), Signaled: true}
				err := pr.b.Post([]WorkRequest{wr})
				switch {
				case err == nil:
					i++
				case errors.Is(err, ErrQueueFull):
					// The reaper frees slots; try again.
					if ctx.Err() != nil {
						errc <- fmt.Errorf("poster %d stuck on a full queue", g)
						return
					}
				default:
					errc <- err
					return
				}
			}
		}()
	}
	seen := make([]bool, posters*each)
	cs := make([]Completion, 32)
	for got := 0; got < posters*each; {
		n, err := pr.b.Wait(ctx, cs)
		if err != nil {
			t.Fatalf("Wait after %d completions: %v", got, err)
		}
		requireOK(t, cs[:n])
		for _, c := range cs[:n] {
			if seen[c.ID] {
				t.Fatalf("completion for id %d reported twice", c.ID)
			}
			seen[c.ID] = true
			got++
		}
	}
	wg.Wait()
	close(errc)
	for err := range errc {
		t.Fatalf("poster: %v", err)
	}
	if !bytes.Equal(target.Bytes(), src.Bytes()) {
		t.Fatalf("target differs from source after concurrent writes")
	}
}

// testSendTooLarge sends more bytes than the posted receive holds: the
// sender's request fails, the receiver's receive fails, and both
// connections are broken. (Which status each side reports is the
// device's choice: a length error or an invalid request.)
func testSendTooLarge(t *testing.T, env conformanceEnv) {
	pr := connect(t, env, Options{ClusterToken: testToken}, nil, nil)
	ctx := testCtx(t)
	rbuf := mustRegion(t, pr.pa, 4096, AccessLocalWrite)
	sbuf := mustRegion(t, pr.pb, 4096, AccessLocalWrite)
	if err := pr.a.PostRecv([]RecvRequest{{ID: 7, Region: rbuf, Length: 16}, {ID: 8, Region: rbuf, Offset: 16, Length: 16}}); err != nil {
		t.Fatalf("PostRecv: %v", err)
	}
	if err := pr.b.Post([]WorkRequest{{ID: 1, Op: OpSend, Local: sbuf, Length: 100, Signaled: true}}); err != nil {
		t.Fatalf("Post: %v", err)
	}
	sc := waitN(t, ctx, pr.b, 1)
	if sc[0].ID != 1 || sc[0].Status == StatusSuccess || !errors.Is(sc[0].Err, ErrCompletion) {
		t.Fatalf("oversized send completed with %+v, want a failure", sc[0])
	}
	rc := waitN(t, ctx, pr.a, 2)
	if rc[0].ID != 7 || rc[0].Status == StatusSuccess || rc[1].ID != 8 || rc[1].Status != StatusFlushed {
		t.Fatalf("receives after an oversized send: %+v, want id 7 failed and id 8 flushed", rc)
	}
	if !errors.Is(pr.a.Err(), ErrConnBroken) || !errors.Is(pr.b.Err(), ErrConnBroken) {
		t.Fatalf("connections after an oversized send: %v / %v, want both broken", pr.a.Err(), pr.b.Err())
	}
	t.Logf("sender: %v; receiver: %v", sc[0].Err, rc[0].Err)
}

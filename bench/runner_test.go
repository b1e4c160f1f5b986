package bench

import (
	"bytes"
	"context"
	"errors"
	"runtime"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"
)

// memTarget is a model store: a map under a mutex. hook, if set, runs
// before each Put with the number of Puts so far.
type memTarget struct {
	// yieldPuts makes every Put yield the processor this many times before
	// storing, widening the window in which an insert is in flight.
	yieldPuts int
	mu        sync.Mutex
	m         map[string][]byte
	puts      int
	hook      func(puts int) error
	node      fakeNode
}

func newMemTarget() *memTarget { return &memTarget{m: map[string][]byte{}} }

func (t *memTarget) Put(k, v []byte) error {
	for i := 0; i < t.yieldPuts; i++ {
		runtime.Gosched()
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	t.puts++
	if t.hook != nil {
		if err := t.hook(t.puts); err != nil {
			return err
		}
	}
	t.m[string(k)] = append([]byte(nil), v...)
	t.node.written.Add(uint64(len(k) + len(v)))
	return nil
}

func (t *memTarget) Get(dst, k []byte) ([]byte, bool, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	v, ok := t.m[string(k)]
	return append(dst, v...), ok, nil
}

func (t *memTarget) Delete(k []byte) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	delete(t.m, string(k))
	return nil
}

func (t *memTarget) Scan(start []byte, limit int, fn func(k, v []byte) bool) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	var keys []string
	for k := range t.m {
		if k >= string(start) {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	n := 0
	for _, k := range keys {
		if n == limit {
			break
		}
		n++
		if !fn([]byte(k), t.m[k]) {
			break
		}
	}
	return n, nil
}

func (t *memTarget) Nodes() []Node { return []Node{&t.node} }
func (t *memTarget) Close() error  { return nil }

// fakeNode reports the bytes the memTarget stored as its store writes.
type fakeNode struct{ written atomicU64 }

type atomicU64 struct {
	mu sync.Mutex
	v  uint64
}

func (a *atomicU64) Add(d uint64) { a.mu.Lock(); a.v += d; a.mu.Unlock() }
func (a *atomicU64) Load() uint64 { a.mu.Lock(); defer a.mu.Unlock(); return a.v }

func (n *fakeNode) Name() string { return "node" }
func (n *fakeNode) Sample() (NodeSample, error) {
	return NodeSample{Store: StoreIO{Known: true, Read: map[string]uint64{},
		Written: map[string]uint64{"mem": n.written.Load()}}}, nil
}

func runPhases(t *testing.T, tg Target, threads int, ws ...Workload) []*PhaseResult {
	t.Helper()
	var loaded int64
	var out []*PhaseResult
	for _, w := range ws {
		count := int64(2000)
		if w.Load {
			count = 1000
		}
		g, err := NewGenerator(GenConfig{Workload: w, Mix: MixSD, Loaded: loaded, Count: count, Seed: testSeed})
		if err != nil {
			t.Fatal(err)
		}
		res, err := RunPhase(context.Background(), tg, g, w, RunOptions{Threads: threads})
		if err != nil {
			t.Fatal(err)
		}
		if res.Err != nil {
			t.Fatalf("%s: %v", w.Name, res.Err)
		}
		loaded = g.Inserted()
		out = append(out, res)
	}
	return out
}

func TestRunPhaseCounts(t *testing.T) {
	tg := newMemTarget()
	res := runPhases(t, tg, 1, Workloads()...)
	for _, r := range res {
		want := uint64(2000)
		if r.Workload.Load {
			want = 1000
		}
		if r.Ops != want || uint64(r.Latency.TotalCount()) != want {
			t.Errorf("%s: %d ops, %d latencies, want %d", r.Workload.Name, r.Ops, r.Latency.TotalCount(), want)
		}
		if r.NotFound != 0 {
			t.Errorf("%s: %d reads missed with one thread", r.Workload.Name, r.NotFound)
		}
		var sum uint64
		for k, n := range r.OpsByKind {
			sum += n
			if uint64(r.ByKind[k].TotalCount()) != n {
				t.Errorf("%s: %s histogram holds %d, ops %d", r.Workload.Name, OpKind(k), r.ByKind[k].TotalCount(), n)
			}
		}
		if sum != r.Ops {
			t.Errorf("%s: ops by kind sum to %d, want %d", r.Workload.Name, sum, r.Ops)
		}
		// The model's store counter counts exactly the user bytes.
		if len(r.Nodes) != 1 || r.Nodes[0].Delta.Store.Written["mem"] != r.UserBytesWritten {
			t.Errorf("%s: node delta %+v, user bytes %d", r.Workload.Name, r.Nodes, r.UserBytesWritten)
		}
		if r.Workload.Name == "c" && r.UserBytesWritten != 0 {
			t.Errorf("read-only workload wrote %d user bytes", r.UserBytesWritten)
		}
		if r.Interrupted || r.Duration <= 0 {
			t.Errorf("%s: interrupted %v duration %v", r.Workload.Name, r.Interrupted, r.Duration)
		}
	}
	// 1000 loaded plus the inserts of D and E.
	wantKeys := 1000 + res[4].OpsByKind[OpInsert] + res[5].OpsByKind[OpInsert]
	if uint64(len(tg.m)) != wantKeys {
		t.Errorf("store holds %d keys, want %d", len(tg.m), wantKeys)
	}
}

// TestRunPhaseSameStoreAnyThreads: the final store contents depend only on
// the seed when no two writes race on a key: load phases write distinct keys.
func TestRunPhaseSameStoreAnyThreads(t *testing.T) {
	a, b := newMemTarget(), newMemTarget()
	runPhases(t, a, 1, LoadA)
	runPhases(t, b, 4, LoadA)
	if len(a.m) != len(b.m) {
		t.Fatalf("1 thread loaded %d keys, 4 threads %d", len(a.m), len(b.m))
	}
	for k, v := range a.m {
		if !bytes.Equal(b.m[k], v) {
			t.Fatalf("key %q differs between 1 and 4 threads", k)
		}
	}
}

func TestRunPhaseCancel(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	tg := newMemTarget()
	tg.hook = func(puts int) error {
		if puts == 300 {
			cancel()
		}
		return nil
	}
	g, _ := NewGenerator(GenConfig{Workload: LoadA, Mix: MixS, Count: 100000, Seed: testSeed})
	res, err := RunPhase(ctx, tg, g, LoadA, RunOptions{Threads: 3})
	if err != nil {
		t.Fatal(err)
	}
	if !res.Interrupted || res.Ops < 300 || res.Ops >= 100000 || res.Err != nil {
		t.Fatalf("cancelled phase: interrupted %v, ops %d, err %v", res.Interrupted, res.Ops, res.Err)
	}
	// What was measured is kept.
	if len(res.Nodes) != 1 || res.Nodes[0].Delta.Store.Written["mem"] != res.UserBytesWritten || res.UserBytesWritten == 0 {
		t.Fatalf("cancelled phase lost its measurements: %+v", res.Nodes)
	}
}

func TestRunPhaseTargetError(t *testing.T) {
	boom := errors.New("disk on fire")
	tg := newMemTarget()
	tg.hook = func(puts int) error {
		if puts == 50 {
			return boom
		}
		return nil
	}
	g, _ := NewGenerator(GenConfig{Workload: LoadA, Mix: MixS, Count: 1000, Seed: testSeed})
	res, err := RunPhase(context.Background(), tg, g, LoadA, RunOptions{Threads: 2})
	if err != nil {
		t.Fatal(err)
	}
	if !errors.Is(res.Err, boom) || !errors.Is(res.Err, ErrTarget) || res.Ops >= 1000 {
		t.Fatalf("phase with a failing target: err %v, ops %d", res.Err, res.Ops)
	}
}

func TestRunPhaseProgress(t *testing.T) {
	var buf bytes.Buffer
	g, _ := NewGenerator(GenConfig{Workload: LoadA, Mix: MixS, Count: 100, Seed: testSeed})
	if _, err := RunPhase(context.Background(), newMemTarget(), g, LoadA, RunOptions{Progress: &buf, Label: "lbl"}); err != nil {
		t.Fatal(err)
	}
	if s := buf.String(); !strings.Contains(s, "lbl [") || !strings.Contains(s, "100/100") || !strings.HasSuffix(s, "\n") {
		t.Fatalf("progress output %q", s)
	}
}

func TestRenderProgress(t *testing.T) {
	for _, tc := range []struct {
		done, total int64
		elapsed     time.Duration
		want        string
	}{
		{0, 100, 0, "\rx [..........]   0% 0/100 0 op/s ETA ? "},
		{50, 100, 5 * time.Second, "\rx [#####.....]  50% 50/100 10 op/s ETA 5s "},
		{30000, 60000, 10 * time.Second, "\rx [#####.....]  50% 30000/60000 3.0k op/s ETA 10s "},
		{100, 100, time.Second, "\rx [##########] 100% 100/100 100 op/s ETA 0s "},
	} {
		if got := RenderProgress("x", tc.done, tc.total, tc.elapsed, 10); got != tc.want {
			t.Errorf("RenderProgress(%d/%d, %v) = %q, want %q", tc.done, tc.total, tc.elapsed, got, tc.want)
		}
	}
}

// TestRunPhaseNoMissesWithThreads: with several threads, reads of keys
// inserted earlier in the stream wait for those inserts instead of missing.
func TestRunPhaseNoMissesWithThreads(t *testing.T) {
	tg := newMemTarget()
	tg.yieldPuts = 200
	res := runPhases(t, tg, 4, LoadA, WorkloadD, WorkloadE)
	for _, r := range res {
		if r.NotFound != 0 {
			t.Errorf("seed %d: %s with 4 threads: %d reads missed", testSeed, r.Workload.Name, r.NotFound)
		}
	}
}

func TestInsertTracker(t *testing.T) {
	tr := newInsertTracker(10)
	if !tr.wait(9) {
		t.Fatal("a loaded key waited")
	}
	tr.ack(11)
	if !tr.wait(11) {
		t.Fatal("an acknowledged key waited")
	}
	tr.ack(10)
	if tr.base != 12 || len(tr.acked) != 0 {
		t.Fatalf("base %d acked %v after 10 and 11, want 12 and none", tr.base, tr.acked)
	}
	done := make(chan bool)
	go func() { done <- tr.wait(13) }()
	tr.stop()
	if <-done {
		t.Fatal("wait on a stopped tracker reported the key present")
	}
}

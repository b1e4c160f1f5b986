package bench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"sync/atomic"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"
)

// Latency histograms hold nanoseconds from 1 ns to 10 minutes with three
// significant digits.
const (
	histMin     = 1
	histMax     = int64(10 * time.Minute)
	histSigFigs = 3
)

func newHist() *hdrhistogram.Histogram { return hdrhistogram.New(histMin, histMax, histSigFigs) }

// RunOptions says how RunPhase drives a target.
type RunOptions struct {
	// Threads is the number of goroutines issuing operations. Zero: 1.
	Threads int
	// Settle makes RunPhase call the target's Settle (if it is a Settler)
	// after the clock stops and before the final measurement.
	Settle bool
	// Progress, if not nil, receives a progress line with rate and ETA about
	// four times a second, each starting with '\r'.
	Progress io.Writer
	// Label prefixes the progress line.
	Label string
}

// NodeResult is what one node did during a phase.
type NodeResult struct {
	Name  string
	Delta NodeSample
}

// PhaseResult is what RunPhase measured.
type PhaseResult struct {
	Workload  Workload
	Ops       uint64
	OpsByKind [NumOpKinds]uint64
	// NotFound counts reads (including those of read-modify-writes) of keys
	// the target did not have.
	NotFound uint64
	// UserBytesWritten is key plus value bytes of every insert, update and
	// read-modify-write.
	UserBytesWritten uint64
	// Duration is the time from the first operation to the last one's end;
	// Settle is not included.
	Duration time.Duration
	// Interrupted is true when ctx was cancelled before the phase finished:
	// the figures cover the operations done until then.
	Interrupted bool
	// Err is the first target error; the phase stopped there.
	Err error
	// Latency is every operation's latency; ByKind per operation kind.
	Latency *hdrhistogram.Histogram
	ByKind  [NumOpKinds]*hdrhistogram.Histogram
	Nodes   []NodeResult
}

// OpsPerSec returns the phase's throughput.
func (r *PhaseResult) OpsPerSec() float64 {
	if r.Duration <= 0 {
		return 0
	}
	return float64(r.Ops) / r.Duration.Seconds()
}

type workerStats struct {
	ops       [NumOpKinds]uint64
	notFound  uint64
	userBytes uint64
	hist      [NumOpKinds]*hdrhistogram.Histogram
	err       error
}

// RunPhase drives the operations of g against t with opts.Threads threads,
// measuring every node before and after. Cancelling ctx stops the phase
// cleanly: the operations in flight finish, nodes are measured, and the
// result is marked Interrupted. A target error stops the phase and is
// returned in PhaseResult.Err; the error return is for failures to measure.
func RunPhase(ctx context.Context, t Target, g *Generator, w Workload, opts RunOptions) (*PhaseResult, error) {
	threads := max(opts.Threads, 1)
	nodes := t.Nodes()
	before := make([]NodeSample, len(nodes))
	for i, n := range nodes {
		s, err := n.Sample()
		if err != nil {
			return nil, fmt.Errorf("bench: measuring %s before %s: %w", n.Name(), w.Name, err)
		}
		before[i] = s
	}

	runCtx, cancelRun := context.WithCancel(ctx)
	inserts := newInsertTracker(g.Loaded())
	stop := func() {
		cancelRun()
		inserts.stop()
	}
	defer stop()
	var done atomic.Int64
	stats := make([]*workerStats, threads)
	var wg sync.WaitGroup
	start := time.Now()
	for i := range stats {
		st := &workerStats{}
		for k := range st.hist {
			st.hist[k] = newHist()
		}
		stats[i] = st
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := runWorker(runCtx, t, g, inserts, st, &done); err != nil {
				st.err = err
				stop()
			}
		}()
	}
	var pwg sync.WaitGroup
	progressDone := make(chan struct{})
	if opts.Progress != nil {
		pwg.Add(1)
		go func() {
			defer pwg.Done()
			tick := time.NewTicker(250 * time.Millisecond)
			defer tick.Stop()
			for {
				select {
				case <-progressDone:
					fmt.Fprint(opts.Progress, RenderProgress(opts.Label, done.Load(), g.Total(), time.Since(start), 30), "\n")
					return
				case <-tick.C:
					fmt.Fprint(opts.Progress, RenderProgress(opts.Label, done.Load(), g.Total(), time.Since(start), 30))
				}
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	close(progressDone)
	pwg.Wait()

	res := &PhaseResult{Workload: w, Duration: elapsed, Latency: newHist()}
	for k := range res.ByKind {
		res.ByKind[k] = newHist()
	}
	for _, st := range stats {
		for k := range st.ops {
			res.OpsByKind[k] += st.ops[k]
			res.Ops += st.ops[k]
			res.ByKind[k].Merge(st.hist[k])
			res.Latency.Merge(st.hist[k])
		}
		res.NotFound += st.notFound
		res.UserBytesWritten += st.userBytes
		if st.err != nil && res.Err == nil {
			res.Err = st.err
		}
	}
	res.Interrupted = ctx.Err() != nil && res.Ops < uint64(g.Total())

	if s, ok := t.(Settler); ok && opts.Settle && res.Err == nil && !res.Interrupted {
		if err := s.Settle(ctx); err != nil && !errors.Is(err, context.Canceled) {
			res.Err = fmt.Errorf("%w: settle after %s: %w", ErrTarget, w.Name, err)
		}
	}
	for i, n := range nodes {
		s, err := n.Sample()
		if err != nil {
			return res, fmt.Errorf("bench: measuring %s after %s: %w", n.Name(), w.Name, err)
		}
		res.Nodes = append(res.Nodes, NodeResult{Name: n.Name(), Delta: s.Sub(before[i])})
	}
	return res, nil
}

// opBatch is how many operations a worker takes from the generator at once.
const opBatch = 16

func runWorker(ctx context.Context, t Target, g *Generator, inserts *insertTracker, st *workerStats, done *atomic.Int64) error {
	ops := make([]Op, opBatch)
	var buf []byte
	for {
		if ctx.Err() != nil {
			// Operations of other threads may wait for inserts this thread
			// will now not make: release them.
			inserts.stop()
			return nil
		}
		n := g.Fill(ops)
		if n == 0 {
			return nil
		}
		for i := range ops[:n] {
			op := &ops[i]
			if op.Kind != OpInsert && !inserts.wait(op.KeyNum) {
				return nil // the phase was stopped
			}
			t0 := time.Now()
			var err error
			var found bool
			switch op.Kind {
			case OpInsert, OpUpdate:
				err = t.Put(op.Key, op.Value)
				st.userBytes += uint64(len(op.Key) + len(op.Value))
			case OpRead:
				buf, found, err = t.Get(buf[:0], op.Key)
				if err == nil && !found {
					st.notFound++
				}
			case OpScan:
				_, err = t.Scan(op.Key, op.ScanLength, func(k, v []byte) bool { return true })
			case OpReadModifyWrite:
				buf, found, err = t.Get(buf[:0], op.Key)
				if err == nil {
					if !found {
						st.notFound++
					}
					err = t.Put(op.Key, op.Value)
					st.userBytes += uint64(len(op.Key) + len(op.Value))
				}
			}
			if err != nil {
				return fmt.Errorf("%w: %s op %d key %q: %w", ErrTarget, op.Kind, op.Seq, op.Key, err)
			}
			if op.Kind == OpInsert {
				inserts.ack(op.KeyNum)
			}
			st.hist[op.Kind].RecordValue(int64(time.Since(t0)))
			st.ops[op.Kind]++
		}
		done.Add(int64(n))
	}
}

// RenderProgress renders one progress line: label, a bar of width cells,
// percentage, counts, rate and ETA. It starts with '\r' so that successive
// lines overwrite each other on a terminal.
func RenderProgress(label string, done, total int64, elapsed time.Duration, width int) string {
	frac := 0.0
	if total > 0 {
		frac = min(float64(done)/float64(total), 1)
	}
	filled := int(frac * float64(width))
	bar := make([]byte, width)
	for i := range bar {
		if i < filled {
			bar[i] = '#'
		} else {
			bar[i] = '.'
		}
	}
	rate := 0.0
	if elapsed > 0 {
		rate = float64(done) / elapsed.Seconds()
	}
	eta := "?"
	if rate > 0 && total >= done {
		eta = (time.Duration(float64(total-done) / rate * float64(time.Second))).Round(time.Second).String()
	}
	return fmt.Sprintf("\r%s [%s] %3.0f%% %d/%d %s op/s ETA %s ", label, bar, frac*100, done, total, humanRate(rate), eta)
}

func humanRate(r float64) string {
	switch {
	case r >= 1e6:
		return fmt.Sprintf("%.2fM", r/1e6)
	case r >= 1e3:
		return fmt.Sprintf("%.1fk", r/1e3)
	default:
		return fmt.Sprintf("%.0f", r)
	}
}

// insertTracker knows which inserted key numbers the target has
// acknowledged, so that an operation on a key inserted earlier in the
// stream by another thread waits for that insert instead of missing it.
// Waits always point to an earlier operation of the stream, and each
// thread runs its operations in stream order, so the earliest waiting
// operation's insert is never itself waiting: no deadlock.
//
// An insertTracker is safe for concurrent use.
type insertTracker struct {
	mu      sync.Mutex
	cond    sync.Cond
	base    int64          // every key number below base is present
	acked   map[int64]bool // acknowledged key numbers >= base
	stopped bool
}

func newInsertTracker(loaded int64) *insertTracker {
	t := &insertTracker{base: loaded, acked: map[int64]bool{}}
	t.cond.L = &t.mu
	return t
}

// ack records that the insert of key number k was acknowledged.
func (t *insertTracker) ack(k int64) {
	t.mu.Lock()
	if k == t.base {
		t.base++
		for t.acked[t.base] {
			delete(t.acked, t.base)
			t.base++
		}
	} else if k > t.base {
		t.acked[k] = true
	}
	t.mu.Unlock()
	t.cond.Broadcast()
}

// wait blocks until key number k is present; false means the tracker was
// stopped first.
func (t *insertTracker) wait(k int64) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	for k >= t.base && !t.acked[k] {
		if t.stopped {
			return false
		}
		t.cond.Wait()
	}
	return true
}

// stop releases every waiter, now and later.
func (t *insertTracker) stop() {
	t.mu.Lock()
	t.stopped = true
	t.mu.Unlock()
	t.cond.Broadcast()
}

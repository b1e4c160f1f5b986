package engine

import (
	"runtime"
	"sync/atomic"
)

// A writer in the group commit waits twice: to lead (while the writer ahead
// appends) and for its group's turn to publish (while the group ahead
// publishes). Both waits are usually a microsecond or two, shorter than
// parking a goroutine and waking it when the scheduler must first wake an
// idle thread: with two writers and no polling, the engine kept barely
// more than one core busy (2.45 s of CPU in 2.2 s for 500k writes; Pebble
// 2.33 s in 1.66 s), and its p99 write latency was 36-48 µs against
// Pebble's 6-10. So a waiter polls first, yielding between polls, and parks
// only if that fails.
//
// Polling is wasted CPU when the wait is long (a group waiting for its
// backups' acknowledgements, an fsync) or when other processes need the
// cores (a primary sharing the machine with its backups). The budget adapts
// to what polling achieves: it doubles each time a poll receives the token
// and halves each time the waiter has to park anyway, between spinMin and
// spinMax polls. spinMin keeps probing, so the budget recovers when waits
// become short again.
//
// Measured (talosbench engine, S mix Load A, 500k records, on the 2-core
// machine), against parking at once: 2 writers went from 202-291k
// (median 223k, 15 runs) to 235-325k writes/s (median 269k, 9 runs);
// engine ÷ Pebble, pairs run back to back: 0.71-0.86 (median 0.77, 6
// pairs) against 0.53-0.64 (5 pairs) before; 16 writers with fixed polling
// from 235-255k to 350-365k. Fixed polling (10, 50 or 200 yields) cost a
// talosd primary sharing the cores with two backups 4-18% of its
// throughput; with the adaptive budget that loss is within the run-to-run
// spread (no backups 14.1-15.0k against 13.9-16.1k ops/s, two backups
// 7.4-7.9k against 7.0-7.7k).
type spinner struct {
	budget atomic.Int32
	// yield runs between polls. Zero: runtime.Gosched. Tests set it.
	yield func()
}

const (
	spinMin = 4
	spinMax = 64
)

// await receives a token from ch, polling before it parks.
func (s *spinner) await(ch chan struct{}) {
	n := max(s.budget.Load(), spinMin)
	for range n {
		select {
		case <-ch:
			s.budget.Store(min(2*n, spinMax))
			return
		default:
		}
		if s.yield != nil {
			s.yield()
		} else {
			runtime.Gosched()
		}
	}
	s.budget.Store(max(n/2, spinMin))
	<-ch
}

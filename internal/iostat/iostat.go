package iostat

import (
	"context"
	"fmt"
	"sync/atomic"
)

// Kind is the kind of work a byte of file I/O is done for.
type Kind uint8

// The kinds. Their String forms are the names used in metrics and JSON.
const (
	Vlog Kind = iota
	Flush
	Compaction
	GC
	Manifest
	Get
	Scan
	Replication
	NumKinds
)

var kindNames = [NumKinds]string{"vlog", "flush", "compaction", "gc", "manifest", "get", "scan", "replication"}

func (k Kind) String() string {
	if k < NumKinds {
		return kindNames[k]
	}
	return fmt.Sprintf("kind(%d)", uint8(k))
}

// Kinds returns every kind in order.
func Kinds() []Kind {
	ks := make([]Kind, NumKinds)
	for i := range ks {
		ks[i] = Kind(i)
	}
	return ks
}

// Counters holds bytes read and written per kind. The zero value is ready to
// use. Counters is safe for concurrent use.
type Counters struct {
	read    [NumKinds]atomic.Uint64
	written [NumKinds]atomic.Uint64
}

// AddRead counts n bytes read for kind k.
func (c *Counters) AddRead(k Kind, n int) {
	if n > 0 {
		c.read[k].Add(uint64(n))
	}
}

// AddWritten counts n bytes written for kind k.
func (c *Counters) AddWritten(k Kind, n int) {
	if n > 0 {
		c.written[k].Add(uint64(n))
	}
}

// Snapshot returns the current counts.
func (c *Counters) Snapshot() Snapshot {
	var s Snapshot
	for k := Kind(0); k < NumKinds; k++ {
		s.Read[k] = c.read[k].Load()
		s.Written[k] = c.written[k].Load()
	}
	return s
}

// Restore adds a persisted snapshot to the counters; used once at open.
func (c *Counters) Restore(s Snapshot) {
	for k := Kind(0); k < NumKinds; k++ {
		c.read[k].Add(s.Read[k])
		c.written[k].Add(s.Written[k])
	}
}

// Snapshot is a point-in-time copy of Counters.
type Snapshot struct {
	Read    [NumKinds]uint64
	Written [NumKinds]uint64
}

// Map returns the counts keyed "<kind>_bytes_read" and "<kind>_bytes_written".
func (s Snapshot) Map() map[string]uint64 {
	m := make(map[string]uint64, 2*int(NumKinds))
	for k := Kind(0); k < NumKinds; k++ {
		m[k.String()+"_bytes_read"] = s.Read[k]
		m[k.String()+"_bytes_written"] = s.Written[k]
	}
	return m
}

// Sub returns s minus o, kind by kind.
func (s Snapshot) Sub(o Snapshot) Snapshot {
	var d Snapshot
	for k := Kind(0); k < NumKinds; k++ {
		d.Read[k] = s.Read[k] - o.Read[k]
		d.Written[k] = s.Written[k] - o.Written[k]
	}
	return d
}

type ctxKey struct{}

// WithKind returns a context that attributes reads made with it to k.
func WithKind(ctx context.Context, k Kind) context.Context {
	return context.WithValue(ctx, ctxKey{}, k)
}

// KindFrom returns the kind ctx carries, or def when it carries none.
func KindFrom(ctx context.Context, def Kind) Kind {
	if ctx != nil {
		if k, ok := ctx.Value(ctxKey{}).(Kind); ok {
			return k
		}
	}
	return def
}

package bench

import (
	"fmt"
	"hash/fnv"
	"math/rand/v2"
	"sync"
)

// Op is one operation of a workload. Key and Value are only valid until the
// slot is refilled; Value points into the generator's read-only value pool
// and must not be modified or retained.
type Op struct {
	// Seq numbers the operation within its phase, from 0.
	Seq  int64
	Kind OpKind
	// KeyNum is the record number Key was built from.
	KeyNum int64
	Key    []byte
	Value  []byte
	// ScanLength is the number of records a scan asks for.
	ScanLength int
}

// GenConfig says what a Generator produces.
type GenConfig struct {
	Workload Workload
	Mix      Mix
	// Loaded is the number of records in the store when the phase starts:
	// keys 0..Loaded-1 exist. Zero for the load phase.
	Loaded int64
	// Count is the number of operations of the phase (for the load phase,
	// the record count).
	Count int64
	// Seed makes the operation stream; the same seed, workload, mix, Loaded
	// and Count give the same stream.
	Seed uint64
}

// valuePoolSize is the size of the pool of random bytes values are cut from.
const valuePoolSize = 1 << 20

// Generator produces the operations of one phase as a single deterministic
// stream: operation i depends only on the GenConfig, never on how many
// threads consume the stream or how they interleave. With one thread this
// is exactly YCSB's sequence of choices. With several, an operation may
// name a key whose insert another thread has not finished yet; the runner
// makes it wait for that insert (see insertTracker). YCSB instead never
// chooses such keys (its acknowledged insert counter), at the price of a
// stream that depends on timing.
//
// A Generator is safe for concurrent use.
type Generator struct {
	cfg  GenConfig
	pool []byte

	mu struct {
		sync.Mutex
		rng        *rand.Rand
		issued     int64
		nextInsert int64 // next key number to insert
		zipf       *ScrambledZipfian
		latest     *SkewedLatest
		opCum      [NumOpKinds]float64
	}
}

// ycsbOpOrder is the order in which CoreWorkload adds operations to its
// DiscreteGenerator; the same order consumes the same uniform draw the same way.
var ycsbOpOrder = [NumOpKinds]OpKind{OpRead, OpUpdate, OpInsert, OpScan, OpReadModifyWrite}

// NewGenerator returns the generator of one phase.
func NewGenerator(cfg GenConfig) (*Generator, error) {
	w := cfg.Workload
	switch {
	case cfg.Count < 0:
		return nil, fmt.Errorf("%w: negative operation count %d", ErrConfig, cfg.Count)
	case !w.Load && cfg.Loaded < 1:
		return nil, fmt.Errorf("%w: workload %s needs loaded records, have %d", ErrConfig, w.Name, cfg.Loaded)
	case w.Proportion[OpScan] > 0 && (w.MinScanLength < 1 || w.MaxScanLength < w.MinScanLength):
		return nil, fmt.Errorf("%w: workload %s scan length [%d, %d]", ErrConfig, w.Name, w.MinScanLength, w.MaxScanLength)
	}
	var sum float64
	for _, p := range w.Proportion {
		sum += p
	}
	if sum <= 0 {
		return nil, fmt.Errorf("%w: workload %s has no operations", ErrConfig, w.Name)
	}
	g := &Generator{cfg: cfg, pool: make([]byte, valuePoolSize)}
	poolRNG := rand.New(rand.NewPCG(cfg.Seed, 0x706f6f6c)) // "pool"
	for i := 0; i < len(g.pool); i += 8 {
		v := poolRNG.Uint64()
		for j := 0; j < 8 && i+j < len(g.pool); j++ {
			g.pool[i+j] = byte(v >> (8 * j))
		}
	}
	h := fnv.New64a()
	fmt.Fprintf(h, "%s/%s/%d/%d", w.Name, cfg.Mix.Name, cfg.Loaded, cfg.Count)
	g.mu.rng = rand.New(rand.NewPCG(cfg.Seed, h.Sum64()))
	g.mu.nextInsert = cfg.Loaded
	var cum float64
	for i, k := range ycsbOpOrder {
		cum += w.Proportion[k] / sum
		g.mu.opCum[i] = cum
	}
	if !w.Load {
		switch w.Distribution {
		case DistZipfian:
			g.mu.zipf = NewScrambledZipfian(0, cfg.Loaded+w.ExpectedNewKeys(cfg.Count)-1)
		case DistLatest:
			g.mu.latest = NewSkewedLatest(cfg.Loaded - 1)
		}
	}
	return g, nil
}

// Inserted returns the number of key numbers handed out so far: once every
// operation has been applied, keys 0..Inserted()-1 exist.
func (g *Generator) Inserted() int64 {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.mu.nextInsert
}

// Loaded returns the number of records present before the phase.
func (g *Generator) Loaded() int64 { return g.cfg.Loaded }

// Total returns the number of operations the phase has.
func (g *Generator) Total() int64 { return g.cfg.Count }

// Fill fills ops with the next operations of the stream and returns how
// many it filled; 0 means the stream is exhausted.
func (g *Generator) Fill(ops []Op) int {
	g.mu.Lock()
	defer g.mu.Unlock()
	n := 0
	for n < len(ops) && g.mu.issued < g.cfg.Count {
		g.nextLocked(&ops[n])
		g.mu.issued++
		n++
	}
	return n
}

func (g *Generator) nextLocked(op *Op) {
	r := g.mu.rng
	op.Seq = g.mu.issued
	op.Value = nil
	op.ScanLength = 0
	if g.cfg.Workload.Load {
		op.Kind = OpInsert
	} else {
		op.Kind = OpReadModifyWrite
		u := r.Float64()
		for i, c := range g.mu.opCum {
			if u < c {
				op.Kind = ycsbOpOrder[i]
				break
			}
		}
	}
	var keynum int64
	if op.Kind == OpInsert {
		keynum = g.mu.nextInsert
		g.mu.nextInsert++
	} else {
		keynum = g.chooseKeyLocked(r)
	}
	op.KeyNum = keynum
	op.Key = AppendKey(op.Key[:0], keynum)
	switch op.Kind {
	case OpInsert, OpUpdate, OpReadModifyWrite:
		size := g.cfg.Mix.Pick(r).ValueSize(op.Kind != OpInsert)
		off := r.IntN(len(g.pool) - size)
		op.Value = g.pool[off : off+size : off+size]
	case OpScan:
		w := g.cfg.Workload
		op.ScanLength = int(UniformInt(r, int64(w.MinScanLength), int64(w.MaxScanLength)))
	}
}

// chooseKeyLocked is CoreWorkload.nextKeynum: draw until the key number is
// one that has been inserted.
func (g *Generator) chooseKeyLocked(r *rand.Rand) int64 {
	last := g.mu.nextInsert - 1
	for {
		var k int64
		switch g.cfg.Workload.Distribution {
		case DistZipfian:
			k = g.mu.zipf.Next(r)
		case DistLatest:
			k = g.mu.latest.Next(r, last)
		default:
			k = UniformInt(r, 0, g.cfg.Loaded-1)
		}
		if k <= last {
			return k
		}
	}
}

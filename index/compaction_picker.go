package index

import "math"

// levelTarget returns the target size of level l >= 1:
// BaseLevelSize * GrowthFactor^(l-1).
func (x *Index) levelTarget(l int) float64 {
	return float64(x.opts.BaseLevelSize) * math.Pow(float64(x.opts.GrowthFactor), float64(l-1))
}

// levelScoreLocked is how urgently level l needs compaction; >= 1 means it
// should be compacted. L0 counts files against L0CompactionThreshold; other
// levels compare their size (less what is already being compacted out) with
// their target. The last level is never compacted by score.
func (x *Index) levelScoreLocked(v *version, l int) float64 {
	if l == len(v.levels)-1 {
		return 0
	}
	if l == 0 {
		n := 0
		for _, t := range v.levels[0] {
			if !t.compacting {
				n++
			}
		}
		score := float64(n) / float64(x.opts.L0CompactionThreshold)
		if x.mu.forceL0 && n > 0 {
			score = max(score, 1)
		}
		return score
	}
	var size uint64
	for _, t := range v.levels[l] {
		if !t.compacting {
			size += t.meta.Size
		}
	}
	return float64(size) / x.levelTarget(l)
}

// compaction is one picked compaction: inputs[0] from level, inputs[1]
// from level+1.
type compaction struct {
	level   int
	inputs  [2][]*table
	v       *version // pinned input version
	lo, hi  []byte   // user-key range of all inputs
	bottom  bool     // no table below level+1 overlaps [lo, hi]
	snaps   []uint64
	trivial bool
}

func hull(ts []*table) (lo, hi []byte) {
	for i, t := range ts {
		if i == 0 || cmpKey(t.meta.Smallest, lo) < 0 {
			lo = t.meta.Smallest
		}
		if i == 0 || cmpKey(t.meta.Largest, hi) > 0 {
			hi = t.meta.Largest
		}
	}
	return lo, hi
}

func anyCompacting(ts []*table) bool {
	for _, t := range ts {
		if t.compacting {
			return true
		}
	}
	return false
}

// pickLocked chooses the compaction of the level with the highest score >= 1
// whose inputs are free, marks its inputs compacting and pins the version.
func (x *Index) pickLocked() *compaction {
	v := x.mu.v
	type cand struct {
		l     int
		score float64
	}
	var cands []cand
	for l := 0; l < len(v.levels)-1; l++ {
		if s := x.levelScoreLocked(v, l); s >= 1 {
			cands = append(cands, cand{l, s})
		}
	}
	// Highest score first (few levels: insertion sort).
	for i := 1; i < len(cands); i++ {
		for j := i; j > 0 && cands[j].score > cands[j-1].score; j-- {
			cands[j], cands[j-1] = cands[j-1], cands[j]
		}
	}
	for _, c := range cands {
		if cp := x.pickLevelLocked(v, c.l); cp != nil {
			if c.l == 0 {
				x.mu.forceL0 = false
			}
			for _, in := range cp.inputs {
				for _, t := range in {
					t.compacting = true
				}
			}
			cp.v = v
			v.ref()
			cp.snaps = x.snapshotSeqsLocked()
			return cp
		}
	}
	return nil
}

func (x *Index) pickLevelLocked(v *version, l int) *compaction {
	var start []*table
	if l == 0 {
		if anyCompacting(v.levels[0]) {
			return nil
		}
		start = append(start, v.levels[0]...)
	} else {
		lvl := v.levels[l]
		ptr := x.mu.compactPointer[l]
		// Round robin: the first free table after the pointer, wrapping.
		first := 0
		if ptr != nil {
			for first < len(lvl) && cmpKey(lvl[first].meta.Smallest, ptr) <= 0 {
				first++
			}
		}
		for k := 0; k < len(lvl); k++ {
			t := lvl[(first+k)%len(lvl)]
			if t.compacting {
				continue
			}
			next := v.overlapping(l+1, t.meta.Smallest, t.meta.Largest)
			if anyCompacting(next) {
				continue
			}
			start = []*table{t}
			break
		}
		if start == nil {
			return nil
		}
	}
	lo, hi := hull(start)
	next := v.overlapping(l+1, lo, hi)
	if anyCompacting(next) {
		return nil
	}
	c := &compaction{level: l, inputs: [2][]*table{start, next}}
	c.lo, c.hi = hull(append(append([]*table(nil), start...), next...))
	c.bottom = true
	for below := l + 2; below < len(v.levels); below++ {
		if len(v.overlapping(below, c.lo, c.hi)) > 0 {
			c.bottom = false
			break
		}
	}
	// A lone table with nothing below it in l+1 moves without a rewrite,
	// unless it lands at the bottom of the data and may hold tombstones.
	c.trivial = len(start) == 1 && len(next) == 0 && (!c.bottom || start[0].deletions == 0)
	return c
}

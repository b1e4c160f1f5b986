package index

import (
	"bytes"
	"fmt"
	"slices"
	"sync/atomic"
)

func cmpKey(a, b []byte) int { return bytes.Compare(a, b) }

// version is an immutable set of tables per level. L0 is ordered newest
// first (by largest seq, then number); L1.. are ordered by key and do not
// overlap. A version is reference counted by the read states and
// compactions that use it; when the count drops to zero its tables are
// released.
type version struct {
	levels [][]*table
	refs   atomic.Int32
}

func (v *version) ref() { v.refs.Add(1) }

// unref drops a reference; it returns the tables whose last reference went
// away with it (the caller deletes their files).
func (v *version) unref() (obsolete []*table) {
	n := v.refs.Add(-1)
	if n > 0 {
		return nil
	}
	if n < 0 {
		panic(fmt.Sprintf("index: version refcount %d, expected >= 0", n))
	}
	for _, lvl := range v.levels {
		for _, t := range lvl {
			if t.refs.Add(-1) == 0 {
				obsolete = append(obsolete, t)
			}
		}
	}
	return obsolete
}

func (v *version) levelSize(level int) uint64 {
	var s uint64
	for _, t := range v.levels[level] {
		s += t.meta.Size
	}
	return s
}

func sortL0(ts []*table) {
	slices.SortFunc(ts, func(a, b *table) int {
		if a.meta.LargestSeq != b.meta.LargestSeq {
			if a.meta.LargestSeq > b.meta.LargestSeq {
				return -1
			}
			return 1
		}
		switch {
		case a.meta.Num > b.meta.Num:
			return -1
		case a.meta.Num < b.meta.Num:
			return 1
		}
		return 0
	})
}

// applyEdit returns the version that e makes of v. tables maps the number
// of every live table to its object, so that a table moved between levels
// keeps its object (and its file). New table objects are entered in tables.
// The result has refs 0 and holds one reference on each of its tables.
func applyEdit(v *version, e *VersionEdit, numLevels int, tables map[uint64]*table) (*version, error) {
	nv := &version{levels: make([][]*table, numLevels)}
	deleted := make(map[uint64]int, len(e.Deleted))
	for _, d := range e.Deleted {
		if d.Level >= numLevels {
			return nil, fmt.Errorf("%w: edit deletes table %d from level %d of %d", ErrCorrupt, d.Num, d.Level, numLevels)
		}
		deleted[d.Num] = d.Level
	}
	found := 0
	for l := range v.levels {
		for _, t := range v.levels[l] {
			if dl, ok := deleted[t.meta.Num]; ok && dl == l {
				found++
				continue
			}
			nv.levels[l] = append(nv.levels[l], t)
		}
	}
	if found != len(deleted) || len(deleted) != len(e.Deleted) {
		return nil, fmt.Errorf("%w: edit deletes %d tables, %d of them present in their level", ErrCorrupt, len(e.Deleted), found)
	}
	for _, a := range e.Added {
		if a.Level >= numLevels {
			return nil, fmt.Errorf("%w: edit adds table %d to level %d of %d", ErrCorrupt, a.Meta.Num, a.Level, numLevels)
		}
		t, ok := tables[a.Meta.Num]
		if ok {
			if _, moved := deleted[a.Meta.Num]; !moved {
				return nil, fmt.Errorf("%w: edit adds table %d, which is already live", ErrCorrupt, a.Meta.Num)
			}
		} else {
			t = &table{meta: a.Meta, deletions: -1}
			t.meta.Smallest = slices.Clone(a.Meta.Smallest)
			t.meta.Largest = slices.Clone(a.Meta.Largest)
			tables[a.Meta.Num] = t
		}
		nv.levels[a.Level] = append(nv.levels[a.Level], t)
	}
	sortL0(nv.levels[0])
	for l := 1; l < numLevels; l++ {
		lvl := nv.levels[l]
		slices.SortFunc(lvl, func(a, b *table) int { return cmpKey(a.meta.Smallest, b.meta.Smallest) })
		for i := 1; i < len(lvl); i++ {
			if cmpKey(lvl[i-1].meta.Largest, lvl[i].meta.Smallest) >= 0 {
				return nil, fmt.Errorf("%w: level %d: tables %d [%q,%q] and %d [%q,%q] overlap", ErrCorrupt, l,
					lvl[i-1].meta.Num, lvl[i-1].meta.Smallest, lvl[i-1].meta.Largest,
					lvl[i].meta.Num, lvl[i].meta.Smallest, lvl[i].meta.Largest)
			}
		}
	}
	for _, lvl := range nv.levels {
		for _, t := range lvl {
			t.refs.Add(1)
		}
	}
	return nv, nil
}

// overlapping returns the tables of level l in v overlapping [lo, hi].
func (v *version) overlapping(l int, lo, hi []byte) []*table {
	var out []*table
	for _, t := range v.levels[l] {
		if t.overlaps(lo, hi) {
			out = append(out, t)
		}
	}
	return out
}

// findTable returns the table of sorted level l (>= 1) that may hold key.
func (v *version) findTable(l int, key []byte) *table {
	lvl := v.levels[l]
	i, _ := slices.BinarySearchFunc(lvl, key, func(t *table, k []byte) int { return cmpKey(t.meta.Largest, k) })
	if i < len(lvl) && cmpKey(lvl[i].meta.Smallest, key) <= 0 {
		return lvl[i]
	}
	return nil
}

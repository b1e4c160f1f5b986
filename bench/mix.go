package bench

import (
	"fmt"
	"math/rand/v2"
	"strings"
)

// The value sizes of the Tebis evaluation: small, medium and large values.
// With the 23-byte keys these give 33 B, 123 B and 1023 B key-value pairs.
const (
	SmallValueSize       = 10
	SmallUpdateValueSize = 5
	MediumValueSize      = 100
	LargeValueSize       = 1000
)

// SizeClass is one of the three value sizes.
type SizeClass uint8

// The size classes.
const (
	Small SizeClass = iota
	Medium
	Large
	numSizeClasses
)

// ValueSize returns the value size of the class, for an insert or (update
// true) an update or read-modify-write: small values are written with
// 10 B and updated with 5 B.
func (c SizeClass) ValueSize(update bool) int {
	switch c {
	case Small:
		if update {
			return SmallUpdateValueSize
		}
		return SmallValueSize
	case Medium:
		return MediumValueSize
	default:
		return LargeValueSize
	}
}

// Mix is a key-value size mix: the probability of each size class.
type Mix struct {
	Name   string
	Weight [numSizeClasses]float64
}

// The Tebis mixes: all values of one size (S, M, L), or 60% of the dominant
// size and 20% of each other (SD, MD, LD).
var (
	MixS  = Mix{Name: "S", Weight: [numSizeClasses]float64{1, 0, 0}}
	MixM  = Mix{Name: "M", Weight: [numSizeClasses]float64{0, 1, 0}}
	MixL  = Mix{Name: "L", Weight: [numSizeClasses]float64{0, 0, 1}}
	MixSD = Mix{Name: "SD", Weight: [numSizeClasses]float64{0.6, 0.2, 0.2}}
	MixMD = Mix{Name: "MD", Weight: [numSizeClasses]float64{0.2, 0.6, 0.2}}
	MixLD = Mix{Name: "LD", Weight: [numSizeClasses]float64{0.2, 0.2, 0.6}}
)

// Mixes lists every mix.
func Mixes() []Mix { return []Mix{MixS, MixM, MixL, MixSD, MixMD, MixLD} }

// ParseMix parses a mix name (case-insensitive).
func ParseMix(s string) (Mix, error) {
	for _, m := range Mixes() {
		if strings.EqualFold(strings.TrimSpace(s), m.Name) {
			return m, nil
		}
	}
	return Mix{}, fmt.Errorf("%w: mix %q (want S, M, L, SD, MD or LD)", ErrConfig, s)
}

// Pick draws a size class.
func (m Mix) Pick(r *rand.Rand) SizeClass {
	u := r.Float64()
	for c := SizeClass(0); c < numSizeClasses-1; c++ {
		if u < m.Weight[c] {
			return c
		}
		u -= m.Weight[c]
	}
	return numSizeClasses - 1
}

package bench

import (
	"math"
	"math/rand/v2"
)

// The constants of YCSB's generator package (site.ycsb.generator), kept
// bit-for-bit so that our key choice matches YCSB's for the same uniform
// draws.
const (
	// ZipfianConstant is YCSB's ZipfianGenerator.ZIPFIAN_CONSTANT.
	ZipfianConstant = 0.99
	// scrambledItemCount is ScrambledZipfianGenerator.ITEM_COUNT: the
	// scrambled generator draws from a zipfian over this many items and
	// hashes the draw into the key space.
	scrambledItemCount int64 = 10000000000
	// scrambledZetan is ScrambledZipfianGenerator.ZETAN, zeta(ITEM_COUNT, 0.99)
	// precomputed by YCSB.
	scrambledZetan = 26.46902820178302
)

// Zipfian draws integers in [min, max] with a zipfian distribution: item
// min is the most popular, min+1 the next, and so on. It is YCSB's
// ZipfianGenerator (Gray et al., "Quickly Generating Billion-Record
// Synthetic Databases", SIGMOD 1994), including its incremental zeta
// update when the item count grows (used by SkewedLatest) and its quirk of
// computing eta from the original item count.
//
// A Zipfian is not safe for concurrent use.
type Zipfian struct {
	items        int64
	base         int64
	theta        float64
	zeta2theta   float64
	alpha        float64
	zetan        float64
	eta          float64
	countForZeta int64
	halfPowTheta float64 // 0.5^theta, the second item's threshold
}

// NewZipfian returns a zipfian generator over [min, max] with constant theta,
// computing zeta(max-min+1, theta) (O(items)).
func NewZipfian(min, max int64, theta float64) *Zipfian {
	items := max - min + 1
	return newZipfianZetan(min, max, theta, zetaStatic(0, items, theta, 0))
}

func newZipfianZetan(min, max int64, theta, zetan float64) *Zipfian {
	z := &Zipfian{
		items:        max - min + 1,
		base:         min,
		theta:        theta,
		zeta2theta:   zetaStatic(0, 2, theta, 0),
		alpha:        1.0 / (1.0 - theta),
		zetan:        zetan,
		countForZeta: max - min + 1,
		halfPowTheta: math.Pow(0.5, theta),
	}
	z.eta = (1 - math.Pow(2.0/float64(z.items), 1-theta)) / (1 - z.zeta2theta/z.zetan)
	return z
}

// zetaStatic is YCSB's zetastatic(st, n, theta, initialsum): initialsum plus
// the sum over i in [st, n) of 1/(i+1)^theta.
func zetaStatic(st, n int64, theta, initialSum float64) float64 {
	sum := initialSum
	for i := st; i < n; i++ {
		sum += 1 / math.Pow(float64(i+1), theta)
	}
	return sum
}

// Next draws from the first itemCount items. When itemCount grows past the
// count zeta was computed for, zeta is extended incrementally, as YCSB does;
// a smaller itemCount reuses the larger zeta (YCSB's default,
// allowitemcountdecrease=false).
func (z *Zipfian) Next(r *rand.Rand, itemCount int64) int64 {
	if itemCount > z.countForZeta {
		z.zetan = zetaStatic(z.countForZeta, itemCount, z.theta, z.zetan)
		z.countForZeta = itemCount
		z.eta = (1 - math.Pow(2.0/float64(z.items), 1-z.theta)) / (1 - z.zeta2theta/z.zetan)
	}
	u := r.Float64()
	uz := u * z.zetan
	if uz < 1.0 {
		return z.base
	}
	if uz < 1.0+z.halfPowTheta {
		return z.base + 1
	}
	return z.base + int64(float64(itemCount)*math.Pow(z.eta*u-z.eta+1, z.alpha))
}

// ScrambledZipfian draws integers in [min, max] whose popularity follows a
// zipfian distribution but whose popular items are scattered over the range
// instead of clustered at min: it draws from a zipfian over 10^10 items
// (theta 0.99, YCSB's precomputed zeta) and maps the draw into the range
// with FNV-1a. It is YCSB's ScrambledZipfianGenerator, the key chooser of
// requestdistribution=zipfian.
//
// A ScrambledZipfian is not safe for concurrent use.
type ScrambledZipfian struct {
	min, itemCount int64
	gen            *Zipfian
}

// NewScrambledZipfian returns YCSB's scrambled zipfian over [min, max] with
// the constant 0.99.
func NewScrambledZipfian(min, max int64) *ScrambledZipfian {
	return &ScrambledZipfian{
		min:       min,
		itemCount: max - min + 1,
		gen:       newZipfianZetan(0, scrambledItemCount, ZipfianConstant, scrambledZetan),
	}
}

// Next draws one value.
func (s *ScrambledZipfian) Next(r *rand.Rand) int64 {
	v := s.gen.Next(r, s.gen.items)
	return s.min + FNVHash64(v)%s.itemCount
}

// SkewedLatest draws recently inserted items more often: it returns
// last - zipfian(last), where last is the newest inserted key number. It is
// YCSB's SkewedLatestGenerator, the key chooser of
// requestdistribution=latest (workload D).
//
// A SkewedLatest is not safe for concurrent use.
type SkewedLatest struct {
	zipf *Zipfian
}

// NewSkewedLatest returns a generator whose zipfian starts over last items
// (YCSB: new ZipfianGenerator(basis.lastValue())).
func NewSkewedLatest(last int64) *SkewedLatest {
	if last < 1 {
		last = 1
	}
	return &SkewedLatest{zipf: NewZipfian(0, last-1, ZipfianConstant)}
}

// Next draws one key number given the newest inserted key number last.
func (s *SkewedLatest) Next(r *rand.Rand, last int64) int64 {
	return last - s.zipf.Next(r, last)
}

// UniformInt draws from [min, max] with equal probability (YCSB's
// UniformLongGenerator).
func UniformInt(r *rand.Rand, min, max int64) int64 {
	return min + r.Int64N(max-min+1)
}

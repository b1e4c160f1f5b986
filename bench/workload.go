package bench

import (
	"fmt"
	"strings"
)

// OpKind is one kind of YCSB operation.
type OpKind uint8

// The operation kinds.
const (
	OpInsert OpKind = iota
	OpRead
	OpUpdate
	OpScan
	OpReadModifyWrite
	NumOpKinds
)

var opKindNames = [NumOpKinds]string{"insert", "read", "update", "scan", "rmw"}

func (k OpKind) String() string {
	if k < NumOpKinds {
		return opKindNames[k]
	}
	return fmt.Sprintf("op(%d)", uint8(k))
}

// Distribution is YCSB's requestdistribution: how the key of a read, update,
// scan or read-modify-write is chosen.
type Distribution uint8

// The distributions.
const (
	// DistZipfian is YCSB's scrambled zipfian (constant 0.99).
	DistZipfian Distribution = iota
	// DistUniform picks any loaded record with equal probability.
	DistUniform
	// DistLatest favours the most recently inserted records (SkewedLatest).
	DistLatest
)

var distributionNames = []string{"zipfian", "uniform", "latest"}

func (d Distribution) String() string {
	if int(d) < len(distributionNames) {
		return distributionNames[d]
	}
	return fmt.Sprintf("distribution(%d)", uint8(d))
}

// ParseDistribution parses "zipfian", "uniform" or "latest".
func ParseDistribution(s string) (Distribution, error) {
	for i, n := range distributionNames {
		if strings.EqualFold(s, n) {
			return Distribution(i), nil
		}
	}
	return 0, fmt.Errorf("%w: distribution %q (want zipfian, uniform or latest)", ErrConfig, s)
}

// Workload is one YCSB core workload: its operation proportions, its
// request distribution and, for scans, the scan length range (YCSB's
// scanlengthdistribution=uniform over [MinScanLength, MaxScanLength]).
type Workload struct {
	// Name is "load-a" for the load phase or "a".."f" for a run phase.
	Name string
	// Load marks the load phase: RecordCount inserts of keys 0..n-1.
	Load bool
	// Proportions of each operation kind; they sum to 1 for a run phase.
	Proportion   [NumOpKinds]float64
	Distribution Distribution
	// MinScanLength and MaxScanLength bound the scan length (records).
	MinScanLength, MaxScanLength int
}

// The core workloads, as YCSB's workloads/workloada..workloadf define them.
var (
	// LoadA is the load phase of workload A (recordcount inserts, hashed
	// insert order); workloads B-F run on the same data.
	LoadA = Workload{Name: "load-a", Load: true, Proportion: props(OpInsert, 1.0)}
	// WorkloadA: update heavy, 50% reads, 50% updates, zipfian.
	WorkloadA = Workload{Name: "a", Proportion: props(OpRead, 0.5, OpUpdate, 0.5), Distribution: DistZipfian}
	// WorkloadB: read mostly, 95% reads, 5% updates, zipfian.
	WorkloadB = Workload{Name: "b", Proportion: props(OpRead, 0.95, OpUpdate, 0.05), Distribution: DistZipfian}
	// WorkloadC: read only, zipfian.
	WorkloadC = Workload{Name: "c", Proportion: props(OpRead, 1.0), Distribution: DistZipfian}
	// WorkloadD: read latest, 95% reads, 5% inserts, latest.
	WorkloadD = Workload{Name: "d", Proportion: props(OpRead, 0.95, OpInsert, 0.05), Distribution: DistLatest}
	// WorkloadE: short ranges, 95% scans (1..100 records, uniform), 5%
	// inserts, zipfian start keys.
	WorkloadE = Workload{Name: "e", Proportion: props(OpScan, 0.95, OpInsert, 0.05), Distribution: DistZipfian,
		MinScanLength: 1, MaxScanLength: 100}
	// WorkloadF: read-modify-write, 50% reads, 50% read-modify-writes, zipfian.
	WorkloadF = Workload{Name: "f", Proportion: props(OpRead, 0.5, OpReadModifyWrite, 0.5), Distribution: DistZipfian}
)

func props(kv ...any) [NumOpKinds]float64 {
	var p [NumOpKinds]float64
	for i := 0; i < len(kv); i += 2 {
		p[kv[i].(OpKind)] = kv[i+1].(float64)
	}
	return p
}

// Workloads lists every workload in the order a full run executes them.
func Workloads() []Workload {
	return []Workload{LoadA, WorkloadA, WorkloadB, WorkloadC, WorkloadD, WorkloadE, WorkloadF}
}

// ParseWorkload parses "load-a" (or "load") and "a".."f" (case-insensitive,
// "run-" prefix allowed).
func ParseWorkload(s string) (Workload, error) {
	n := strings.ToLower(strings.TrimSpace(s))
	if n == "load" {
		n = "load-a"
	}
	n = strings.TrimPrefix(n, "run-")
	for _, w := range Workloads() {
		if w.Name == n {
			return w, nil
		}
	}
	return Workload{}, fmt.Errorf("%w: workload %q (want load-a, a, b, c, d, e or f)", ErrConfig, s)
}

// ExpectedNewKeys is YCSB's expectednewkeys: the scrambled zipfian of a run
// phase spans the loaded records plus twice the inserts the phase is
// expected to make, so that new keys are chosen too.
func (w Workload) ExpectedNewKeys(opCount int64) int64 {
	return int64(float64(opCount) * w.Proportion[OpInsert] * 2.0)
}

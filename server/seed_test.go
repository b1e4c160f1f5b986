package server

import (
	"os"
	"strconv"
	"testing"
)

// testSeedValue returns a randomized test's seed: def, fixed so that runs
// repeat, or TALOS_SEED's. It is logged.
func testSeedValue(t testing.TB, def uint64) uint64 {
	s := def
	if v, err := strconv.ParseUint(os.Getenv("TALOS_SEED"), 10, 64); err == nil && v != 0 {
		s = v
	}
	t.Logf("seed %d (TALOS_SEED=N runs another)", s)
	return s
}

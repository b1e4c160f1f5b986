// Package testseed gives randomized tests their seed: a fixed one, so that
// runs repeat, or the one TALOS_SEED names, to run another. The seed is
// logged so that a failure can be repeated.
package testseed

import (
	"os"
	"strconv"
	"testing"
)

// Env is the environment variable that overrides the fixed seeds.
const Env = "TALOS_SEED"

// Seed returns def, or TALOS_SEED's value when it is set to a non-zero
// number, and logs it.
func Seed(t testing.TB, def uint64) uint64 {
	s := def
	if v, err := strconv.ParseUint(os.Getenv(Env), 10, 64); err == nil && v != 0 {
		s = v
	}
	t.Logf("seed %d (%s=N runs another)", s, Env)
	return s
}

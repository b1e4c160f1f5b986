package testseed

import "testing"

func TestSeed(t *testing.T) {
	t.Setenv(Env, "")
	if got := Seed(t, 7); got != 7 {
		t.Fatalf("Seed(7) with %s unset = %d", Env, got)
	}
	t.Setenv(Env, "42")
	if got := Seed(t, 7); got != 42 {
		t.Fatalf("Seed(7) with %s=42 = %d", Env, got)
	}
	t.Setenv(Env, "not-a-number")
	if got := Seed(t, 7); got != 7 {
		t.Fatalf("Seed(7) with %s unparsable = %d", Env, got)
	}
}

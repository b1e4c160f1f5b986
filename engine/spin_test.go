package engine

import "testing"

// TestSpinnerBudget: a poll that receives the token doubles the budget up
// to spinMax; a wait that ends parked halves it down to spinMin; the
// waiter receives the token either way.
func TestSpinnerBudget(t *testing.T) {
	var s spinner
	polls := 0
	var late chan struct{} // when set, the token is sent after the last poll
	s.yield = func() {
		polls++
		if late != nil && polls == int(max(s.budget.Load(), spinMin)) {
			go func(ch chan struct{}) { ch <- struct{}{} }(late)
		}
	}
	ready := func() chan struct{} {
		ch := make(chan struct{}, 1)
		ch <- struct{}{}
		return ch
	}

	// The token is there at the first poll: no yield, the budget doubles.
	for _, want := range []int32{2 * spinMin, 4 * spinMin, 8 * spinMin, spinMax, spinMax} {
		polls = 0
		s.await(ready())
		if polls != 0 || s.budget.Load() != want {
			t.Fatalf("ready token: %d yields, budget %d, want 0 and %d", polls, s.budget.Load(), want)
		}
	}
	// The token comes only after every poll: the waiter parks, the budget
	// halves down to spinMin.
	for _, want := range []int32{spinMax / 2, spinMax / 4, spinMax / 8, spinMin, spinMin} {
		polls = 0
		n := int(max(s.budget.Load(), spinMin))
		late = make(chan struct{}, 1)
		s.await(late)
		if polls != n || s.budget.Load() != want {
			t.Fatalf("late token: %d yields (budget was %d), budget %d, want %d", polls, n, s.budget.Load(), want)
		}
	}
	// A token that arrives during the polls counts as a success.
	late = nil
	ch := make(chan struct{}, 1)
	polls = 0
	s.yield = func() {
		polls++
		if polls == 2 {
			ch <- struct{}{}
		}
	}
	s.await(ch)
	if polls != 2 || s.budget.Load() != 2*spinMin {
		t.Fatalf("token during polls: %d yields, budget %d, want 2 and %d", polls, s.budget.Load(), 2*spinMin)
	}
}

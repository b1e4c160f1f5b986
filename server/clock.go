package server

import "time"

// Clock tells the server the time used for key expiry. Tests move a clock of
// their own instead of sleeping.
type Clock interface {
	Now() time.Time
}

type systemClock struct{}

func (systemClock) Now() time.Time { return time.Now() }

package bench

import "errors"

// Sentinel errors. They are wrapped with detail; match them with errors.Is.
var (
	// ErrConfig reports an invalid configuration or command line.
	ErrConfig = errors.New("bench: invalid configuration")
	// ErrTarget reports a failed operation on a target (the store under test).
	ErrTarget = errors.New("bench: target failed")
	// ErrProc reports an unreadable or malformed /proc file.
	ErrProc = errors.New("bench: bad /proc data")
)

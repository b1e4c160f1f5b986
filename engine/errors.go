package engine

import (
	"errors"

	"github.com/talos-kv/talos/index"
	"github.com/talos-kv/talos/kvsep"
)

// Sentinel errors; returned errors wrap them with detail (errors.Is).
var (
	// ErrNotFound: the key has no value.
	ErrNotFound = errors.New("engine: not found")
	// ErrCorrupt: stored bytes failed a check. Errors from the value log
	// (kvsep.ErrCorrupt) and the index (index.ErrCorrupt) also match it.
	ErrCorrupt = errors.New("engine: corruption")
	// ErrStopped: a write or sync of durable state failed (or the commit
	// hook failed); the engine accepts no more writes. Reopen it.
	ErrStopped = errors.New("engine: stopped after a failure")
	// ErrClosed: the DB is closed.
	ErrClosed = errors.New("engine: closed")
	// ErrReadOnly: a write on a backup (ModeShipIndex, ModeBuildIndex).
	ErrReadOnly = errors.New("engine: read-only (backup)")
	// ErrTooLarge: a batch, key or value exceeds what the value log holds.
	ErrTooLarge = errors.New("engine: too large")
)

// corruptErr is an error that matches ErrCorrupt and wraps cause.
type corruptErr struct{ cause error }

func (e *corruptErr) Error() string { return e.cause.Error() }
func (e *corruptErr) Unwrap() []error {
	return []error{ErrCorrupt, e.cause}
}

// markCorrupt makes value-log and index corruption errors match ErrCorrupt.
func markCorrupt(err error) error {
	if err == nil || errors.Is(err, ErrCorrupt) {
		return err
	}
	if errors.Is(err, kvsep.ErrCorrupt) || errors.Is(err, index.ErrCorrupt) {
		return &corruptErr{cause: err}
	}
	return err
}

package index

import "errors"

// Sentinel errors. Errors returned by the package wrap them with %w and the
// file or detail concerned: match them with errors.Is.
var (
	// ErrCorrupt reports bad bytes in a table or the manifest.
	ErrCorrupt = errors.New("index: corruption")
	// ErrClosed is returned by calls made after Close.
	ErrClosed = errors.New("index: closed")
	// ErrStopped is returned once a write or sync of durable state failed;
	// the index accepts no more work. The cause is wrapped alongside.
	ErrStopped = errors.New("index: stopped after a failure")
)

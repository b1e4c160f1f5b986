package server

import "errors"

// Sentinel errors of the server package.
var (
	// ErrCorrupt: a stored value does not decode (wrapped with detail).
	ErrCorrupt = errors.New("server: corrupt stored value")
	// ErrTooLarge may be wrapped by Store.Write for a batch, key or value
	// the store cannot hold; the client gets an error, nothing is logged.
	ErrTooLarge = errors.New("server: too large for the store")
	// ErrServerClosed is returned by Serve after Shutdown.
	ErrServerClosed = errors.New("server: closed")
)

// Redis error replies used in more than one place.
const (
	errWrongType  = "WRONGTYPE Operation against a key holding the wrong kind of value"
	errSyntax     = "ERR syntax error"
	errNotInteger = "ERR value is not an integer or out of range"
	errOverflow   = "ERR increment or decrement would overflow"
	errNoAuth     = "NOAUTH Authentication required."
	errWrongPass  = "WRONGPASS invalid username-password pair or user is disabled."
)

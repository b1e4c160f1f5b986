package rdma

import (
	"errors"
	"fmt"
	"syscall"
)

// Sentinel errors. Every error returned by this package wraps one of these
// (or a *OpError / *CompletionError that unwraps to one), so callers match
// with errors.Is.
var (
	// ErrNotSupported is returned by the verbs provider in builds without
	// cgo or off Linux, and for requests a provider cannot honour.
	ErrNotSupported = errors.New("rdma: not supported in this build")
	// ErrUnknownProvider is returned by Open for a name it does not know.
	ErrUnknownProvider = errors.New("rdma: unknown provider")
	// ErrClosed is returned by operations on a closed provider, region,
	// listener or connection.
	ErrClosed = errors.New("rdma: closed")
	// ErrConnBroken is returned by Post, PostRecv, Poll and Wait once the
	// connection's queue pair has gone to the error state (a failed
	// completion, a peer that disconnected, a corrupt frame). A broken
	// connection is never reused: close it and dial again.
	ErrConnBroken = errors.New("rdma: connection broken")
	// ErrDisconnected is the cause recorded when the peer went away.
	ErrDisconnected = errors.New("rdma: peer disconnected")
	// ErrTokenRefused is returned on both sides when a dialer presents a
	// cluster token the listener does not accept.
	ErrTokenRefused = errors.New("rdma: cluster token refused")
	// ErrRefused is returned when a listener refuses a connection for a
	// reason other than the token (malformed private data, wrong device).
	ErrRefused = errors.New("rdma: connection refused")
	// ErrQueueFull is returned by Post or PostRecv when the request would
	// exceed the queue depth; reap completions with Poll or Wait first.
	ErrQueueFull = errors.New("rdma: work queue full")
	// ErrInvalidRequest is returned for a work request that is malformed
	// on the local side (no region, out of the local region's bounds,
	// too long, unknown opcode).
	ErrInvalidRequest = errors.New("rdma: invalid work request")
	// ErrBadPrivateData is returned when connection private data does not
	// decode (wrong magic, version, length or checksum).
	ErrBadPrivateData = errors.New("rdma: bad private data")
	// ErrCorruptFrame is the cause recorded when a TCP frame fails its
	// checksum or length checks.
	ErrCorruptFrame = errors.New("rdma: corrupt frame")
	// ErrCompletion is matched by every *CompletionError.
	ErrCompletion = errors.New("rdma: work completion failed")
	// ErrMemlock is returned when RLIMIT_MEMLOCK is too low to register
	// the memory asked for.
	ErrMemlock = errors.New("rdma: RLIMIT_MEMLOCK too low")
	// ErrVerbs is matched by every *OpError from a verbs or rdma_cm call.
	ErrVerbs = errors.New("rdma: verbs call failed")
)

// OpError is a failed verbs or rdma_cm call: which call, on which device,
// with which errno.
type OpError struct {
	Call   string        // the C function, e.g. "ibv_reg_mr"
	Device string        // the RDMA device name, e.g. "rxe0" ("" if none yet)
	Errno  syscall.Errno // errno reported by the call (0 if it gave none)
	Detail string        // extra context (sizes, addresses), may be empty
}

func (e *OpError) Error() string {
	dev := e.Device
	if dev == "" {
		dev = "no device"
	}
	s := fmt.Sprintf("rdma: %s on %s failed: errno %d (%v)", e.Call, dev, int(e.Errno), e.Errno)
	if e.Detail != "" {
		s += ": " + e.Detail
	}
	return s
}

// Unwrap lets errors.Is match ErrVerbs and the errno.
func (e *OpError) Unwrap() []error { return []error{ErrVerbs, e.Errno} }

// CompletionError is a work completion that did not succeed.
type CompletionError struct {
	Device    string
	ID        uint64 // the work request's ID
	Op        Opcode
	Status    Status
	VendorErr uint32
	Cause     error // for the TCP provider, what broke the connection (may be nil)
}

func (e *CompletionError) Error() string {
	s := fmt.Sprintf("rdma: %s work completion (id %d) on %s failed: status %d (%s)",
		e.Op, e.ID, e.Device, int(e.Status), e.Status)
	if e.VendorErr != 0 {
		s += fmt.Sprintf(", vendor error 0x%x", e.VendorErr)
	}
	if e.Cause != nil {
		s += ": " + e.Cause.Error()
	}
	return s
}

// Unwrap lets errors.Is match ErrCompletion and the cause.
func (e *CompletionError) Unwrap() []error {
	if e.Cause != nil {
		return []error{ErrCompletion, e.Cause}
	}
	return []error{ErrCompletion}
}

// RefusedError is returned by Dial on the dialer and by Accept on the
// listener when a connection was refused. It wraps ErrTokenRefused or
// ErrRefused. A Listener stays usable after Accept returns one.
type RefusedError struct {
	Addr   string // the peer's address
	Reason RejectReason
	Side   string // "listener" or "dialer": who reports it
}

func (e *RefusedError) Error() string {
	if e.Side == "listener" {
		return fmt.Sprintf("rdma: refused connection from %s: %s", e.Addr, e.Reason)
	}
	return fmt.Sprintf("rdma: listener %s refused the connection: %s", e.Addr, e.Reason)
}

// Unwrap maps the reason to its sentinel.
func (e *RefusedError) Unwrap() error {
	if e.Reason == RejectToken {
		return ErrTokenRefused
	}
	return ErrRefused
}

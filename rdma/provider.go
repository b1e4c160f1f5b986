package rdma

import (
	"context"
	"fmt"
)

// Provider is one RDMA implementation: "verbs" (libibverbs and librdmacm)
// or "tcp" (the same one-sided semantics over TCP sockets). Code above
// this package holds a Provider and cannot tell which one it has.
//
// A Provider is safe for concurrent use. Close it after every Region,
// Listener and Conn it made has been closed.
type Provider interface {
	// Name is "verbs" or "tcp".
	Name() string
	// Device is the RDMA device in use ("rxe0", "mlx5_0"), or "tcp".
	Device() string
	// RegisterRegion allocates size bytes with mmap (never the Go heap)
	// and registers them for the given access. The region is zeroed.
	RegisterRegion(size int, access Access) (*Region, error)
	// Listen starts accepting connections on addr ("10.9.9.9:7000"; port
	// 0 picks a free one). Every accepted connection is offered the
	// regions in opts.
	Listen(addr string, opts ListenOptions) (Listener, error)
	// Dial connects to a listener, presenting the provider's cluster
	// token and the regions in opts. A refused connection returns a
	// *RefusedError.
	Dial(ctx context.Context, addr string, opts DialOptions) (Conn, error)
	// Close releases the provider. It fails if regions are still open.
	Close() error
}

// ListenOptions configure a Listener. The zero value offers no regions.
type ListenOptions struct {
	// Regions are the descriptors sent to every dialer in the accept's
	// private data; at most MaxAcceptRegions.
	Regions []RemoteRegion
}

// DialOptions configure Dial. The zero value offers no regions.
type DialOptions struct {
	// Regions are the descriptors sent to the listener in the connect
	// request's private data; at most MaxDialRegions.
	Regions []RemoteRegion
}

// Listener accepts connections. Safe for concurrent use.
type Listener interface {
	// Accept waits for the next connection. A dialer with a wrong token
	// (or unreadable private data) is refused and Accept returns a
	// *RefusedError for it; the Listener stays usable. After Close,
	// Accept returns an error wrapping ErrClosed.
	Accept(ctx context.Context) (Conn, error)
	// Addr is the address the listener is bound to, with the real port.
	Addr() string
	Close() error
}

// Conn is a reliable connected queue pair. Post and PostRecv may be
// called concurrently with Poll/Wait; Post calls are serialised
// internally, as are Poll/Wait calls. Completions of work requests posted
// on one Conn are reported in posting order (sends and receives each in
// their own order).
type Conn interface {
	// PeerRegions are the region descriptors the peer sent when the
	// connection was set up.
	PeerRegions() []RemoteRegion
	// Device is the local RDMA device ("tcp" for the TCP provider).
	Device() string
	// LocalAddr and RemoteAddr are the IP addresses with ports.
	LocalAddr() string
	RemoteAddr() string
	// Post posts a chain of work requests in one call. Either all are
	// posted or none is (an error is returned). Only requests with
	// Signaled set produce a successful completion; a failed request
	// always produces one.
	Post(wrs []WorkRequest) error
	// PostRecv posts receive buffers for SEND and WRITE_WITH_IMM.
	PostRecv(rrs []RecvRequest) error
	// Poll copies up to len(cs) completions into cs without blocking.
	// Once the connection is broken and every outstanding request has
	// been reported, it returns an error wrapping ErrConnBroken.
	Poll(cs []Completion) (int, error)
	// Wait is Poll that blocks until at least one completion is ready,
	// the connection is broken with nothing left to report, or ctx ends.
	Wait(ctx context.Context, cs []Completion) (int, error)
	// Err is nil while the connection is usable, and the reason it broke
	// (wrapping ErrConnBroken) after.
	Err() error
	// Close disconnects and releases the connection. Idempotent.
	Close() error
}

// Open returns the provider with the given name ("tcp" or "verbs").
func Open(name string, opts Options) (Provider, error) {
	opts.EnsureDefaults()
	if err := opts.Validate(); err != nil {
		return nil, err
	}
	switch name {
	case "tcp":
		return newTCPProvider(opts)
	case "verbs":
		return newVerbsProvider(opts)
	default:
		return nil, fmt.Errorf("%w: %q (want \"tcp\" or \"verbs\")", ErrUnknownProvider, name)
	}
}

package rdma

import (
	"errors"
	"fmt"
	"time"
)

// Options configure a Provider. The zero value is usable except for
// ClusterToken, which every member of a cluster must share.
type Options struct {
	// Device is the RDMA device the verbs provider opens ("rxe0"). Zero
	// means the first device librdmacm reports. The TCP provider ignores it.
	Device string
	// ClusterToken identifies the cluster. A listener refuses dialers
	// whose token differs. Zero is a valid token, but every process of a
	// cluster must use the same one.
	ClusterToken uint64
	// SendQueueDepth is the most work requests outstanding on one
	// connection (posted, completion not yet polled). Zero means 256.
	SendQueueDepth int
	// RecvQueueDepth is the most receives posted on one connection. Zero
	// means 256.
	RecvQueueDepth int
	// SignalInterval: the provider asks the device for a completion at
	// least every SignalInterval work requests, to recycle send-queue
	// slots, even when the caller did not set Signaled; such completions
	// are consumed inside the provider. Zero means SendQueueDepth/4.
	SignalInterval int
	// MaxInline is the largest payload sent inline (copied into the work
	// request at post time). Zero means 64; negative disables inline.
	MaxInline int
	// SpinPoll is how long the verbs provider's Wait keeps polling the
	// completion queue before it arms it and sleeps on the completion
	// channel: a sleep costs an interrupt and a wake-up, far more than a
	// small write takes. Zero means 50µs; negative never spins. The TCP
	// provider ignores it.
	SpinPoll time.Duration
	// HandshakeTimeout bounds connection set-up steps (address and route
	// resolution, the TCP hello). Zero means 10s.
	HandshakeTimeout time.Duration
}

// EnsureDefaults fills zero fields with their defaults.
func (o *Options) EnsureDefaults() {
	if o.SendQueueDepth == 0 {
		o.SendQueueDepth = 256
	}
	if o.RecvQueueDepth == 0 {
		o.RecvQueueDepth = 256
	}
	if o.SignalInterval == 0 {
		o.SignalInterval = max(o.SendQueueDepth/4, 1)
	}
	if o.MaxInline == 0 {
		o.MaxInline = 64
	}
	if o.MaxInline < 0 {
		o.MaxInline = 0
	}
	if o.HandshakeTimeout == 0 {
		o.HandshakeTimeout = 10 * time.Second
	}
	if o.SpinPoll == 0 {
		o.SpinPoll = 50 * time.Microsecond
	}
	if o.SpinPoll < 0 {
		o.SpinPoll = 0
	}
}

// Validate reports every conflict in o (after EnsureDefaults).
func (o *Options) Validate() error {
	var errs []error
	if o.SendQueueDepth < 1 || o.SendQueueDepth > 1<<15 {
		errs = append(errs, fmt.Errorf("rdma: SendQueueDepth %d outside [1, 32768]", o.SendQueueDepth))
	}
	if o.RecvQueueDepth < 1 || o.RecvQueueDepth > 1<<15 {
		errs = append(errs, fmt.Errorf("rdma: RecvQueueDepth %d outside [1, 32768]", o.RecvQueueDepth))
	}
	if o.SignalInterval < 1 || o.SignalInterval > o.SendQueueDepth {
		errs = append(errs, fmt.Errorf("rdma: SignalInterval %d outside [1, SendQueueDepth=%d]", o.SignalInterval, o.SendQueueDepth))
	}
	if o.MaxInline > 1024 {
		errs = append(errs, fmt.Errorf("rdma: MaxInline %d above 1024", o.MaxInline))
	}
	if o.HandshakeTimeout < 0 {
		errs = append(errs, fmt.Errorf("rdma: HandshakeTimeout %v is negative", o.HandshakeTimeout))
	}
	return errors.Join(errs...)
}

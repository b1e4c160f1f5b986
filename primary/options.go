package primary

import (
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/talos-kv/talos/rdma"
	"github.com/talos-kv/talos/replication"
)

// Options configure a primary Node. Zero values mean the defaults given.
type Options struct {
	// Listen is the replication address backups dial (host:port; port 0
	// picks one). Required.
	Listen string
	// Provider is the transport. Required; the caller closes it after the
	// Node.
	Provider rdma.Provider
	// Epoch of this primary. Zero: one more than the epoch recorded in the
	// store directory (1 for a new store).
	Epoch uint64
	// Mode: zero is replication.ModeShipIndex. In ModeBuildIndex no live
	// table or edit is shipped (backups build their own index from the
	// value log); a joining backup still receives a snapshot as its base.
	Mode replication.Mode
	// Ack: zero is replication.AckMemory.
	Ack replication.Ack
	// MinReplicas is how many backups must hold every acknowledged write.
	// Zero allows writes with no backup.
	MinReplicas int
	// Tick is the heartbeat period. Zero: 100ms.
	Tick time.Duration
	// HeartbeatTimeout is how long a backup may stay silent before it is
	// dropped. Zero: 3s. Must be at least two ticks.
	HeartbeatTimeout time.Duration
	// ReplicaWait is how long a commit that lost its replicas (fewer than
	// MinReplicas backups held it when the others dropped) waits for
	// backups to rejoin and catch up before it fails, which stops the
	// engine. Zero: 10s. Negative: fail at once.
	ReplicaWait time.Duration
	// ChunkBuffers is the number of registered chunk buffers table and edit
	// bytes are staged in. Zero: 32.
	ChunkBuffers int
	// CatchUpBuffers is the number of further chunk buffers reserved for
	// copying snapshots to joining backups, so that a catch-up never
	// waits for buffers held by live objects queued behind it. Zero: 8.
	CatchUpBuffers int
	// ChunkSize is the size of one chunk, header included; backups must
	// have chunk slots at least this large. Zero: 256 KiB.
	ChunkSize int
	// Logger receives replica-set changes. Zero: discard.
	Logger *slog.Logger
}

// ErrInvalidOptions is wrapped by every error Validate returns.
var ErrInvalidOptions = errors.New("primary: invalid options")

// EnsureDefaults fills zero fields.
func (o *Options) EnsureDefaults() {
	if o.Mode == 0 {
		o.Mode = replication.ModeShipIndex
	}
	if o.Ack == 0 {
		o.Ack = replication.AckMemory
	}
	if o.Tick == 0 {
		o.Tick = 100 * time.Millisecond
	}
	if o.HeartbeatTimeout == 0 {
		o.HeartbeatTimeout = 3 * time.Second
	}
	if o.ReplicaWait == 0 {
		o.ReplicaWait = 10 * time.Second
	}
	if o.ChunkBuffers == 0 {
		o.ChunkBuffers = 32
	}
	if o.ChunkSize == 0 {
		o.ChunkSize = 256 << 10
	}
	if o.CatchUpBuffers == 0 {
		o.CatchUpBuffers = 8
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
}

// Validate reports every problem with o (after EnsureDefaults).
func (o *Options) Validate() error {
	var errs []error
	if o.Listen == "" {
		errs = append(errs, fmt.Errorf("%w: Listen (the replication address) is required", ErrInvalidOptions))
	}
	if o.Provider == nil {
		errs = append(errs, fmt.Errorf("%w: Provider is required", ErrInvalidOptions))
	}
	if o.Mode != replication.ModeShipIndex && o.Mode != replication.ModeBuildIndex {
		errs = append(errs, fmt.Errorf("%w: unknown mode %s", ErrInvalidOptions, o.Mode))
	}
	if o.MinReplicas < 0 {
		errs = append(errs, fmt.Errorf("%w: MinReplicas %d is negative", ErrInvalidOptions, o.MinReplicas))
	}
	if o.Tick <= 0 {
		errs = append(errs, fmt.Errorf("%w: Tick %v must be positive", ErrInvalidOptions, o.Tick))
	}
	if o.HeartbeatTimeout < 2*o.Tick {
		errs = append(errs, fmt.Errorf("%w: HeartbeatTimeout %v must be at least two ticks (%v)", ErrInvalidOptions, o.HeartbeatTimeout, 2*o.Tick))
	}
	if o.ChunkBuffers < 1 {
		errs = append(errs, fmt.Errorf("%w: ChunkBuffers %d, want >= 1", ErrInvalidOptions, o.ChunkBuffers))
	}
	if o.CatchUpBuffers < 1 {
		errs = append(errs, fmt.Errorf("%w: CatchUpBuffers %d, want >= 1", ErrInvalidOptions, o.CatchUpBuffers))
	}
	if o.ChunkSize <= replication.ChunkHeaderSize || o.ChunkSize > 64<<20 {
		errs = append(errs, fmt.Errorf("%w: ChunkSize %d, want %d..%d", ErrInvalidOptions, o.ChunkSize, replication.ChunkHeaderSize+1, 64<<20))
	}
	return errors.Join(errs...)
}

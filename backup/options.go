package backup

import (
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/talos-kv/talos/rdma"
	"github.com/talos-kv/talos/replication"
)

// Options configure a backup Node. Zero values mean the defaults given.
type Options struct {
	// ID names this backup in its primary's replica set. Required.
	ID string
	// Primary is the primary's replication address (host:port). Required.
	Primary string
	// Provider is the transport (rdma.Open("tcp"|"verbs", ...)). Required;
	// the caller closes it after the Node.
	Provider rdma.Provider
	// Mode: zero is replication.ModeShipIndex. In ModeBuildIndex the
	// engine runs as engine.ModeBuildIndex: it replays each sealed segment
	// into its own memtable and flushes and compacts on its own; it
	// catches up from the primary's snapshot, then builds on it.
	Mode replication.Mode
	// VlogSlots is the number of segment buffers in the value-log ring.
	// Zero: 4.
	VlogSlots int
	// ChunkSlots is the number of slots in the chunk ring. Zero: 16.
	ChunkSlots int
	// ChunkSize is the size of one chunk slot, header included. Zero:
	// 256 KiB.
	ChunkSize int
	// DialTimeout bounds connecting to the primary. Zero: 10s.
	DialTimeout time.Duration
	// Logger receives connection events. Zero: discard.
	Logger *slog.Logger
}

// ErrInvalidOptions is wrapped by every error Validate returns.
var ErrInvalidOptions = errors.New("backup: invalid options")

// EnsureDefaults fills zero fields.
func (o *Options) EnsureDefaults() {
	if o.Mode == 0 {
		o.Mode = replication.ModeShipIndex
	}
	if o.VlogSlots == 0 {
		o.VlogSlots = 4
	}
	if o.ChunkSlots == 0 {
		o.ChunkSlots = 16
	}
	if o.ChunkSize == 0 {
		o.ChunkSize = 256 << 10
	}
	if o.DialTimeout == 0 {
		o.DialTimeout = 10 * time.Second
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
}

// Validate reports every problem with o (after EnsureDefaults).
func (o *Options) Validate() error {
	var errs []error
	if o.ID == "" {
		errs = append(errs, fmt.Errorf("%w: ID is required", ErrInvalidOptions))
	}
	if o.Primary == "" {
		errs = append(errs, fmt.Errorf("%w: Primary (the primary's replication address) is required", ErrInvalidOptions))
	}
	if o.Provider == nil {
		errs = append(errs, fmt.Errorf("%w: Provider is required", ErrInvalidOptions))
	}
	if o.Mode != replication.ModeShipIndex && o.Mode != replication.ModeBuildIndex {
		errs = append(errs, fmt.Errorf("%w: unknown mode %s", ErrInvalidOptions, o.Mode))
	}
	if o.DialTimeout < 0 {
		errs = append(errs, fmt.Errorf("%w: DialTimeout %v is negative", ErrInvalidOptions, o.DialTimeout))
	}
	return errors.Join(errs...)
}

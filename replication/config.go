package replication

import (
	"errors"
	"fmt"
)

// Mode is how backups maintain their index.
type Mode uint8

// Replication modes.
const (
	// ModeShipIndex: the primary streams every table it writes and every
	// version edit; backups install them and never compact (the default).
	ModeShipIndex Mode = 1
	// ModeBuildIndex: backups replay value-log segments into their own
	// engine and flush and compact on their own (the baseline).
	ModeBuildIndex Mode = 2
)

func (m Mode) String() string {
	switch m {
	case ModeShipIndex:
		return "ship-index"
	case ModeBuildIndex:
		return "build-index"
	}
	return fmt.Sprintf("Mode(%d)", uint8(m))
}

// ParseMode parses "ship-index" or "build-index".
func ParseMode(s string) (Mode, error) {
	switch s {
	case "ship-index":
		return ModeShipIndex, nil
	case "build-index":
		return ModeBuildIndex, nil
	}
	return 0, fmt.Errorf("replication: unknown mode %q (want ship-index or build-index)", s)
}

// Ack is when a write counts as held by a backup.
type Ack uint8

// Acknowledgement levels.
const (
	// AckMemory: the RDMA WRITE of the write's bytes completed, so they are
	// in the backup's memory (the default, as in the research systems).
	AckMemory Ack = 1
	// AckDisk: the backup wrote and synced them and said so.
	AckDisk Ack = 2
)

func (a Ack) String() string {
	switch a {
	case AckMemory:
		return "memory"
	case AckDisk:
		return "disk"
	}
	return fmt.Sprintf("Ack(%d)", uint8(a))
}

// ParseAck parses "memory" or "disk".
func ParseAck(s string) (Ack, error) {
	switch s {
	case "memory":
		return AckMemory, nil
	case "disk":
		return AckDisk, nil
	}
	return 0, fmt.Errorf("replication: unknown ack level %q (want memory or disk)", s)
}

// PrimaryConfig configures a Primary. Zero values mean the defaults given.
type PrimaryConfig struct {
	// Epoch of this primary; must be at least 1.
	Epoch uint64
	// SegmentSize is the value log's segment size; a backup's vlog slots
	// must be this size. Required.
	SegmentSize uint64
	// Mode: zero means ModeShipIndex.
	Mode Mode
	// Ack: zero means AckMemory.
	Ack Ack
	// MinReplicas is how many backups must hold a write before it is
	// acknowledged. Zero allows a primary with no backups.
	MinReplicas int
	// HeartbeatInterval is the number of ticks between heartbeats; zero: 1.
	HeartbeatInterval int
	// HeartbeatTimeout is the number of ticks without a HeartbeatAck after
	// which a backup is dropped; zero: 10. It must exceed the interval.
	HeartbeatTimeout int
}

// EnsureDefaults fills zero fields with defaults.
func (c *PrimaryConfig) EnsureDefaults() {
	if c.Mode == 0 {
		c.Mode = ModeShipIndex
	}
	if c.Ack == 0 {
		c.Ack = AckMemory
	}
	if c.HeartbeatInterval == 0 {
		c.HeartbeatInterval = 1
	}
	if c.HeartbeatTimeout == 0 {
		c.HeartbeatTimeout = 10
	}
}

// Validate reports every conflict in c (after EnsureDefaults).
func (c *PrimaryConfig) Validate() error {
	var errs []error
	if c.Epoch == 0 {
		errs = append(errs, errors.New("replication: epoch must be at least 1"))
	}
	if c.SegmentSize == 0 {
		errs = append(errs, errors.New("replication: segment size is required"))
	}
	if c.Mode != ModeShipIndex && c.Mode != ModeBuildIndex {
		errs = append(errs, fmt.Errorf("replication: unknown mode %d", c.Mode))
	}
	if c.Ack != AckMemory && c.Ack != AckDisk {
		errs = append(errs, fmt.Errorf("replication: unknown ack level %d", c.Ack))
	}
	if c.MinReplicas < 0 {
		errs = append(errs, fmt.Errorf("replication: min replicas %d is negative", c.MinReplicas))
	}
	if c.HeartbeatInterval < 1 {
		errs = append(errs, fmt.Errorf("replication: heartbeat interval %d ticks, want >= 1", c.HeartbeatInterval))
	}
	if c.HeartbeatTimeout <= c.HeartbeatInterval {
		errs = append(errs, fmt.Errorf("replication: heartbeat timeout %d ticks must exceed the interval %d",
			c.HeartbeatTimeout, c.HeartbeatInterval))
	}
	return errors.Join(errs...)
}

// Geometry is a backup's receive rings, announced in its Hello.
type Geometry struct {
	SegmentSize int // bytes per vlog slot: the value log's segment size
	VlogSlots   int // segment buffers in the value-log ring
	ChunkSlots  int // slots in the chunk ring
	ChunkSize   int // bytes per chunk slot, header included
}

// Validate checks that g can carry the protocol.
func (g Geometry) Validate() error {
	var errs []error
	if g.SegmentSize < 4096 || g.SegmentSize&(g.SegmentSize-1) != 0 {
		errs = append(errs, fmt.Errorf("replication: segment size %d, want a power of two >= 4096", g.SegmentSize))
	}
	if g.VlogSlots < 1 || g.VlogSlots > 1<<16 {
		errs = append(errs, fmt.Errorf("replication: %d value-log slots, want 1..65536", g.VlogSlots))
	}
	if g.ChunkSlots < 1 || g.ChunkSlots > 1<<16 {
		errs = append(errs, fmt.Errorf("replication: %d chunk slots, want 1..65536", g.ChunkSlots))
	}
	if g.ChunkSize <= ChunkHeaderSize || g.ChunkSize > 1<<30 {
		errs = append(errs, fmt.Errorf("replication: chunk size %d, want %d..%d", g.ChunkSize, ChunkHeaderSize+1, 1<<30))
	}
	return errors.Join(errs...)
}

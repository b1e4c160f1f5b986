package kvsep

import (
	"errors"
	"fmt"
	"log/slog"
	"os"

	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/talos-kv/talos/internal/iostat"
)

// DefaultSegmentSize is the segment size the research systems use.
const DefaultSegmentSize = 2 << 20

// MaxSegmentSize bounds SegmentSize so that offsets fit a Pointer's u32.
const MaxSegmentSize = 1 << 30

// Options configures a Log. The zero value is valid: every zero field means
// its default.
type Options struct {
	// FS is the file system for segment files. Zero: vfs.Default.
	FS vfs.FS
	// Counters receives the log's I/O: writes under iostat.Vlog (iostat.GC for
	// frames appended by GC), reads under the kind of the read's context
	// (default iostat.Vlog). Zero: a private Counters.
	Counters *iostat.Counters
	// SegmentSize is the size of every segment: a power of two, a multiple of
	// the OS page size, at most MaxSegmentSize. Zero: DefaultSegmentSize.
	SegmentSize int64
	// Buffers is the number of mmap'd segment buffers, used round-robin:
	// segment n uses buffer n % Buffers. Zero: 4. At least 2.
	Buffers int
	// LazyWrite, if positive, lets appended bytes wait in the mmap'd buffer
	// until this many are pending; Sync, a seal and Close write them. Until
	// then a process crash loses them (a machine crash loses whatever was
	// not synced either way). Zero: every Append writes to the file.
	LazyWrite int
	// Listener receives the log's events. Zero: no events.
	Listener Listener
	// Logger receives informational messages. Zero: discard.
	Logger *slog.Logger
}

// Listener receives value-log events. Callbacks run synchronously on the
// appending goroutine, in log order; a slow callback slows appends.
type Listener struct {
	// SegmentSealed is called after segment num is padded, written whole and
	// synced. buf is its full image (SegmentSize bytes), valid only during the
	// call. It is called before any byte of segment num+1 is written.
	SegmentSealed func(num uint64, buf []byte)
}

// EnsureDefaults fills zero fields with their defaults.
func (o *Options) EnsureDefaults() {
	if o.FS == nil {
		o.FS = vfs.Default
	}
	if o.Counters == nil {
		o.Counters = new(iostat.Counters)
	}
	if o.SegmentSize == 0 {
		o.SegmentSize = DefaultSegmentSize
	}
	if o.Buffers == 0 {
		o.Buffers = 4
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
}

// ErrInvalidOptions is wrapped by every error Validate returns.
var ErrInvalidOptions = errors.New("kvsep: invalid options")

// Validate reports every conflict in o (after EnsureDefaults), joined.
func (o *Options) Validate() error {
	var errs []error
	bad := func(format string, args ...any) {
		errs = append(errs, fmt.Errorf("%w: "+format, append([]any{ErrInvalidOptions}, args...)...))
	}
	s := o.SegmentSize
	page := int64(os.Getpagesize())
	switch {
	case s <= 0 || s&(s-1) != 0:
		bad("SegmentSize %d is not a power of two", s)
	case s%page != 0:
		bad("SegmentSize %d is not a multiple of the page size %d", s, page)
	case s > MaxSegmentSize:
		bad("SegmentSize %d exceeds %d", s, MaxSegmentSize)
	}
	if o.LazyWrite < 0 || int64(o.LazyWrite) > s {
		bad("LazyWrite %d not in 0..SegmentSize", o.LazyWrite)
	}
	if o.Buffers < 2 {
		bad("Buffers %d is less than 2", o.Buffers)
	}
	return errors.Join(errs...)
}

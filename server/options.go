package server

import (
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/talos-kv/talos/server/resp"
)

// Options configures a Server. The zero value of every field means its
// default.
type Options struct {
	// Password is the requirepass: when set, clients must AUTH (or HELLO
	// with AUTH) before any other command. Zero: no authentication.
	Password string
	// Limits bounds each request (arguments, bulk and request bytes, inline
	// line length). Zero fields: the resp package defaults.
	Limits resp.Limits
	// MaxClients is the most connections served at once; further ones get
	// "-ERR max number of clients reached" and are closed. Zero: 10000.
	MaxClients int
	// IdleTimeout closes a connection idle this long. Zero: never.
	IdleTimeout time.Duration
	// MaxRangeResults is the most pairs TALOS.RANGE returns without LIMIT,
	// and the largest LIMIT accepted. Zero: 100000.
	MaxRangeResults int
	// MaxScanCursors is how many SCAN cursors are remembered; the oldest
	// is forgotten first. Zero: 16384.
	MaxScanCursors int
	// Clock gives the time for expiry. Zero: the system clock.
	Clock Clock
	// Logger receives connection-level events. Zero: discard.
	Logger *slog.Logger
	// Registerer receives the server's Prometheus metrics. Zero: a private
	// registry (metrics are kept but not exported).
	Registerer prometheus.Registerer
	// Version is reported by INFO and HELLO as talos_version. Zero: "dev".
	Version string
	// Persistence, if set, is called by INFO persistence for extra
	// "name:value" lines (e.g. engine state). Zero: none.
	Persistence func() []string
	// Replication, if set, is called by INFO replication for extra
	// "name:value" lines (replica set, epoch, transport). Zero: none.
	Replication func() []string
	// Promote, if set, makes this node (a backup) the primary; TALOS.PROMOTE
	// calls it and answers +OK when it returns nil. Zero: TALOS.PROMOTE is
	// refused ("this node cannot be promoted").
	Promote func() error
}

// EnsureDefaults fills zero fields with defaults.
func (o *Options) EnsureDefaults() {
	o.Limits.EnsureDefaults()
	if o.MaxClients == 0 {
		o.MaxClients = 10000
	}
	if o.MaxRangeResults == 0 {
		o.MaxRangeResults = 100000
	}
	if o.MaxScanCursors == 0 {
		o.MaxScanCursors = 16384
	}
	if o.Clock == nil {
		o.Clock = systemClock{}
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Registerer == nil {
		o.Registerer = prometheus.NewRegistry()
	}
	if o.Version == "" {
		o.Version = "dev"
	}
}

// Validate reports every invalid field.
func (o *Options) Validate() error {
	var errs []error
	if err := o.Limits.Validate(); err != nil {
		errs = append(errs, err)
	}
	if o.MaxClients < 1 {
		errs = append(errs, fmt.Errorf("server: MaxClients %d: must be at least 1", o.MaxClients))
	}
	if o.IdleTimeout < 0 {
		errs = append(errs, fmt.Errorf("server: IdleTimeout %v: must not be negative", o.IdleTimeout))
	}
	if o.MaxRangeResults < 1 {
		errs = append(errs, fmt.Errorf("server: MaxRangeResults %d: must be at least 1", o.MaxRangeResults))
	}
	if o.MaxScanCursors < 1 {
		errs = append(errs, fmt.Errorf("server: MaxScanCursors %d: must be at least 1", o.MaxScanCursors))
	}
	return errors.Join(errs...)
}

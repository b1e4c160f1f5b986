package bench

import (
	"fmt"
	"slices"
	"sort"
	"sync"
)

// TargetOptions are what a sweep asks of one target instance.
type TargetOptions struct {
	// GrowthFactor is the LSM level size ratio.
	GrowthFactor int
	// Mode is one of the spec's Modes.
	Mode string
	// Replicas is one of the spec's Replicas (backups besides the primary).
	Replicas int
	// Sync asks for every write to be synced before it is acknowledged.
	Sync bool
	// Threads is the number of runner threads (a client target sizes its
	// connection pool to it).
	Threads int
	// Small asks a talosd cluster for small memtables and value-log
	// segments, so that flushes and compactions happen within a short run.
	Small bool
	// ValueThreshold is a talosd cluster's --value-threshold; empty: its
	// default.
	ValueThreshold string
	// MemtableSize and SegmentSize are a talosd cluster's --memtable-size
	// and --segment-size (e.g. "1MiB"); each wins over Small. Empty: Small's
	// or talosd's default.
	MemtableSize, SegmentSize string
	// Talosd is the talosd binary, for targets with UsesTalosd.
	Talosd string
	// NodeProfilePrefix, if set, asks every talosd node for a Go CPU
	// profile of its life, written to NodeProfilePrefix + node + ".pprof".
	NodeProfilePrefix string
}

// TargetSpec describes a kind of target the sweep can open.
type TargetSpec struct {
	// Name is how --targets names it.
	Name string
	// Summary is one line for --help.
	Summary string
	// Modes and Replicas list what the target can run; a sweep runs the
	// intersection with what it was asked for. Single stores: {"single"},{0}.
	Modes    []string
	Replicas []int
	// Transport names how operations reach the target ("in-process", "tcp", "rdma").
	Transport string
	// Baseline marks a target that is not a store (null): it runs only when
	// named and is left out of comparisons.
	Baseline bool
	// UsesTalosd marks targets that run talosd processes: the sweep
	// resolves TargetOptions.Talosd for them (building talosd once when
	// Config.Talosd is empty).
	UsesTalosd bool
	// Unavailable, if set, says why the target cannot run in a mode here
	// ("" when it can); the sweep skips such runs and reports the reason.
	Unavailable func(o TargetOptions) (reason string, err error)
	// Open creates a fresh target whose files live under dir (an empty
	// directory the sweep owns and removes afterwards).
	Open func(dir string, o TargetOptions) (Target, error)
}

var registry struct {
	sync.Mutex
	specs map[string]TargetSpec
}

// RegisterTarget makes a target kind available to sweeps and --targets.
// talosd registers its cluster targets here; bench registers Pebble,
// Badger and the engine. It panics on a duplicate name.
func RegisterTarget(s TargetSpec) {
	registry.Lock()
	defer registry.Unlock()
	if registry.specs == nil {
		registry.specs = map[string]TargetSpec{}
	}
	if _, dup := registry.specs[s.Name]; dup {
		panic("bench: target registered twice: " + s.Name)
	}
	registry.specs[s.Name] = s
}

// LookupTarget returns the spec registered under name.
func LookupTarget(name string) (TargetSpec, error) {
	registry.Lock()
	defer registry.Unlock()
	s, ok := registry.specs[name]
	if !ok {
		return TargetSpec{}, fmt.Errorf("%w: unknown target %q (have %v)", ErrConfig, name, targetNamesLocked())
	}
	return s, nil
}

// DefaultTargets returns the names of every registered target that is not
// a baseline, by name.
func DefaultTargets() []string {
	var names []string
	for _, s := range Targets() {
		if !s.Baseline {
			names = append(names, s.Name)
		}
	}
	return names
}

// Targets returns every registered spec, by name.
func Targets() []TargetSpec {
	registry.Lock()
	defer registry.Unlock()
	var out []TargetSpec
	for _, n := range targetNamesLocked() {
		out = append(out, registry.specs[n])
	}
	return out
}

func targetNamesLocked() []string {
	var names []string
	for n := range registry.specs {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

func singleStore(name, summary string, open func(dir string, o PeerOptions) (Target, error)) TargetSpec {
	return TargetSpec{
		Name: name, Summary: summary, Modes: []string{ModeSingle}, Replicas: []int{0}, Transport: "in-process",
		Open: func(dir string, o TargetOptions) (Target, error) {
			return open(dir, PeerOptions{GrowthFactor: o.GrowthFactor, Sync: o.Sync})
		},
	}
}

// ModeSingle is the mode of a single store without replication.
const ModeSingle = "single"

func init() {
	RegisterTarget(singleStore("pebble", "Pebble v2, default options, in-process",
		func(dir string, o PeerOptions) (Target, error) { return OpenPebble(dir, o) }))
	RegisterTarget(singleStore("badger", "Badger v4, default options, in-process",
		func(dir string, o PeerOptions) (Target, error) { return OpenBadger(dir, o) }))
}

// intersect returns the items of have that want lists, or have when want is empty.
func intersect[T comparable](have, want []T) []T {
	if len(want) == 0 {
		return have
	}
	var out []T
	for _, h := range have {
		if slices.Contains(want, h) {
			out = append(out, h)
		}
	}
	return out
}

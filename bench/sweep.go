package bench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime/debug"
	"slices"
	"strings"
	"time"
)

// Config is one invocation of the harness: every combination of target,
// growth factor, mix, mode and replica count is one run, and each run
// executes Workloads in order on a fresh store.
type Config struct {
	// Targets names registered targets. Zero: DefaultTargets().
	Targets []string
	// Workloads run in order; if any run phase is listed, the first must
	// be the load phase. Zero: load-a, a.
	Workloads []Workload
	// Distribution, if set, replaces every run phase's request distribution.
	Distribution *Distribution
	// Mixes to sweep. Zero: MD.
	Mixes []Mix
	// GrowthFactors to sweep. Zero: 10.
	GrowthFactors []int
	// Modes and Replicas to sweep, for targets that support them. Zero:
	// whatever each target supports.
	Modes    []string
	Replicas []int
	// RecordCount is the number of records the load phase inserts. Zero: 100000.
	RecordCount int64
	// OperationCount is the number of operations of each run phase. Zero: 100000.
	OperationCount int64
	// Threads issuing operations. Zero: 2.
	Threads int
	// Seed of every generator. Zero is a valid seed (the default).
	Seed uint64
	// Dir is where run directories are created. Zero: a new directory
	// under os.TempDir(), removed at the end.
	Dir string
	// Keep leaves each run's store files in place.
	Keep bool
	// Settle waits for flushes and compactions at the end of each phase
	// (inside its measurement, outside its duration).
	Settle bool
	// Sync makes every write synced.
	Sync bool
	// Small runs talosd clusters with small memtables and value-log
	// segments (the --quick profile), so short runs flush and compact.
	Small bool
	// ValueThreshold is talosd clusters' --value-threshold (values shorter
	// than it live inline in the index); empty: talosd's default (512B).
	ValueThreshold string
	// MemtableSize and SegmentSize are talosd clusters' --memtable-size and
	// --segment-size; each wins over Small. Empty: Small's or talosd's.
	MemtableSize, SegmentSize string
	// Talosd is the talosd binary for cluster targets. Zero: built from
	// the module the current directory is in, once per sweep.
	Talosd string
	// NodeProfiles, if set, is a directory (created if missing; Sweep
	// makes the path absolute) where every talosd node of every run
	// writes a Go CPU profile of its life, named after the run and the
	// node (run-001-talosd-ship-index-md-r1-gf10-backup-1.pprof).
	NodeProfiles string
	// Progress receives progress lines; nil: none.
	Progress io.Writer
	// OnRecord, if set, is called with each phase's records as they are made.
	OnRecord func([]Record)
}

// EnsureDefaults fills zero fields with their defaults.
func (c *Config) EnsureDefaults() {
	if len(c.Targets) == 0 {
		c.Targets = DefaultTargets()
	}
	if len(c.Workloads) == 0 {
		c.Workloads = []Workload{LoadA, WorkloadA}
	}
	if len(c.Mixes) == 0 {
		c.Mixes = []Mix{MixMD}
	}
	if len(c.GrowthFactors) == 0 {
		c.GrowthFactors = []int{10}
	}
	if c.RecordCount == 0 {
		c.RecordCount = 100000
	}
	if c.OperationCount == 0 {
		c.OperationCount = 100000
	}
	if c.Threads == 0 {
		c.Threads = 2
	}
}

// Validate reports every problem with the configuration, joined.
func (c *Config) Validate() error {
	var errs []error
	bad := func(format string, args ...any) {
		errs = append(errs, fmt.Errorf("%w: "+format, append([]any{ErrConfig}, args...)...))
	}
	for _, t := range c.Targets {
		if _, err := LookupTarget(t); err != nil {
			errs = append(errs, err)
		}
	}
	hasRun := false
	for i, w := range c.Workloads {
		if w.Load && i != 0 {
			bad("the load phase must come first, found at position %d", i+1)
		}
		hasRun = hasRun || !w.Load
	}
	if hasRun && len(c.Workloads) > 0 && !c.Workloads[0].Load {
		bad("run phases need the load phase first (add load-a)")
	}
	for _, gf := range c.GrowthFactors {
		if gf < 2 {
			bad("growth factor %d, want at least 2", gf)
		}
	}
	if c.RecordCount < 1 {
		bad("record count %d, want at least 1", c.RecordCount)
	}
	if c.OperationCount < 1 {
		bad("operation count %d, want at least 1", c.OperationCount)
	}
	if c.Threads < 1 {
		bad("threads %d, want at least 1", c.Threads)
	}
	for _, r := range c.Replicas {
		if r < 0 {
			bad("replica count %d, want at least 0", r)
		}
	}
	return errors.Join(errs...)
}

// runPlan is one run of a sweep.
type runPlan struct {
	spec     TargetSpec
	gf       int
	mix      Mix
	mode     string
	replicas int
}

// plan lists the runs. Modes and Replicas filter the targets that
// replicate; a single store among them runs in its own mode, and is
// filtered only when no target of the sweep replicates.
func (c *Config) plan() ([]runPlan, error) {
	var plans []runPlan
	replicated := slices.ContainsFunc(c.Targets, replicates)
	for _, name := range c.Targets {
		spec, err := LookupTarget(name)
		if err != nil {
			return nil, err
		}
		modes := intersect(spec.Modes, c.Modes)
		reps := intersect(spec.Replicas, c.Replicas)
		if replicated && slices.Equal(spec.Modes, []string{ModeSingle}) {
			modes, reps = spec.Modes, spec.Replicas
		}
		if len(modes) == 0 || len(reps) == 0 {
			return nil, fmt.Errorf("%w: target %s runs modes %v with replicas %v; asked for %v and %v",
				ErrConfig, name, spec.Modes, spec.Replicas, c.Modes, c.Replicas)
		}
		for _, gf := range c.GrowthFactors {
			for _, mix := range c.Mixes {
				for mi, mode := range modes {
					for _, r := range reps {
						if r == 0 && mi > 0 {
							continue // without backups the modes are the same store: run it once
						}
						plans = append(plans, runPlan{spec: spec, gf: gf, mix: mix, mode: mode, replicas: r})
					}
				}
			}
		}
	}
	return plans, nil
}

// Result is what a sweep produced.
type Result struct {
	Config    *Config   `json:"-"`
	Machine   Machine   `json:"machine"`
	Started   time.Time `json:"started"`
	Finished  time.Time `json:"finished"`
	Records   []Record  `json:"records"`
	Cancelled bool      `json:"cancelled"`
	// Skipped says which runs were left out and why (a mode the target
	// cannot run here), one line each.
	Skipped []string `json:"skipped,omitempty"`
}

// Sweep runs every combination the configuration names. Cancelling ctx
// stops the phase in progress cleanly; what was measured until then is in
// the result (records marked interrupted), and later runs are skipped.
// An error from a target stops that run (its records carry the error) and
// the sweep goes on with the next; Sweep's error reports configuration and
// measurement failures.
func Sweep(ctx context.Context, c *Config) (*Result, error) {
	c.EnsureDefaults()
	if err := c.Validate(); err != nil {
		return nil, err
	}
	plans, err := c.plan()
	if err != nil {
		return nil, err
	}
	base := c.Dir
	if base == "" {
		if base, err = os.MkdirTemp("", "talosbench-"); err != nil {
			return nil, fmt.Errorf("bench: %w", err)
		}
		defer os.RemoveAll(base)
	} else if err := os.MkdirAll(base, 0o755); err != nil {
		return nil, fmt.Errorf("bench: %w", err)
	}
	if c.NodeProfiles != "" {
		// Absolute: the nodes run in their own working directories.
		abs, err := filepath.Abs(c.NodeProfiles)
		if err == nil {
			err = os.MkdirAll(abs, 0o755)
		}
		if err != nil {
			return nil, fmt.Errorf("%w: node profiles: %w", ErrConfig, err)
		}
		c.NodeProfiles = abs
	}
	res := &Result{Config: c, Machine: DescribeMachine(base), Started: time.Now()}
	defer func() { res.Finished = time.Now() }()
	plans, cleanup, err := c.resolve(ctx, base, plans, res)
	if err != nil {
		return nil, err
	}
	defer cleanup()
	for i, p := range plans {
		if ctx.Err() != nil {
			break
		}
		recs, err := c.runOne(ctx, base, i+1, p, res.Machine)
		res.Records = append(res.Records, recs...)
		if err != nil {
			return res, err
		}
	}
	res.Cancelled = ctx.Err() != nil
	return res, nil
}

func (c *Config) runOne(ctx context.Context, base string, run int, p runPlan, m Machine) ([]Record, error) {
	name := fmt.Sprintf("run-%03d-%s-%s-%s-r%d-gf%d", run, p.spec.Name, p.mode,
		strings.ToLower(p.mix.Name), p.replicas, p.gf)
	dir := filepath.Join(base, name)
	if err := os.RemoveAll(dir); err != nil {
		return nil, fmt.Errorf("bench: %w", err)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("bench: %w", err)
	}
	info := TargetInfo{Name: p.spec.Name, Mode: p.mode, Replicas: p.replicas, GrowthFactor: p.gf, Transport: p.spec.Transport}
	tmpl := Record{Run: run, Target: info.Name, Mix: p.mix.Name, Mode: info.Mode, Replicas: info.Replicas,
		GrowthFactor: info.GrowthFactor, Transport: info.Transport, Seed: c.Seed, RecordCount: c.RecordCount,
		Threads: c.Threads, Machine: m}
	var recs []Record
	to := c.targetOptions(p)
	if c.NodeProfiles != "" && p.spec.UsesTalosd {
		to.NodeProfilePrefix = filepath.Join(c.NodeProfiles, name+"-")
	}
	t, err := p.spec.Open(dir, to)
	if err != nil {
		r := tmpl
		r.Workload, r.Error = c.Workloads[0].Name, err.Error()
		c.emit([]Record{r})
		return []Record{r}, nil
	}
	var loaded int64
	for _, w := range c.Workloads {
		if !w.Load && c.Distribution != nil {
			w.Distribution = *c.Distribution
		}
		count := c.OperationCount
		if w.Load {
			count = c.RecordCount
		}
		g, err := NewGenerator(GenConfig{Workload: w, Mix: p.mix, Loaded: loaded, Count: count, Seed: c.Seed})
		if err != nil {
			return recs, errors.Join(err, t.Close())
		}
		label := fmt.Sprintf("run %d %s %s gf=%d %s", run, info.Name, p.mix.Name, p.gf, w.Name)
		pr, err := RunPhase(ctx, t, g, w, RunOptions{Threads: c.Threads, Settle: c.Settle, Progress: c.Progress, Label: label})
		if err != nil {
			return recs, errors.Join(err, t.Close())
		}
		rs := phaseRecords(tmpl, w, count, pr)
		recs = append(recs, rs...)
		c.emit(rs)
		loaded = g.Inserted()
		if pr.Err != nil || pr.Interrupted {
			break
		}
	}
	if err := t.Close(); err != nil {
		return recs, fmt.Errorf("%w: closing %s: %w", ErrTarget, info.Name, err)
	}
	// In-process targets share this process: return the closed store's
	// memory to the OS so the next run's resident size starts low.
	debug.FreeOSMemory()
	if !c.Keep {
		if err := os.RemoveAll(dir); err != nil {
			return recs, fmt.Errorf("bench: %w", err)
		}
	}
	return recs, nil
}

func (c *Config) targetOptions(p runPlan) TargetOptions {
	return TargetOptions{GrowthFactor: p.gf, Mode: p.mode, Replicas: p.replicas, Sync: c.Sync,
		Threads: c.Threads, Small: c.Small, ValueThreshold: c.ValueThreshold,
		MemtableSize: c.MemtableSize, SegmentSize: c.SegmentSize, Talosd: c.Talosd}
}

// resolve builds talosd when a planned target needs it and Talosd is
// empty (into base/bin; cleanup removes it and clears Talosd again), and
// drops the runs whose target says it cannot run their mode here, noting
// each in res.Skipped.
func (c *Config) resolve(ctx context.Context, base string, plans []runPlan, res *Result) (_ []runPlan, cleanup func(), err error) {
	cleanup = func() {}
	if c.Talosd == "" && slices.ContainsFunc(plans, func(p runPlan) bool { return p.spec.UsesTalosd }) {
		binDir := filepath.Join(base, "bin")
		bin, err := BuildTalosd(ctx, binDir)
		if err != nil {
			os.RemoveAll(binDir)
			return nil, cleanup, err
		}
		c.Talosd = bin
		cleanup = func() {
			c.Talosd = ""
			os.RemoveAll(binDir)
		}
	}
	defer func() {
		if err != nil {
			cleanup()
		}
	}()
	type modeKey struct{ target, mode string }
	why := map[modeKey]string{}
	var out []runPlan
	for _, p := range plans {
		k := modeKey{p.spec.Name, p.mode}
		reason, seen := why[k]
		if !seen && p.spec.Unavailable != nil {
			r, err := p.spec.Unavailable(c.targetOptions(p))
			if err != nil {
				return nil, cleanup, err
			}
			reason, why[k] = r, r
			if r != "" {
				res.Skipped = append(res.Skipped, fmt.Sprintf("%s in mode %s: %s", p.spec.Name, p.mode, r))
			}
		}
		if reason == "" {
			out = append(out, p)
		}
	}
	if len(out) == 0 {
		return nil, cleanup, fmt.Errorf("%w: nothing can run here: %s", ErrConfig, strings.Join(res.Skipped, "; "))
	}
	return out, cleanup, nil
}

func (c *Config) emit(rs []Record) {
	if c.OnRecord != nil {
		c.OnRecord(rs)
	}
}

// phaseRecords makes one record per node of a phase.
func phaseRecords(tmpl Record, w Workload, count int64, pr *PhaseResult) []Record {
	var out []Record
	for _, n := range pr.Nodes {
		r := tmpl
		r.Workload = w.Name
		r.Distribution = w.Distribution.String()
		if w.Load {
			r.Distribution = "sequence"
		}
		r.Node = n.Name
		r.OperationCount = count
		r.Interrupted = pr.Interrupted
		r.Ops = pr.Ops
		r.NotFound = pr.NotFound
		r.DurationSec = pr.Duration.Seconds()
		r.OpsPerSec = pr.OpsPerSec()
		r.UserBytesWritten = pr.UserBytesWritten
		r.Latency = SummarizeLatency(pr.Latency)
		r.LatencyByKind = map[string]Latency{}
		for k, h := range pr.ByKind {
			if h.TotalCount() > 0 {
				r.LatencyByKind[OpKind(k).String()] = SummarizeLatency(h)
			}
		}
		if pr.Err != nil {
			r.Error = pr.Err.Error()
		}
		r.fillNode(n.Delta)
		out = append(out, r)
	}
	return out
}

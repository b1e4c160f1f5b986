package bench

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"slices"
	"strconv"
	"strings"

	"github.com/talos-kv/talos/internal/cpuprof"
	"golang.org/x/sys/unix"
)

// Exit statuses of Command.
const (
	ExitOK          = 0
	ExitFailure     = 1
	ExitUsage       = 2
	ExitInterrupted = 130
)

// The --quick profile: Load A then Run A, S and MD mixes, every registered
// target (talosd clusters with two backups, in every mode talosd runs, with
// small memtables and segments), growth factor 10, 20 000 records, 10 000
// operations, four threads (a cluster's client is latency-bound: four
// connections keep the nodes busy; the run stays under a minute on two
// cores).
const (
	quickRecords = 20000
	quickOps     = 10000
	quickThreads = 4
)

const commandHelp = `Run YCSB workloads against Talos and its peers and measure I/O amplification,
CPU, network, throughput and latency per node.

Every combination of --targets, --growth-factors, --mixes, --modes and
--replicas is one run on a fresh store; each run executes --workloads in order
(the load phase first). Each phase of each run gives one record per node.

Output: a table on stdout; with --out DIR also DIR/results.json (the records),
DIR/results.csv (the same, flat), DIR/run.json (seed, configuration,
machine, ship-index/build-index ratios when both modes ran), DIR/plots/
(SVG and PNG) and DIR/report.md (our figures beside the published ones).

Ctrl-C stops the phase in progress cleanly; what was measured is kept and
written, and the command exits with status 130.

Options:
`

// Command is the bench command line: `talosbench [options]`, also meant to
// be `talosd bench [options]`. It parses args (without the program name),
// runs the sweep, prints the table to stdout and progress to stderr, writes
// --out, and returns an exit status: 0, 1 on failure, 2 on a usage error,
// 130 when ctx was cancelled (Ctrl-C) before the sweep finished.
func Command(ctx context.Context, name string, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	var (
		targets   = fs.String("targets", strings.Join(DefaultTargets(), ","), "comma-separated targets to run: "+targetHelp())
		workloads = fs.String("workloads", "load-a,a", "comma-separated phases in order: load-a (YCSB load of workload A, must come first), a (50% read/50% update), b (95/5 read/update), c (read only), d (95% read latest/5% insert), e (95% scan of 1-100 records/5% insert), f (50% read/50% read-modify-write)")
		dist      = fs.String("distribution", "", "override every run phase's request distribution: zipfian (scrambled, 0.99), uniform or latest; empty: YCSB's (zipfian for A,B,C,E,F; latest for D)")
		mixes     = fs.String("mixes", "MD", "comma-separated key-value size mixes: S, M, L (every value 10 B (5 B on update), 100 B or 1000 B), SD, MD, LD (60% the dominant size, 20% each other); keys are 23 B")
		gfs       = fs.String("growth-factors", "10", "comma-separated LSM growth factors (level size ratios) to sweep, e.g. 4,8,10,12,16")
		modes     = fs.String("modes", "", "comma-separated replication modes to sweep (ship-index, build-index) for targets that replicate; empty: each target's own; single stores run mode single")
		replicas  = fs.String("replicas", "", "comma-separated backup counts to sweep (0, 1, 2) for targets that replicate; empty: each target's own")
		records   = fs.Int64("records", 100000, "records inserted by the load phase")
		ops       = fs.Int64("ops", 100000, "operations of each run phase")
		threads   = fs.Int("threads", 2, "goroutines issuing operations")
		seed      = fs.Uint64("seed", 1, "seed of every generator: the same seed gives the same operations")
		dir       = fs.String("dir", "", "directory for the stores' files (one subdirectory per run); empty: a temporary directory, removed afterwards")
		keep      = fs.Bool("keep", false, "keep each run's store files instead of removing them")
		out       = fs.String("out", "", "write results.json, results.csv and run.json into this directory (and plots/ and report.md unless --plots=false)")
		plots     = fs.Bool("plots", true, "with --out, also draw SVG and PNG plots of I/O amplification and CPU per operation by mix and growth factor into DIR/plots and write DIR/report.md")
		settle    = fs.Bool("settle", false, "after each phase wait for flushes and compactions (counted in the phase's I/O and CPU, not in its duration)")
		syncW     = fs.Bool("sync", false, "sync every write before acknowledging it (default: each store's default, logged but not synced)")
		progress  = fs.String("progress", "auto", "progress bar with rate and ETA on stderr: auto (when stderr is a terminal), always or never")
		check     = fs.Bool("check-ship-index", false, "fail (exit 1) unless every ship-index backup read no bytes for index maintenance and had lower I/O amplification than its build-index counterpart (needs a replicated target run in both modes; when talosd cannot run build-index, says so and checks only the first condition)")
		talosd    = fs.String("talosd", "", "talosd binary for the cluster targets (talosd, talosd-rdma); empty: built once with go build ./cmd/talosd from the Talos module the current directory is in")
		memSize   = fs.String("memtable-size", "", "talosd clusters' --memtable-size (e.g. 1MiB); wins over --small's "+smallMemtable+"; empty: --small's or talosd's default (64MiB)")
		segSize   = fs.String("segment-size", "", "talosd clusters' --segment-size (e.g. 2MiB); wins over --small's "+smallSegment+"; empty: --small's or talosd's default (2MiB). Every sealed segment costs each backup a file, two fsyncs and a rename, the same in both modes")
		valueThr  = fs.String("value-threshold", "", "talosd clusters' --value-threshold: values shorter than this live inline in the index, longer ones only in the value log (e.g. 16B, 512B); empty: talosd's default (512B)")
		small     = fs.Bool("small", false, "run talosd clusters with small memtables ("+smallMemtable+") and value-log segments ("+smallSegment+") so that short runs flush and compact")
		cpuProf   = fs.String("cpuprofile", "", "write a Go CPU profile of this process over the whole sweep to this file (in-process targets: the store and the load generator; talosd nodes are other processes: see --node-profiles)")
		nodeProf  = fs.String("node-profiles", "", "directory (created if missing) where every talosd node of every run writes a Go CPU profile of its whole life, all phases and the shutdown, named after the run and the node (run-001-talosd-ship-index-md-r1-gf10-backup-1.pprof); read one with go tool pprof TALOSD FILE")
		quick     = fs.Bool("quick", false, fmt.Sprintf("quick profile (under 60 s on two cores): load-a,a with mixes S,MD on the default targets, %d records, %d operations, %d threads; talosd clusters with 2 backups and --small; options given explicitly win", quickRecords, quickOps, quickThreads))
	)
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "Usage: %s [options]\n\n%s", name, commandHelp)
		printOptions(fs)
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return ExitOK
		}
		return ExitUsage
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "%s: unexpected argument %q\n", name, fs.Arg(0))
		fs.Usage()
		return ExitUsage
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	if *quick {
		for flagName, v := range map[string]string{"workloads": "load-a,a", "mixes": "S,MD",
			"records": strconv.Itoa(quickRecords), "ops": strconv.Itoa(quickOps), "threads": strconv.Itoa(quickThreads), "growth-factors": "10",
			"small": "true"} {
			if !set[flagName] {
				if err := fs.Set(flagName, v); err != nil {
					panic(err) // the profile's values are valid by construction
				}
			}
		}
	}

	c := &Config{RecordCount: *records, OperationCount: *ops, Threads: *threads, Seed: *seed,
		Dir: *dir, Keep: *keep, Settle: *settle, Sync: *syncW, Small: *small, ValueThreshold: *valueThr,
		MemtableSize: *memSize, SegmentSize: *segSize, Talosd: *talosd, NodeProfiles: *nodeProf}
	var errs []error
	c.Targets = splitList(*targets)
	for _, s := range splitList(*workloads) {
		w, err := ParseWorkload(s)
		errs = append(errs, err)
		c.Workloads = append(c.Workloads, w)
	}
	for _, s := range splitList(*mixes) {
		m, err := ParseMix(s)
		errs = append(errs, err)
		c.Mixes = append(c.Mixes, m)
	}
	if *dist != "" {
		d, err := ParseDistribution(*dist)
		errs = append(errs, err)
		c.Distribution = &d
	}
	var err error
	c.GrowthFactors, err = parseInts("growth-factors", *gfs)
	errs = append(errs, err)
	c.Replicas, err = parseInts("replicas", *replicas)
	errs = append(errs, err)
	c.Modes = splitList(*modes)
	if *quick && !set["replicas"] && slices.ContainsFunc(c.Targets, replicates) {
		c.Replicas = []int{2}
	}
	switch *progress {
	case "always":
		c.Progress = stderr
	case "never":
	case "auto":
		if f, ok := stderr.(*os.File); ok && isTerminal(f) {
			c.Progress = stderr
		}
	default:
		errs = append(errs, fmt.Errorf("%w: --progress %q (want auto, always or never)", ErrConfig, *progress))
	}
	if len(c.Targets) == 0 || len(c.Workloads) == 0 || len(c.Mixes) == 0 || len(c.GrowthFactors) == 0 {
		errs = append(errs, fmt.Errorf("%w: --targets, --workloads, --mixes and --growth-factors must not be empty", ErrConfig))
	}
	if err := errors.Join(append(errs, c.Validate())...); err != nil {
		fmt.Fprintf(stderr, "%s: %v\n", name, err)
		return ExitUsage
	}

	c.OnRecord = func(rs []Record) {
		if c.Progress == nil {
			for i := range rs {
				fmt.Fprintf(stderr, "%s: %s\n", name, progressSummary(&rs[i]))
			}
		}
	}
	if *cpuProf != "" {
		stopProf, err := cpuprof.Start(*cpuProf)
		if err != nil {
			fmt.Fprintf(stderr, "%s: --cpuprofile: %v\n", name, err)
			return ExitFailure
		}
		defer func() {
			if err := stopProf(); err != nil {
				fmt.Fprintf(stderr, "%s: --cpuprofile: %v\n", name, err)
			}
		}()
	}
	res, err := Sweep(ctx, c)
	if res != nil {
		for _, s := range res.Skipped {
			fmt.Fprintf(stderr, "%s: skipped %s\n", name, s)
		}
		if werr := WriteTable(stdout, res.Records); werr != nil && err == nil {
			err = werr
		}
		if *out != "" {
			if werr := WriteResults(*out, res, append([]string{name}, args...), *plots); werr != nil && err == nil {
				err = werr
			}
		}
	}
	if err != nil {
		fmt.Fprintf(stderr, "%s: %v\n", name, err)
		return ExitFailure
	}
	if *check && !res.Cancelled {
		note, err := CheckIndexShipping(res.Records, res.Skipped)
		if note != "" {
			fmt.Fprintf(stderr, "%s: check-ship-index: %s\n", name, note)
		}
		if err != nil {
			fmt.Fprintf(stderr, "%s: %v\n", name, err)
			return ExitFailure
		}
	}
	if res.Cancelled {
		fmt.Fprintf(stderr, "%s: interrupted; kept %d records\n", name, len(res.Records))
		return ExitInterrupted
	}
	for i := range res.Records {
		if res.Records[i].Error != "" {
			fmt.Fprintf(stderr, "%s: run %d (%s) failed: %s\n", name, res.Records[i].Run, res.Records[i].Target, res.Records[i].Error)
			return ExitFailure
		}
	}
	return ExitOK
}

// replicates reports whether the named target runs replicated modes.
func replicates(name string) bool {
	spec, err := LookupTarget(name)
	return err == nil && !slices.Equal(spec.Modes, []string{ModeSingle})
}

func progressSummary(r *Record) string {
	return fmt.Sprintf("run %d %s %s gf=%d %s %s: %d ops in %.1fs (%s op/s)",
		r.Run, r.Target, r.Mix, r.GrowthFactor, r.Workload, r.Node, r.Ops, r.DurationSec, humanRate(r.OpsPerSec))
}

func targetHelp() string {
	var parts []string
	for _, s := range Targets() {
		parts = append(parts, s.Name+" ("+s.Summary+")")
	}
	return strings.Join(parts, ", ")
}

func splitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

func parseInts(flagName, s string) ([]int, error) {
	var out []int
	for _, p := range splitList(s) {
		v, err := strconv.Atoi(p)
		if err != nil {
			return nil, fmt.Errorf("%w: --%s: %q is not an integer", ErrConfig, flagName, p)
		}
		out = append(out, v)
	}
	return out, nil
}

func isTerminal(f *os.File) bool {
	_, err := unix.IoctlGetTermios(int(f.Fd()), unix.TCGETS)
	return err == nil
}

// printOptions lists every flag as --name, its argument, its help text and
// its default.
func printOptions(fs *flag.FlagSet) {
	fs.VisitAll(func(f *flag.Flag) {
		arg, usage := flag.UnquoteUsage(f)
		line := "  --" + f.Name
		if arg != "" {
			line += " " + arg
		}
		fmt.Fprintf(fs.Output(), "%s\n    \t%s", line, strings.ReplaceAll(usage, "\n", "\n    \t"))
		if f.DefValue != "" && f.DefValue != "false" {
			fmt.Fprintf(fs.Output(), " (default %q)", f.DefValue)
		}
		fmt.Fprintln(fs.Output())
	})
}

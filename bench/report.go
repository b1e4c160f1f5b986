package bench

import (
	"cmp"
	"fmt"
	"io"
	"strings"
)

// Published figures the report puts ours beside.
const publishedFigures = `Published figures, for comparison:

- Talos (index shipping against building the index on the backup): backup
  I/O amplification up to 3x lower, backup CPU up to 1.6x lower, network up
  to 1.3x higher.
- Tebis (same comparison, RDMA): 1.13-1.81x lower I/O amplification,
  1.06-1.54x better CPU efficiency, 1.1-1.48x higher throughput.
`

// WriteReport writes a Markdown report of a sweep: configuration and
// machine, one results table per phase, the engine against its peers, the
// ship-index/build-index ratios beside the published ones, and the plots
// (paths relative to the report).
func WriteReport(w io.Writer, res *Result, cmdline []string, plots []string) error {
	var b strings.Builder
	ri := res.Info(cmdline)
	fmt.Fprintf(&b, "# Talos bench report\n\n")
	fmt.Fprintf(&b, "- command: `%s`\n", strings.Join(cmdline, " "))
	fmt.Fprintf(&b, "- started %s, finished %s%s\n", ri.Started, ri.Finished, map[bool]string{true: " (interrupted)"}[res.Cancelled])
	fmt.Fprintf(&b, "- seed %d; %d records, %d operations per run phase, %d threads; settle %v; sync %v\n",
		ri.Seed, ri.RecordCount, ri.OperationCount, ri.Threads, ri.Settle, ri.Sync)
	vt := ri.ValueThreshold
	if vt == "" {
		vt = "talosd's default (512B)"
	}
	mem, seg := clusterSizes(ri.Small, ri.MemtableSize, ri.SegmentSize)
	mem, seg = cmp.Or(mem, "talosd's default (64MiB)"), cmp.Or(seg, "talosd's default (2MiB)")
	fmt.Fprintf(&b, "- talosd clusters: memtables %s, value-log segments %s; value threshold %s\n", mem, seg, vt)
	m := res.Machine
	fmt.Fprintf(&b, "- machine: %s, %d cores, %s, %s; data on %s (%s, rotational %s)\n\n",
		m.CPUModel, m.Cores, m.Kernel, m.GoVersion, m.Device, m.FileSystem, m.Rotational)
	b.WriteString("I/O amplification is (bytes read + bytes written) / user bytes written, from the store's own\n" +
		"counters where it has them (`store`: file-level reads and writes, including reads the page cache\n" +
		"serves) or from /proc/PID/io (`proc`: block I/O). The block column is /proc/PID/io for every\n" +
		"target. In-process targets share the benchmark's process, so their CPU and RSS include the\n" +
		"load generator. A read-only phase has no I/O amplification (shown as 0). Network: `net` is the\n" +
		"replication payload talosd counts; `wire` is the same traffic from the kernel's counters of the\n" +
		"replication sockets (TCP transport), framing and acknowledgements included.\n\n")

	var phases []string
	for _, r := range res.Records {
		if !containsString(phases, r.Workload) {
			phases = append(phases, r.Workload)
		}
	}
	b.WriteString("## Results\n\n")
	for _, ph := range phases {
		fmt.Fprintf(&b, "### %s\n\n", ph)
		b.WriteString("| target | mode | r | gf | mix | node | ops/s | p50 µs | p99 µs | I/O amp | src | block I/O amp | index maint. read | CPU µs/op | net B/op | wire B/op | RSS MiB | note |\n")
		b.WriteString("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|\n")
		for i := range res.Records {
			r := &res.Records[i]
			if r.Workload != ph {
				continue
			}
			note := r.Error
			if r.Interrupted {
				note = "interrupted " + note
			}
			fmt.Fprintf(&b, "| %s | %s | %d | %d | %s | %s | %.0f | %.1f | %.1f | %.2f | %s | %.2f | %s | %.1f | %.1f | %.1f | %.0f | %s |\n",
				r.Target, r.Mode, r.Replicas, r.GrowthFactor, r.Mix, r.Node, r.OpsPerSec, r.Latency.P50Us, r.Latency.P99Us,
				r.IOAmplification, r.IOSource, r.BlockIOAmplification, humanBytes(r.IndexMaintenanceBytesRead),
				r.CPUUsPerOp, r.NetBytesPerOp, r.WireBytesPerOp, float64(r.RSSBytes)/(1<<20), strings.ReplaceAll(note, "|", "/"))
		}
		b.WriteString("\n")
	}

	b.WriteString("## The engine against its peers\n\n")
	peers := peerComparisons(res.Records)
	if len(peers) == 0 {
		b.WriteString("Not measured in this run (needs the engine and a peer on the same phase, mix and growth factor).\n\n")
	} else {
		b.WriteString("Ratios engine / peer on the same phase, mix and growth factor (throughput: higher is better for\n" +
			"the engine; block I/O amplification and CPU per operation: lower is better).\n\n")
		b.WriteString("| phase | mix | gf | peer | throughput | block I/O amp | CPU µs/op | goal |\n|---|---|---|---|---|---|---|---|\n")
		for _, c := range peers {
			fmt.Fprintf(&b, "| %s | %s | %d | %s | %.2fx | %.2fx | %.2fx | %s |\n",
				c.workload, c.mix, c.gf, c.peer, c.throughput, c.blockIO, c.cpu, c.goal)
		}
		b.WriteString("\n")
	}

	b.WriteString("## Ship-index against build-index\n\n")
	if len(ri.Ratios) == 0 {
		b.WriteString("Not measured in this run: it needs a replicated target run in both modes.\n\n")
	} else {
		b.WriteString("| figure | phase | mix | r | gf | node | ship-index | build-index | ratio |\n|---|---|---|---|---|---|---|---|---|\n")
		for _, mr := range ri.Ratios {
			fmt.Fprintf(&b, "| %s | %s | %s | %d | %d | %s | %.3f | %.3f | %.2f |\n",
				mr.Figure, mr.Workload, mr.Mix, mr.Replicas, mr.GrowthFactor, mr.Node, mr.Numerator, mr.Denominator, mr.Ratio)
		}
		b.WriteString("\n")
	}
	b.WriteString(publishedFigures + "\n")
	writeRunRatios(&b, res.Records)
	writeReplicationCost(&b, res.Records)
	writeTargets(&b, res.Records)

	if len(plots) > 0 {
		b.WriteString("## Plots\n\n")
		for _, p := range plots {
			fmt.Fprintf(&b, "![%s](plots/%s.png) ([SVG](plots/%s.svg))\n\n", p, p, p)
		}
	}
	_, err := io.WriteString(w, b.String())
	return err
}

type peerComparison struct {
	workload, mix, peer, goal string
	gf                        int
	throughput, blockIO, cpu  float64
}

// peerComparisons pairs each engine record with each peer's record of the
// same phase, mix, growth factor and node. For load phases it states issue
// 6's goals: engine load throughput at least Pebble's for L, at least 0.7x
// for S.
func peerComparisons(recs []Record) []peerComparison {
	var out []peerComparison
	for i := range recs {
		e := &recs[i]
		if e.Target != "engine" || e.Error != "" {
			continue
		}
		for j := range recs {
			p := &recs[j]
			if spec, err := LookupTarget(p.Target); err == nil && spec.Baseline {
				continue
			}
			if p.Target == "engine" || p.Mode != ModeSingle || p.Error != "" || p.Workload != e.Workload ||
				p.Mix != e.Mix || p.GrowthFactor != e.GrowthFactor || p.Node != e.Node {
				continue
			}
			c := peerComparison{workload: e.Workload, mix: e.Mix, gf: e.GrowthFactor, peer: p.Target,
				throughput: Ratio(e.OpsPerSec, p.OpsPerSec), blockIO: Ratio(e.BlockIOAmplification, p.BlockIOAmplification),
				cpu: Ratio(e.CPUUsPerOp, p.CPUUsPerOp)}
			if p.Target == "pebble" && e.Workload == LoadA.Name {
				want := map[string]float64{"L": 1, "S": 0.7}[e.Mix]
				if want > 0 {
					verdict := "met"
					if c.throughput < want {
						verdict = "NOT met"
					}
					c.goal = fmt.Sprintf("load throughput >= %.1fx Pebble: %s", want, verdict)
				}
			}
			out = append(out, c)
		}
	}
	return out
}

func containsString(ss []string, s string) bool {
	for _, x := range ss {
		if x == s {
			return true
		}
	}
	return false
}

package bench

import (
	"fmt"
	"slices"
	"strings"
)

// Issue 6's targets, against which the report states met or not met.
const (
	targetBackupIOAmp  = 4.0 // build-index / ship-index backup I/O amplification, at least
	targetBackupCPU    = 3.0 // build-index / ship-index backup CPU per operation, at least
	targetNetwork      = 1.3 // ship-index / build-index network bytes per operation, at most
	targetReplicaSpeed = 0.8 // throughput with two backups / without, at least
)

// writeRunRatios writes the ship-index/build-index ratios of each backup's
// I/O amplification over the whole run (all phases summed; see
// CheckIndexShipping for why the run and not the phase).
func writeRunRatios(b *strings.Builder, recs []Record) {
	rs := ModeRatios(RunTotals(recs), ModeShipIndex, ModeBuildIndex, "io_amplification")
	rs = slices.DeleteFunc(rs, func(mr ModeRatio) bool { return !isBackup(mr.Node) })
	if len(rs) == 0 {
		return
	}
	b.WriteString("## Backup I/O amplification over the whole run\n\n")
	b.WriteString("All phases of a run summed: (bytes read + written) / user bytes written.\n\n")
	b.WriteString("| mix | r | gf | node | ship-index | build-index | build / ship |\n|---|---|---|---|---|---|---|\n")
	for _, mr := range rs {
		fmt.Fprintf(b, "| %s | %d | %d | %s | %.3f | %.3f | %.2fx |\n",
			mr.Mix, mr.Replicas, mr.GrowthFactor, mr.Node, mr.Numerator, mr.Denominator, Ratio(mr.Denominator, mr.Numerator))
	}
	b.WriteString("\n")
}

// replicaSpeed is one primary's throughput with backups against the same
// target's run without backups (same phase, mix and growth factor).
type replicaSpeed struct {
	workload, mix, mode string
	replicas, gf        int
	with, without       float64
}

func replicaSpeeds(recs []Record) []replicaSpeed {
	var out []replicaSpeed
	for i := range recs {
		r := &recs[i]
		if r.Node != "primary" || r.Replicas == 0 || r.Error != "" {
			continue
		}
		for j := range recs {
			z := &recs[j]
			if z.Node == "primary" && z.Replicas == 0 && z.Error == "" && z.Target == r.Target &&
				z.Workload == r.Workload && z.Mix == r.Mix && z.GrowthFactor == r.GrowthFactor {
				out = append(out, replicaSpeed{r.Workload, r.Mix, r.Mode, r.Replicas, r.GrowthFactor, r.OpsPerSec, z.OpsPerSec})
				break
			}
		}
	}
	return out
}

// writeReplicationCost writes each replicated primary's throughput against
// the run without backups.
func writeReplicationCost(b *strings.Builder, recs []Record) {
	rs := replicaSpeeds(recs)
	if len(rs) == 0 {
		return
	}
	b.WriteString("## Throughput with backups against none\n\n")
	b.WriteString("| phase | mix | gf | mode | r | ops/s | ops/s without backups | ratio |\n|---|---|---|---|---|---|---|---|\n")
	for _, s := range rs {
		fmt.Fprintf(b, "| %s | %s | %d | %s | %d | %.0f | %.0f | %.2fx |\n",
			s.workload, s.mix, s.gf, s.mode, s.replicas, s.with, s.without, Ratio(s.with, s.without))
	}
	b.WriteString("\n")
}

// writeTargets states issue 6's targets for the replicated runs: for each
// growth factor and mix, the worst backup of the run with the most backups.
func writeTargets(b *strings.Builder, recs []Record) {
	type key struct {
		mix    string
		gf, r  int
		figure string
	}
	worst := map[key]float64{}
	var keys []key
	note := func(k key, v float64, lowerIsWorse bool) {
		old, ok := worst[k]
		if !ok {
			keys = append(keys, k)
			worst[k] = v
			return
		}
		if lowerIsWorse && v < old || !lowerIsWorse && v > old {
			worst[k] = v
		}
	}
	for _, mr := range ModeRatios(RunTotals(recs), ModeShipIndex, ModeBuildIndex, "io_amplification") {
		if isBackup(mr.Node) && mr.Numerator > 0 {
			note(key{mr.Mix, mr.GrowthFactor, mr.Replicas, "backup I/O amplification, build / ship (whole run)"}, mr.Denominator/mr.Numerator, true)
		}
	}
	for _, mr := range ModeRatios(recs, ModeShipIndex, ModeBuildIndex, "cpu_us_per_op") {
		if isBackup(mr.Node) && mr.Numerator > 0 && mr.Workload != "c" {
			note(key{mr.Mix, mr.GrowthFactor, mr.Replicas, "backup CPU per op, build / ship (phases that write)"}, mr.Denominator/mr.Numerator, true)
		}
	}
	for _, mr := range ModeRatios(recs, ModeShipIndex, ModeBuildIndex, "net_bytes_per_op") {
		if mr.Node == "primary" && mr.Denominator > 0 {
			note(key{mr.Mix, mr.GrowthFactor, mr.Replicas, "network per op, ship / build"}, mr.Numerator/mr.Denominator, false)
		}
	}
	for _, s := range replicaSpeeds(recs) {
		if s.mode == ModeShipIndex && s.replicas == 2 && s.without > 0 {
			note(key{s.mix, s.gf, s.replicas, "ship-index throughput with 2 backups / none"}, s.with/s.without, true)
		}
	}
	if len(keys) == 0 {
		return
	}
	b.WriteString("## Targets\n\n")
	b.WriteString("Worst case over the backups and phases of each configuration.\n\n")
	b.WriteString("| mix | gf | r | figure | measured | target | verdict |\n|---|---|---|---|---|---|---|\n")
	for _, k := range keys {
		v := worst[k]
		var target string
		var met bool
		switch {
		case strings.HasPrefix(k.figure, "backup I/O"):
			target, met = fmt.Sprintf(">= %.1fx", targetBackupIOAmp), v >= targetBackupIOAmp
		case strings.HasPrefix(k.figure, "backup CPU"):
			target, met = fmt.Sprintf(">= %.1fx", targetBackupCPU), v >= targetBackupCPU
		case strings.HasPrefix(k.figure, "network"):
			target, met = fmt.Sprintf("<= %.1fx", targetNetwork), v <= targetNetwork
		default:
			target, met = fmt.Sprintf(">= %.1fx", targetReplicaSpeed), v >= targetReplicaSpeed
		}
		fmt.Fprintf(b, "| %s | %d | %d | %s | %.2fx | %s | %s |\n", k.mix, k.gf, k.r, k.figure, v, target,
			map[bool]string{true: "met", false: "NOT met"}[met])
	}
	b.WriteString("\n")
}

package bench

import (
	"errors"
	"fmt"
	"strings"
)

// Replication modes, as records name them.
const (
	ModeShipIndex  = "ship-index"
	ModeBuildIndex = "build-index"
)

// ErrCheck reports a failed result check.
var ErrCheck = errors.New("bench: check failed")

// CheckIndexShipping checks what index shipping promises, on a sweep's
// records (the check .ci/run makes on the quick profile):
//
//  1. in ship-index mode no backup reads a byte for index maintenance;
//  2. each ship-index backup's I/O amplification is lower than the
//     build-index backup's of the same target, phase, mix, replica count,
//     growth factor and node (phases that wrote no user bytes are skipped);
//  3. there is at least one ship-index backup record with a build-index
//     counterpart, so that an empty sweep does not pass.
//
// skipped is the sweep's Result.Skipped. When build-index runs were
// skipped because the target cannot run that mode here and no build-index
// record exists, checks 2 and 3 cannot be made: CheckIndexShipping then
// checks 1, requires at least one ship-index backup record that wrote user
// bytes instead of 3, and returns a note saying the comparison was not
// made and why. It reports every violation, joined.
func CheckIndexShipping(recs []Record, skipped []string) (note string, err error) {
	var errs []error
	shipBackups, buildRecs := 0, 0
	for i := range recs {
		r := &recs[i]
		if r.Mode == ModeBuildIndex {
			buildRecs++
		}
		if r.Mode != ModeShipIndex || !isBackup(r.Node) {
			continue
		}
		if r.UserBytesWritten > 0 {
			shipBackups++
		}
		if r.IndexMaintenanceBytesRead != 0 {
			errs = append(errs, fmt.Errorf("%w: run %d %s %s mix %s gf %d: ship-index %s read %d bytes for index maintenance",
				ErrCheck, r.Run, r.Target, r.Workload, r.Mix, r.GrowthFactor, r.Node, r.IndexMaintenanceBytesRead))
		}
	}
	var unavailable []string
	for _, s := range skipped {
		if strings.Contains(s, "mode "+ModeBuildIndex+":") {
			unavailable = append(unavailable, s)
		}
	}
	if buildRecs == 0 && len(unavailable) > 0 {
		note = "build-index is unavailable here (" + strings.Join(unavailable, "; ") +
			"): checked only that ship-index backups read no bytes for index maintenance; " +
			"backup I/O amplification was NOT compared with build-index"
		if shipBackups == 0 {
			errs = append(errs, fmt.Errorf("%w: no ship-index backup record that wrote user bytes", ErrCheck))
		}
		return note, errors.Join(errs...)
	}
	compared := 0
	for _, mr := range ModeRatios(recs, ModeShipIndex, ModeBuildIndex, "io_amplification") {
		if !isBackup(mr.Node) || mr.Denominator == 0 && mr.Numerator == 0 {
			continue
		}
		compared++
		if mr.Numerator >= mr.Denominator {
			errs = append(errs, fmt.Errorf("%w: %s mix %s r=%d gf %d %s: ship-index I/O amplification %.3f is not lower than build-index %.3f",
				ErrCheck, mr.Workload, mr.Mix, mr.Replicas, mr.GrowthFactor, mr.Node, mr.Numerator, mr.Denominator))
		}
	}
	if compared == 0 {
		errs = append(errs, fmt.Errorf("%w: no ship-index backup record with a build-index counterpart that wrote user bytes", ErrCheck))
	}
	return "", errors.Join(errs...)
}

func isBackup(node string) bool { return strings.HasPrefix(node, "backup") }

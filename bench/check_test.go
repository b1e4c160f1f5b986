package bench

import (
	"errors"
	"strings"
	"testing"
)

func TestCheckIndexShipping(t *testing.T) {
	// amp is turned into bytes over 1000 user bytes, half read, half written.
	rec := func(mode, node string, amp float64, maint uint64) Record {
		b := uint64(amp * 1000)
		return Record{Target: "talosd", Workload: "a", Mix: "MD", Mode: mode, Replicas: 1, GrowthFactor: 10,
			Node: node, IOAmplification: amp, IndexMaintenanceBytesRead: maint,
			UserBytesWritten: 1000, BytesRead: b / 2, BytesWritten: b - b/2}
	}
	good := []Record{
		rec(ModeShipIndex, "primary", 5, 1000), rec(ModeBuildIndex, "primary", 5, 1000),
		rec(ModeShipIndex, "backup-1", 1.2, 0), rec(ModeBuildIndex, "backup-1", 6, 4000),
	}
	if _, err := CheckIndexShipping(good, nil); err != nil {
		t.Fatalf("good records failed: %v", err)
	}
	bad := append([]Record(nil), good...)
	bad[2].IndexMaintenanceBytesRead = 4096
	bad[2].BytesWritten = 6000
	_, err := CheckIndexShipping(bad, nil)
	if !errors.Is(err, ErrCheck) || !strings.Contains(err.Error(), "read 4096 bytes for index maintenance") ||
		!strings.Contains(err.Error(), "is not lower than build-index") {
		t.Fatalf("bad records: %v", err)
	}
	if _, err := CheckIndexShipping(good[:2], nil); !errors.Is(err, ErrCheck) {
		t.Fatalf("records without backups passed: %v", err)
	}
}

// Without build-index (skipped as unavailable), only the first condition is
// checked, with a note saying so; an empty sweep still fails.
func TestCheckIndexShippingWithoutBuildIndex(t *testing.T) {
	skipped := []string{"talosd in mode build-index: invalid --replication (config replication) \"build-index\": not available"}
	ship := []Record{
		{Target: "talosd", Workload: "load-a", Mix: "S", Mode: ModeShipIndex, Replicas: 2, Node: "primary", UserBytesWritten: 100, IndexMaintenanceBytesRead: 50},
		{Target: "talosd", Workload: "load-a", Mix: "S", Mode: ModeShipIndex, Replicas: 2, Node: "backup-1", UserBytesWritten: 100},
	}
	note, err := CheckIndexShipping(ship, skipped)
	if err != nil || !strings.Contains(note, "build-index is unavailable") || !strings.Contains(note, "NOT compared") {
		t.Fatalf("note %q, err %v", note, err)
	}
	bad := append([]Record(nil), ship...)
	bad[1].IndexMaintenanceBytesRead = 1
	if _, err := CheckIndexShipping(bad, skipped); !errors.Is(err, ErrCheck) || !strings.Contains(err.Error(), "read 1 bytes") {
		t.Fatalf("maintenance reads passed: %v", err)
	}
	if _, err := CheckIndexShipping(ship[:1], skipped); !errors.Is(err, ErrCheck) {
		t.Fatalf("no backup record passed: %v", err)
	}
	// Not skipped and no build-index records: the comparison is required.
	if _, err := CheckIndexShipping(ship, nil); !errors.Is(err, ErrCheck) {
		t.Fatalf("missing build-index passed without a skip: %v", err)
	}
}

// The comparison is over the whole run: a phase boundary that moves a
// compaction from one phase to the next on one side only does not fail it,
// a run that is higher in total does.
func TestCheckIndexShippingOverTheRun(t *testing.T) {
	rec := func(phase, mode, node string, user, read, written uint64) Record {
		return Record{Target: "talosd", Workload: phase, Mix: "S", Mode: mode, Replicas: 2, GrowthFactor: 10,
			Node: node, UserBytesWritten: user, BytesRead: read, BytesWritten: written,
			IOAmplification: IOAmplification(read, written, user)}
	}
	recs := []Record{
		rec("load-a", ModeShipIndex, "backup-1", 660, 0, 3986),
		rec("a", ModeShipIndex, "backup-1", 138, 0, 521),
		rec("load-a", ModeBuildIndex, "backup-1", 660, 445, 2954),
		rec("a", ModeBuildIndex, "backup-1", 138, 875, 1554),
	}
	if _, err := CheckIndexShipping(recs, nil); err != nil {
		t.Fatalf("run lower in total failed: %v", err)
	}
	tot := RunTotals(recs)
	if len(tot) != 2 || tot[0].Workload != "load-a+a" || tot[0].UserBytesWritten != 798 || tot[0].BytesWritten != 4507 {
		t.Fatalf("RunTotals = %+v", tot)
	}
	recs[1].BytesWritten = 3000 // now 6986 against 5828 over the run
	_, err := CheckIndexShipping(recs, nil)
	if !errors.Is(err, ErrCheck) || !strings.Contains(err.Error(), "over the run (load-a+a)") {
		t.Fatalf("run higher in total passed: %v", err)
	}
}

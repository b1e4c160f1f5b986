package bench

import (
	"errors"
	"strings"
	"testing"
)

func TestCheckIndexShipping(t *testing.T) {
	rec := func(mode, node string, amp float64, maint uint64) Record {
		return Record{Target: "talosd", Workload: "a", Mix: "MD", Mode: mode, Replicas: 1, GrowthFactor: 10,
			Node: node, IOAmplification: amp, IndexMaintenanceBytesRead: maint}
	}
	good := []Record{
		rec(ModeShipIndex, "primary", 5, 1000), rec(ModeBuildIndex, "primary", 5, 1000),
		rec(ModeShipIndex, "backup-1", 1.2, 0), rec(ModeBuildIndex, "backup-1", 6, 4000),
	}
	if err := CheckIndexShipping(good); err != nil {
		t.Fatalf("good records failed: %v", err)
	}
	bad := append([]Record(nil), good...)
	bad[2].IndexMaintenanceBytesRead = 4096
	bad[2].IOAmplification = 6
	err := CheckIndexShipping(bad)
	if !errors.Is(err, ErrCheck) || !strings.Contains(err.Error(), "read 4096 bytes for index maintenance") ||
		!strings.Contains(err.Error(), "is not lower than build-index") {
		t.Fatalf("bad records: %v", err)
	}
	if err := CheckIndexShipping(good[:2]); !errors.Is(err, ErrCheck) {
		t.Fatalf("records without backups passed: %v", err)
	}
}

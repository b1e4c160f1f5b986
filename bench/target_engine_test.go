package bench

import (
	"bytes"
	"testing"

	"github.com/talos-kv/talos/internal/iostat"
)

func TestEngineTarget(t *testing.T) {
	tg, err := OpenEngine(t.TempDir(), PeerOptions{GrowthFactor: 4})
	if err != nil {
		t.Fatal(err)
	}
	testTargetConformance(t, tg)
}

func TestEngineTargetCounts(t *testing.T) {
	tg, err := OpenEngine(t.TempDir(), PeerOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer tg.Close()
	before, _ := tg.Nodes()[0].Sample()
	v := bytes.Repeat([]byte("v"), 1000)
	for i := int64(0); i < 100; i++ {
		if err := tg.Put(AppendKey(nil, i), v); err != nil {
			t.Fatal(err)
		}
	}
	if err := tg.Settle(t.Context()); err != nil {
		t.Fatal(err)
	}
	after, _ := tg.Nodes()[0].Sample()
	d := after.Sub(before).Store
	// The value log holds every value; the flush wrote a table.
	if d.Written["vlog"] < 100*1000 || d.Written["flush"] == 0 {
		t.Fatalf("written by kind %v, want vlog >= 100000 and a flush", d.Written)
	}
}

func TestStoreIOFromMap(t *testing.T) {
	var c iostat.Counters
	c.AddRead(iostat.Compaction, 300)
	c.AddRead(iostat.Flush, 5)
	c.AddRead(iostat.Get, 40)
	c.AddWritten(iostat.Vlog, 1000)
	c.AddWritten(iostat.Compaction, 700)
	s, err := StoreIOFromMap(c.Snapshot().Map())
	if err != nil {
		t.Fatal(err)
	}
	want := EngineStoreIO(c.Snapshot())
	if s.TotalRead() != 345 || s.TotalWritten() != 1700 || s.IndexMaintenanceRead != 305 ||
		s.IndexMaintenanceRead != want.IndexMaintenanceRead || s.Read["get"] != 40 || s.Written["vlog"] != 1000 {
		t.Fatalf("StoreIOFromMap = %+v, want %+v", s, want)
	}
	if _, err := StoreIOFromMap(map[string]uint64{"flush_bytes": 1}); err == nil {
		t.Fatal("a malformed counter name was accepted")
	}
}

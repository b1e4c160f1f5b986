package bench

import (
	"bytes"
	"testing"
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

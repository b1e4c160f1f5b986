package bench

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"sort"
	"strings"
	"testing"
)

// testTargetConformance checks a Target against a model map with a seeded
// random sequence of operations, then its Nodes.
func testTargetConformance(t *testing.T, tg Target) {
	t.Helper()
	testTargetConformanceNode(t, tg, "node")
}

// testTargetConformanceNode is testTargetConformance for a target whose
// single node is named node.
func testTargetConformanceNode(t *testing.T, tg Target, node string) {
	t.Helper()
	r := rand.New(rand.NewPCG(testSeed, 7))
	model := map[string][]byte{}
	for i := 0; i < 3000; i++ {
		k := AppendKey(nil, int64(r.IntN(400)))
		switch op := r.IntN(10); {
		case op < 5:
			v := make([]byte, 1+r.IntN(1200))
			for j := range v {
				v[j] = byte(r.Uint32())
			}
			if err := tg.Put(k, v); err != nil {
				t.Fatalf("seed %d: put %d: %v", testSeed, i, err)
			}
			model[string(k)] = v
		case op < 6:
			if err := tg.Delete(k); err != nil {
				t.Fatalf("seed %d: delete %d: %v", testSeed, i, err)
			}
			delete(model, string(k))
		default:
			got, found, err := tg.Get([]byte("prefix"), k)
			want, ok := model[string(k)]
			if err != nil || found != ok || (ok && !bytes.Equal(got, append([]byte("prefix"), want...))) {
				t.Fatalf("seed %d: get %d %q: found %v err %v, model found %v", testSeed, i, k, found, err, ok)
			}
		}
	}
	var keys []string
	for k := range model {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, tc := range []struct {
		start string
		limit int
	}{{"", 10}, {keys[len(keys)/2], 25}, {keys[len(keys)-3], 100}, {"user9999999999999999999", 5}} {
		var got []string
		n, err := tg.Scan([]byte(tc.start), tc.limit, func(k, v []byte) bool {
			if !bytes.Equal(v, model[string(k)]) {
				t.Fatalf("scan from %q: value of %q differs", tc.start, k)
			}
			got = append(got, string(k))
			return true
		})
		i := sort.SearchStrings(keys, tc.start)
		want := keys[i:min(i+tc.limit, len(keys))]
		if err != nil || n != len(got) || fmt.Sprint(got) != fmt.Sprint(want) {
			t.Fatalf("scan from %q limit %d: %d %v err %v, want %v", tc.start, tc.limit, n, got, err, want)
		}
	}
	// fn returning false stops the scan.
	if n, err := tg.Scan(nil, 50, func(k, v []byte) bool { return false }); n != 1 || err != nil {
		t.Fatalf("scan stopped by fn visited %d, err %v; want 1", n, err)
	}
	nodes := tg.Nodes()
	if len(nodes) != 1 || nodes[0].Name() != node {
		t.Fatalf("nodes %v", nodes)
	}
	s, err := nodes[0].Sample()
	if err != nil || !s.HasProc || s.Proc.RChar == 0 {
		t.Fatalf("sample %+v, %v", s, err)
	}
	if err := tg.Close(); err != nil {
		t.Fatal(err)
	}
}

func TestPebbleTarget(t *testing.T) {
	tg, err := OpenPebble(t.TempDir(), PeerOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if err := tg.Settle(t.Context()); err != nil {
		t.Fatal(err)
	}
	s, err := tg.Nodes()[0].Sample()
	if err != nil {
		t.Fatal(err)
	}
	if !s.Store.Known || s.Store.Written[fileManifest] == 0 {
		t.Fatalf("pebble store counters %+v, want manifest writes counted", s.Store)
	}
	testTargetConformance(t, tg)
}

func TestPebbleTargetCountsWAL(t *testing.T) {
	tg, err := OpenPebble(t.TempDir(), PeerOptions{GrowthFactor: 4})
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
	// 100 writes of 1023 bytes: the WAL holds at least those, the flushed table too.
	if d.Written[fileWAL] < 100*1023 || d.Written[fileTable] == 0 {
		t.Fatalf("written by category %v, want wal >= %d and a table", d.Written, 100*1023)
	}
}

func TestBadgerTarget(t *testing.T) {
	tg, err := OpenBadger(t.TempDir(), PeerOptions{GrowthFactor: 8})
	if err != nil {
		t.Fatal(err)
	}
	testTargetConformance(t, tg)
}

func TestPeerOptionsValidate(t *testing.T) {
	if _, err := OpenPebble(t.TempDir(), PeerOptions{GrowthFactor: 1}); err == nil {
		t.Fatal("pebble accepted growth factor 1")
	}
	if _, err := OpenBadger(t.TempDir(), PeerOptions{GrowthFactor: -3}); err == nil {
		t.Fatal("badger accepted growth factor -3")
	}
}

func TestClassifyFile(t *testing.T) {
	for name, want := range map[string]string{
		"/d/000004.log": fileWAL, "000012.sst": fileTable, "MANIFEST-000001": fileManifest,
		"marker.manifest.000001.MANIFEST-000001": fileManifest, "OPTIONS-000003": fileOther, "LOCK": fileOther,
	} {
		if got := classifyFile(name); got != want {
			t.Errorf("classifyFile(%q) = %q, want %q", name, got, want)
		}
	}
}

func TestDefaultTargets(t *testing.T) {
	got := strings.Join(DefaultTargets(), ",")
	want := "badger,engine,pebble,talosd"
	if hasRDMADevice() {
		want += ",talosd-rdma"
	}
	if got != want {
		t.Fatalf("DefaultTargets() = %s, want %s (baselines left out)", got, want)
	}
	n := NewNullTarget()
	if _, found, err := n.Get(nil, []byte("k")); !found || err != nil || n.Put(nil, nil) != nil || n.Close() != nil {
		t.Fatal("null target misbehaves")
	}
}

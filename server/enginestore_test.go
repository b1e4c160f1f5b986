package server

import (
	"strings"
	"testing"

	"github.com/talos-kv/talos/engine"
)

// The command tests that use forEachStore also run against the real engine
// on files in a temporary directory.
func init() {
	storeFactories = append(storeFactories, storeFactory{"engine", func(t *testing.T) Store {
		db, err := engine.Open(t.TempDir(), engine.Options{SegmentSize: 1 << 20})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			if err := db.Close(); err != nil {
				t.Errorf("closing the engine: %v", err)
			}
		})
		return NewEngineStore(db)
	}})
}

func TestEngineStoreReadOnly(t *testing.T) {
	dir := t.TempDir()
	db, err := engine.Open(dir, engine.Options{})
	if err != nil {
		t.Fatal(err)
	}
	s := NewEngineStore(db)
	var b Batch
	b.Put([]byte("a"), []byte("1"))
	b.Put([]byte("b"), []byte("2"))
	b.Delete([]byte("a"))
	if err := s.Write(&b); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Get([]byte("a")); err != ErrNotFound {
		t.Fatalf("Get(a) = %v, want ErrNotFound", err)
	}
	ro := NewReadOnlyEngineStore(db, "p:1")
	if err := ro.Write(&b); err != ErrReadOnly {
		t.Fatalf("read-only Write = %v, want ErrReadOnly", err)
	}
	if p, isRO := ro.ReadOnly(); p != "p:1" || !isRO {
		t.Fatalf("ReadOnly() = %q, %v", p, isRO)
	}
	var keys []string
	if err := ro.Scan(nil, nil, func(k, v []byte) bool { keys = append(keys, string(k)+"="+string(v)); return true }); err != nil {
		t.Fatal(err)
	}
	if len(keys) != 1 || keys[0] != "b=2" {
		t.Fatalf("Scan = %q", keys)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
}

func TestEngineStoreTooLarge(t *testing.T) {
	var h *harness
	for _, f := range storeFactories {
		if f.name == "engine" {
			h = newHarness(t, f.open(t), Options{})
		}
	}
	big := strings.Repeat("x", 2<<20) // more than a 1 MiB segment holds
	err := h.client.Set(h.ctx, "k", big, 0).Err()
	if err == nil || !strings.HasPrefix(err.Error(), "ERR server: too large for the store: engine: too large") {
		t.Fatalf("SET of 2 MiB on 1 MiB segments: %v", err)
	}
	if got := h.client.Exists(h.ctx, "k").Val(); got != 0 {
		t.Fatalf("EXISTS k = %d after a refused SET", got)
	}
}

package server

import (
	"fmt"
	"math/rand/v2"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"
	"github.com/talos-kv/talos/engine"
	"github.com/talos-kv/talos/internal/testseed"
)

// filterHarness is a server over an engine whose compactions run the
// expiry filter on the harness's clock. Compactions run only when the test
// asks (CompactAll).
func filterHarness(t *testing.T) (*harness, *engine.DB, *testClock) {
	clock := newTestClock()
	opts := engine.Options{SegmentSize: 1 << 20, CompactionFilter: NewCompactionFilter(clock)}
	opts.Index.DisableCompactions = true
	opts.GC.Disable = true
	db, err := engine.Open(t.TempDir(), opts)
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, db.Close()) })
	h := newHarness(t, NewEngineStore(db), Options{Clock: clock})
	return h, db, clock
}

// rawKeys lists every key the engine holds (an engine iterator over the
// raw keyspace: metadata and field entries, no expiry filtering), in the
// readable form M:<key> or S:<key>:<field>.
func rawKeys(t *testing.T, db *engine.DB) []string {
	kvs, err := db.Scan(nil, nil)
	require.NoError(t, err)
	var out []string
	for _, kv := range kvs {
		k := kv.Key
		switch k[0] {
		case metaPrefix:
			out = append(out, "M:"+string(k[1:]))
		case subkeyPrefix:
			key, _, ok := parseSubkey(k)
			require.True(t, ok, "field key %q", k)
			out = append(out, "S:"+string(key)+":"+string(k[5+len(key)+8:]))
		default:
			out = append(out, "?:"+string(k))
		}
	}
	return out
}

// tableEntries counts every entry of every table (versions, tombstones).
func tableEntries(db *engine.DB) (n uint64) {
	for _, l := range db.Levels() {
		for _, tm := range l.Tables {
			n += tm.Entries
		}
	}
	return n
}

func TestCompactionDropsExpired(t *testing.T) {
	h, db, clock := filterHarness(t)
	c, ctx := h.client, h.ctx
	big := strings.Repeat("b", 2000) // kept in the value log
	require.NoError(t, c.Set(ctx, "live", "v", 0).Err())
	require.NoError(t, c.Set(ctx, "live-ttl", "v", time.Hour).Err())
	require.NoError(t, c.Set(ctx, "gone-px", "v", time.Second).Err())   // PX 1000
	require.NoError(t, c.Set(ctx, "gone-ex", "v", 2*time.Second).Err()) // EX 2
	require.NoError(t, c.Set(ctx, "gone-big", big, time.Second).Err())  // PX, value in the value log
	require.NoError(t, c.Set(ctx, "live-big", big, time.Minute).Err())  // value in the value log
	require.NoError(t, c.HSet(ctx, "h-live", "a", "1", "b", "2").Err()) // no expiry
	require.NoError(t, c.HSet(ctx, "h-ttl", "a", "1").Err())            // expires later
	require.NoError(t, c.HSet(ctx, "h-gone", "a", "1", "b", "2", "c", "3").Err())
	require.True(t, c.Expire(ctx, "h-ttl", time.Hour).Val())
	require.True(t, c.PExpire(ctx, "h-gone", 1500*time.Millisecond).Val())
	// A key SET with an expiry already past (PXAT in the past is a delete;
	// here the clock passes it, which nothing reads).
	require.NoError(t, c.Do(ctx, "SET", "gone-pxat", "v", "PXAT", fmt.Sprint(clock.Now().Add(500*time.Millisecond).UnixMilli())).Err())

	clock.Advance(2 * time.Second) // past every short expiry; nothing reads them
	require.NoError(t, db.CompactAll(ctx))

	want := []string{
		"M:h-live", "M:h-ttl", "M:live", "M:live-big", "M:live-ttl",
		"S:h-ttl:a", "S:h-live:a", "S:h-live:b", // field keys sort by key length first
	}
	require.Equal(t, want, rawKeys(t, db))
	// Gone from the tables, not hidden behind tombstones.
	require.Equal(t, uint64(len(want)), tableEntries(db))
	m := db.Metrics().Index
	require.Equal(t, uint64(4+1+3), m.FilterTombstoned+m.FilterDropped, "4 strings, 1 hash, its 3 fields")

	// Exported to Prometheus.
	reg := prometheus.NewRegistry()
	reg.MustRegister(NewEngineCollector(db))
	mfs, err := reg.Gather()
	require.NoError(t, err)
	var exported float64
	for _, mf := range mfs {
		if mf.GetName() == "talos_engine_compaction_filtered_total" {
			for _, mm := range mf.GetMetric() {
				exported += mm.GetCounter().GetValue()
			}
		}
	}
	require.Equal(t, float64(4+1+3), exported)

	// The live keys read as before.
	require.Equal(t, "v", c.Get(ctx, "live").Val())
	require.Equal(t, big, c.Get(ctx, "live-big").Val())
	require.Equal(t, map[string]string{"a": "1", "b": "2"}, c.HGetAll(ctx, "h-live").Val())
	require.Equal(t, time.Hour-2*time.Second, c.TTL(ctx, "h-ttl").Val())
	require.Equal(t, int64(5), c.DBSize(ctx).Val())
}

// TestCompactionDropsOrphanFields: fields whose hash has another version,
// is another type or is gone are dropped; a hash's own fields stay.
func TestCompactionDropsOrphanFields(t *testing.T) {
	h, db, _ := filterHarness(t)
	c, ctx := h.client, h.ctx
	require.NoError(t, c.HSet(ctx, "h", "a", "1").Err())
	require.NoError(t, c.Set(ctx, "s", "v", 0).Err())
	raw, err := db.Get(metaKey([]byte("h")))
	require.NoError(t, err)
	m, err := decodeMeta(raw)
	require.NoError(t, err)
	// Fields no command would leave behind, written directly.
	var b Batch
	b.Put(subkey(subkeyPrefixOf([]byte("h"), m.hashVersion()+1), []byte("other-version")), []byte("x"))
	b.Put(subkey(subkeyPrefixOf([]byte("s"), 7), []byte("of-a-string")), []byte("x"))
	b.Put(subkey(subkeyPrefixOf([]byte("nokey"), 7), []byte("of-nothing")), []byte("x"))
	require.NoError(t, h.store.Write(&b))
	require.Len(t, rawKeys(t, db), 2+1+3)

	require.NoError(t, db.CompactAll(ctx))
	require.Equal(t, []string{"M:h", "M:s", "S:h:a"}, rawKeys(t, db))
	require.Equal(t, uint64(3), tableEntries(db))
	require.Equal(t, map[string]string{"a": "1"}, c.HGetAll(ctx, "h").Val())
}

// TestCompactionFilterSnapshot: with a snapshot open, an expired hash's
// metadata goes (an expired entry is absent for every reader, the
// snapshot included), but its fields stay while the snapshot may read
// them; once it is closed, they go too.
func TestCompactionFilterSnapshot(t *testing.T) {
	h, db, clock := filterHarness(t)
	c, ctx := h.client, h.ctx
	require.NoError(t, c.HSet(ctx, "h", "a", "1", "b", "2").Err())
	require.True(t, c.PExpire(ctx, "h", time.Second).Val())
	require.NoError(t, c.Set(ctx, "k", "v", time.Second).Err())
	snap := db.NewSnapshot()
	clock.Advance(time.Second)
	require.NoError(t, db.CompactAll(ctx))
	require.Equal(t, []string{"S:h:a", "S:h:b"}, rawKeys(t, db))
	_, err := snap.Get(metaKey([]byte("k")))
	require.ErrorIs(t, err, engine.ErrNotFound, "the expired key reads as absent at the snapshot too")
	_, err = snap.Get(metaKey([]byte("h")))
	require.ErrorIs(t, err, engine.ErrNotFound, "so are the hash and the fields it owned")
	snap.Close()
	require.NoError(t, db.CompactAll(ctx))
	require.Empty(t, rawKeys(t, db))
	require.Zero(t, tableEntries(db))
}

func TestParseSubkey(t *testing.T) {
	k := subkey(subkeyPrefixOf([]byte("key"), 42), []byte("field"))
	key, ver, ok := parseSubkey(k)
	require.True(t, ok)
	require.Equal(t, "key", string(key))
	require.Equal(t, uint64(42), ver)
	for _, bad := range [][]byte{nil, {subkeyPrefix}, {subkeyPrefix, 0, 0, 0, 9, 'k'}, k[:len(k)-len("field")-1], []byte("Mkey")} {
		_, _, ok := parseSubkey(bad)
		require.False(t, ok, "%q", bad)
	}
	// A field with an empty name is still a field.
	_, _, ok = parseSubkey(subkeyPrefixOf([]byte("key"), 1))
	require.True(t, ok)
}

// TestCompactionFilterDifferential runs one random command sequence (strings
// and hashes with expiries, deletes, re-creation, time passing) against a
// server on the in-memory store and one on an engine with tiny memtables,
// background compactions, value-log GC and the expiry filter, plus full
// compactions, with snapshots held across some of them; every reply must
// match. A filter that dropped a live entry, or let an older version
// reappear, shows as a difference. At the end, after a full compaction,
// the engine holds no expired metadata and no field without its hash.
func TestCompactionFilterDifferential(t *testing.T) {
	seed := testseed.Seed(t, 20261123)
	rng := rand.New(rand.NewPCG(seed, 5))

	ref := newHarness(t, newMemStore(), Options{})
	clock := newTestClock()
	opts := engine.Options{
		SegmentSize:      64 << 10,
		ValueThreshold:   24, // long strings' metadata lives in the value log
		MaxGroupBytes:    8 << 10,
		CompactionFilter: NewCompactionFilter(clock),
		GC:               engine.GCOptions{MinGarbageRatio: 0.2, BytesPerSecond: -1},
	}
	opts.Index.MemtableSize = 4 << 10
	opts.Index.BaseLevelSize = 16 << 10
	opts.Index.TargetFileSize = 4 << 10
	opts.Index.L0CompactionThreshold = 2
	opts.Index.GrowthFactor = 4
	opts.Index.NumLevels = 4
	db, err := engine.Open(t.TempDir(), opts)
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, db.Close()) })
	eng := newHarness(t, NewEngineStore(db), Options{Clock: clock})

	key := func() string { return "k" + strconv.Itoa(rng.IntN(12)) }
	field := func() string { return "f" + strconv.Itoa(rng.IntN(5)) }
	value := func() string { return strings.Repeat(strconv.Itoa(rng.IntN(10)), 1+rng.IntN(40)) }
	var snaps []*engine.Snapshot
	defer func() {
		for _, s := range snaps {
			s.Close()
		}
	}()
	for i := 0; i < 2500; i++ {
		var cmd []any
		switch op := rng.IntN(16); op {
		case 0, 1:
			cmd = []any{"SET", key(), value()}
			if rng.IntN(2) == 0 {
				cmd = append(cmd, "PX", 1+rng.IntN(3000))
			}
		case 2:
			cmd = []any{"SET", key(), value(), "EX", 1 + rng.IntN(3)}
		case 3, 4:
			cmd = []any{"HSET", key(), field(), value(), field(), value()}
		case 5:
			cmd = []any{"PEXPIRE", key(), 1 + rng.IntN(3000)}
		case 6:
			cmd = []any{"HDEL", key(), field()}
		case 7:
			cmd = []any{"DEL", key()}
		case 8:
			cmd = []any{"PERSIST", key()}
		case 9:
			cmd = []any{"GET", key()}
		case 10:
			cmd = []any{"HGETALL", key()}
		case 11:
			cmd = []any{"PTTL", key()}
		case 12:
			cmd = []any{"DBSIZE"}
		case 13:
			d := time.Duration(rng.IntN(1500)) * time.Millisecond
			ref.clock.Advance(d)
			clock.Advance(d)
			continue
		case 14:
			switch {
			case rng.IntN(3) == 0 && len(snaps) < 3:
				snaps = append(snaps, db.NewSnapshot())
			case len(snaps) > 0:
				snaps[0].Close()
				snaps = snaps[1:]
			}
			continue
		case 15:
			if rng.IntN(4) == 0 {
				require.NoError(t, db.CompactAll(eng.ctx), "seed %d step %d", seed, i)
			}
			continue
		}
		want, werr := ref.client.Do(ref.ctx, cmd...).Result()
		got, gerr := eng.client.Do(eng.ctx, cmd...).Result()
		require.Equal(t, fmt.Sprint(werr), fmt.Sprint(gerr), "seed %d step %d: %v", seed, i, cmd)
		require.Equal(t, fmt.Sprint(want), fmt.Sprint(got), "seed %d step %d: %v", seed, i, cmd)
	}
	for _, s := range snaps {
		s.Close()
	}
	snaps = nil
	require.NoError(t, db.CompactAll(eng.ctx))

	// Whatever no command touched again is gone: every metadata entry is
	// unexpired, every field belongs to its key's hash version.
	now := clock.Now().UnixMilli()
	kvs, err := db.Scan(nil, nil)
	require.NoError(t, err)
	metas := map[string]meta{}
	for _, kv := range kvs {
		if kv.Key[0] == metaPrefix {
			m, err := decodeMeta(kv.Value)
			require.NoError(t, err)
			require.False(t, m.expired(now), "seed %d: expired key %q survived", seed, kv.Key[1:])
			metas[string(kv.Key[1:])] = m
		}
	}
	for _, kv := range kvs {
		if kv.Key[0] == subkeyPrefix {
			key, ver, ok := parseSubkey(kv.Key)
			require.True(t, ok)
			m, found := metas[string(key)]
			require.True(t, found && m.typ == typeHash && m.hashVersion() == ver, "seed %d: orphan field %q survived", seed, kv.Key)
		}
	}
	require.Equal(t, uint64(len(kvs)), tableEntries(db), "seed %d: only live entries remain", seed)
	require.Equal(t, ref.client.DBSize(ref.ctx).Val(), eng.client.DBSize(eng.ctx).Val())
	m := db.Metrics()
	require.Positive(t, m.Index.FilterTombstoned+m.Index.FilterDropped, "seed %d: the filter deleted nothing", seed)
	t.Logf("seed %d: %d compactions, filter: %d tombstoned, %d dropped; GC runs %d", seed,
		m.Index.Compactions, m.Index.FilterTombstoned, m.Index.FilterDropped, m.GC.Runs)
}

package server

import (
	"fmt"
	"sort"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestScan(t *testing.T) {
	forEachStore(t, Options{}, func(t *testing.T, h *harness) {
		c, ctx := h.client, h.ctx
		var want []string
		for i := 0; i < 57; i++ {
			k := fmt.Sprintf("key:%03d", i)
			want = append(want, k)
			require.NoError(t, c.Set(ctx, k, "v", 0).Err())
		}
		require.NoError(t, c.HSet(ctx, "hash:1", "f", "v").Err())
		require.NoError(t, c.Set(ctx, "gone", "v", time.Second).Err())
		h.clock.Advance(time.Second)
		all := append([]string{"hash:1"}, want...)
		sort.Strings(all)

		// A full walk with COUNT 7 returns every live key once, in order.
		var got []string
		cursor := uint64(0)
		calls := 0
		for {
			keys, next, err := c.Scan(ctx, cursor, "", 7).Result()
			require.NoError(t, err)
			require.LessOrEqual(t, len(keys), 7)
			got = append(got, keys...)
			calls++
			if next == 0 {
				break
			}
			cursor = next
		}
		require.Equal(t, all, got)
		require.GreaterOrEqual(t, calls, 9)

		// MATCH uses the literal prefix; TYPE filters.
		var matched []string
		iter := c.Scan(ctx, 0, "key:01*", 3).Iterator()
		for iter.Next(ctx) {
			matched = append(matched, iter.Val())
		}
		require.NoError(t, iter.Err())
		require.Equal(t, want[10:20], matched)
		keys, _, err := c.ScanType(ctx, 0, "*", 1000, "hash").Result()
		require.NoError(t, err)
		require.Equal(t, []string{"hash:1"}, keys)
		keys, _, err = c.ScanType(ctx, 0, "*", 1000, "list").Result()
		require.NoError(t, err)
		require.Empty(t, keys)
		keys, _, err = c.Scan(ctx, 0, "*[5]", 1000).Result()
		require.NoError(t, err)
		require.Equal(t, []string{"key:005", "key:015", "key:025", "key:035", "key:045", "key:055"}, keys)

		require.EqualError(t, c.Do(ctx, "SCAN", "123456789").Err(), "ERR invalid cursor (unknown or expired; restart the scan from 0)")
		require.EqualError(t, c.Do(ctx, "SCAN", "abc").Err(), "ERR invalid cursor")
		require.EqualError(t, c.Do(ctx, "SCAN", "0", "COUNT", "0").Err(), "ERR syntax error")
		require.EqualError(t, c.Do(ctx, "SCAN", "0", "COUNT", "x").Err(), "ERR value is not an integer or out of range")
		require.EqualError(t, c.Do(ctx, "SCAN", "0", "MATCH").Err(), "ERR syntax error")
		require.EqualError(t, c.Do(ctx, "SCAN", "0", "BOGUS", "1").Err(), "ERR syntax error")
	})
}

func TestScanCursorEviction(t *testing.T) {
	h := newHarness(t, newMemStore(), Options{MaxScanCursors: 2})
	c, ctx := h.client, h.ctx
	for i := 0; i < 10; i++ {
		require.NoError(t, c.Set(ctx, strconv.Itoa(i), "v", 0).Err())
	}
	_, c1, err := c.Scan(ctx, 0, "", 1).Result()
	require.NoError(t, err)
	_, _, err = c.Scan(ctx, 0, "", 1).Result()
	require.NoError(t, err)
	_, _, err = c.Scan(ctx, 0, "", 1).Result()
	require.NoError(t, err)
	require.Error(t, c.Scan(ctx, c1, "", 1).Err(), "the oldest cursor is forgotten")
}

func TestRange(t *testing.T) {
	forEachStore(t, Options{MaxRangeResults: 5}, func(t *testing.T, h *harness) {
		c, ctx := h.client, h.ctx
		for _, k := range []string{"a", "b", "c", "d", "e", "f", "g"} {
			require.NoError(t, c.Set(ctx, k, "v"+k, 0).Err())
		}
		require.NoError(t, c.HSet(ctx, "bb", "f", "v").Err())
		require.NoError(t, c.Set(ctx, "cc", "v", time.Second).Err())
		h.clock.Advance(time.Second)
		res, err := c.Do(ctx, "TALOS.RANGE", "b", "e").Slice()
		require.NoError(t, err)
		require.Equal(t, []any{[]any{"b", "vb"}, []any{"c", "vc"}, []any{"d", "vd"}}, res)
		res, err = c.Do(ctx, "TALOS.RANGE", "b", "", "LIMIT", "2").Slice()
		require.NoError(t, err)
		require.Equal(t, []any{[]any{"b", "vb"}, []any{"c", "vc"}}, res)
		res, err = c.Do(ctx, "TALOS.RANGE", "e", "b").Slice()
		require.NoError(t, err)
		require.Empty(t, res)
		require.EqualError(t, c.Do(ctx, "TALOS.RANGE", "", "").Err(), "ERR range holds more than 5 keys; use LIMIT and continue from the last key")
		require.EqualError(t, c.Do(ctx, "TALOS.RANGE", "a", "z", "LIMIT", "6").Err(), "ERR LIMIT must be between 1 and 5")
		require.EqualError(t, c.Do(ctx, "TALOS.RANGE", "a", "z", "LIMIT", "0").Err(), "ERR LIMIT must be between 1 and 5")
		require.EqualError(t, c.Do(ctx, "TALOS.RANGE", "a", "z", "LIMIT", "x").Err(), "ERR value is not an integer or out of range")
		require.EqualError(t, c.Do(ctx, "TALOS.RANGE", "a", "z", "COUNT", "1").Err(), "ERR syntax error")
		require.EqualError(t, c.Do(ctx, "TALOS.RANGE", "a").Err(), "ERR wrong number of arguments for 'talos.range' command")
	})
}

func TestDBSizeFlush(t *testing.T) {
	forEachStore(t, Options{}, func(t *testing.T, h *harness) {
		c, ctx := h.client, h.ctx
		require.Equal(t, int64(0), c.DBSize(ctx).Val())
		for i := 0; i < 2500; i++ {
			require.NoError(t, c.Set(ctx, strconv.Itoa(i), "v", 0).Err())
		}
		require.NoError(t, c.HSet(ctx, "h", "a", "1", "b", "2").Err())
		require.NoError(t, c.Set(ctx, "ttl", "v", time.Hour).Err())
		require.Equal(t, int64(2502), c.DBSize(ctx).Val())
		info := c.Info(ctx, "keyspace").Val()
		require.Contains(t, info, "db0:keys=2502,expires=1,avg_ttl=0")
		require.EqualError(t, c.Do(ctx, "FLUSHDB", "NOW").Err(), "ERR syntax error")
		require.Equal(t, "OK", c.FlushDB(ctx).Val())
		require.Equal(t, int64(0), c.DBSize(ctx).Val())
		require.Equal(t, 0, h.rawCount(metaPrefix)+h.rawCount(subkeyPrefix))
		require.NoError(t, c.Set(ctx, "x", "v", 0).Err())
		require.Equal(t, "OK", c.FlushAllAsync(ctx).Val())
		require.Equal(t, int64(0), c.DBSize(ctx).Val())
	})
}

package server

import (
	"testing"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"
)

func TestHashes(t *testing.T) {
	forEachStore(t, Options{}, func(t *testing.T, h *harness) {
		c, ctx := h.client, h.ctx
		require.Equal(t, int64(2), c.HSet(ctx, "h", "f1", "v1", "f2", "v2").Val())
		require.Equal(t, int64(1), c.HSet(ctx, "h", "f2", "v2b", "f3", "", "f3", "v3").Val())
		require.Equal(t, "v2b", c.HGet(ctx, "h", "f2").Val())
		require.Equal(t, "v3", c.HGet(ctx, "h", "f3").Val())
		require.Equal(t, redis.Nil, c.HGet(ctx, "h", "nope").Err())
		require.Equal(t, redis.Nil, c.HGet(ctx, "nokey", "f").Err())
		require.Equal(t, int64(3), c.HLen(ctx, "h").Val())
		require.Equal(t, int64(0), c.HLen(ctx, "nokey").Val())
		require.True(t, c.HExists(ctx, "h", "f1").Val())
		require.False(t, c.HExists(ctx, "h", "nope").Val())
		require.False(t, c.HExists(ctx, "nokey", "f1").Val())
		require.NoError(t, c.HSet(ctx, "h", "empty", "").Err())
		vals, err := c.HMGet(ctx, "h", "f1", "nope", "empty").Result()
		require.NoError(t, err)
		require.Equal(t, []any{"v1", nil, ""}, vals)
		vals, err = c.HMGet(ctx, "nokey", "a").Result()
		require.NoError(t, err)
		require.Equal(t, []any{nil}, vals)
		require.Equal(t, map[string]string{"f1": "v1", "f2": "v2b", "f3": "v3", "empty": ""}, c.HGetAll(ctx, "h").Val())
		require.Equal(t, map[string]string{}, c.HGetAll(ctx, "nokey").Val())
		require.Equal(t, []string{"empty", "f1", "f2", "f3"}, c.HKeys(ctx, "h").Val())
		require.Equal(t, []string{"", "v1", "v2b", "v3"}, c.HVals(ctx, "h").Val())
		require.NoError(t, c.HMSet(ctx, "h", "f4", "v4").Err())
		require.Equal(t, int64(5), c.HLen(ctx, "h").Val())

		// Keys whose names are prefixes of each other keep their fields apart.
		require.NoError(t, c.HSet(ctx, "hh", "f1", "other").Err())
		require.Equal(t, "v1", c.HGet(ctx, "h", "f1").Val())
		require.Equal(t, map[string]string{"f1": "other"}, c.HGetAll(ctx, "hh").Val())

		// HDEL.
		require.Equal(t, int64(2), c.HDel(ctx, "h", "f1", "f2", "f1", "nope").Val())
		require.Equal(t, int64(0), c.HDel(ctx, "nokey", "f1").Val())
		require.Equal(t, int64(3), c.HLen(ctx, "h").Val())
		require.Equal(t, int64(3), c.HDel(ctx, "h", "f3", "empty", "f4").Val())
		require.Equal(t, int64(0), c.Exists(ctx, "h").Val(), "a hash without fields is deleted")
		require.Equal(t, 1, h.rawCount(subkeyPrefix))

		// Wrong type and arity.
		require.NoError(t, c.Set(ctx, "s", "v", 0).Err())
		for _, cmd := range [][]any{
			{"HSET", "s", "f", "v"}, {"HGET", "s", "f"}, {"HMGET", "s", "f"}, {"HDEL", "s", "f"},
			{"HGETALL", "s"}, {"HLEN", "s"}, {"HEXISTS", "s", "f"}, {"HKEYS", "s"}, {"HVALS", "s"}, {"HMSET", "s", "f", "v"},
		} {
			require.EqualError(t, c.Do(ctx, cmd...).Err(), errWrongType, "%v", cmd)
		}
		require.EqualError(t, c.Do(ctx, "HSET", "h", "f", "v", "g").Err(), "ERR wrong number of arguments for 'hset' command")
		require.EqualError(t, c.Do(ctx, "HMSET", "h", "f").Err(), "ERR wrong number of arguments for 'hmset' command")
	})
}

func TestHashRESP2(t *testing.T) {
	h := newHarness(t, newMemStore(), Options{})
	r := h.raw()
	require.Equal(t, ":2\r\n", r.do("HSET", "h", "b", "2", "a", "1"))
	require.Equal(t, "*4\r\n$1\r\na\r\n$1\r\n1\r\n$1\r\nb\r\n$1\r\n2\r\n", r.do("HGETALL", "h"))
	require.Equal(t, "*0\r\n", r.do("HGETALL", "none"))
	require.Equal(t, "$-1\r\n", r.do("HGET", "h", "zz"))
	require.Contains(t, r.do("HELLO", "3"), "%8\r\n")
	require.Equal(t, "%2\r\n$1\r\na\r\n$1\r\n1\r\n$1\r\nb\r\n$1\r\n2\r\n", r.do("HGETALL", "h"))
	require.Equal(t, "_\r\n", r.do("HGET", "h", "zz"))
}

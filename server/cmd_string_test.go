package server

import (
	"math"
	"strconv"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"
)

func TestStrings(t *testing.T) {
	forEachStore(t, Options{}, func(t *testing.T, h *harness) {
		c, ctx := h.client, h.ctx
		require.Equal(t, redis.Nil, c.Get(ctx, "k").Err())
		require.NoError(t, c.Set(ctx, "k", "v1", 0).Err())
		require.Equal(t, "v1", c.Get(ctx, "k").Val())
		require.NoError(t, c.Set(ctx, "empty", "", 0).Err())
		v, err := c.Get(ctx, "empty").Result()
		require.NoError(t, err)
		require.Equal(t, "", v)

		// NX / XX.
		ok, err := c.SetNX(ctx, "k", "v2", 0).Result()
		require.NoError(t, err)
		require.False(t, ok)
		ok, err = c.SetNX(ctx, "new", "n", 0).Result()
		require.NoError(t, err)
		require.True(t, ok)
		ok, err = c.SetXX(ctx, "absent", "x", 0).Result()
		require.NoError(t, err)
		require.False(t, ok)
		require.Equal(t, int64(0), c.Exists(ctx, "absent").Val())
		ok, err = c.SetXX(ctx, "k", "v3", 0).Result()
		require.NoError(t, err)
		require.True(t, ok)
		require.Equal(t, "v3", c.Get(ctx, "k").Val())

		// SET ... GET and GETSET.
		old, err := c.SetArgs(ctx, "k", "v4", redis.SetArgs{Get: true}).Result()
		require.NoError(t, err)
		require.Equal(t, "v3", old)
		require.Equal(t, redis.Nil, c.SetArgs(ctx, "fresh", "f", redis.SetArgs{Get: true}).Err())
		require.Equal(t, "v4", c.GetSet(ctx, "k", "v5").Val())
		require.Equal(t, redis.Nil, c.GetSet(ctx, "gs-new", "x").Err())
		require.Equal(t, "v5", c.Get(ctx, "k").Val())

		// Syntax errors.
		require.EqualError(t, c.Do(ctx, "SET", "k", "v", "NX", "XX").Err(), "ERR syntax error")
		require.EqualError(t, c.Do(ctx, "SET", "k", "v", "EX").Err(), "ERR syntax error")
		require.EqualError(t, c.Do(ctx, "SET", "k", "v", "EX", "10", "PX", "5").Err(), "ERR syntax error")
		require.EqualError(t, c.Do(ctx, "SET", "k", "v", "KEEPTTL", "EX", "5").Err(), "ERR syntax error")
		require.EqualError(t, c.Do(ctx, "SET", "k", "v", "BOGUS").Err(), "ERR syntax error")
		require.EqualError(t, c.Do(ctx, "SET", "k", "v", "EX", "abc").Err(), "ERR value is not an integer or out of range")
		require.EqualError(t, c.Do(ctx, "SET", "k", "v", "EX", "0").Err(), "ERR invalid expire time in 'set' command")
		require.EqualError(t, c.Do(ctx, "SET", "k", "v", "PX", "-5").Err(), "ERR invalid expire time in 'set' command")
		require.EqualError(t, c.Do(ctx, "SET", "k", "v", "EX", strconv.FormatInt(math.MaxInt64/10, 10)).Err(), "ERR invalid expire time in 'set' command")

		// MGET / MSET.
		require.NoError(t, c.MSet(ctx, "a", "1", "b", "2").Err())
		require.NoError(t, c.HSet(ctx, "h", "f", "v").Err())
		vals, err := c.MGet(ctx, "a", "nope", "b", "h").Result()
		require.NoError(t, err)
		require.Equal(t, []any{"1", nil, "2", nil}, vals)
		require.EqualError(t, c.Do(ctx, "MSET", "a", "1", "b").Err(), "ERR wrong number of arguments for 'mset' command")

		// DEL / EXISTS / TYPE.
		require.Equal(t, int64(3), c.Exists(ctx, "a", "b", "a", "nope").Val())
		require.Equal(t, "string", c.Type(ctx, "a").Val())
		require.Equal(t, "hash", c.Type(ctx, "h").Val())
		require.Equal(t, "none", c.Type(ctx, "nope").Val())
		require.Equal(t, int64(3), c.Del(ctx, "a", "b", "a", "h", "nope").Val())
		require.Equal(t, int64(0), c.Exists(ctx, "a", "b", "h").Val())
		require.Equal(t, 0, h.rawCount(subkeyPrefix), "DEL of a hash leaves no field entries")

		// INCR family.
		require.Equal(t, int64(1), c.Incr(ctx, "n").Val())
		require.Equal(t, int64(11), c.IncrBy(ctx, "n", 10).Val())
		require.Equal(t, int64(10), c.Decr(ctx, "n").Val())
		require.Equal(t, int64(-5), c.DecrBy(ctx, "n", 15).Val())
		require.Equal(t, "-5", c.Get(ctx, "n").Val())
		require.EqualError(t, c.Incr(ctx, "k").Err(), "ERR value is not an integer or out of range")
		require.EqualError(t, c.Do(ctx, "INCRBY", "n", "x").Err(), "ERR value is not an integer or out of range")
		require.EqualError(t, c.Do(ctx, "INCRBY", "n", "1.5").Err(), "ERR value is not an integer or out of range")
		require.EqualError(t, c.Do(ctx, "DECRBY", "n", "-9223372036854775808").Err(), "ERR value is not an integer or out of range")
		require.NoError(t, c.Set(ctx, "big", strconv.FormatInt(math.MaxInt64, 10), 0).Err())
		require.EqualError(t, c.Incr(ctx, "big").Err(), "ERR increment or decrement would overflow")
		require.NoError(t, c.Set(ctx, "lead0", "007", 0).Err())
		require.EqualError(t, c.Incr(ctx, "lead0").Err(), "ERR value is not an integer or out of range")

		// APPEND / STRLEN.
		require.Equal(t, int64(3), c.Append(ctx, "s", "abc").Val())
		require.Equal(t, int64(6), c.Append(ctx, "s", "def").Val())
		require.Equal(t, "abcdef", c.Get(ctx, "s").Val())
		require.Equal(t, int64(6), c.StrLen(ctx, "s").Val())
		require.Equal(t, int64(0), c.StrLen(ctx, "nope").Val())

		// Wrong type.
		require.NoError(t, c.HSet(ctx, "h", "f", "v").Err())
		for _, cmd := range [][]any{
			{"GET", "h"}, {"GETSET", "h", "x"}, {"SET", "h", "x", "GET"}, {"INCR", "h"},
			{"DECRBY", "h", "2"}, {"APPEND", "h", "x"}, {"STRLEN", "h"},
		} {
			require.EqualError(t, c.Do(ctx, cmd...).Err(), errWrongType, "%v", cmd)
		}
		// SET overwrites a hash and removes its fields.
		require.NoError(t, c.Set(ctx, "h", "now a string", 0).Err())
		require.Equal(t, "now a string", c.Get(ctx, "h").Val())
		require.Equal(t, 0, h.rawCount(subkeyPrefix))
	})
}

func TestSetExpiryOptions(t *testing.T) {
	forEachStore(t, Options{}, func(t *testing.T, h *harness) {
		c, ctx := h.client, h.ctx
		require.NoError(t, c.Set(ctx, "k", "v", 10*time.Second).Err())
		require.Equal(t, 10*time.Second, c.TTL(ctx, "k").Val())
		require.NoError(t, c.SetArgs(ctx, "k", "v2", redis.SetArgs{KeepTTL: true}).Err())
		require.Equal(t, 10*time.Second, c.TTL(ctx, "k").Val())
		require.NoError(t, c.Set(ctx, "k", "v3", 0).Err())
		require.Equal(t, time.Duration(-1), c.TTL(ctx, "k").Val())
		require.NoError(t, c.Set(ctx, "p", "v", 1500*time.Millisecond).Err())
		require.Equal(t, int64(1500), c.Do(ctx, "PTTL", "p").Val())
		at := h.clock.Now().Add(time.Minute)
		require.NoError(t, c.SetArgs(ctx, "at", "v", redis.SetArgs{ExpireAt: at}).Err())
		require.Equal(t, time.Minute, c.TTL(ctx, "at").Val())
		require.NoError(t, c.Do(ctx, "SET", "pxat", "v", "PXAT", strconv.FormatInt(at.UnixMilli(), 10)).Err())
		require.Equal(t, time.Minute, c.TTL(ctx, "pxat").Val())
		// INCR and APPEND keep the expiry.
		require.NoError(t, c.Set(ctx, "n", "1", time.Minute).Err())
		require.NoError(t, c.Incr(ctx, "n").Err())
		require.NoError(t, c.Append(ctx, "n", "0").Err())
		require.Equal(t, "20", c.Get(ctx, "n").Val())
		require.Equal(t, time.Minute, c.TTL(ctx, "n").Val())
	})
}

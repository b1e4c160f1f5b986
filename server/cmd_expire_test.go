package server

import (
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"
)

func TestExpiry(t *testing.T) {
	forEachStore(t, Options{}, func(t *testing.T, h *harness) {
		c, ctx := h.client, h.ctx
		require.NoError(t, c.Set(ctx, "k", "v", 10*time.Second).Err())
		require.Equal(t, 10*time.Second, c.TTL(ctx, "k").Val())
		h.clock.Advance(4 * time.Second)
		require.Equal(t, 6*time.Second, c.TTL(ctx, "k").Val())
		require.Equal(t, 6000*time.Millisecond, c.PTTL(ctx, "k").Val())
		h.clock.Advance(6 * time.Second)
		// Expired: filtered on every read path.
		require.Equal(t, redis.Nil, c.Get(ctx, "k").Err())
		require.Equal(t, time.Duration(-2), c.TTL(ctx, "k").Val())
		require.Equal(t, time.Duration(-2), c.PTTL(ctx, "k").Val())
		require.Equal(t, int64(0), c.Exists(ctx, "k").Val())
		require.Equal(t, int64(0), c.DBSize(ctx).Val())
		require.Equal(t, 0, h.rawCount(metaPrefix), "reading an expired key deletes it")

		// An expired key is absent for NX/XX, INCR and APPEND.
		require.NoError(t, c.Set(ctx, "e", "5", time.Second).Err())
		h.clock.Advance(time.Second)
		ok, err := c.SetXX(ctx, "e", "x", 0).Result()
		require.NoError(t, err)
		require.False(t, ok)
		require.NoError(t, c.Set(ctx, "e", "5", time.Second).Err())
		h.clock.Advance(2 * time.Second)
		require.Equal(t, int64(1), c.Incr(ctx, "e").Val())
		require.Equal(t, time.Duration(-1), c.TTL(ctx, "e").Val())

		// EXPIRE / PEXPIRE / PERSIST.
		require.False(t, c.Expire(ctx, "missing", time.Second).Val())
		require.NoError(t, c.Set(ctx, "x", "v", 0).Err())
		require.True(t, c.Expire(ctx, "x", 100*time.Second).Val())
		require.Equal(t, 100*time.Second, c.TTL(ctx, "x").Val())
		require.True(t, c.PExpire(ctx, "x", 2500*time.Millisecond).Val())
		require.Equal(t, 2500*time.Millisecond, c.PTTL(ctx, "x").Val())
		require.Equal(t, 3*time.Second, c.TTL(ctx, "x").Val(), "TTL rounds to the nearest second")
		require.True(t, c.Persist(ctx, "x").Val())
		require.False(t, c.Persist(ctx, "x").Val())
		require.False(t, c.Persist(ctx, "missing").Val())
		require.Equal(t, time.Duration(-1), c.TTL(ctx, "x").Val())
		require.True(t, c.ExpireAt(ctx, "x", h.clock.Now().Add(time.Hour)).Val())
		require.Equal(t, time.Hour, c.TTL(ctx, "x").Val())

		// NX / XX / GT / LT.
		require.NoError(t, c.Set(ctx, "o", "v", 0).Err())
		require.False(t, c.ExpireXX(ctx, "o", time.Minute).Val())
		require.False(t, c.ExpireGT(ctx, "o", time.Minute).Val(), "no expiry counts as infinite for GT")
		require.True(t, c.ExpireNX(ctx, "o", time.Minute).Val())
		require.False(t, c.ExpireNX(ctx, "o", time.Hour).Val())
		require.True(t, c.ExpireGT(ctx, "o", time.Hour).Val())
		require.False(t, c.ExpireGT(ctx, "o", time.Minute).Val())
		require.True(t, c.ExpireLT(ctx, "o", time.Minute).Val())
		require.False(t, c.ExpireLT(ctx, "o", time.Hour).Val())
		require.True(t, c.ExpireXX(ctx, "o", 2*time.Minute).Val())
		require.Equal(t, 2*time.Minute, c.TTL(ctx, "o").Val())
		require.EqualError(t, c.Do(ctx, "EXPIRE", "o", "10", "NX", "XX").Err(), "ERR NX and XX, GT or LT options at the same time are not compatible")
		require.EqualError(t, c.Do(ctx, "EXPIRE", "o", "10", "GT", "LT").Err(), "ERR GT and LT options at the same time are not compatible")
		require.EqualError(t, c.Do(ctx, "EXPIRE", "o", "10", "FOO").Err(), "ERR Unsupported option FOO")
		require.EqualError(t, c.Do(ctx, "EXPIRE", "o", "ten").Err(), "ERR value is not an integer or out of range")
		require.EqualError(t, c.Do(ctx, "EXPIRE", "o", "9223372036854775807").Err(), "ERR invalid expire time in 'expire' command")

		// A time in the past deletes the key.
		require.True(t, c.Expire(ctx, "o", -time.Second).Val())
		require.Equal(t, int64(0), c.Exists(ctx, "o").Val())

		// Hashes expire as a whole; a re-created hash has none of the old fields.
		require.NoError(t, c.HSet(ctx, "h", "a", "1", "b", "2").Err())
		require.True(t, c.Expire(ctx, "h", time.Second).Val())
		h.clock.Advance(time.Second)
		require.Equal(t, redis.Nil, c.HGet(ctx, "h", "a").Err())
		require.Equal(t, int64(0), c.HLen(ctx, "h").Val())
		require.Equal(t, int64(1), c.HSet(ctx, "h", "c", "3").Val())
		require.Equal(t, map[string]string{"c": "3"}, c.HGetAll(ctx, "h").Val())
		require.Equal(t, 1, h.rawCount(subkeyPrefix), "fields of the expired hash are gone")
	})
}

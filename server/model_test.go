package server

import (
	"fmt"
	"math/rand/v2"
	"sort"
	"strconv"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"
	"github.com/talos-kv/talos/internal/testseed"
)

// modelEntry is a key in the model keyspace.
type modelEntry struct {
	str      string
	hash     map[string]string // nil: a string
	expireAt time.Time         // zero: none
}

// TestRandomAgainstModel runs random commands against the server and a Go
// map model and compares every reply, then checks invariant 3 (field
// entries match hash counts, nothing orphaned). The seed is logged.
func TestRandomAgainstModel(t *testing.T) {
	seed := testseed.Seed(t, 20261123)
	forEachStore(t, Options{}, func(t *testing.T, h *harness) {
		rng := rand.New(rand.NewPCG(seed, 1))
		c, ctx := h.client, h.ctx
		model := map[string]*modelEntry{}
		live := func(k string) *modelEntry {
			e := model[k]
			if e != nil && !e.expireAt.IsZero() && !h.clock.Now().Before(e.expireAt) {
				delete(model, k)
				return nil
			}
			return e
		}
		key := func() string { return "k" + strconv.Itoa(rng.IntN(8)) }
		field := func() string { return "f" + strconv.Itoa(rng.IntN(4)) }
		wrongType := errWrongType
		for i := 0; i < 1500; i++ {
			k := key()
			e := live(k)
			step := fmt.Sprintf("seed %d step %d", seed, i)
			switch op := rng.IntN(12); op {
			case 0: // SET
				v := strconv.Itoa(rng.IntN(100))
				require.NoError(t, c.Set(ctx, k, v, 0).Err(), step)
				model[k] = &modelEntry{str: v}
			case 1: // GET
				got, err := c.Get(ctx, k).Result()
				switch {
				case e == nil:
					require.Equal(t, redis.Nil, err, step)
				case e.hash != nil:
					require.EqualError(t, err, wrongType, step)
				default:
					require.NoError(t, err, step)
					require.Equal(t, e.str, got, step)
				}
			case 2: // DEL
				n := c.Del(ctx, k).Val()
				require.Equal(t, map[bool]int64{true: 1, false: 0}[e != nil], n, step)
				delete(model, k)
			case 3: // INCRBY
				d := int64(rng.IntN(10) - 5)
				got, err := c.IncrBy(ctx, k, d).Result()
				switch {
				case e == nil:
					require.NoError(t, err, step)
					require.Equal(t, d, got, step)
					model[k] = &modelEntry{str: strconv.FormatInt(d, 10)}
				case e.hash != nil:
					require.EqualError(t, err, wrongType, step)
				default:
					n, perr := strconv.ParseInt(e.str, 10, 64)
					if perr != nil || (len(e.str) > 1 && e.str[0] == '0') {
						require.EqualError(t, err, errNotInteger, step)
						break
					}
					require.NoError(t, err, step)
					require.Equal(t, n+d, got, step)
					e.str = strconv.FormatInt(n+d, 10)
				}
			case 4: // APPEND
				got, err := c.Append(ctx, k, "x").Result()
				switch {
				case e == nil:
					require.NoError(t, err, step)
					model[k] = &modelEntry{str: "x"}
					require.Equal(t, int64(1), got, step)
				case e.hash != nil:
					require.EqualError(t, err, wrongType, step)
				default:
					e.str += "x"
					require.Equal(t, int64(len(e.str)), got, step)
				}
			case 5: // HSET
				f, v := field(), strconv.Itoa(rng.IntN(100))
				got, err := c.HSet(ctx, k, f, v).Result()
				switch {
				case e == nil:
					require.NoError(t, err, step)
					require.Equal(t, int64(1), got, step)
					model[k] = &modelEntry{hash: map[string]string{f: v}}
				case e.hash == nil:
					require.EqualError(t, err, wrongType, step)
				default:
					_, had := e.hash[f]
					require.Equal(t, map[bool]int64{true: 0, false: 1}[had], got, step)
					e.hash[f] = v
				}
			case 6: // HDEL
				f := field()
				got, err := c.HDel(ctx, k, f).Result()
				switch {
				case e == nil:
					require.Equal(t, int64(0), got, step)
				case e.hash == nil:
					require.EqualError(t, err, wrongType, step)
				default:
					_, had := e.hash[f]
					require.Equal(t, map[bool]int64{true: 1, false: 0}[had], got, step)
					delete(e.hash, f)
					if len(e.hash) == 0 {
						delete(model, k)
					}
				}
			case 7: // HGETALL
				got, err := c.HGetAll(ctx, k).Result()
				switch {
				case e == nil:
					require.Empty(t, got, step)
				case e.hash == nil:
					require.EqualError(t, err, wrongType, step)
				default:
					require.Equal(t, e.hash, got, step)
				}
			case 8: // EXPIRE
				secs := rng.IntN(5)
				got := c.Expire(ctx, k, time.Duration(secs)*time.Second).Val()
				require.Equal(t, e != nil, got, step)
				if e != nil {
					if secs == 0 {
						delete(model, k)
					} else {
						e.expireAt = h.clock.Now().Add(time.Duration(secs) * time.Second)
					}
				}
			case 9: // TTL
				got := c.TTL(ctx, k).Val()
				switch {
				case e == nil:
					require.Equal(t, time.Duration(-2), got, step)
				case e.expireAt.IsZero():
					require.Equal(t, time.Duration(-1), got, step)
				default:
					require.Equal(t, e.expireAt.Sub(h.clock.Now()).Round(time.Second), got, step)
				}
			case 10: // PERSIST
				got := c.Persist(ctx, k).Val()
				require.Equal(t, e != nil && !e.expireAt.IsZero(), got, step)
				if e != nil {
					e.expireAt = time.Time{}
				}
			case 11: // time passes
				h.clock.Advance(time.Duration(rng.IntN(1500)) * time.Millisecond)
			}
		}
		// The whole keyspace agrees with the model.
		var want []string
		fields := 0
		for k := range model {
			if e := live(k); e != nil {
				want = append(want, k)
			}
		}
		sort.Strings(want)
		keys, _, err := c.Scan(ctx, 0, "", 1000).Result()
		require.NoError(t, err)
		require.Equal(t, want, append([]string(nil), keys...), "seed %d", seed)
		for _, k := range want {
			if e := model[k]; e.hash != nil {
				fields += len(e.hash)
			}
		}
		// Expired hashes not yet touched may still hold their fields; read
		// every model key once so that they are reaped, then count.
		for i := 0; i < 8; i++ {
			c.Exists(ctx, "k"+strconv.Itoa(i))
		}
		require.Equal(t, fields, h.rawCount(subkeyPrefix), "seed %d: field entries", seed)
	})
}

package server

import (
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"
)

func TestConnectionCommands(t *testing.T) {
	h := newHarness(t, newMemStore(), Options{Version: "1.2.3"})
	c, ctx := h.client, h.ctx
	require.Equal(t, "PONG", c.Ping(ctx).Val())
	require.Equal(t, "hi", c.Do(ctx, "PING", "hi").Val())
	require.EqualError(t, c.Do(ctx, "PING", "a", "b").Err(), "ERR wrong number of arguments for 'ping' command")
	require.Equal(t, "hello", c.Echo(ctx, "hello").Val())
	require.NoError(t, c.Do(ctx, "SELECT", "0").Err())
	require.EqualError(t, c.Do(ctx, "SELECT", "1").Err(), "ERR DB index is out of range")
	require.EqualError(t, c.Do(ctx, "SELECT", "x").Err(), "ERR value is not an integer or out of range")
	tm, err := c.Time(ctx).Result()
	require.NoError(t, err)
	require.WithinDuration(t, time.Now(), tm, time.Minute)

	// CLIENT.
	conn := c.Conn()
	defer conn.Close()
	require.NoError(t, conn.ClientSetName(ctx, "worker-1").Err())
	require.Equal(t, "worker-1", conn.ClientGetName(ctx).Val())
	require.EqualError(t, conn.Do(ctx, "CLIENT", "SETNAME", "a b").Err(), "ERR Client names cannot contain spaces, newlines or special characters.")
	info, err := conn.ClientInfo(ctx).Result()
	require.NoError(t, err)
	require.Equal(t, "worker-1", info.Name)
	require.Equal(t, 3, info.Resp)
	require.Equal(t, "go-redis", strings.SplitN(info.LibName, "(", 2)[0])
	id := conn.ClientID(ctx).Val()
	require.Equal(t, id, info.ID)
	list := c.ClientList(ctx).Val()
	require.Contains(t, list, "name=worker-1")
	require.EqualError(t, c.Do(ctx, "CLIENT", "KILL").Err(), "ERR unknown subcommand 'KILL'. Try CLIENT HELP.")
	require.EqualError(t, c.Do(ctx, "CLIENT", "SETINFO", "bogus", "x").Err(), "ERR Unrecognized option 'bogus'")

	// INFO sections.
	all := c.Info(ctx).Val()
	for _, sec := range []string{"# Server", "# Clients", "# Persistence", "# Replication", "# Stats", "# Keyspace", "talos_version:1.2.3", "role:master", "connected_clients:"} {
		require.Contains(t, all, sec)
	}
	stats := c.Info(ctx, "stats").Val()
	require.Contains(t, stats, "total_commands_processed:")
	require.NotContains(t, stats, "# Server")

	// COMMAND.
	n := c.Do(ctx, "COMMAND", "COUNT").Val().(int64)
	require.Equal(t, int64(len(commandTable)), n)
	infos, err := c.Command(ctx).Result()
	require.NoError(t, err)
	require.Equal(t, int8(-3), infos["set"].Arity)
	require.Contains(t, infos["set"].Flags, "write")
	require.Equal(t, int8(1), infos["get"].FirstKeyPos)
	docs, err := c.Do(ctx, "COMMAND", "DOCS", "get", "nosuch").Result()
	require.NoError(t, err)
	require.Equal(t, map[any]any{"get": map[any]any{"summary": "Returns the string value of a key.", "since": "1.0.0", "group": "string"}}, docs)
	ci, err := c.Do(ctx, "COMMAND", "INFO", "get", "nosuch").Slice()
	require.NoError(t, err)
	require.Len(t, ci, 2)
	require.Nil(t, ci[1])

	// CONFIG GET.
	cfg, err := c.ConfigGet(ctx, "*max*").Result()
	require.NoError(t, err)
	require.Equal(t, map[string]string{"maxclients": "10000", "proto-max-bulk-len": "33554432"}, cfg)
	require.Error(t, c.ConfigSet(ctx, "maxclients", "1").Err())

	// Unknown command and arity.
	require.EqualError(t, c.Do(ctx, "NOSUCH", "a", "b").Err(), "ERR unknown command 'NOSUCH', with args beginning with: 'a' 'b' ")
	for _, cmd := range [][]any{{"GET"}, {"GET", "a", "b"}, {"SET", "a"}, {"ECHO"}, {"HGET", "h"}, {"TTL"}, {"INCRBY", "a"}, {"EXPIRE", "a"}, {"DBSIZE", "x"}} {
		name := strings.ToLower(cmd[0].(string))
		require.EqualError(t, c.Do(ctx, cmd...).Err(), "ERR wrong number of arguments for '"+name+"' command")
	}

	// QUIT closes the connection after +OK.
	r := h.raw()
	require.Equal(t, "+OK\r\n", r.do("QUIT"))
	r.expectClosed()
}

func TestHello(t *testing.T) {
	h := newHarness(t, newMemStore(), Options{})
	r := h.raw()
	// RESP2 by default.
	require.Equal(t, "$-1\r\n", r.do("GET", "x"))
	rep := r.do("HELLO", "3", "SETNAME", "n1")
	require.True(t, strings.HasPrefix(rep, "%8\r\n$6\r\nserver\r\n$5\r\nredis\r\n"), rep)
	require.Contains(t, rep, "$5\r\nproto\r\n:3\r\n")
	require.Equal(t, "_\r\n", r.do("GET", "x"))
	require.Equal(t, "$2\r\nn1\r\n", r.do("CLIENT", "GETNAME"))
	require.True(t, strings.HasPrefix(r.do("HELLO", "2"), "*16\r\n"))
	require.Equal(t, "$-1\r\n", r.do("GET", "x"))
	require.Equal(t, "-NOPROTO unsupported protocol version\r\n", r.do("HELLO", "4"))
	require.Equal(t, "-ERR Protocol version is not an integer or out of range\r\n", r.do("HELLO", "x"))
	require.Equal(t, "-ERR Syntax error in HELLO option 'BOGUS'\r\n", r.do("HELLO", "3", "BOGUS"))
	require.True(t, strings.HasPrefix(r.do("HELLO"), "*16\r\n"), "HELLO without version keeps the protocol")
}

func TestAuth(t *testing.T) {
	h := newHarness(t, newMemStore(), Options{Password: "s3cret"})
	c, ctx := h.client, h.ctx
	require.NoError(t, c.Set(ctx, "k", "v", 0).Err())

	bad := h.newClient("wrong")
	defer bad.Close()
	require.EqualError(t, bad.Ping(ctx).Err(), errWrongPass)

	none := redis.NewClient(&redis.Options{Addr: h.addr, Protocol: 2, MaxRetries: -1, DisableIdentity: true})
	defer none.Close()
	require.EqualError(t, none.Get(ctx, "k").Err(), errNoAuth)

	r := h.raw()
	require.Equal(t, "-NOAUTH Authentication required.\r\n", r.do("PING"))
	require.True(t, strings.HasPrefix(r.do("HELLO", "3"), "-NOAUTH HELLO must be called"))
	require.Equal(t, "-"+errWrongPass+"\r\n", r.do("AUTH", "nope"))
	require.Equal(t, "-"+errWrongPass+"\r\n", r.do("AUTH", "someone", "s3cret"))
	require.Equal(t, "-ERR syntax error\r\n", r.do("AUTH", "a", "b", "c"))
	require.Equal(t, "+OK\r\n", r.do("AUTH", "s3cret"))
	require.Equal(t, "$1\r\nv\r\n", r.do("GET", "k"))

	r2 := h.raw()
	require.Equal(t, "+OK\r\n", r2.do("AUTH", "default", "s3cret"))
	r3 := h.raw()
	require.Contains(t, r3.do("HELLO", "3", "AUTH", "default", "s3cret"), "proto")
	require.Equal(t, "+PONG\r\n", r3.do("PING"))

	// Without requirepass, AUTH is an error.
	h2 := newHarness(t, newMemStore(), Options{})
	require.EqualError(t, h2.client.Do(ctx, "AUTH", "x").Err(), "ERR AUTH <password> called without any password configured for the default user. Are you sure your configuration is correct?")
}

func TestReadOnlyStore(t *testing.T) {
	store := newMemStore()
	h := newHarness(t, store, Options{})
	c, ctx := h.client, h.ctx
	require.NoError(t, c.Set(ctx, "k", "v", 0).Err())
	store.setReadOnly("10.0.0.1:7000")
	want := "READONLY You can't write against a read only replica. primary: 10.0.0.1:7000"
	for _, cmd := range [][]any{{"SET", "k", "x"}, {"DEL", "k"}, {"INCR", "n"}, {"HSET", "h", "f", "v"}, {"EXPIRE", "k", "1"}, {"FLUSHDB"}, {"MSET", "a", "b"}} {
		require.EqualError(t, c.Do(ctx, cmd...).Err(), want, "%v", cmd)
	}
	require.Equal(t, "v", c.Get(ctx, "k").Val())
	require.Contains(t, c.Info(ctx, "replication").Val(), "role:slave")
	require.Contains(t, c.Info(ctx, "replication").Val(), "master_host:10.0.0.1")
}

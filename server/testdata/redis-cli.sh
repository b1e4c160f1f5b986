#!/usr/bin/env bash
# Drives a real `talosd serve` with redis-cli and redis-benchmark (package
# redis-tools) and asserts the outputs. Run from anywhere:
#
#   server/testdata/redis-cli.sh            # builds talosd from this checkout
#   TALOSD=/path/to/talosd PORT=16390 server/testdata/redis-cli.sh
#
# Exits non-zero on the first mismatch, printing what was expected and got.
# The talosd it starts is stopped (SIGTERM) on every exit path.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
PORT=${PORT:-16380}
PASS=${PASS:-talos-cli-test}
work=$(mktemp -d)
pid=""

cleanup() {
	if [[ -n "$pid" ]] && kill -0 "$pid" 2>/dev/null; then
		kill -TERM "$pid" 2>/dev/null || true
		wait "$pid" 2>/dev/null || true
	fi
	rm -rf "$work"
}
trap cleanup EXIT

for tool in redis-cli redis-benchmark; do
	command -v "$tool" >/dev/null || { echo "redis-cli.sh: $tool not found (apt-get install -y redis-tools)" >&2; exit 1; }
done

if [[ -z "${TALOSD:-}" ]]; then
	(cd "$root" && go build -o "$work/talosd" ./cmd/talosd)
	TALOSD="$work/talosd"
fi

start() {
	"$TALOSD" serve --data-dir "$work/data" --listen "127.0.0.1:$PORT" --requirepass "$PASS" \
		--log-level warn 2>>"$work/talosd.log" &
	pid=$!
	for _ in $(seq 1 200); do
		if [[ "$(redis-cli -p "$PORT" -a "$PASS" --no-auth-warning ping 2>/dev/null)" == PONG ]]; then
			return 0
		fi
		kill -0 "$pid" 2>/dev/null || { echo "talosd exited:"; cat "$work/talosd.log"; exit 1; }
		sleep 0.05
	done
	echo "talosd did not answer PING on port $PORT"; cat "$work/talosd.log"; exit 1
}

stop() {
	kill -TERM "$pid"
	local rc=0
	wait "$pid" || rc=$?
	pid=""
	[[ $rc -eq 0 ]] || { echo "talosd exited with status $rc after SIGTERM"; cat "$work/talosd.log"; exit 1; }
}

cli() { redis-cli -p "$PORT" -a "$PASS" --no-auth-warning "$@"; }

n=0
check() { # check EXPECTED redis-cli-args...
	local want=$1; shift
	local got
	got=$(cli "$@" 2>&1) || true
	n=$((n + 1))
	if [[ "$got" != "$want" ]]; then
		printf 'FAIL: redis-cli %s\n  want: %q\n  got:  %q\n' "$*" "$want" "$got"
		exit 1
	fi
}

start

# Connection and authentication.
got=$(redis-cli -p "$PORT" ping 2>&1 || true)
[[ "$got" == *"NOAUTH Authentication required."* ]] || { echo "FAIL: ping without AUTH: $got"; exit 1; }
got=$(redis-cli -p "$PORT" -a wrong --no-auth-warning ping 2>&1 || true)
[[ "$got" == *"WRONGPASS"* ]] || { echo "FAIL: ping with a wrong password: $got"; exit 1; }
check PONG ping
check hello echo hello
check OK select 0
check "ERR DB index is out of range" select 1

# Strings.
check OK set k v
check v get k
check "" get missing
check "" set k other nx
check v get k
check OK set k v2 xx
check v2 set k v3 get
check OK mset a 1 b 2
check $'1\n\n2' mget a nope b
check 2 incr a
check 12 incrby a 10
check 11 decr a
check 6 decrby a 5
check "ERR value is not an integer or out of range" incr k
check 5 append s hello
check 11 append s " world"
check "hello world" get s
check 11 strlen s
check 2 exists a b
check 2 del a b nope
check 0 exists a b
check string type k

# Expiry.
check OK set t v ex 100
check 100 ttl t
check 1 pexpire t 5000
check 5 ttl t
check 1 persist t
check -1 ttl t
check -2 ttl missing
check OK set gone v px 1
sleep 0.01
check "" get gone

# Hashes.
check 2 hset h f1 v1 f2 v2
check v1 hget h f1
check $'v1\n\nv2' hmget h f1 nope f2
check $'f1\nv1\nf2\nv2' hgetall h
check 2 hlen h
check 1 hexists h f1
check 1 hdel h f1
check 1 hlen h
check "WRONGTYPE Operation against a key holding the wrong kind of value" get h
check "WRONGTYPE Operation against a key holding the wrong kind of value" hget k f

# RESP3.
check 'f2 v2' -3 hgetall h # a RESP3 map: redis-cli prints key and value on one line

# Ordered keyspace: SCAN walks keys in order; TALOS.RANGE returns pairs.
check OK mset user:1 alice user:2 bob user:3 carol
check $'1\nuser:1\nuser:2' scan 0 match 'user:*' count 2 # cursor 1: the first this server handed out
check $'0\nuser:3' scan 1 match 'user:*' count 2
got=$(cli --scan --pattern 'user:*' | tr '\n' ' ')
[[ "$got" == "user:1 user:2 user:3 " ]] || { echo "FAIL: --scan: $got"; exit 1; }
check $'user:1\nalice\nuser:2\nbob' talos.range user: user:3
check $'user:1\nalice' talos.range user: "" limit 1

# Server commands.
check 7 dbsize # k s t h user:1..3
cli info keyspace | grep -q '^db0:keys=7,' || { echo "FAIL: INFO keyspace"; cli info keyspace; exit 1; }
cli info server | grep -q '^redis_version:' || { echo "FAIL: INFO server"; exit 1; }
got=$(printf 'client setname cli-test\nclient getname\n' | cli) # one connection
[[ "$got" == $'OK\ncli-test' ]] || { echo "FAIL: client setname/getname: $got"; exit 1; }
check "ERR unknown command 'nosuch', with args beginning with: 'x' " nosuch x
check "ERR wrong number of arguments for 'get' command" get

# Durability across a clean restart.
check OK set durable yes
stop
start
check yes get durable
check v3 get k

# redis-benchmark, pipelined.
bench=$(redis-benchmark -p "$PORT" -a "$PASS" -q -n 20000 -t set,get -P 16 2>&1 | tr '\r' '\n')
echo "$bench" | grep -E '^(SET|GET):' || { echo "FAIL: redis-benchmark output: $bench"; exit 1; }
for t in SET GET; do
	echo "$bench" | grep -qE "^$t: [0-9.]+ requests per second" || { echo "FAIL: no $t result"; exit 1; }
done
check OK flushdb
check 0 dbsize

# The same directory served by a backup: reads work, writes get READONLY.
check_backup() {
	"$TALOSD" serve --data-dir "$work/data" --listen "127.0.0.1:$PORT" --role backup --primary 127.0.0.1:7000 \
		--log-level warn 2>>"$work/talosd.log" &
	pid=$!
	for _ in $(seq 1 200); do
		[[ "$(redis-cli -p "$PORT" ping 2>/dev/null)" == PONG ]] && break
		sleep 0.05
	done
	local got
	got=$(redis-cli -p "$PORT" get k)
	[[ "$got" == v3 ]] || { echo "FAIL: backup GET k: $got"; exit 1; }
	got=$(redis-cli -p "$PORT" set k x)
	[[ "$got" == "READONLY You can't write against a read only replica. primary: 127.0.0.1:7000" ]] || { echo "FAIL: backup SET: $got"; exit 1; }
	redis-cli -p "$PORT" info replication | grep -q '^role:slave' || { echo "FAIL: backup INFO replication"; exit 1; }
	n=$((n + 3))
	stop
}
check OK set k v3 # FLUSHDB removed it
stop
check_backup

echo "redis-cli.sh: $n checks passed"

# Helpers for the guest command lines of suite.txt, put on the share by
# run.sh (so changing them needs no new initramfs). Sourced by the guest
# script that run.sh writes; runs under busybox ash.

# tcp_listening PORT: true when something listens on TCP PORT (IPv4 or IPv6).
tcp_listening() {
	hex=$(printf '%04X' "$1")
	cat /proc/net/tcp /proc/net/tcp6 2>/dev/null |
		awk -v p=":$hex" '$2 ~ p"$" && $4 == "0A" { found = 1 } END { exit !found }'
}

# perftest_pair TOOL ARGS...: runs the perftest TOOL as a server in the
# background and as a client against 10.9.9.9 with the same ARGS, waiting for
# the server's TCP port (18515) to listen before the client starts. Fails if
# either side fails or the server does not listen within 60 s. perftest
# calibrates its cycle counter against gettimeofday before it reports, and
# gives up ("Can't produce a report") when a busy host makes the samples
# scatter; that is a failure to measure, not of RDMA, so the pair is run
# again, at most three times in all.
perftest_pair() {
	attempt=1
	while :; do
		perftest_once "$@" && return 0
		if [ "$attempt" -ge 3 ] || ! grep -q "Can't produce a report" /tmp/perftest-client.log /tmp/perftest-server.log; then
			return 1
		fi
		attempt=$((attempt + 1))
		echo "perftest_pair: $1 could not calibrate its clock (busy host); attempt $attempt of 3"
	done
}

perftest_once() {
	tool=$1
	shift
	"$tool" "$@" >/tmp/perftest-server.log 2>&1 &
	server=$!
	tries=0
	until tcp_listening 18515; do
		if ! kill -0 "$server" 2>/dev/null; then
			echo "perftest_pair: $tool server exited before listening:"
			cat /tmp/perftest-server.log
			return 1
		fi
		tries=$((tries + 1))
		if [ "$tries" -gt 600 ]; then
			echo "perftest_pair: $tool server not listening after 60 s"
			kill "$server"
			wait "$server"
			return 1
		fi
		usleep 100000
	done
	"$tool" "$@" 10.9.9.9 >/tmp/perftest-client.log 2>&1
	client=$?
	cat /tmp/perftest-client.log
	# A client that failed may leave the server waiting for it forever.
	[ "$client" -eq 0 ] || kill "$server" 2>/dev/null
	wait "$server"
	srv=$?
	echo "--- $tool server output:"
	cat /tmp/perftest-server.log
	[ "$client" -eq 0 ] && [ "$srv" -eq 0 ]
}

# gotest BINARY ARGS...: runs a Go test binary and fails if it fails, or if
# it ran no test and no benchmark (a -test.run pattern that matches nothing
# passes silently otherwise).
gotest() {
	"$@" >/tmp/gotest.out 2>&1
	r=$?
	cat /tmp/gotest.out
	if [ "$r" -ne 0 ]; then
		return "$r"
	fi
	if grep -q '^testing: warning: no tests to run' /tmp/gotest.out ||
		! grep -Eq '^(=== RUN|--- PASS|Benchmark[^ ]+[ 	]+[0-9])' /tmp/gotest.out; then
		echo "gotest: $1 ran no test and no benchmark: $*"
		return 1
	fi
}

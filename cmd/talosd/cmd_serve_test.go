package main

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/Mellanox/rdmamap"
	"github.com/redis/go-redis/v9"
	"github.com/redis/go-redis/v9/maintnotifications"
	"github.com/stretchr/testify/require"
)

func TestServeRejectsBadSettings(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "file")
	require.NoError(t, os.WriteFile(file, nil, 0o644))
	base := []string{"--data-dir", dir}
	rdmaWant := "no RDMA device found"
	if len(rdmamap.GetRdmaDeviceList()) > 0 {
		rdmaWant = "" // this machine has one: --transport rdma is valid
	}
	for _, tc := range []struct {
		name string
		args []string
		want []string // every one must appear on stderr
	}{
		{"no data dir", nil, []string{`invalid --data-dir (config data_dir) "": required`}},
		{"data dir is a file", []string{"--data-dir", file}, []string{"exists and is not a directory"}},
		{"role", append(base, "--role", "leader"), []string{`invalid --role (config role) "leader": want primary or backup`}},
		{"listen", append(base, "--listen", "nonsense"), []string{`invalid --listen (config listen) "nonsense": want host:port`}},
		{"listen port", append(base, "--listen", "127.0.0.1:99999"), []string{"port must be a number 0..65535"}},
		{"metrics same as listen", append(base, "--metrics-listen", "127.0.0.1:6380"), []string{`invalid --metrics-listen (config metrics_listen) "127.0.0.1:6380": must differ from --listen`}},
		{"repl listen", append(base, "--repl-listen", "x"), []string{`invalid --repl-listen (config repl_listen) "x": want host:port`}},
		{"transport", append(base, "--transport", "pigeon"), []string{`invalid --transport (config transport) "pigeon": want rdma, tcp or auto`}},
		{"rdma device", append(base, "--rdma-device", "nosuchdev0"), []string{`invalid --rdma-device (config rdma_device) "nosuchdev0": no such RDMA device`}},
		{"backup without primary", append(base, "--role", "backup"), []string{`invalid --primary (config primary) "": required with --role backup`}},
		{"primary with primary", append(base, "--primary", "10.0.0.1:7000"), []string{"only a backup has a primary"}},
		{"peers on a primary", append(base, "--peers", "10.0.0.2:7000,10.0.0.3:7000"), []string{"only a backup has peers to reconnect to"}},
		{"min replicas", append(base, "--min-replicas", "17"), []string{`invalid --min-replicas (config min_replicas) "17": want an integer from 0 to 16`}},
		{"min replicas without repl listen", append(base, "--min-replicas", "1"), []string{"needs --repl-listen for its backups"}},
		{"ack", append(base, "--ack", "eventually"), []string{`invalid --ack (config ack) "eventually": want memory or disk`}},
		{"replication mode", append(base, "--replication", "gossip"), []string{`invalid --replication (config replication) "gossip": want ship-index`}},
		{"build-index", append(base, "--replication", "build-index"), []string{""}},
		{"node id", append(base, "--node-id", "a b"), []string{`invalid --node-id (config node_id) "a b": at most 64 characters, no spaces`}},
		{"bad peer", append(base, "--peers", "nope"), []string{`invalid --peers (config peers) "nope": want host:port`}},
		{"growth factor range", append(base, "--growth-factor", "3"), []string{`invalid --growth-factor (config engine.growth_factor) "3": want an integer from 4 to 16`}},
		{"growth factor text", append(base, "--growth-factor", "ten"), []string{`--growth-factor "ten": not an integer`}},
		{"memtable size", append(base, "--memtable-size", "12parsecs"), []string{`invalid --memtable-size (config engine.memtable_size) "12parsecs": want a size from 256KiB to 4GiB`}},
		{"segment size", append(base, "--segment-size", "3MiB"), []string{"must be a power of two"}},
		{"value threshold", append(base, "--value-threshold", "1MiB"), []string{`invalid --value-threshold (config engine.value_threshold) "1MiB": want a size from 0B to 64KiB`}},
		{"sync", append(base, "--sync", "sometimes"), []string{`invalid --sync (config engine.sync) "sometimes": want always, interval or never`}},
		{"sync interval", append(base, "--sync-interval", "2h"), []string{`invalid --sync-interval (config engine.sync_interval) "2h"`}},
		{"log format", append(base, "--log-format", "xml"), []string{`invalid --log-format (config log_format) "xml": want text or json`}},
		{"log level", append(base, "--log-level", "loud"), []string{`want debug, info, warn or error`}},
		{"cluster token", append(base, "--cluster-token", "short"), []string{`invalid --cluster-token (config cluster_token) "(hidden)": must be at least 16 characters`}},
		{"max clients", append(base, "--max-clients", "0"), []string{`want an integer from 1 to 1000000`}},
		{"request below bulk", append(base, "--max-request-bytes", "1MiB"), []string{`must be at least --max-bulk-len (32MiB)`}},
		{"idle timeout", append(base, "--idle-timeout", "-1s"), []string{`invalid --idle-timeout (config limits.idle_timeout) "-1s": want a non-negative duration`}},
		{"every problem at once", append(base, "--role", "x", "--sync", "y", "--log-level", "z"), []string{"--role", "--sync", "--log-level"}},
		{"transport rdma", append(base, "--transport", "rdma"), []string{rdmaWant}},
		{"cpuprofile directory", append(base, "--cpuprofile", filepath.Join(dir, "nodir", "cpu.pprof")), []string{`invalid --cpuprofile (config cpuprofile) "` + filepath.Join(dir, "nodir", "cpu.pprof") + `": its directory does not exist`}},
		{"cpuprofile is a directory", append(base, "--cpuprofile", dir), []string{`is a directory, want a file`}},
		{"cpuprofile", append(base, "--cpuprofile", filepath.Join(dir, "cpu.pprof")), []string{""}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.want[0] == "" {
				_, _, err := parseServeArgs(tc.args, io.Discard)
				require.NoError(t, err)
				return
			}
			var stdout, stderr bytes.Buffer
			code := run(append([]string{"serve"}, tc.args...), &stdout, &stderr)
			require.Equal(t, 2, code, "stderr: %s", stderr.String())
			for _, w := range tc.want {
				require.Contains(t, stderr.String(), w)
			}
		})
	}
}

func TestServeUsage(t *testing.T) {
	var stdout, stderr bytes.Buffer
	require.Equal(t, 2, run([]string{"serve", "--data-dir", t.TempDir(), "extra"}, &stdout, &stderr))
	require.Contains(t, stderr.String(), "unexpected argument(s): extra")
	stderr.Reset()
	require.Equal(t, 2, run([]string{"serve", "--no-such-flag"}, &stdout, &stderr))
	require.Contains(t, stderr.String(), "flag provided but not defined: -no-such-flag")
	stderr.Reset()
	require.Equal(t, 0, run([]string{"serve", "--help"}, &stdout, &stderr))
	for _, f := range []string{"-config", "-data-dir", "-listen", "-role", "-repl-listen", "-primary", "-transport", "-metrics-listen",
		"-growth-factor", "-memtable-size", "-segment-size", "-value-threshold", "-sync", "-requirepass", "-cluster-token", "-log-format", "-log-level"} {
		require.Contains(t, stderr.String(), "  "+f+" ")
	}
	require.Contains(t, stderr.String(), "A primary with --repl-listen replicates to the backups that dial it")
}

func TestServeConfigFile(t *testing.T) {
	dir := t.TempDir()
	cfgPath := filepath.Join(dir, "talos.yaml")
	require.NoError(t, os.WriteFile(cfgPath, []byte(`
role: backup
primary: 10.1.1.1:7000
data_dir: `+dir+`
listen: 127.0.0.1:7380
engine:
  growth_factor: 8
  memtable_size: 16MiB
  sync: interval
  sync_interval: 10ms
limits:
  max_clients: 50
`), 0o644))
	cfg, r, err := parseServeArgs([]string{"--config", cfgPath}, io.Discard)
	require.NoError(t, err)
	require.Equal(t, "backup", cfg.Role)
	require.Equal(t, "127.0.0.1:7380", cfg.Listen)
	require.Equal(t, 8, cfg.Engine.GrowthFactor)
	require.Equal(t, int64(16<<20), r.memtableSize)
	require.Equal(t, 10*time.Millisecond, r.syncInterval)
	require.Equal(t, 50, cfg.Limits.MaxClients)
	require.Equal(t, "2MiB", cfg.Engine.SegmentSize, "unset keys keep their defaults")

	// Flags override the file.
	cfg, _, err = parseServeArgs([]string{"--config", cfgPath, "--role", "primary", "--primary", "", "--growth-factor", "12"}, io.Discard)
	require.NoError(t, err)
	require.Equal(t, "primary", cfg.Role)
	require.Equal(t, 12, cfg.Engine.GrowthFactor)

	// Unknown keys and bad values in the file are rejected by name.
	require.NoError(t, os.WriteFile(cfgPath, []byte("role: primary\nlisten_addr: x\n"), 0o644))
	var stderr bytes.Buffer
	require.Equal(t, 2, run([]string{"serve", "--config", cfgPath, "--data-dir", dir}, io.Discard, &stderr))
	require.Contains(t, stderr.String(), "field listen_addr not found")
	require.NoError(t, os.WriteFile(cfgPath, []byte("engine:\n  growth_factor: 99\n"), 0o644))
	stderr.Reset()
	require.Equal(t, 2, run([]string{"serve", "--config", cfgPath, "--data-dir", dir}, io.Discard, &stderr))
	require.Contains(t, stderr.String(), `invalid --growth-factor (config engine.growth_factor) "99"`)
	stderr.Reset()
	require.Equal(t, 2, run([]string{"serve", "--config", filepath.Join(dir, "missing.yaml")}, io.Discard, &stderr))
	require.Contains(t, stderr.String(), "missing.yaml: no such file or directory")
	// An empty file is an empty configuration.
	require.NoError(t, os.WriteFile(cfgPath, nil, 0o644))
	_, _, err = parseServeArgs([]string{"--config", cfgPath, "--data-dir", dir}, io.Discard)
	require.NoError(t, err)
}

// startServe runs `talosd serve` in-process with args until the returned
// stop function is called; stop returns runServe's error.
func startServe(t *testing.T, args ...string) (serveAddrs, func() error) {
	t.Helper()
	cfg, r, err := parseServeArgs(append(args, "--listen", "127.0.0.1:0", "--metrics-listen", "127.0.0.1:0"), io.Discard)
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	ready := make(chan serveAddrs, 1)
	done := make(chan error, 1)
	var logs bytes.Buffer
	go func() { done <- runServe(ctx, cfg, r, &lockedWriter{w: &logs}, func(a serveAddrs) { ready <- a }) }()
	select {
	case a := <-ready:
		stopped := false
		stop := func() error {
			if stopped {
				return nil
			}
			stopped = true
			cancel()
			return <-done
		}
		t.Cleanup(func() { stop() })
		return a, stop
	case err := <-done:
		cancel()
		t.Fatalf("serve exited: %v", err)
	}
	return serveAddrs{}, nil
}

// lockedWriter serialises writes from the node's goroutines.
type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

func newTestClient(addr, password string) *redis.Client {
	return redis.NewClient(&redis.Options{Addr: addr, Protocol: 3, Password: password, MaxRetries: -1,
		MaintNotificationsConfig: &maintnotifications.Config{Mode: maintnotifications.ModeDisabled}})
}

// TestServeEngine runs a node on a real engine directory: writes survive a
// shutdown and restart, metrics are exported, and a backup opened on the
// directory serves reads and refuses writes naming its primary.
func TestServeEngine(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	goroutinesBefore := runtime.NumGoroutine()
	addrs, stop := startServe(t, "--data-dir", dir, "--requirepass", "pw", "--segment-size", "1MiB", "--memtable-size", "1MiB")
	c := newTestClient(addrs.client, "pw")
	for i := 0; i < 2000; i++ {
		require.NoError(t, c.Set(ctx, "key:"+strings.Repeat("x", i%7)+string(rune('a'+i%26)), strings.Repeat("v", i), 0).Err())
	}
	require.NoError(t, c.Set(ctx, "k", "v", 0).Err())
	require.NoError(t, c.HSet(ctx, "h", "f", "1", "g", "2").Err())
	require.Equal(t, "v", c.Get(ctx, "k").Val())
	require.Contains(t, c.Info(ctx, "persistence").Val(), "engine_dir:"+dir)

	httpc := &http.Client{Transport: &http.Transport{}}
	defer httpc.CloseIdleConnections()
	resp, err := httpc.Get("http://" + addrs.metrics + "/metrics")
	require.NoError(t, err)
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	require.NoError(t, err)
	for _, m := range []string{`talos_server_commands_total{cmd="set"} 2001`, `talos_server_command_duration_seconds_bucket{cmd="get"`,
		`talos_engine_io_bytes_total{kind="vlog",op="write"}`, `talos_engine_commits_total`, `talos_engine_level_tables{level="0"}`, `go_goroutines`} {
		require.Contains(t, string(body), m)
	}
	c.Close()
	require.NoError(t, stop())

	// Restart: every acknowledged write is there.
	addrs, stop = startServe(t, "--data-dir", dir, "--segment-size", "1MiB")
	c = newTestClient(addrs.client, "")
	require.Equal(t, "v", c.Get(ctx, "k").Val())
	require.Equal(t, map[string]string{"f": "1", "g": "2"}, c.HGetAll(ctx, "h").Val())
	require.Equal(t, int64(182+2), c.DBSize(ctx).Val()) // 182 = lcm(7, 26) distinct "key:" names
	c.Close()
	require.NoError(t, stop())

	// The store keeps its segment size: another one is refused by name.
	cfg, r, err := parseServeArgs([]string{"--data-dir", dir, "--segment-size", "4MiB"}, io.Discard)
	require.NoError(t, err)
	err = runServe(ctx, cfg, r, io.Discard, nil)
	require.EqualError(t, err, "bad configuration:\ninvalid --segment-size (config engine.segment_size) \"4MiB\": the store in "+dir+" was created with 1MiB segments; a store keeps its segment size")

	// A backup on the directory: reads, READONLY on writes.
	addrs, stop = startServe(t, "--data-dir", dir, "--segment-size", "1MiB", "--role", "backup", "--primary", "10.9.9.9:7000")
	c = newTestClient(addrs.client, "")
	require.Equal(t, "v", c.Get(ctx, "k").Val())
	require.EqualError(t, c.Set(ctx, "k", "x", 0).Err(), "READONLY You can't write against a read only replica. primary: 10.9.9.9:7000")
	require.Contains(t, c.Info(ctx, "replication").Val(), "role:slave")
	c.Close()
	require.NoError(t, stop())

	// Three nodes started and stopped: none left a goroutine behind.
	httpc.CloseIdleConnections()
	deadline := time.Now().Add(10 * time.Second)
	for runtime.NumGoroutine() > goroutinesBefore {
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<20)
			t.Fatalf("%d goroutines, want at most %d:\n%s", runtime.NumGoroutine(), goroutinesBefore, buf[:runtime.Stack(buf, true)])
		}
		runtime.Gosched()
	}
}

package main

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"
)

// The tests in this file run real talosd processes on 127.0.0.1: a
// primary and two backups replicating over the TCP transport.

var buildOnce struct {
	sync.Once
	path string
	err  error
}

// The process tests run over TCP on 127.0.0.1 by default. The Soft-RoCE VM
// harness runs them over rxe with TALOS_TEST_TRANSPORT=rdma and
// TALOS_RDMA_ADDR=10.9.9.9 (rdma_cm needs a real address), and with
// TALOSD_BIN naming a prebuilt talosd (the guest has no Go toolchain).
func testTransport() (transport, host string) {
	transport, host = "tcp", "127.0.0.1"
	if v := os.Getenv("TALOS_TEST_TRANSPORT"); v != "" {
		transport = v
	}
	if v := os.Getenv("TALOS_RDMA_ADDR"); v != "" {
		host = v
	}
	return transport, host
}

// patience scales the process tests' deadlines (TCG guests are slow).
func patience(d time.Duration) time.Duration {
	if v, err := strconv.Atoi(os.Getenv("TALOS_TEST_PATIENCE")); err == nil && v > 1 {
		return d * time.Duration(v)
	}
	return d
}

// talosdBinary builds talosd once per test binary (or uses TALOSD_BIN).
func talosdBinary(t *testing.T) string {
	if p := os.Getenv("TALOSD_BIN"); p != "" {
		abs, err := filepath.Abs(p)
		require.NoError(t, err)
		return abs
	}
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "talosd-bin")
		if err != nil {
			buildOnce.err = err
			return
		}
		buildOnce.path = filepath.Join(dir, "talosd")
		out, err := exec.Command("go", "build", "-o", buildOnce.path, ".").CombinedOutput()
		if err != nil {
			buildOnce.err = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	require.NoError(t, buildOnce.err)
	return buildOnce.path
}

// freePorts returns n distinct free TCP ports on the test host address.
func freePorts(t *testing.T, n int) []int {
	ports := make([]int, n)
	for i := range ports {
		ports[i] = freePortRun(t, 1)
	}
	return ports
}

// portCursor is where freePortRun looks next: below the kernel's
// ephemeral range, from an offset that differs between test processes.
var portCursor atomic.Int64

// freePortRun returns the first of n consecutive TCP ports that are free
// on the test host address (`talosd cluster up --port P` listens on P,
// P+1, ...). The ports lie below the kernel's ephemeral range: a port from
// that range, free when probed, may be taken by an outgoing connection
// (one node's replication connection) before the node meant to listen on
// it starts, which made TestClusterUp fail with "address already in use".
func freePortRun(t *testing.T, n int) int {
	t.Helper()
	const low = 10000
	high := 32768 // Linux's default ip_local_port_range starts here
	if b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range"); err == nil {
		if f := strings.Fields(string(b)); len(f) == 2 {
			if v, err := strconv.Atoi(f[0]); err == nil && v > low+1000 {
				high = v
			}
		}
	}
	span := int64(high - low - n)
	portCursor.CompareAndSwap(0, int64(os.Getpid())*7919%span+1)
	_, host := testTransport()
	for range span {
		base := low + int((portCursor.Add(int64(n))-int64(n))%span)
		var ls []net.Listener
		for p := base; p < base+n; p++ {
			l, err := net.Listen("tcp", net.JoinHostPort(host, strconv.Itoa(p)))
			if err != nil {
				break
			}
			ls = append(ls, l)
		}
		for _, l := range ls {
			l.Close()
		}
		if len(ls) == n {
			return base
		}
	}
	t.Fatalf("no %d consecutive free TCP ports in [%d, %d)", n, low, high)
	return 0
}

type proc struct {
	name string
	args []string
	cmd  *exec.Cmd
	log  *bytes.Buffer
	mu   *sync.Mutex
	done chan struct{}
}

type lockedBuf struct {
	mu  *sync.Mutex
	buf *bytes.Buffer
}

func (w lockedBuf) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.buf.Write(p)
}

func startProc(t *testing.T, bin, name string, args []string) *proc {
	p := &proc{name: name, args: args, log: new(bytes.Buffer), mu: new(sync.Mutex), done: make(chan struct{})}
	p.cmd = exec.Command(bin, args...)
	p.cmd.Stdout = lockedBuf{p.mu, p.log}
	p.cmd.Stderr = p.cmd.Stdout
	require.NoError(t, p.cmd.Start())
	go func() {
		p.cmd.Wait()
		close(p.done)
	}()
	t.Cleanup(func() {
		if t.Failed() {
			// A Go process dumps its goroutines on SIGQUIT: what a hung
			// node was doing goes into its log below.
			p.cmd.Process.Signal(syscall.SIGQUIT)
			select {
			case <-p.done:
			case <-time.After(5 * time.Second):
			}
		}
		p.cmd.Process.Kill()
		<-p.done
		if t.Failed() {
			p.mu.Lock()
			t.Logf("--- %s log:\n%s", p.name, p.log.String())
			p.mu.Unlock()
		}
	})
	return p
}

func (p *proc) kill9() {
	p.cmd.Process.Signal(syscall.SIGKILL)
	<-p.done
}

func (p *proc) stop(t *testing.T) {
	p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(patience(60 * time.Second)):
		t.Fatalf("%s did not stop within %v of SIGTERM", p.name, patience(60*time.Second))
	}
	require.True(t, p.cmd.ProcessState.Success(), "%s exited with %v", p.name, p.cmd.ProcessState)
}

// eventually polls cond (an external process's state) until it holds or
// the deadline passes.
func eventually(t *testing.T, what string, timeout time.Duration, cond func() bool) {
	timeout = patience(timeout)
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", timeout, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

type testCluster struct {
	min    int    // --min-replicas of the primary
	mode   string // --replication of every node ("": the default)
	bin    string
	dir    string
	client []int // client ports
	repl   []int // replication ports
	procs  []*proc
}

func (c *testCluster) addr(port int) string {
	_, host := testTransport()
	return net.JoinHostPort(host, strconv.Itoa(port))
}

func (c *testCluster) args(i int) []string {
	transport, _ := testTransport()
	a := []string{"serve", "--data-dir", filepath.Join(c.dir, fmt.Sprintf("node%d", i)),
		"--listen", c.addr(c.client[i]),
		"--repl-listen", c.addr(c.repl[i]),
		"--transport", transport, "--cluster-token", "test-cluster-token-0123",
		"--segment-size", "64KiB", "--memtable-size", "1MiB", "--sync", "never"}
	if c.mode != "" {
		a = append(a, "--replication", c.mode)
	}
	if i == 0 {
		return append(a, "--role", "primary", "--min-replicas", strconv.Itoa(c.min))
	}
	var peers []string
	for j := 1; j < len(c.repl); j++ {
		if j != i {
			peers = append(peers, c.addr(c.repl[j]))
		}
	}
	return append(a, "--role", "backup", "--node-id", fmt.Sprintf("backup-%d", i),
		"--primary", c.addr(c.repl[0]), "--peers", strings.Join(peers, ","))
}

func (c *testCluster) start(t *testing.T, i int) {
	name := "primary"
	if i > 0 {
		name = fmt.Sprintf("backup-%d", i)
	}
	p := startProc(t, c.bin, name, c.args(i))
	if i < len(c.procs) {
		c.procs[i] = p
	} else {
		c.procs = append(c.procs, p)
	}
}

func (c *testCluster) redis(i int) *redis.Client {
	return redis.NewClient(&redis.Options{Addr: c.addr(c.client[i]), MaxRetries: -1, ReadTimeout: patience(3 * time.Second)})
}

// restartBackupUnderLoad kill -9s backup-2 of a two-backup cluster while w
// writes through r, waits for the primary to drop it and for alone more
// writes acknowledged without it, restarts it and waits until it has
// caught up and is back in the replica set.
func (c *testCluster) restartBackupUnderLoad(t *testing.T, r *redis.Client, w *writer, alone int) {
	c.procs[2].kill9()
	eventually(t, "the primary to drop backup-2", 30*time.Second, func() bool {
		return connectedBackups(context.Background(), r) == 1
	})
	before := w.count()
	eventually(t, "writes acknowledged with backup-1 alone", 60*time.Second, func() bool { return w.count() >= before+alone })
	c.start(t, 2)
	eventually(t, "backup-2 caught up and back in the replica set", 60*time.Second, func() bool {
		return connectedBackups(context.Background(), r) == 2
	})
}

func connectedBackups(ctx context.Context, r *redis.Client) int {
	info, err := r.Info(ctx, "replication").Result()
	if err != nil {
		return -1
	}
	for _, l := range strings.Split(info, "\r\n") {
		if v, ok := strings.CutPrefix(l, "connected_slaves:"); ok {
			n, _ := strconv.Atoi(v)
			return n
		}
	}
	return -1
}

func startTestCluster(t *testing.T, backups, minReplicas int) *testCluster {
	return startModeCluster(t, "", backups, minReplicas)
}

func startModeCluster(t *testing.T, mode string, backups, minReplicas int) *testCluster {
	ports := freePorts(t, 2*(backups+1))
	c := &testCluster{min: minReplicas, mode: mode, bin: talosdBinary(t), dir: t.TempDir(), client: ports[:backups+1], repl: ports[backups+1:]}
	for i := 0; i <= backups; i++ {
		c.start(t, i)
	}
	r := c.redis(0)
	defer r.Close()
	eventually(t, "every backup in the replica set", 60*time.Second, func() bool {
		return connectedBackups(context.Background(), r) == backups
	})
	return c
}

// writer SETs distinct keys until stopped, recording each acknowledged one.
type writer struct {
	mu    sync.Mutex
	acked map[string]string
	fails int
	stop  chan struct{}
	done  chan struct{}
}

func startWriter(r *redis.Client, prefix string) *writer {
	w := &writer{acked: map[string]string{}, stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(w.done)
		ctx := context.Background()
		for i := 0; ; i++ {
			select {
			case <-w.stop:
				return
			default:
			}
			k := fmt.Sprintf("%s-%06d", prefix, i)
			v := fmt.Sprintf("value-%d-%s", i, strings.Repeat("v", i%300))
			if err := r.Set(ctx, k, v, 0).Err(); err != nil {
				w.mu.Lock()
				w.fails++
				w.mu.Unlock()
				continue
			}
			w.mu.Lock()
			w.acked[k] = v
			w.mu.Unlock()
		}
	}()
	return w
}

func (w *writer) count() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return len(w.acked)
}

func (w *writer) halt() map[string]string {
	close(w.stop)
	<-w.done
	return w.acked
}

func requireAll(t *testing.T, r *redis.Client, acked map[string]string) {
	ctx := context.Background()
	for k, v := range acked {
		got, err := r.Get(ctx, k).Result()
		require.NoError(t, err, "acknowledged key %s", k)
		require.Equal(t, v, got, "acknowledged key %s", k)
	}
}

func TestProcessBackupRestartCatchesUp(t *testing.T) {
	// One backup may fail without stopping writes.
	c := startTestCluster(t, 2, 1)
	r := c.redis(0)
	defer r.Close()
	w := startWriter(r, "k")
	eventually(t, "1000 acknowledged writes", 60*time.Second, func() bool { return w.count() >= 1000 })
	c.restartBackupUnderLoad(t, r, w, 500)
	before := w.count()
	eventually(t, "writes acknowledged while backup-2 catches up", 60*time.Second, func() bool { return w.count() >= before+1000 })
	acked := w.halt()
	requireAll(t, r, acked)
	// Writes to a backup are refused, naming the primary.
	b := c.redis(1)
	defer b.Close()
	err := b.Set(context.Background(), "x", "y", 0).Err()
	require.Error(t, err)
	require.Contains(t, err.Error(), "READONLY")
	require.Contains(t, err.Error(), strconv.Itoa(c.repl[0]))
	for _, p := range c.procs {
		p.stop(t)
	}
	out, err := exec.Command(c.bin, "verify", "--data-dir", filepath.Join(c.dir, "node0"),
		filepath.Join(c.dir, "node1"), filepath.Join(c.dir, "node2")).CombinedOutput()
	require.NoError(t, err, "talosd verify:\n%s", out)
	t.Logf("%d writes acknowledged; %s", len(acked), bytes.TrimSpace(out))
}

// TestProcessBuildIndexBackupRestartCatchesUp: in build-index mode a backup
// killed under load and restarted catches up from the primary's snapshot,
// then builds its own index from the live stream; promoted after the
// primary is killed, it serves every acknowledged write.
func TestProcessBuildIndexBackupRestartCatchesUp(t *testing.T) {
	c := startModeCluster(t, "build-index", 2, 1)
	r := c.redis(0)
	defer r.Close()
	w := startWriter(r, "b")
	eventually(t, "1000 acknowledged writes", 60*time.Second, func() bool { return w.count() >= 1000 })
	c.restartBackupUnderLoad(t, r, w, 1000)
	before := w.count()
	eventually(t, "writes acknowledged after the catch-up", 60*time.Second, func() bool { return w.count() >= before+1000 })
	c.procs[0].kill9()
	acked := w.halt()
	out, err := exec.Command(c.bin, "promote", "--addr", c.addr(c.client[2])).CombinedOutput()
	require.NoError(t, err, "talosd promote:\n%s", out)
	nr := c.redis(2)
	defer nr.Close()
	requireAll(t, nr, acked)
	for _, p := range c.procs[1:] {
		p.stop(t)
	}
	out, err = exec.Command(c.bin, "check", "--data-dir", filepath.Join(c.dir, "node2")).CombinedOutput()
	require.NoError(t, err, "talosd check of the promoted backup:\n%s", out)
	t.Logf("%d writes acknowledged, all served by backup-2 after its catch-up and promotion", len(acked))
}

func TestProcessPromoteAfterPrimaryKill(t *testing.T) {
	c := startTestCluster(t, 2, 2)
	r := c.redis(0)
	defer r.Close()
	w := startWriter(r, "p")
	eventually(t, "3000 acknowledged writes", 60*time.Second, func() bool { return w.count() >= 3000 })
	c.procs[0].kill9()
	acked := w.halt()
	out, err := exec.Command(c.bin, "promote", "--addr", c.addr(c.client[1])).CombinedOutput()
	require.NoError(t, err, "talosd promote:\n%s", out)
	require.Contains(t, string(out), "talos_epoch:2")
	// The replicas really used the transport asked for.
	transport, _ := testTransport()
	want := map[string]string{"tcp": "talos_transport:tcp", "rdma": "talos_transport:verbs"}[transport]
	require.Contains(t, string(out), want)
	for _, l := range strings.Split(string(out), "\n") {
		if strings.HasPrefix(l, "talos_transport") || strings.HasPrefix(l, "talos_rdma_device") {
			t.Logf("promoted backup: %s", strings.TrimSpace(l))
		}
	}
	nr := c.redis(1)
	defer nr.Close()
	requireAll(t, nr, acked)
	// The new primary takes writes; backup-2 attaches to it and catches up.
	require.NoError(t, nr.Set(context.Background(), "after", "promotion", 0).Err())
	eventually(t, "backup-2 attached to the new primary", 60*time.Second, func() bool {
		return connectedBackups(context.Background(), nr) == 1
	})
	c.procs[1].stop(t)
	c.procs[2].stop(t)
	vout, err := exec.Command(c.bin, "verify", "--data-dir", filepath.Join(c.dir, "node1"), filepath.Join(c.dir, "node2")).CombinedOutput()
	require.NoError(t, err, "talosd verify:\n%s", vout)
	t.Logf("%d writes acknowledged before the kill, all served by the promoted backup", len(acked))
}

package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

func init() {
	register(&command{
		name:    "cluster",
		summary: "run a local cluster: 'talosd cluster up' starts a primary and its backups",
		run:     runCluster,
	})
}

// clusterConfig is what `talosd cluster up` runs.
type clusterConfig struct {
	replicas    int
	minReplicas int
	dir         string
	port        int
	replPort    int
	transport   string
	replication string
	ack         string
	bind        string
	extra       []string // passed to every talosd serve
}

func runCluster(args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 || args[0] != "up" {
		fmt.Fprintln(stderr, "Usage: talosd cluster up [flags]   (run 'talosd cluster up --help')")
		return errUsage
	}
	fs := newFlagSet("cluster up", "[--replicas 2] [--dir DIR] [--port 6380] [-- serve flags...]", stderr)
	var c clusterConfig
	fs.IntVar(&c.replicas, "replicas", 2, "number of backups, 0..8")
	fs.IntVar(&c.minReplicas, "min-replicas", -1, "backups that must hold a write before it is acknowledged (-1: 1 when there are backups, so every acknowledged write survives the loss of any one node; writes fail while fewer are connected)")
	fs.StringVar(&c.dir, "dir", "./talos-cluster", "directory holding one data directory per node (node0 is the first primary)")
	fs.IntVar(&c.port, "port", 6380, "client (Redis protocol) port of the primary; backup i listens on port+i")
	fs.IntVar(&c.replPort, "repl-port", 0, "replication port of node 0; node i uses repl-port+i (0: port+1000)")
	fs.StringVar(&c.transport, "transport", "auto", "replication transport: rdma, tcp, or auto (an RDMA device if one is found, else tcp)")
	fs.StringVar(&c.replication, "replication", "ship-index", "how backups keep their index: ship-index")
	fs.StringVar(&c.ack, "ack", "memory", "when a backup holds a write: memory (its NIC has it) or disk (it synced it)")
	fs.StringVar(&c.bind, "bind", "127.0.0.1", "address every node listens on (an RDMA transport needs the address of the RDMA device's interface)")
	if err := parseFlags(fs, args[1:], true); err != nil {
		return err
	}
	c.extra = fs.Args()
	var bad []string
	if c.replicas < 0 || c.replicas > 8 {
		bad = append(bad, fmt.Sprintf("--replicas %d: want 0..8", c.replicas))
	}
	if c.minReplicas == -1 {
		c.minReplicas = min(1, c.replicas)
	}
	if c.minReplicas < 0 || c.minReplicas > c.replicas {
		bad = append(bad, fmt.Sprintf("--min-replicas %d: want 0..%d (the number of backups)", c.minReplicas, c.replicas))
	}
	if c.port < 1 || c.port+c.replicas > 65535 {
		bad = append(bad, fmt.Sprintf("--port %d: want 1..%d", c.port, 65535-c.replicas))
	}
	if c.replPort == 0 {
		c.replPort = c.port + 1000
	}
	if c.replPort < 1 || c.replPort+c.replicas > 65535 {
		bad = append(bad, fmt.Sprintf("--repl-port %d: want 1..%d", c.replPort, 65535-c.replicas))
	}
	if net.ParseIP(c.bind) == nil {
		bad = append(bad, fmt.Sprintf("--bind %q: not an IP address", c.bind))
	}
	if len(bad) > 0 {
		for _, b := range bad {
			fmt.Fprintln(stderr, "talosd cluster up:", b)
		}
		return errUsage
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	return clusterUp(ctx, c, stdout, stderr)
}

// clusterToken returns the cluster's token, made once and kept in dir.
func clusterToken(dir string) (string, error) {
	path := filepath.Join(dir, "cluster.token")
	if b, err := os.ReadFile(path); err == nil {
		return strings.TrimSpace(string(b)), nil
	} else if !errors.Is(err, os.ErrNotExist) {
		return "", err
	}
	var raw [16]byte
	if _, err := rand.Read(raw[:]); err != nil {
		return "", err
	}
	tok := hex.EncodeToString(raw[:])
	if err := os.WriteFile(path, []byte(tok+"\n"), 0o600); err != nil {
		return "", err
	}
	return tok, nil
}

// node is one talosd serve child process.
type clusterNode struct {
	name string
	args []string
	cmd  *exec.Cmd
	done chan struct{} // closed when the process has exited; err is set
	err  error
}

func (c clusterConfig) nodeArgs(i int, token string) []string {
	addr := func(port int) string { return net.JoinHostPort(c.bind, strconv.Itoa(port)) }
	args := []string{"serve",
		"--data-dir", filepath.Join(c.dir, fmt.Sprintf("node%d", i)),
		"--listen", addr(c.port + i),
		"--repl-listen", addr(c.replPort + i),
		"--transport", c.transport,
		"--cluster-token", token,
		"--replication", c.replication,
		"--ack", c.ack,
	}
	if i == 0 {
		args = append(args, "--role", "primary", "--min-replicas", strconv.Itoa(c.minReplicas))
	} else {
		args = append(args, "--role", "backup", "--node-id", fmt.Sprintf("backup-%d", i), "--primary", addr(c.replPort))
		// After a promotion a backup reconnects to whichever replica serves.
		var peers []string
		for j := 1; j <= c.replicas; j++ {
			if j != i {
				peers = append(peers, addr(c.replPort+j))
			}
		}
		if len(peers) > 0 {
			args = append(args, "--peers", strings.Join(peers, ","))
		}
	}
	return append(args, c.extra...)
}

func clusterUp(ctx context.Context, c clusterConfig, stdout, stderr io.Writer) error {
	if err := os.MkdirAll(c.dir, 0o755); err != nil {
		return fmt.Errorf("--dir: %w", err)
	}
	token, err := clusterToken(c.dir)
	if err != nil {
		return fmt.Errorf("cluster token in %s: %w", c.dir, err)
	}
	self, err := os.Executable()
	if err != nil {
		return fmt.Errorf("finding the talosd binary: %w", err)
	}
	var nodes []*clusterNode
	var logMu sync.Mutex
	exits := make(chan *clusterNode, c.replicas+1)
	for i := 0; i <= c.replicas; i++ {
		n := &clusterNode{args: c.nodeArgs(i, token), done: make(chan struct{})}
		if i > 0 {
			n.name = fmt.Sprintf("backup-%d", i)
		} else {
			n.name = "primary"
		}
		n.cmd = exec.Command(self, n.args...)
		n.cmd.SysProcAttr = childAttrs()
		n.cmd.Stdout = &prefixWriter{w: stderr, prefix: n.name + " | ", mu: &logMu}
		n.cmd.Stderr = n.cmd.Stdout
		if err := n.cmd.Start(); err != nil {
			stopNodes(nodes, stderr)
			return fmt.Errorf("starting %s: %w", n.name, err)
		}
		// The PID file lets an operator (or a test) signal one node.
		pidFile := filepath.Join(c.dir, fmt.Sprintf("node%d.pid", i))
		if err := os.WriteFile(pidFile, []byte(strconv.Itoa(n.cmd.Process.Pid)+"\n"), 0o644); err != nil {
			fmt.Fprintf(stderr, "talosd cluster: writing %s: %v\n", pidFile, err)
		}
		go func() {
			n.err = n.cmd.Wait()
			close(n.done)
			exits <- n
		}()
		nodes = append(nodes, n)
	}
	fmt.Fprintf(stdout, "Talos cluster up in %s: 1 primary, %d backup(s) (writes held by at least %d), transport %s, %s, ack %s\n",
		c.dir, c.replicas, c.minReplicas, c.transport, c.replication, c.ack)
	fmt.Fprintf(stdout, "  primary   redis-cli -h %s -p %d\n", c.bind, c.port)
	for i := 1; i <= c.replicas; i++ {
		fmt.Fprintf(stdout, "  backup-%d  redis-cli -h %s -p %d   (read-only)\n", i, c.bind, c.port+i)
	}
	fmt.Fprintf(stdout, "Node PIDs are in %s/node<i>.pid. Press Ctrl-C to stop the cluster.\n", c.dir)

	// Run until a signal. A node that exits is reported; the others keep
	// running (a backup can be promoted when the primary is gone).
	for exited := 0; exited < len(nodes); exited++ {
		select {
		case <-ctx.Done():
			fmt.Fprintln(stdout, "stopping the cluster")
			return stopNodes(nodes, stderr)
		case n := <-exits:
			fmt.Fprintf(stderr, "talosd cluster: %s exited: %v\n", n.name, exitText(n.err))
		}
	}
	return errors.New("talosd cluster: every node exited")
}

func exitText(err error) string {
	if err == nil {
		return "status 0"
	}
	return err.Error()
}

// stopNodes stops the primary first (it flushes and waits for its backups
// to acknowledge), then the backups, each with SIGTERM and a grace period.
func stopNodes(nodes []*clusterNode, stderr io.Writer) error {
	var errs []error
	for _, n := range nodes {
		if n.cmd.Process == nil {
			continue
		}
		select {
		case <-n.done:
			continue // exited earlier, already reported
		default:
		}
		n.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-n.done:
			if n.err != nil && !isSignalExit(n.err) {
				errs = append(errs, fmt.Errorf("%s: %w", n.name, n.err))
			}
		case <-time.After(60 * time.Second):
			fmt.Fprintf(stderr, "talosd cluster: %s did not stop within 60s; killing it\n", n.name)
			n.cmd.Process.Kill()
			errs = append(errs, fmt.Errorf("%s: killed after 60s", n.name))
		}
	}
	return errors.Join(errs...)
}

func isSignalExit(err error) bool {
	var ee *exec.ExitError
	return errors.As(err, &ee) && !ee.Exited()
}

// prefixWriter prefixes each line a child writes with its node name.
type prefixWriter struct {
	w      io.Writer
	prefix string
	mu     *sync.Mutex
	buf    []byte
}

func (p *prefixWriter) Write(b []byte) (int, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.buf = append(p.buf, b...)
	for {
		i := strings.IndexByte(string(p.buf), '\n')
		if i < 0 {
			break
		}
		fmt.Fprintf(p.w, "%s%s\n", p.prefix, p.buf[:i])
		p.buf = p.buf[i+1:]
	}
	return len(b), nil
}

package main

import (
	"bufio"
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
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"
)

// TestClusterUp runs `talosd cluster up` as a user would: it prints where
// to connect, writes through the primary reach the backups (a promoted
// backup serves them), writes to a backup are refused with READONLY, and
// SIGTERM stops every node cleanly.
func TestClusterUp(t *testing.T) {
	bin := talosdBinary(t)
	port := freePortRun(t, 3) // primary, backup-1, backup-2
	dir := t.TempDir()
	transport, host := testTransport()
	cmd := exec.Command(bin, "cluster", "up", "--replicas", "2", "--dir", dir, "--bind", host,
		"--port", fmt.Sprint(port), "--repl-port", fmt.Sprint(freePortRun(t, 3)), "--transport", transport,
		"--", "--segment-size", "64KiB", "--memtable-size", "1MiB")
	stdout, err := cmd.StdoutPipe()
	require.NoError(t, err)
	logs := lockedBuf{mu: new(sync.Mutex), buf: new(bytes.Buffer)}
	cmd.Stderr = logs
	require.NoError(t, cmd.Start())
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	t.Cleanup(func() {
		cmd.Process.Kill()
		if t.Failed() {
			t.Logf("cluster up log:\n%s", logs.buf.String())
		}
	})
	sc := bufio.NewScanner(stdout)
	var banner []string
	for sc.Scan() {
		banner = append(banner, sc.Text())
		if strings.Contains(sc.Text(), "Press Ctrl-C") {
			break
		}
	}
	text := strings.Join(banner, "\n")
	require.Contains(t, text, fmt.Sprintf("primary   redis-cli -h %s -p %d", host, port))
	require.Contains(t, text, fmt.Sprintf("backup-2  redis-cli -h %s -p %d", host, port+2))
	go func() {
		for sc.Scan() {
		}
	}()

	ctx := context.Background()
	addr := func(port int) string { return net.JoinHostPort(host, strconv.Itoa(port)) }
	p := redis.NewClient(&redis.Options{Addr: addr(port), ReadTimeout: patience(3 * time.Second)})
	defer p.Close()
	eventually(t, "both backups in the replica set", 60*time.Second, func() bool { return connectedBackups(ctx, p) == 2 })
	for i := 0; i < 500; i++ {
		require.NoError(t, p.Set(ctx, fmt.Sprintf("user:%04d", i), fmt.Sprintf("v%d", i), 0).Err())
	}
	b2 := redis.NewClient(&redis.Options{Addr: addr(port + 2), ReadTimeout: patience(3 * time.Second)})
	defer b2.Close()
	err = b2.Set(ctx, "x", "y", 0).Err()
	require.Error(t, err)
	require.Contains(t, err.Error(), "READONLY")

	// The primary dies; backup-2 is promoted and serves every write the
	// primary acknowledged, and takes writes of its own.
	pid, err := os.ReadFile(filepath.Join(dir, "node0.pid"))
	require.NoError(t, err)
	n, err := strconv.Atoi(strings.TrimSpace(string(pid)))
	require.NoError(t, err)
	require.NoError(t, syscall.Kill(n, syscall.SIGKILL))
	out, err := exec.Command(bin, "promote", "--addr", addr(port+2)).CombinedOutput()
	require.NoError(t, err, "%s", out)
	for i := 0; i < 500; i++ {
		v, err := b2.Get(ctx, fmt.Sprintf("user:%04d", i)).Result()
		require.NoError(t, err)
		require.Equal(t, fmt.Sprintf("v%d", i), v)
	}
	require.NoError(t, b2.Set(ctx, "written", "on the promoted backup", 0).Err())

	require.NoError(t, cmd.Process.Signal(syscall.SIGTERM))
	select {
	case err := <-done:
		// The killed primary was reported; the others stopped cleanly.
		require.NoError(t, err, "cluster up exit")
	case <-time.After(patience(90 * time.Second)):
		t.Fatal("cluster up did not stop within 90s of SIGTERM")
	}
	require.FileExists(t, filepath.Join(dir, "cluster.token"))
}

package bench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/redis/go-redis/v9"
)

// ClusterOptions configure a local talosd cluster: a primary and Replicas
// backups, each a `talosd serve` process on Host.
type ClusterOptions struct {
	// Binary is the talosd executable (required; BuildTalosd makes one).
	Binary string
	// Mode is the replication mode, ModeShipIndex or ModeBuildIndex.
	// Zero: ModeShipIndex.
	Mode string
	// Replicas is the number of backups, 0..8. The primary acknowledges a
	// write once every backup holds it (--min-replicas Replicas).
	Replicas int
	// GrowthFactor is the LSM level size ratio. Zero: talosd's default.
	GrowthFactor int
	// Transport is "tcp" or "rdma". Zero: "tcp".
	Transport string
	// Host is the address every node listens on. Zero: 127.0.0.1.
	Host string
	// Threads is the size of the client's connection pool (one per runner
	// thread). Zero: 2.
	Threads int
	// MemtableSize and SegmentSize are passed to talosd as given (e.g.
	// "1MiB"). Zero: talosd's defaults.
	MemtableSize, SegmentSize string
	// ValueThreshold is talosd's --value-threshold (values shorter than
	// it live inline in the index). Empty: talosd's default.
	ValueThreshold string
	// Sync makes every node sync each group commit (--sync always);
	// otherwise --sync never, as the engine target.
	Sync bool
	// CPUProfilePrefix, if set, makes each node write a Go CPU profile of
	// its life to CPUProfilePrefix + its name + ".pprof" (talosd serve
	// --cpuprofile), finished when it stops.
	CPUProfilePrefix string
	// StartTimeout bounds the wait for every node to serve and every backup
	// to join. Zero: 60 s.
	StartTimeout time.Duration
	// StopTimeout bounds each node's shutdown after SIGTERM, after which it
	// is killed. Zero: 60 s.
	StopTimeout time.Duration
}

// EnsureDefaults fills zero fields with their defaults.
func (o *ClusterOptions) EnsureDefaults() {
	if o.Mode == "" {
		o.Mode = ModeShipIndex
	}
	if o.Transport == "" {
		o.Transport = "tcp"
	}
	if o.Host == "" {
		o.Host = "127.0.0.1"
	}
	if o.Threads == 0 {
		o.Threads = 2
	}
	if o.StartTimeout == 0 {
		o.StartTimeout = 60 * time.Second
	}
	if o.StopTimeout == 0 {
		o.StopTimeout = 60 * time.Second
	}
}

// Validate reports every invalid option, joined.
func (o *ClusterOptions) Validate() error {
	var errs []error
	bad := func(format string, args ...any) {
		errs = append(errs, fmt.Errorf("%w: cluster: "+format, append([]any{ErrConfig}, args...)...))
	}
	if o.Binary == "" {
		bad("no talosd binary")
	}
	if o.Mode != ModeShipIndex && o.Mode != ModeBuildIndex {
		bad("mode %q, want %s or %s", o.Mode, ModeShipIndex, ModeBuildIndex)
	}
	if o.Replicas < 0 || o.Replicas > 8 {
		bad("%d backups, want 0..8", o.Replicas)
	}
	if o.Transport != "tcp" && o.Transport != "rdma" {
		bad("transport %q, want tcp or rdma", o.Transport)
	}
	if o.Threads < 1 {
		bad("%d threads, want at least 1", o.Threads)
	}
	return errors.Join(errs...)
}

// NetReplicationPayload is the NetSource of talosd nodes: replication
// payload bytes the primary wrote into backups' rings.
const NetReplicationPayload = "replication-payload"

// ClusterTarget is a primary and its backups as talosd processes, driven
// through a Redis-protocol client (go-redis) whose pool holds one
// connection per runner thread: SET for puts, GET for gets, DEL for
// deletes and TALOS.RANGE start "" LIMIT n for scans.
//
// Its nodes are "primary" and "backup-1", ...: each measured through
// /proc/PID (CPU, block I/O, RSS) and through the node's Prometheus
// endpoint, scraped live: store I/O by kind from talos_engine_io_bytes_total
// (index maintenance = flush and compaction reads), and network bytes as the
// replication payload the primary wrote into each backup's rings
// (talos_replication_backup_bytes_total, vlog and chunk rings): sent by the
// primary (all backups), received by that backup. Client traffic and
// transport framing are not counted there; on the TCP transport the
// kernel's counters of each node's replication sockets give the same
// traffic with framing and acks, independently (WireTCPInfo).
//
// A ClusterTarget is safe for concurrent use. Close stops every process.
type ClusterTarget struct {
	opts   ClusterOptions
	dir    string
	procs  []*talosdProc // primary first
	client *redis.Client
	http   *http.Client
	nodes  []Node

	closeOnce sync.Once
	closeErr  error
}

// talosdProc is one running `talosd serve`.
type talosdProc struct {
	name        string
	clientAddr  string
	replAddr    string
	metricsAddr string
	logPath     string
	cmd         *exec.Cmd
	done        chan struct{} // closed when the process has exited
	waitErr     error         // set before done closes
}

// OpenCluster starts the cluster's processes with their data directories
// and logs (NAME.log) under dir, and returns once every backup has joined
// the primary's replica set. On error every started process is killed.
func OpenCluster(dir string, o ClusterOptions) (*ClusterTarget, error) {
	o.EnsureDefaults()
	if err := o.Validate(); err != nil {
		return nil, err
	}
	// Scrapes are uncompressed: on loopback gzip saves nothing, and a
	// node's CPU, which bench measures, would pay for it.
	t := &ClusterTarget{opts: o, dir: dir, http: &http.Client{Timeout: 10 * time.Second,
		Transport: &http.Transport{DisableCompression: true}}}
	ports, err := freePorts(o.Host, 3+2*o.Replicas)
	if err != nil {
		return nil, err
	}
	addr := func(i int) string { return net.JoinHostPort(o.Host, strconv.Itoa(ports[i])) }
	for i := 0; i <= o.Replicas; i++ {
		p := &talosdProc{name: "primary", clientAddr: addr(2 * i), metricsAddr: addr(2*i + 1)}
		if i > 0 {
			p.name = "backup-" + strconv.Itoa(i)
		} else {
			p.replAddr = addr(len(ports) - 1)
		}
		t.procs = append(t.procs, p)
	}
	for _, p := range t.procs {
		if err := t.start(p); err != nil {
			return nil, errors.Join(err, t.kill())
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), o.StartTimeout)
	defer cancel()
	if err := t.waitReady(ctx); err != nil {
		return nil, errors.Join(err, t.kill())
	}
	t.client = redis.NewClient(&redis.Options{Addr: t.procs[0].clientAddr, PoolSize: o.Threads,
		MinIdleConns: o.Threads, MaxRetries: -1, ReadTimeout: time.Minute, WriteTimeout: time.Minute})
	if err := t.client.Ping(ctx).Err(); err != nil {
		return nil, errors.Join(fmt.Errorf("%w: PING primary %s: %w", ErrTarget, t.procs[0].clientAddr, err), t.kill())
	}
	for i, p := range t.procs {
		n := &ProcNode{NodeName: p.name, PID: p.cmd.Process.Pid, StoreIO: t.storeIOFunc(p), NetSource: NetReplicationPayload}
		if i == 0 {
			n.Net = t.primaryNet
		} else {
			n.Net = t.backupNet(p.name)
		}
		if o.Transport == "tcp" && o.Replicas > 0 {
			port, err := addrPort(t.procs[0].replAddr)
			if err != nil {
				return nil, errors.Join(err, t.kill())
			}
			pid := p.cmd.Process.Pid
			n.Wire = func() (uint64, uint64, error) { return TCPSocketBytes(pid, port) }
			n.WireSource = WireTCPInfo
		}
		t.nodes = append(t.nodes, n)
	}
	return t, nil
}

// freePorts returns n distinct ports the kernel had free on host.
func freePorts(host string, n int) ([]int, error) {
	var ls []net.Listener
	defer func() {
		for _, l := range ls {
			l.Close()
		}
	}()
	var ports []int
	for i := 0; i < n; i++ {
		l, err := net.Listen("tcp", net.JoinHostPort(host, "0"))
		if err != nil {
			return nil, fmt.Errorf("%w: finding a free port on %s: %w", ErrTarget, host, err)
		}
		ls = append(ls, l)
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}

func (t *ClusterTarget) args(p *talosdProc) []string {
	o := t.opts
	a := []string{"serve", "--data-dir", filepath.Join(t.dir, p.name), "--listen", p.clientAddr,
		"--metrics-listen", p.metricsAddr, "--transport", o.Transport, "--replication", o.Mode,
		"--log-format", "json"}
	if o.GrowthFactor != 0 {
		a = append(a, "--growth-factor", strconv.Itoa(o.GrowthFactor))
	}
	if o.MemtableSize != "" {
		a = append(a, "--memtable-size", o.MemtableSize)
	}
	if o.SegmentSize != "" {
		a = append(a, "--segment-size", o.SegmentSize)
	}
	if o.ValueThreshold != "" {
		a = append(a, "--value-threshold", o.ValueThreshold)
	}
	if o.CPUProfilePrefix != "" {
		a = append(a, "--cpuprofile", o.CPUProfilePrefix+p.name+".pprof")
	}
	if o.Sync {
		a = append(a, "--sync", "always")
	} else {
		a = append(a, "--sync", "never")
	}
	if p.name == "primary" {
		a = append(a, "--role", "primary", "--min-replicas", strconv.Itoa(o.Replicas))
		if o.Replicas > 0 {
			a = append(a, "--repl-listen", p.replAddr)
		}
		return a
	}
	return append(a, "--role", "backup", "--node-id", p.name, "--primary", t.procs[0].replAddr)
}

// start runs p in its own process group (a terminal's Ctrl-C reaches only
// the benchmark, which stops the cluster itself) with SIGKILL as its
// parent-death signal, so a benchmark that dies leaves no process behind.
func (t *ClusterTarget) start(p *talosdProc) error {
	p.logPath = filepath.Join(t.dir, p.name+".log")
	logf, err := os.Create(p.logPath)
	if err != nil {
		return fmt.Errorf("bench: %w", err)
	}
	defer logf.Close() // the child holds its own descriptor
	p.cmd = exec.Command(t.opts.Binary, t.args(p)...)
	p.cmd.Stdout, p.cmd.Stderr = logf, logf
	p.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := p.cmd.Start(); err != nil {
		return fmt.Errorf("%w: starting %s %s: %w", ErrTarget, p.name, t.opts.Binary, err)
	}
	p.done = make(chan struct{})
	go func() {
		p.waitErr = p.cmd.Wait()
		close(p.done)
	}()
	return nil
}

// exited returns an error describing p's exit if it has exited.
func (p *talosdProc) exited() error {
	select {
	case <-p.done:
		return fmt.Errorf("%w: %s exited (%v); its log ends:\n%s", ErrTarget, p.name, p.waitErr, logTail(p.logPath))
	default:
		return nil
	}
}

// logTail returns the last 2 KiB of the file at path.
func logTail(path string) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return "(" + err.Error() + ")"
	}
	if len(b) > 2048 {
		b = b[len(b)-2048:]
	}
	return string(b)
}

// waitReady waits until every node serves metrics and the primary counts
// every backup as a member of its replica set.
func (t *ClusterTarget) waitReady(ctx context.Context) error {
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		var why error
		for _, p := range t.procs {
			if err := p.exited(); err != nil {
				return err
			}
		}
		for _, p := range t.procs {
			if _, err := t.scrape(ctx, p); err != nil {
				why = err
				break
			}
		}
		if why == nil {
			members, err := t.members(ctx)
			switch {
			case err != nil:
				why = err
			case members != t.opts.Replicas:
				why = fmt.Errorf("%d of %d backups are members of the primary's replica set", members, t.opts.Replicas)
			default:
				return nil
			}
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%w: cluster not ready after %v: %w", ErrTarget, t.opts.StartTimeout, why)
		case <-tick.C:
		}
	}
}

// scrape returns the samples of p's /metrics that bench reads: the
// families named (the node renders only those), or every talos_ family.
func (t *ClusterTarget) scrape(ctx context.Context, p *talosdProc, names ...string) ([]promSample, error) {
	u := "http://" + p.metricsAddr + "/metrics"
	if len(names) > 0 {
		u += "?" + url.Values{"name[]": names}.Encode()
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, fmt.Errorf("%w: %s metrics: %w", ErrTarget, p.name, err)
	}
	resp, err := t.http.Do(req)
	if err != nil {
		return nil, fmt.Errorf("%w: %s metrics: %w", ErrTarget, p.name, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
	if err != nil {
		return nil, fmt.Errorf("%w: %s metrics: %w", ErrTarget, p.name, err)
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("%w: %s metrics: HTTP %s", ErrTarget, p.name, resp.Status)
	}
	s, err := parsePromText(body, func(name string) bool { return strings.HasPrefix(name, "talos_") })
	if err != nil {
		return nil, fmt.Errorf("%s metrics: %w", p.name, err)
	}
	return s, nil
}

// members returns how many backups the primary counts toward --min-replicas.
func (t *ClusterTarget) members(ctx context.Context) (int, error) {
	s, err := t.scrape(ctx, t.procs[0])
	if err != nil {
		return 0, err
	}
	n := 0
	for _, x := range s {
		if x.name == "talos_replication_backup_member" && x.value == 1 {
			n++
		}
	}
	return n, nil
}

// StoreIOFromMetrics converts talos_engine_io_bytes_total{kind,op} samples
// into StoreIO (through StoreIOFromMap). Samples of other metrics are
// ignored; an op other than read or write is an error.
func storeIOFromMetrics(samples []promSample) (StoreIO, error) {
	m := map[string]uint64{}
	found := false
	for _, s := range samples {
		if s.name != "talos_engine_io_bytes_total" {
			continue
		}
		v, err := counterValue(s)
		if err != nil {
			return StoreIO{}, err
		}
		kind, op := s.labels["kind"], s.labels["op"]
		switch op {
		case "read":
			m[kind+"_bytes_read"] += v
		case "write":
			m[kind+"_bytes_written"] += v
		default:
			return StoreIO{}, fmt.Errorf("%w: talos_engine_io_bytes_total op %q, want read or write", ErrMetrics, op)
		}
		found = true
	}
	if !found {
		return StoreIO{}, fmt.Errorf("%w: no talos_engine_io_bytes_total samples", ErrMetrics)
	}
	return StoreIOFromMap(m)
}

func (t *ClusterTarget) storeIOFunc(p *talosdProc) func() (StoreIO, error) {
	return func() (StoreIO, error) {
		s, err := t.scrape(context.Background(), p)
		if err != nil {
			return StoreIO{}, err
		}
		return storeIOFromMetrics(s)
	}
}

// replicationBytes returns the payload bytes the primary has written into
// each backup's rings, by backup name.
func (t *ClusterTarget) replicationBytes() (map[string]uint64, error) {
	s, err := t.scrape(context.Background(), t.procs[0])
	if err != nil {
		return nil, err
	}
	out := map[string]uint64{}
	for _, x := range s {
		if x.name != "talos_replication_backup_bytes_total" {
			continue
		}
		v, err := counterValue(x)
		if err != nil {
			return nil, err
		}
		out[x.labels["backup"]] += v
	}
	return out, nil
}

func (t *ClusterTarget) primaryNet() (sent, received uint64, err error) {
	m, err := t.replicationBytes()
	for _, v := range m {
		sent += v
	}
	return sent, 0, err
}

func (t *ClusterTarget) backupNet(name string) func() (uint64, uint64, error) {
	return func() (uint64, uint64, error) {
		m, err := t.replicationBytes()
		return 0, m[name], err
	}
}

// Put implements Target.
func (t *ClusterTarget) Put(key, value []byte) error {
	if err := t.client.Do(context.Background(), "set", key, value).Err(); err != nil {
		return fmt.Errorf("%w: SET: %w", ErrTarget, err)
	}
	return nil
}

// Get implements Target.
func (t *ClusterTarget) Get(dst, key []byte) ([]byte, bool, error) {
	v, err := t.client.Do(context.Background(), "get", key).Text()
	if errors.Is(err, redis.Nil) {
		return dst, false, nil
	}
	if err != nil {
		return dst, false, fmt.Errorf("%w: GET: %w", ErrTarget, err)
	}
	return append(dst, v...), true, nil
}

// Delete implements Target.
func (t *ClusterTarget) Delete(key []byte) error {
	if err := t.client.Do(context.Background(), "del", key).Err(); err != nil {
		return fmt.Errorf("%w: DEL: %w", ErrTarget, err)
	}
	return nil
}

// Scan implements Target with TALOS.RANGE start "" LIMIT limit, whose reply
// is an array of [key, value] pairs in key order.
func (t *ClusterTarget) Scan(start []byte, limit int, fn func(k, v []byte) bool) (int, error) {
	if limit < 1 {
		return 0, nil
	}
	reply, err := t.client.Do(context.Background(), "talos.range", start, "", "limit", limit).Slice()
	if err != nil {
		return 0, fmt.Errorf("%w: TALOS.RANGE: %w", ErrTarget, err)
	}
	n := 0
	for i, e := range reply {
		pair, ok := e.([]any)
		if !ok || len(pair) != 2 {
			return n, fmt.Errorf("%w: TALOS.RANGE reply element %d is %T %v, want a [key, value] pair", ErrTarget, i, e, e)
		}
		k, kok := pair[0].(string)
		v, vok := pair[1].(string)
		if !kok || !vok {
			return n, fmt.Errorf("%w: TALOS.RANGE reply element %d holds %T and %T, want two strings", ErrTarget, i, pair[0], pair[1])
		}
		n++
		if !fn([]byte(k), []byte(v)) {
			break
		}
	}
	return n, nil
}

// Nodes implements Target.
func (t *ClusterTarget) Nodes() []Node { return t.nodes }

// Settle waits until the cluster is idle as its metrics show it: the
// primary has written everything to every backup
// (talos_replication_backup_lag_bytes 0), and on every node no immutable
// memtable waits for a flush (talos_engine_immutable_memtables 0) and no
// level is over its target size (every talos_engine_level_score below 1),
// so that no compaction is due. talosd has no command to flush a memtable,
// so what the memtables hold stays there.
// It gives up after two minutes.
func (t *ClusterTarget) Settle(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		why, err := t.busy(ctx)
		if err != nil {
			return err
		}
		if why == "" {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%w: settling: %s: %w", ErrTarget, why, ctx.Err())
		case <-tick.C:
		}
	}
}

// The metric families busy reads.
const (
	famBackupLag  = "talos_replication_backup_lag_bytes"
	famImmutable  = "talos_engine_immutable_memtables"
	famLevelScore = "talos_engine_level_score"
)

var busyFamilies = []string{famBackupLag, famImmutable, famLevelScore}

// busy returns what the cluster is still doing, or "" when it is idle.
// Settle polls it every 20 ms while the nodes' CPU is being measured, so
// it asks each node for the three families it reads only.
func (t *ClusterTarget) busy(ctx context.Context) (string, error) {
	for i, p := range t.procs {
		if err := p.exited(); err != nil {
			return "", err
		}
		s, err := t.scrape(ctx, p, busyFamilies...)
		if err != nil {
			return "", err
		}
		for _, x := range s {
			switch {
			case i == 0 && x.name == famBackupLag && x.value != 0:
				return fmt.Sprintf("%s lags %v bytes behind the primary", x.labels["backup"], x.value), nil
			case x.name == famImmutable && x.value != 0:
				return fmt.Sprintf("%s has %v memtables to flush", p.name, x.value), nil
			case x.name == famLevelScore && x.value >= 1:
				return fmt.Sprintf("%s level %s has score %.2f", p.name, x.labels["level"], x.value), nil
			}
		}
	}
	return "", nil
}

// Close closes the client and stops the nodes with SIGTERM (each flushes
// and, on the primary, ships what it has before exiting): the primary
// first, then the backups. A node that does not exit within StopTimeout is
// killed. An exit status other than 0 is an error carrying the end of the
// node's log. Close is idempotent.
func (t *ClusterTarget) Close() error {
	t.closeOnce.Do(func() {
		var errs []error
		if t.client != nil {
			errs = append(errs, t.client.Close())
		}
		errs = append(errs, t.stop(t.procs[:1]))
		errs = append(errs, t.stop(t.procs[1:]))
		t.http.CloseIdleConnections()
		t.closeErr = errors.Join(errs...)
	})
	return t.closeErr
}

// stop sends SIGTERM to every process of ps and waits for each.
func (t *ClusterTarget) stop(ps []*talosdProc) error {
	for _, p := range ps {
		p.cmd.Process.Signal(syscall.SIGTERM)
	}
	var errs []error
	for _, p := range ps {
		timer := time.NewTimer(t.opts.StopTimeout)
		select {
		case <-p.done:
			timer.Stop()
			if p.waitErr != nil {
				errs = append(errs, fmt.Errorf("%w: %s stopped with %v; its log ends:\n%s", ErrTarget, p.name, p.waitErr, logTail(p.logPath)))
			}
		case <-timer.C:
			p.cmd.Process.Kill()
			<-p.done
			errs = append(errs, fmt.Errorf("%w: %s did not stop within %v of SIGTERM and was killed", ErrTarget, p.name, t.opts.StopTimeout))
		}
	}
	return errors.Join(errs...)
}

// kill kills every started process and waits for it (the error paths of
// OpenCluster). Its error is nil: the processes' fate is already an error.
func (t *ClusterTarget) kill() error {
	for _, p := range t.procs {
		if p.cmd != nil && p.done != nil {
			p.cmd.Process.Kill()
		}
	}
	for _, p := range t.procs {
		if p.done != nil {
			<-p.done
		}
	}
	if t.client != nil {
		t.client.Close()
	}
	return nil
}

// addrPort returns the port of a host:port address.
func addrPort(addr string) (uint16, error) {
	_, ps, err := net.SplitHostPort(addr)
	if err == nil {
		var p uint64
		if p, err = strconv.ParseUint(ps, 10, 16); err == nil {
			return uint16(p), nil
		}
	}
	return 0, fmt.Errorf("%w: address %q: %w", ErrTarget, addr, err)
}

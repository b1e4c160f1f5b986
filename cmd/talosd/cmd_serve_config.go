package main

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/Mellanox/rdmamap"
	"github.com/talos-kv/talos/engine"
	"github.com/talos-kv/talos/replication"
	"go.yaml.in/yaml/v3"
)

// serveConfig is the configuration of `talosd serve`: the YAML config file
// (keys as in the yaml tags), overridden by flags.
type serveConfig struct {
	Role          string   `yaml:"role"`
	DataDir       string   `yaml:"data_dir"`
	Listen        string   `yaml:"listen"`
	ReplListen    string   `yaml:"repl_listen"`
	Primary       string   `yaml:"primary"`
	Transport     string   `yaml:"transport"`
	RDMADevice    string   `yaml:"rdma_device"`
	Peers         []string `yaml:"peers"`
	NodeID        string   `yaml:"node_id"`
	MinReplicas   int      `yaml:"min_replicas"`
	Ack           string   `yaml:"ack"`
	Replication   string   `yaml:"replication"`
	MetricsListen string   `yaml:"metrics_listen"`
	CPUProfile    string   `yaml:"cpuprofile"`
	RequirePass   string   `yaml:"requirepass"`
	ClusterToken  string   `yaml:"cluster_token"`
	LogFormat     string   `yaml:"log_format"`
	LogLevel      string   `yaml:"log_level"`
	Engine        struct {
		GrowthFactor   int    `yaml:"growth_factor"`
		MemtableSize   string `yaml:"memtable_size"`
		SegmentSize    string `yaml:"segment_size"`
		ValueThreshold string `yaml:"value_threshold"`
		Sync           string `yaml:"sync"`
		SyncInterval   string `yaml:"sync_interval"`
	} `yaml:"engine"`
	Limits struct {
		MaxClients      int    `yaml:"max_clients"`
		MaxBulkLen      string `yaml:"max_bulk_len"`
		MaxRequestBytes string `yaml:"max_request_bytes"`
		IdleTimeout     string `yaml:"idle_timeout"`
	} `yaml:"limits"`
	ShutdownTimeout string `yaml:"shutdown_timeout"`
}

// defaultServeConfig is what talosd serves with when neither file nor flag
// says otherwise.
func defaultServeConfig() serveConfig {
	var c serveConfig
	c.Role = "primary"
	c.Listen = "127.0.0.1:6380"
	c.Transport = "auto"
	c.Ack = "memory"
	c.Replication = "ship-index"
	c.LogFormat = "text"
	c.LogLevel = "info"
	c.Engine.GrowthFactor = 10
	c.Engine.MemtableSize = "64MiB"
	c.Engine.SegmentSize = "2MiB"
	c.Engine.ValueThreshold = "512B"
	c.Engine.Sync = "always"
	c.Engine.SyncInterval = "100ms"
	c.Limits.MaxClients = 10000
	c.Limits.MaxBulkLen = "32MiB"
	c.Limits.MaxRequestBytes = "64MiB"
	c.Limits.IdleTimeout = "0s"
	c.ShutdownTimeout = "30s"
	return c
}

// setting is one configurable value: its flag, its config-file key, and how a
// flag's text sets it.
type setting struct {
	flag, key, usage string
	get              func(c *serveConfig) string
	set              func(c *serveConfig, v string) error
}

func str(field func(c *serveConfig) *string) (func(*serveConfig) string, func(*serveConfig, string) error) {
	return func(c *serveConfig) string { return *field(c) },
		func(c *serveConfig, v string) error { *field(c) = v; return nil }
}

func integer(flagName string, field func(c *serveConfig) *int) (func(*serveConfig) string, func(*serveConfig, string) error) {
	return func(c *serveConfig) string { return strconv.Itoa(*field(c)) },
		func(c *serveConfig, v string) error {
			n, err := strconv.Atoi(v)
			if err != nil {
				return fmt.Errorf("--%s %q: not an integer", flagName, v)
			}
			*field(c) = n
			return nil
		}
}

func serveSettings() []setting {
	var s []setting
	add := func(flag, key, usage string, get func(*serveConfig) string, set func(*serveConfig, string) error) {
		s = append(s, setting{flag: flag, key: key, usage: usage, get: get, set: set})
	}
	g, st := str(func(c *serveConfig) *string { return &c.Role })
	add("role", "role", "primary or backup. A backup receives the primary's value log and tables, serves reads of what it has installed, and answers writes with READONLY naming --primary; TALOS.PROMOTE (talosd promote) makes it the primary", g, st)
	g, st = str(func(c *serveConfig) *string { return &c.DataDir })
	add("data-dir", "data_dir", "directory of the store (created if missing; required)", g, st)
	g, st = str(func(c *serveConfig) *string { return &c.Listen })
	add("listen", "listen", "client address (Redis protocol), host:port", g, st)
	g, st = str(func(c *serveConfig) *string { return &c.ReplListen })
	add("repl-listen", "repl_listen", "replication address host:port backups dial (a primary, or a backup once promoted); empty on a primary: no replication", g, st)
	g, st = str(func(c *serveConfig) *string { return &c.Primary })
	add("primary", "primary", "a backup's primary replication address host:port; required with --role backup, reported to clients in READONLY errors and INFO", g, st)
	g, st = str(func(c *serveConfig) *string { return &c.Transport })
	add("transport", "transport", "replication transport: rdma, tcp, or auto (an RDMA device if one is found, else tcp); rdma requires an RDMA device and replication addresses on its network interface", g, st)
	g, st = str(func(c *serveConfig) *string { return &c.RDMADevice })
	add("rdma-device", "rdma_device", "RDMA device name, e.g. rxe0 (must exist; empty: the first found)", g, st)
	add("peers", "peers", "a backup's list of other replicas' replication addresses (comma-separated): after a promotion it reconnects to whichever serves as primary",
		func(c *serveConfig) string { return strings.Join(c.Peers, ",") },
		func(c *serveConfig, v string) error {
			c.Peers = nil
			for _, p := range strings.Split(v, ",") {
				if p = strings.TrimSpace(p); p != "" {
					c.Peers = append(c.Peers, p)
				}
			}
			return nil
		})
	g, st = str(func(c *serveConfig) *string { return &c.MetricsListen })
	add("metrics-listen", "metrics_listen", "HTTP address host:port serving Prometheus metrics at /metrics and Go profiles at /debug/pprof/ (empty: none)", g, st)
	g, st = str(func(c *serveConfig) *string { return &c.CPUProfile })
	add("cpuprofile", "cpuprofile", "write a Go CPU profile of the whole life of this node to this file, finished at shutdown (SIGTERM or SIGINT; a killed node leaves no profile); empty: none", g, st)
	g, st = str(func(c *serveConfig) *string { return &c.RequirePass })
	add("requirepass", "requirepass", "password clients must give with AUTH or HELLO (empty: no authentication)", g, st)
	g, st = str(func(c *serveConfig) *string { return &c.ClusterToken })
	add("cluster-token", "cluster_token", "shared secret replicas present to each other when they connect, at least 16 characters (empty: none)", g, st)
	g, st = str(func(c *serveConfig) *string { return &c.NodeID })
	add("node-id", "node_id", "a backup's name in its primary's replica set (empty: backup@ followed by --listen)", g, st)
	g, st = integer("min-replicas", func(c *serveConfig) *int { return &c.MinReplicas })
	add("min-replicas", "min_replicas", "a primary acknowledges a write only once this many backups hold it; with fewer connected, writes fail with an error, 0..16", g, st)
	g, st = str(func(c *serveConfig) *string { return &c.Ack })
	add("ack", "ack", "when a backup holds a write: memory (its NIC placed the bytes in its memory, as the research systems do) or disk (it wrote and synced them)", g, st)
	g, st = str(func(c *serveConfig) *string { return &c.Replication })
	add("replication", "replication", "how backups keep their index: ship-index (the primary streams every table it writes; backups never compact) or build-index (the baseline: backups replay the value log into their own index and flush and compact on their own; a joining one starts from the primary's snapshot)", g, st)
	g, st = str(func(c *serveConfig) *string { return &c.LogFormat })
	add("log-format", "log_format", "log format: text or json (logs go to stderr)", g, st)
	g, st = str(func(c *serveConfig) *string { return &c.LogLevel })
	add("log-level", "log_level", "log level: debug, info, warn or error", g, st)
	g, st = integer("growth-factor", func(c *serveConfig) *int { return &c.Engine.GrowthFactor })
	add("growth-factor", "engine.growth_factor", "LSM level size ratio, 4..16", g, st)
	g, st = str(func(c *serveConfig) *string { return &c.Engine.MemtableSize })
	add("memtable-size", "engine.memtable_size", "memtable size before it is flushed, 256KiB..4GiB (e.g. 64MiB)", g, st)
	g, st = str(func(c *serveConfig) *string { return &c.Engine.SegmentSize })
	add("segment-size", "engine.segment_size", "value-log segment size: a power of two, 64KiB..1GiB", g, st)
	g, st = str(func(c *serveConfig) *string { return &c.Engine.ValueThreshold })
	add("value-threshold", "engine.value_threshold", "values at least this large go to the value log, smaller ones stay in the index, 0..64KiB (0: all values in the value log)", g, st)
	g, st = str(func(c *serveConfig) *string { return &c.Engine.Sync })
	add("sync", "engine.sync", "value-log sync policy: always (each group commit is fsynced before it is acknowledged), interval (fsync every --sync-interval: a machine crash may lose that much acknowledged data), or never (fsync only when a segment is sealed, before a flush, and at shutdown); a process crash loses nothing under any policy", g, st)
	g, st = str(func(c *serveConfig) *string { return &c.Engine.SyncInterval })
	add("sync-interval", "engine.sync_interval", "fsync period of --sync interval, 1ms..1m", g, st)
	g, st = integer("max-clients", func(c *serveConfig) *int { return &c.Limits.MaxClients })
	add("max-clients", "limits.max_clients", "most client connections at once, 1..1000000", g, st)
	g, st = str(func(c *serveConfig) *string { return &c.Limits.MaxBulkLen })
	add("max-bulk-len", "limits.max_bulk_len", "longest string argument a request may carry, 1KiB..512MiB", g, st)
	g, st = str(func(c *serveConfig) *string { return &c.Limits.MaxRequestBytes })
	add("max-request-bytes", "limits.max_request_bytes", "most bytes of arguments in one request, at least --max-bulk-len, at most 1GiB", g, st)
	g, st = str(func(c *serveConfig) *string { return &c.Limits.IdleTimeout })
	add("idle-timeout", "limits.idle_timeout", "close client connections idle this long (0s: never)", g, st)
	g, st = str(func(c *serveConfig) *string { return &c.ShutdownTimeout })
	add("shutdown-timeout", "shutdown_timeout", "on SIGTERM/SIGINT, how long to wait for in-flight commands before closing connections", g, st)
	return s
}

// loadServeConfig reads the YAML file at path into c, rejecting unknown keys.
func loadServeConfig(path string, c *serveConfig) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("--config: %w", err)
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(c); err != nil && !errors.Is(err, io.EOF) {
		return fmt.Errorf("--config %s: %w", path, err)
	}
	return nil
}

// parseSize parses a byte size: a number with an optional unit B, KiB, MiB,
// GiB (also K, M, G, KB, MB, GB as powers of 1024).
func parseSize(s string) (int64, error) {
	t := strings.TrimSpace(s)
	i := 0
	for i < len(t) && t[i] >= '0' && t[i] <= '9' {
		i++
	}
	if i == 0 {
		return 0, errors.New("not a size")
	}
	n, err := strconv.ParseInt(t[:i], 10, 64)
	if err != nil {
		return 0, errors.New("not a size")
	}
	mult := int64(1)
	switch strings.ToLower(strings.TrimSpace(t[i:])) {
	case "", "b":
	case "k", "kb", "kib":
		mult = 1 << 10
	case "m", "mb", "mib":
		mult = 1 << 20
	case "g", "gb", "gib":
		mult = 1 << 30
	default:
		return 0, fmt.Errorf("unknown unit %q", t[i:])
	}
	if n > (1<<62)/mult {
		return 0, errors.New("too large")
	}
	return n * mult, nil
}

// resolved holds the parsed values of a validated serveConfig.
type resolved struct {
	memtableSize, segmentSize, valueThreshold int64
	maxBulkLen, maxRequestBytes               int64
	syncPolicy                                engine.SyncPolicy
	syncInterval                              time.Duration
	idleTimeout, shutdownTimeout              time.Duration
	ack                                       replication.Ack
	mode                                      replication.Mode
}

// validate checks every setting and returns all problems, each naming the
// flag and config key and saying what is allowed.
func (c *serveConfig) validate() (resolved, error) {
	var r resolved
	var errs []error
	bad := func(flag, key string, value any, allowed string) {
		errs = append(errs, fmt.Errorf("invalid --%s (config %s) %q: %s", flag, key, fmt.Sprint(value), allowed))
	}
	hostPort := func(flag, key, v string, optional bool) {
		if v == "" {
			if !optional {
				bad(flag, key, v, "required; want host:port")
			}
			return
		}
		_, port, err := net.SplitHostPort(v)
		if err != nil {
			bad(flag, key, v, "want host:port, e.g. 127.0.0.1:6380")
			return
		}
		if p, err := strconv.Atoi(port); err != nil || p < 0 || p > 65535 {
			bad(flag, key, v, "port must be a number 0..65535")
		}
	}
	size := func(flag, key, v string, lo, hi int64, dst *int64) {
		n, err := parseSize(v)
		if err != nil || n < lo || n > hi {
			bad(flag, key, v, fmt.Sprintf("want a size from %s to %s, e.g. 64MiB", fmtSize(lo), fmtSize(hi)))
			return
		}
		*dst = n
	}
	duration := func(flag, key, v string, dst *time.Duration) {
		d, err := time.ParseDuration(v)
		if err != nil || d < 0 {
			bad(flag, key, v, "want a non-negative duration such as 10s or 500ms")
			return
		}
		*dst = d
	}

	switch c.Role {
	case "primary", "backup":
	default:
		bad("role", "role", c.Role, "want primary or backup")
	}
	if c.DataDir == "" {
		bad("data-dir", "data_dir", c.DataDir, "required: the directory of the store")
	} else if fi, err := os.Stat(c.DataDir); err == nil && !fi.IsDir() {
		bad("data-dir", "data_dir", c.DataDir, "exists and is not a directory")
	}
	hostPort("listen", "listen", c.Listen, false)
	hostPort("repl-listen", "repl_listen", c.ReplListen, true)
	hostPort("metrics-listen", "metrics_listen", c.MetricsListen, true)
	if c.CPUProfile != "" {
		if fi, err := os.Stat(filepath.Dir(c.CPUProfile)); err != nil || !fi.IsDir() {
			bad("cpuprofile", "cpuprofile", c.CPUProfile, "its directory does not exist")
		} else if fi, err := os.Stat(c.CPUProfile); err == nil && fi.IsDir() {
			bad("cpuprofile", "cpuprofile", c.CPUProfile, "is a directory, want a file")
		}
	}
	switch {
	case c.Role == "backup" && c.Primary == "":
		bad("primary", "primary", c.Primary, "required with --role backup: the primary's replication address host:port")
	case c.Role == "primary" && c.Primary != "":
		bad("primary", "primary", c.Primary, "only a backup has a primary; leave it empty with --role primary")
	default:
		hostPort("primary", "primary", c.Primary, true)
	}
	for _, p := range c.Peers {
		hostPort("peers", "peers", p, false)
	}
	if len(c.Peers) > 0 && c.Role != "backup" {
		bad("peers", "peers", strings.Join(c.Peers, ","), "only a backup has peers to reconnect to; leave it empty with --role primary")
	}
	if c.MinReplicas < 0 || c.MinReplicas > 16 {
		bad("min-replicas", "min_replicas", c.MinReplicas, "want an integer from 0 to 16")
	}
	if c.MinReplicas > 0 && c.Role == "primary" && c.ReplListen == "" {
		bad("min-replicas", "min_replicas", c.MinReplicas, "a primary with --min-replicas above 0 needs --repl-listen for its backups")
	}
	if a, err := replication.ParseAck(c.Ack); err != nil {
		bad("ack", "ack", c.Ack, "want memory or disk")
	} else {
		r.ack = a
	}
	switch c.Replication {
	case "ship-index":
		r.mode = replication.ModeShipIndex
	case "build-index":
		r.mode = replication.ModeBuildIndex
	default:
		bad("replication", "replication", c.Replication, "want ship-index or build-index")
	}
	if c.NodeID != "" && (len(c.NodeID) > 64 || strings.ContainsAny(c.NodeID, " \t\r\n")) {
		bad("node-id", "node_id", c.NodeID, "at most 64 characters, no spaces")
	}
	// Two listeners cannot share an address (port 0 picks a free port).
	fixed := func(a string) bool { _, p, err := net.SplitHostPort(a); return err == nil && p != "0" }
	for _, a := range []struct{ flag, v string }{{"repl-listen", c.ReplListen}, {"metrics-listen", c.MetricsListen}} {
		if fixed(a.v) && a.v == c.Listen {
			bad(a.flag, strings.ReplaceAll(a.flag, "-", "_"), a.v, "must differ from --listen")
		}
	}
	if fixed(c.ReplListen) && c.ReplListen == c.MetricsListen {
		bad("metrics-listen", "metrics_listen", c.MetricsListen, "must differ from --repl-listen")
	}
	switch c.Transport {
	case "tcp", "auto":
		if c.RDMADevice != "" && !slices.Contains(rdmamap.GetRdmaDeviceList(), c.RDMADevice) {
			bad("rdma-device", "rdma_device", c.RDMADevice, fmt.Sprintf("no such RDMA device; found: %v", rdmamap.GetRdmaDeviceList()))
		}
	case "rdma":
		devs := rdmamap.GetRdmaDeviceList()
		switch {
		case len(devs) == 0:
			bad("transport", "transport", c.Transport, "no RDMA device found under /sys/class/infiniband (set up rxe or use tcp or auto)")
		case c.RDMADevice != "" && !slices.Contains(devs, c.RDMADevice):
			bad("rdma-device", "rdma_device", c.RDMADevice, fmt.Sprintf("no such RDMA device; found: %v", devs))
		}
	default:
		bad("transport", "transport", c.Transport, "want rdma, tcp or auto")
	}
	if c.ClusterToken != "" && len(c.ClusterToken) < 16 {
		bad("cluster-token", "cluster_token", "(hidden)", "must be at least 16 characters")
	}
	if len(c.RequirePass) > 512 || strings.ContainsAny(c.RequirePass, "\r\n") {
		bad("requirepass", "requirepass", "(hidden)", "at most 512 bytes, no line breaks")
	}
	switch c.LogFormat {
	case "text", "json":
	default:
		bad("log-format", "log_format", c.LogFormat, "want text or json")
	}
	switch c.LogLevel {
	case "debug", "info", "warn", "error":
	default:
		bad("log-level", "log_level", c.LogLevel, "want debug, info, warn or error")
	}
	if g := c.Engine.GrowthFactor; g < 4 || g > 16 {
		bad("growth-factor", "engine.growth_factor", g, "want an integer from 4 to 16")
	}
	size("memtable-size", "engine.memtable_size", c.Engine.MemtableSize, 256<<10, 4<<30, &r.memtableSize)
	size("segment-size", "engine.segment_size", c.Engine.SegmentSize, 64<<10, 1<<30, &r.segmentSize)
	if s := r.segmentSize; s != 0 && (s&(s-1) != 0 || s%int64(os.Getpagesize()) != 0) {
		bad("segment-size", "engine.segment_size", c.Engine.SegmentSize, fmt.Sprintf("must be a power of two and a multiple of the page size (%d)", os.Getpagesize()))
	}
	size("value-threshold", "engine.value_threshold", c.Engine.ValueThreshold, 0, 64<<10, &r.valueThreshold)
	if p, err := engine.ParseSyncPolicy(c.Engine.Sync); err != nil {
		bad("sync", "engine.sync", c.Engine.Sync, "want always, interval or never")
	} else {
		r.syncPolicy = p
	}
	if d, err := time.ParseDuration(c.Engine.SyncInterval); err != nil || d < time.Millisecond || d > time.Minute {
		bad("sync-interval", "engine.sync_interval", c.Engine.SyncInterval, "want a duration from 1ms to 1m such as 100ms")
	} else {
		r.syncInterval = d
	}
	if m := c.Limits.MaxClients; m < 1 || m > 1000000 {
		bad("max-clients", "limits.max_clients", m, "want an integer from 1 to 1000000")
	}
	size("max-bulk-len", "limits.max_bulk_len", c.Limits.MaxBulkLen, 1<<10, 512<<20, &r.maxBulkLen)
	size("max-request-bytes", "limits.max_request_bytes", c.Limits.MaxRequestBytes, 1<<10, 1<<30, &r.maxRequestBytes)
	if r.maxBulkLen > 0 && r.maxRequestBytes > 0 && r.maxRequestBytes < r.maxBulkLen {
		bad("max-request-bytes", "limits.max_request_bytes", c.Limits.MaxRequestBytes, "must be at least --max-bulk-len ("+c.Limits.MaxBulkLen+")")
	}
	duration("idle-timeout", "limits.idle_timeout", c.Limits.IdleTimeout, &r.idleTimeout)
	duration("shutdown-timeout", "shutdown_timeout", c.ShutdownTimeout, &r.shutdownTimeout)
	return r, errors.Join(errs...)
}

func fmtSize(n int64) string {
	switch {
	case n >= 1<<30 && n%(1<<30) == 0:
		return fmt.Sprintf("%dGiB", n>>30)
	case n >= 1<<20 && n%(1<<20) == 0:
		return fmt.Sprintf("%dMiB", n>>20)
	case n >= 1<<10 && n%(1<<10) == 0:
		return fmt.Sprintf("%dKiB", n>>10)
	}
	return fmt.Sprintf("%dB", n)
}

// parseServeArgs builds the configuration from defaults, the --config file
// and the flags (flags win), and validates it. A usage problem is reported
// on stderr and returned as errUsage or flag.ErrHelp.
func parseServeArgs(args []string, stderr interface{ Write([]byte) (int, error) }) (serveConfig, resolved, error) {
	cfg := defaultServeConfig()
	settings := serveSettings()
	fs := newFlagSet("serve", "[flags]", stderr)
	fs.Usage = func() {
		fmt.Fprintf(stderr, "Usage: talosd serve [flags]\n\n"+
			"Serves the Redis protocol (RESP2/RESP3) on --listen over a Talos store in\n"+
			"--data-dir. Settings come from the YAML file named by --config (keys shown\n"+
			"in brackets; engine.* and limits.* are nested), then from flags, which\n"+
			"override the file. SIGTERM or SIGINT stops accepting connections, lets\n"+
			"in-flight commands finish, and closes the store.\n\n"+
			"A primary with --repl-listen replicates to the backups that dial it\n"+
			"(--role backup --primary ADDR); without it, it runs alone. A backup\n"+
			"serves what it has installed, read-only, until TALOS.PROMOTE (talosd\n"+
			"promote) makes it the primary of the next epoch.\n\nFlags:\n")
		fs.PrintDefaults()
	}
	configPath := fs.String("config", "", "YAML config file; flags given on the command line override it")
	for _, s := range settings {
		fs.String(s.flag, s.get(&cfg), s.usage+" ["+s.key+"]")
	}
	if err := parseFlags(fs, args, false); err != nil {
		return cfg, resolved{}, err
	}
	if *configPath != "" {
		if err := loadServeConfig(*configPath, &cfg); err != nil {
			return cfg, resolved{}, &configError{err}
		}
	}
	var errs []error
	fs.Visit(func(f *flag.Flag) {
		for _, s := range settings {
			if s.flag == f.Name {
				if err := s.set(&cfg, f.Value.String()); err != nil {
					errs = append(errs, err)
				}
			}
		}
	})
	if len(errs) > 0 {
		return cfg, resolved{}, &configError{errors.Join(errs...)}
	}
	r, err := cfg.validate()
	if err != nil {
		return cfg, resolved{}, &configError{err}
	}
	return cfg, r, nil
}

// configError is a bad setting: exit status 2, like a usage error.
type configError struct{ err error }

func (e *configError) Error() string { return "bad configuration:\n" + e.err.Error() }
func (e *configError) Unwrap() error { return e.err }
func (e *configError) ExitCode() int { return 2 }

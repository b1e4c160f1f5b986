package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"os"
	"os/signal"
	"path/filepath"
	"runtime/debug"
	"slices"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/talos-kv/talos/engine"
	"github.com/talos-kv/talos/kvsep"
	"github.com/talos-kv/talos/server"
	"github.com/talos-kv/talos/server/resp"
)

func init() {
	register(&command{
		name:    "serve",
		summary: "run a Talos node serving the Redis protocol (RESP2/RESP3)",
		run: func(args []string, stdout, stderr io.Writer) error {
			cfg, r, err := parseServeArgs(args, stderr)
			if err != nil {
				return err
			}
			ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
			defer stop()
			return runServe(ctx, cfg, r, stderr, nil)
		},
	})
}

func newLogger(cfg serveConfig, w io.Writer) *slog.Logger {
	var level slog.Level
	switch cfg.LogLevel {
	case "debug":
		level = slog.LevelDebug
	case "warn":
		level = slog.LevelWarn
	case "error":
		level = slog.LevelError
	default:
		level = slog.LevelInfo
	}
	ho := &slog.HandlerOptions{Level: level}
	if cfg.LogFormat == "json" {
		return slog.New(slog.NewJSONHandler(w, ho))
	}
	return slog.New(slog.NewTextHandler(w, ho))
}

func buildVersion() string {
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" {
		return bi.Main.Version
	}
	return "(devel)"
}

// serveAddrs tells a test where a running node listens.
type serveAddrs struct{ client, metrics string }

// runServe runs a node until ctx is done (SIGTERM/SIGINT) or a listener
// fails, then shuts down: stop accepting, finish in-flight commands, close
// the store (which flushes). ready, if set, is called once serving.
func runServe(ctx context.Context, cfg serveConfig, r resolved, logw io.Writer, ready func(serveAddrs)) (err error) {
	log := newLogger(cfg, logw)
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))

	store, err := openStore(cfg, r, log, reg)
	if err != nil {
		return err
	}
	defer func() {
		if cerr := store.Close(); cerr != nil {
			log.Error("closing the store failed", "err", cerr)
			err = errors.Join(err, fmt.Errorf("closing the store: %w", cerr))
		} else {
			log.Info("store closed")
		}
	}()

	srv, err := server.New(store, server.Options{
		Password:    cfg.RequirePass,
		Limits:      resp.Limits{MaxBulkLen: int(r.maxBulkLen), MaxRequestBytes: int(r.maxRequestBytes)},
		MaxClients:  cfg.Limits.MaxClients,
		IdleTimeout: r.idleTimeout,
		Logger:      log,
		Registerer:  reg,
		Version:     buildVersion(),
		Persistence: store.InfoLines,
	})
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		return fmt.Errorf("--listen %s: %w", cfg.Listen, err)
	}
	addrs := serveAddrs{client: ln.Addr().String()}

	var metricsSrv *http.Server
	metricsDone := make(chan error, 1)
	if cfg.MetricsListen != "" {
		mln, err := net.Listen("tcp", cfg.MetricsListen)
		if err != nil {
			ln.Close()
			return fmt.Errorf("--metrics-listen %s: %w", cfg.MetricsListen, err)
		}
		addrs.metrics = mln.Addr().String()
		mux := http.NewServeMux()
		mux.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{Registry: reg}))
		mux.HandleFunc("/debug/pprof/", pprof.Index)
		mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
		mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
		metricsSrv = &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
		go func() { metricsDone <- metricsSrv.Serve(mln) }()
	}

	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	log.Info("talosd serving", "listen", addrs.client, "metrics", addrs.metrics, "role", cfg.Role,
		"data_dir", cfg.DataDir, "version", buildVersion())
	if cfg.ReplListen != "" || cfg.Transport != "auto" {
		log.Warn(replNotYet+": replication settings were validated but are not used", "repl_listen", cfg.ReplListen, "transport", cfg.Transport)
	}
	if ready != nil {
		ready(addrs)
	}

	var serveErr error
	select {
	case <-ctx.Done():
		log.Info("shutting down: signal received")
	case serveErr = <-served:
		log.Error("client listener failed; shutting down", "err", serveErr)
	case serveErr = <-metricsDone:
		log.Error("metrics listener failed; shutting down", "err", serveErr)
	}
	sctx, cancel := context.WithTimeout(context.Background(), r.shutdownTimeout)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		log.Warn("connections closed before their commands finished", "err", err)
	}
	if metricsSrv != nil {
		metricsSrv.Shutdown(sctx)
	}
	if serveErr != nil && !errors.Is(serveErr, server.ErrServerClosed) && !errors.Is(serveErr, http.ErrServerClosed) {
		return serveErr
	}
	return nil
}

// nodeStore is the engine of a node and the Store the server uses over it.
type nodeStore struct {
	*server.EngineStore
	db  *engine.DB
	cfg serveConfig
}

// Close flushes a primary's memtables into tables (so the directory is
// complete without a value-log replay, as a ship-index backup reads it) and
// closes the engine, which syncs what it holds.
func (n *nodeStore) Close() error {
	var err error
	if n.cfg.Role == "primary" {
		if ferr := n.db.Flush(context.Background()); ferr != nil {
			err = fmt.Errorf("flushing the memtable: %w", ferr)
		}
	}
	return errors.Join(err, n.db.Close())
}

// InfoLines are the engine lines of INFO persistence.
func (n *nodeStore) InfoLines() []string {
	m := n.db.Metrics()
	x := m.Index
	return []string{
		"engine_dir:" + n.db.Dir(),
		"engine_role:" + n.cfg.Role,
		"engine_sync:" + n.cfg.Engine.Sync,
		fmt.Sprintf("engine_commits:%d", m.Commits),
		fmt.Sprintf("engine_syncs:%d", m.Syncs),
		fmt.Sprintf("engine_flushes:%d", x.Flushes),
		fmt.Sprintf("engine_compactions:%d", x.Compactions),
		fmt.Sprintf("engine_tables:%d", x.Tables),
		fmt.Sprintf("engine_table_bytes:%d", x.TableBytes),
		fmt.Sprintf("engine_memtable_bytes:%d", x.MemtableSize),
		fmt.Sprintf("engine_vlog_segments:%d", m.Segments),
		fmt.Sprintf("engine_gc_runs:%d", m.GC.Runs),
	}
}

// openStore opens the engine in cfg.DataDir with the configured options
// and registers its metrics.
func openStore(cfg serveConfig, r resolved, log *slog.Logger, reg *prometheus.Registry) (*nodeStore, error) {
	if err := os.MkdirAll(cfg.DataDir, 0o755); err != nil {
		return nil, fmt.Errorf("--data-dir: %w", err)
	}
	if err := checkSegmentSize(cfg.DataDir, r.segmentSize, cfg.Engine.SegmentSize); err != nil {
		return nil, &configError{err}
	}
	opts := engine.Options{
		SegmentSize:    r.segmentSize,
		ValueThreshold: int(r.valueThreshold),
		Sync:           r.syncPolicy,
		SyncInterval:   r.syncInterval,
		Logger:         log.With("component", "engine"),
	}
	if opts.ValueThreshold == 0 {
		opts.ValueThreshold = -1 // every value in the value log
	}
	opts.Index.GrowthFactor = cfg.Engine.GrowthFactor
	opts.Index.MemtableSize = r.memtableSize
	opts.Listener.BackgroundError = func(err error) {
		log.Error("engine stopped accepting writes after a background failure", "err", err)
	}
	if cfg.Role == "backup" {
		opts.Mode = engine.ModeShipIndex
	}
	db, err := engine.Open(cfg.DataDir, opts)
	if err != nil {
		return nil, fmt.Errorf("opening the store in %s: %w", cfg.DataDir, err)
	}
	n := &nodeStore{db: db, cfg: cfg}
	if cfg.Role == "backup" {
		n.EngineStore = server.NewReadOnlyEngineStore(db, cfg.Primary)
	} else {
		n.EngineStore = server.NewEngineStore(db)
	}
	reg.MustRegister(server.NewEngineCollector(db), server.NewRDMACollector())
	log.Info("store open", "dir", cfg.DataDir, "mode", opts.Mode.String(), "sync", r.syncPolicy.String())
	return n, nil
}

// checkSegmentSize rejects a --segment-size that differs from the size of
// the store's sealed value-log segments (every segment but the newest is
// exactly the size the store was created with).
func checkSegmentSize(dir string, size int64, setting string) error {
	vdir := filepath.Join(dir, "vlog")
	entries, err := os.ReadDir(vdir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("--data-dir: %w", err)
	}
	var nums []uint64
	for _, e := range entries {
		if n, ok := kvsep.ParseSegmentFileName(e.Name()); ok {
			nums = append(nums, n)
		}
	}
	slices.Sort(nums)
	for _, n := range nums[:max(len(nums)-1, 0)] {
		fi, err := os.Stat(filepath.Join(vdir, kvsep.SegmentFileName(n)))
		if err != nil {
			return fmt.Errorf("--data-dir: %w", err)
		}
		if fi.Size() != size {
			return fmt.Errorf("invalid --segment-size (config engine.segment_size) %q: the store in %s was created with %s segments; a store keeps its segment size",
				setting, dir, fmtSize(fi.Size()))
		}
	}
	return nil
}

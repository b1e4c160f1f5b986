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
	"github.com/talos-kv/talos/internal/cpuprof"
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
	if cfg.CPUProfile != "" {
		stop, err := cpuprof.Start(cfg.CPUProfile)
		if err != nil {
			return fmt.Errorf("--cpuprofile: %w", err)
		}
		defer func() {
			if perr := stop(); perr != nil {
				err = errors.Join(err, fmt.Errorf("--cpuprofile: %w", perr))
			}
		}()
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))

	store, err := openNode(cfg, r, log, reg)
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
		Replication: store.replicationLines,
		Promote:     store.promote,
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

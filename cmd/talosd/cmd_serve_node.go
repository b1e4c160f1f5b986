package main

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/Mellanox/rdmamap"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/talos-kv/talos/backup"
	"github.com/talos-kv/talos/engine"
	"github.com/talos-kv/talos/primary"
	"github.com/talos-kv/talos/rdma"
	"github.com/talos-kv/talos/server"
)

// nodeStore is a node's store and what serves it: a standalone engine, a
// replication primary, or a backup (which TALOS.PROMOTE turns into a
// primary). It implements server.Store over whichever is current.
type nodeStore struct {
	cfg  serveConfig
	r    resolved
	log  *slog.Logger
	eo   engine.Options
	prov rdma.Provider // nil for a standalone primary

	// cur returns the store to serve from; replaced on promotion. A
	// backup's resolves its engine at each call: catching up from a new
	// primary reopens the backup's store.
	cur atomic.Pointer[func() *server.EngineStore]

	mu struct {
		sync.Mutex
		db        *engine.DB // standalone only
		prim      *primary.Node
		back      *backup.Node
		runCancel context.CancelFunc
		runDone   chan struct{}
		replErr   error // why a backup stopped replicating, if it did
		promoted  bool
	}
}

func (n *nodeStore) store() *server.EngineStore { return (*n.cur.Load())() }

func (n *nodeStore) setStore(s *server.EngineStore) {
	f := func() *server.EngineStore { return s }
	n.cur.Store(&f)
}

// Get, Write, Scan and ReadOnly implement server.Store.
func (n *nodeStore) Get(key []byte) ([]byte, error) { return n.store().Get(key) }
func (n *nodeStore) Write(b *server.Batch) error    { return n.store().Write(b) }
func (n *nodeStore) Scan(lo, hi []byte, fn func(k, v []byte) bool) error {
	return n.store().Scan(lo, hi, fn)
}
func (n *nodeStore) ReadOnly() (string, bool) { return n.store().ReadOnly() }

// db returns the current engine.
func (n *nodeStore) db() *engine.DB { return n.store().DB() }

// clusterTokenValue turns the configured token into the transport's 64-bit
// cluster identity.
func clusterTokenValue(s string) uint64 {
	if s == "" {
		return 0
	}
	h := sha256.Sum256([]byte("talos cluster token\x00" + s))
	return binary.LittleEndian.Uint64(h[:8])
}

// openProvider opens the replication transport named by --transport.
func openProvider(cfg serveConfig) (rdma.Provider, error) {
	name := "tcp"
	switch cfg.Transport {
	case "rdma":
		name = "verbs"
	case "auto":
		if len(rdmamap.GetRdmaDeviceList()) > 0 {
			name = "verbs"
		}
	}
	p, err := rdma.Open(name, rdma.Options{Device: cfg.RDMADevice, ClusterToken: clusterTokenValue(cfg.ClusterToken)})
	if err != nil {
		return nil, fmt.Errorf("--transport %s: %w", cfg.Transport, err)
	}
	return p, nil
}

// openNode opens the store in cfg.DataDir as the configured role.
func openNode(cfg serveConfig, r resolved, log *slog.Logger, reg *prometheus.Registry) (*nodeStore, error) {
	if err := os.MkdirAll(cfg.DataDir, 0o755); err != nil {
		return nil, fmt.Errorf("--data-dir: %w", err)
	}
	if err := checkSegmentSize(cfg.DataDir, r.segmentSize, cfg.Engine.SegmentSize); err != nil {
		return nil, &configError{err}
	}
	n := &nodeStore{cfg: cfg, r: r, log: log}
	n.eo = engine.Options{
		SegmentSize:    r.segmentSize,
		ValueThreshold: int(r.valueThreshold),
		Sync:           r.syncPolicy,
		SyncInterval:   r.syncInterval,
		Logger:         log.With("component", "engine"),
	}
	if n.eo.ValueThreshold == 0 {
		n.eo.ValueThreshold = -1 // every value in the value log
	}
	// Compactions drop expired keys and the fields of expired or deleted
	// hashes, by the system clock the server reads expiry with. Primaries
	// and build-index backups compact with it; the engine ignores it in a
	// ship-index backup, which installs its primary's compacted tables.
	n.eo.CompactionFilter = server.NewCompactionFilter(nil)
	// The filter reads each string's expiry from its index entry, not
	// from the value log (every node keeps the same entries: ship-index
	// backups install the primary's tables).
	n.eo.ValuePrefix = server.MetaValuePrefix
	n.eo.Index.GrowthFactor = cfg.Engine.GrowthFactor
	n.eo.Index.MemtableSize = r.memtableSize
	n.eo.Listener.BackgroundError = func(err error) {
		log.Error("engine stopped accepting writes after a background failure", "err", err)
	}
	replicated := cfg.Role == "backup" || cfg.ReplListen != ""
	if replicated {
		p, err := openProvider(cfg)
		if err != nil {
			return nil, err
		}
		n.prov = p
	}
	var err error
	switch {
	case cfg.Role == "backup":
		err = n.openBackup()
	case replicated:
		err = n.openPrimary()
	default:
		var db *engine.DB
		db, err = engine.Open(cfg.DataDir, n.eo)
		if err == nil {
			n.mu.db = db
			n.setStore(server.NewEngineStore(db))
		}
	}
	if err != nil {
		if n.prov != nil {
			n.prov.Close()
		}
		return nil, fmt.Errorf("opening the store in %s: %w", cfg.DataDir, err)
	}
	reg.MustRegister(server.NewEngineCollectorFunc(n.db), server.NewRDMACollector(),
		primary.Collector{Node: n.primaryNode})
	transport := "none"
	if n.prov != nil {
		transport = n.prov.Name() + " (" + n.prov.Device() + ")"
	}
	log.Info("store open", "dir", cfg.DataDir, "role", cfg.Role, "transport", transport, "sync", r.syncPolicy.String())
	return n, nil
}

// primaryNode returns the primary node, if this node is one now.
func (n *nodeStore) primaryNode() *primary.Node {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.mu.prim
}

func (n *nodeStore) primaryOptions() primary.Options {
	return primary.Options{
		Listen: n.cfg.ReplListen, Provider: n.prov, Mode: n.r.mode, Ack: n.r.ack,
		MinReplicas: n.cfg.MinReplicas, Logger: n.log.With("component", "replication"),
	}
}

func (n *nodeStore) openPrimary() error {
	p, err := primary.Open(n.cfg.DataDir, n.eo, n.primaryOptions())
	if err != nil {
		return err
	}
	n.mu.prim = p
	n.setStore(server.NewGatedEngineStore(p.DB(), p.CheckWritable))
	return nil
}

func (n *nodeStore) openBackup() error {
	id := n.cfg.NodeID
	if id == "" {
		id = "backup@" + n.cfg.Listen
	}
	b, err := backup.Open(n.cfg.DataDir, n.eo, backup.Options{
		ID: id, Primary: n.cfg.Primary, Provider: n.prov, Mode: n.r.mode,
		Logger: n.log.With("component", "replication"),
	})
	if err != nil {
		return err
	}
	n.mu.back = b
	primaryAddr := n.cfg.Primary
	f := func() *server.EngineStore { return server.NewReadOnlyEngineStore(b.DB(), primaryAddr) }
	n.cur.Store(&f)
	ctx, cancel := context.WithCancel(context.Background())
	n.mu.runCancel, n.mu.runDone = cancel, make(chan struct{})
	go n.runBackup(ctx, b, n.mu.runDone)
	return nil
}

// runBackup keeps a backup connected: after a disconnection it tries the
// primary and then each peer in turn (one of them may have been promoted),
// backing off up to 5s. A failed action (corrupt data from the primary, a
// failed write or sync) stops replication for good: the node keeps serving
// what it has installed and reports the failure in INFO replication.
func (n *nodeStore) runBackup(ctx context.Context, b *backup.Node, done chan struct{}) {
	defer close(done)
	candidates := append([]string{n.cfg.Primary}, n.cfg.Peers...)
	backoff := 100 * time.Millisecond
	for i := 0; ; i++ {
		addr := candidates[i%len(candidates)]
		b.SetPrimary(addr)
		start := time.Now()
		err := b.Run(ctx)
		if ctx.Err() != nil {
			return
		}
		if errors.Is(err, backup.ErrCorrupt) {
			n.log.Error("replication stopped: the node serves what it has installed", "err", err)
			n.mu.Lock()
			n.mu.replErr = err
			n.mu.Unlock()
			return
		}
		if time.Since(start) > 10*time.Second {
			backoff = 100 * time.Millisecond // it was connected for a while
		}
		n.log.Warn("not replicating; retrying", "primary", addr, "err", err, "retry_in", backoff)
		t := time.NewTimer(backoff)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
		backoff = min(2*backoff, 5*time.Second)
	}
}

// promote turns this backup into the primary (TALOS.PROMOTE): it stops
// replicating from the old primary, persists everything it received, and
// reopens its directory as a primary of the next epoch listening on
// --repl-listen. Writes are served once it returns.
func (n *nodeStore) promote() error {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.mu.back == nil {
		if n.mu.promoted {
			return errors.New("this node was already promoted")
		}
		return errors.New("this node is not a backup")
	}
	if n.cfg.ReplListen == "" {
		return errors.New("promotion needs --repl-listen: the address the new primary's backups dial")
	}
	n.log.Warn("promoting this backup to primary")
	n.mu.runCancel()
	<-n.mu.runDone
	b := n.mu.back
	if err := b.PrepareTakeover(); err != nil {
		return fmt.Errorf("persisting what was received: %w", err)
	}
	if err := b.Close(); err != nil {
		return fmt.Errorf("closing the backup store: %w", err)
	}
	n.mu.back = nil
	p, err := primary.Open(n.cfg.DataDir, n.eo, n.primaryOptions())
	if err != nil {
		n.log.Error("promotion failed: the store is closed", "err", err)
		return fmt.Errorf("opening the store as primary: %w", err)
	}
	n.mu.prim, n.mu.promoted = p, true
	n.setStore(server.NewGatedEngineStore(p.DB(), p.CheckWritable))
	n.log.Warn("promoted: serving writes", "epoch", p.Epoch(), "replication", p.Addr())
	return nil
}

// replicationLines are the extra INFO replication lines.
func (n *nodeStore) replicationLines() []string {
	n.mu.Lock()
	defer n.mu.Unlock()
	var l []string
	add := func(k string, v any) { l = append(l, fmt.Sprintf("%s:%v", k, v)) }
	if n.prov != nil {
		add("talos_transport", n.prov.Name())
		add("talos_rdma_device", n.prov.Device())
	}
	add("talos_replication_mode", n.cfg.Replication)
	switch {
	case n.mu.prim != nil:
		stats := n.mu.prim.Stats()
		members := 0
		for _, s := range stats {
			if s.Member {
				members++
			}
		}
		// Redis clients read connected_slaves: count the backups that hold
		// writes (caught up); talos_catching_up counts the others.
		add("connected_slaves", members)
		add("talos_catching_up", len(stats)-members)
		for i, s := range stats {
			state := "online"
			if !s.Member {
				state = "catching_up"
			}
			add(fmt.Sprintf("slave%d", i), fmt.Sprintf("id=%s,state=%s,lag_bytes=%d,durable_lag_bytes=%d,vlog_bytes=%d,chunk_bytes=%d",
				s.ID, state, s.LagBytes, s.DurableLagBytes, s.VlogBytes, s.ChunkBytes))
		}
		add("talos_epoch", n.mu.prim.Epoch())
		add("talos_min_replicas", n.cfg.MinReplicas)
		add("talos_promoted", b2i(n.mu.promoted))
	case n.mu.back != nil:
		add("talos_epoch", n.mu.back.Epoch())
		add("talos_replicating_from", n.mu.back.Primary())
		if n.mu.replErr != nil {
			add("talos_replication_error", server.OneLine(n.mu.replErr.Error()))
		}
	default:
		add("connected_slaves", 0)
	}
	return l
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

// Close shuts the node down: a primary flushes, ships its last tables and
// waits for its backups before disconnecting them; a backup stops
// replicating and closes its store.
func (n *nodeStore) Close() error {
	n.mu.Lock()
	defer n.mu.Unlock()
	var errs []error
	switch {
	case n.mu.prim != nil:
		errs = append(errs, n.mu.prim.Close())
	case n.mu.back != nil:
		n.mu.runCancel()
		<-n.mu.runDone
		// Persist what was received but not yet made durable (under ack
		// memory the primary acknowledged it), so the directory holds every
		// acknowledged write after a clean stop.
		if err := n.mu.back.PrepareTakeover(); err != nil {
			errs = append(errs, fmt.Errorf("persisting the received tail: %w", err))
		}
		errs = append(errs, n.mu.back.Close())
	case n.mu.db != nil:
		if err := n.mu.db.Flush(context.Background()); err != nil {
			errs = append(errs, fmt.Errorf("flushing the memtable: %w", err))
		}
		errs = append(errs, n.mu.db.Close())
	}
	if n.prov != nil {
		errs = append(errs, n.prov.Close())
	}
	return errors.Join(errs...)
}

// InfoLines are the engine lines of INFO persistence.
func (n *nodeStore) InfoLines() []string {
	db := n.db()
	m := db.Metrics()
	x := m.Index
	return []string{
		"engine_dir:" + db.Dir(),
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

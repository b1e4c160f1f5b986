package engine

import (
	"bytes"
	"context"
	"fmt"
	"sync"
	"testing"

	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/stretchr/testify/require"
	"github.com/talos-kv/talos/index"
	"github.com/talos-kv/talos/internal/iostat"
	"github.com/talos-kv/talos/kvsep"
)

// recorder captures what the primary's events describe, as replication
// would ship it.
type recorder struct {
	mu       sync.Mutex
	tables   map[uint64]*bytes.Buffer
	edits    []*index.VersionEdit
	reasons  []string
	sealed   map[uint64][]byte
	deleted  []uint64
	appended int
}

type tableSink struct {
	r   *recorder
	num uint64
	buf bytes.Buffer
}

func (s *tableSink) Write(p []byte) error { _, err := s.buf.Write(p); return err }
func (s *tableSink) Finish(m index.TableMeta) error {
	if m.Size != uint64(s.buf.Len()) {
		return fmt.Errorf("table %d: sink saw %d bytes, meta says %d", s.num, s.buf.Len(), m.Size)
	}
	s.r.mu.Lock()
	s.r.tables[s.num] = &s.buf
	s.r.mu.Unlock()
	return nil
}
func (s *tableSink) Abort() {}

func (r *recorder) listener() Listener {
	return Listener{
		TableCreated: func(info index.TableCreateInfo) index.TableSink {
			return &tableSink{r: r, num: info.Num}
		},
		EditApplied: func(e index.EditInfo) {
			r.mu.Lock()
			r.edits = append(r.edits, e.Edit)
			r.reasons = append(r.reasons, e.Reason)
			r.mu.Unlock()
		},
		SegmentSealed: func(n uint64, buf []byte) {
			r.mu.Lock()
			r.sealed[n] = bytes.Clone(buf)
			r.mu.Unlock()
		},
		SegmentDeleted: func(n uint64) {
			r.mu.Lock()
			r.deleted = append(r.deleted, n)
			r.mu.Unlock()
		},
	}
}

// TestShipIndexBackup drives a ModeShipIndex engine with what a primary's
// events carry (sealed segments, table bytes, version edits): the backup's
// files are byte-identical, it reads nothing for index maintenance, it
// returns the primary's data, and promoted (reopened as primary) it does too.
func TestShipIndexBackup(t *testing.T) {
	rng := testSeed(t)
	pfs, bfs := vfs.NewMem(), vfs.NewMem()
	rec := &recorder{tables: map[uint64]*bytes.Buffer{}, sealed: map[uint64][]byte{}}
	popts := tinyOptions(pfs)
	popts.Listener = rec.listener()
	popts.CommitHook = func(r kvsep.Range) (func() error, error) {
		rec.mu.Lock()
		rec.appended += len(r.Data)
		rec.mu.Unlock()
		return nil, nil
	}
	primary, err := Open("db", popts)
	require.NoError(t, err)
	model := map[string]string{}
	for i := range 3000 {
		k := randKey(rng, 500)
		if i%10 == 0 {
			require.NoError(t, primary.Delete(k))
			delete(model, string(k))
			continue
		}
		v := randValue(rng)
		require.NoError(t, primary.Put(k, v))
		model[string(k)] = string(v)
		if i%500 == 0 {
			_, err := primary.RunGC(context.Background())
			require.NoError(t, err)
		}
	}
	require.NoError(t, primary.Flush(context.Background()))
	require.NoError(t, primary.WaitIdle(context.Background()))
	_, err = primary.RunGC(context.Background())
	require.NoError(t, err)
	active, _ := primary.Log().Active()
	require.NoError(t, primary.Close())
	require.NotZero(t, rec.appended)

	bopts := tinyOptions(bfs)
	bopts.Mode = ModeShipIndex
	backup, err := Open("db", bopts)
	require.NoError(t, err)
	require.ErrorIs(t, backup.Put([]byte("x"), []byte("y")), ErrReadOnly)
	// Segments first (the primary made them durable before its edits named
	// them), then every edit in order with the tables it adds.
	for n := uint64(1); n < active; n++ {
		if img, ok := rec.sealed[n]; ok {
			require.NoError(t, backup.WriteSegment(n, img))
		}
	}
	activeImg := readAllFile(t, pfs, "db/vlog/"+kvsep.SegmentFileName(active))
	require.NoError(t, backup.WriteSegment(active, activeImg))
	for i, e := range rec.edits {
		for _, a := range e.Added {
			tb, ok := rec.tables[a.Meta.Num]
			require.True(t, ok, "table %d was not streamed", a.Meta.Num)
			f, err := backup.CreateTable(a.Meta.Num)
			require.NoError(t, err)
			_, err = f.Write(tb.Bytes())
			require.NoError(t, err)
			require.NoError(t, f.Sync())
			require.NoError(t, f.Close())
		}
		require.NoError(t, backup.InstallEdit(e), "edit %d (%s)", i, rec.reasons[i])
	}
	t.Logf("backup segments %v, primary deleted %v, active %d", backup.Log().Segments(), rec.deleted, active)
	for k, v := range model {
		got, err := backup.Get([]byte(k))
		require.NoError(t, err, "key %s", k)
		require.Equal(t, v, string(got))
	}
	kvs, err := backup.Scan(nil, nil)
	require.NoError(t, err)
	checkScan(t, kvs, model, nil, nil)
	m := backup.Metrics()
	require.Zero(t, m.IO.Read[iostat.Compaction])
	require.Zero(t, m.IO.Written[iostat.Compaction])
	require.Zero(t, m.IO.Written[iostat.Flush])
	require.NotZero(t, m.IO.Written[iostat.Replication])
	require.NoError(t, backup.Close())

	// Byte-identical tables and sealed segments.
	pfiles, bfiles := snapshotFiles(t, pfs, "db"), snapshotFiles(t, bfs, "db")
	for name, data := range pfiles {
		if bytes.HasSuffix([]byte(name), []byte(".sst")) || (bytes.HasSuffix([]byte(name), []byte(".vlog")) && name != "db/vlog/"+kvsep.SegmentFileName(active)) {
			require.Equal(t, data, bfiles[name], "file %s differs", name)
		}
	}
	for name := range bfiles {
		if bytes.HasSuffix([]byte(name), []byte(".sst")) || bytes.HasSuffix([]byte(name), []byte(".vlog")) {
			require.Contains(t, pfiles, name, "backup has %s, the primary does not", name)
		}
	}

	// Promotion: open the backup's directory as a primary.
	bopts.Mode = ModePrimary
	promoted, err := Open("db", bopts)
	require.NoError(t, err)
	kvs, err = promoted.Scan(nil, nil)
	require.NoError(t, err)
	checkScan(t, kvs, model, nil, nil)
	require.NoError(t, promoted.Put([]byte("after"), []byte("promotion")))
	require.NoError(t, promoted.Close())
}

func readAllFile(t *testing.T, fs vfs.FS, name string) []byte {
	f, err := fs.Open(name)
	require.NoError(t, err)
	defer f.Close()
	st, err := f.Stat()
	require.NoError(t, err)
	b := make([]byte, st.Size())
	_, err = f.ReadAt(b, 0)
	require.NoError(t, err)
	return b
}

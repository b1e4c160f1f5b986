package replication

import (
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/cockroachdb/datadriven"
)

// sim drives one Primary and its Backups over in-memory ordered channels,
// for the data-driven tests in testdata/. Every Out, action, result and
// state change is printed.
type sim struct {
	p       *Primary
	backups map[string]*Backup
	// down holds each backup's channel from the primary, in order.
	down map[string][]Out
	// up holds each backup's messages to the primary, in order.
	up     map[string][]Message
	chunks map[ChunkRef]ChunkHeader
	out    strings.Builder
}

func newSim() *sim {
	return &sim{backups: map[string]*Backup{}, down: map[string][]Out{}, up: map[string][]Message{}, chunks: map[ChunkRef]ChunkHeader{}}
}

func (s *sim) printf(format string, args ...any) { fmt.Fprintf(&s.out, format, args...) }

func (s *sim) ids() []string {
	ids := make([]string, 0, len(s.backups))
	for id := range s.backups {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	return ids
}

// flush prints and routes the primary's Ready.
func (s *sim) flush() {
	if s.p == nil {
		return
	}
	r := s.p.Ready()
	for _, o := range r.Out {
		s.printf("%s\n", o)
		s.down[o.To] = append(s.down[o.To], o)
	}
	for _, res := range r.Results {
		if res.Err == nil {
			s.printf("ack commit %d\n", res.ID)
		} else {
			s.printf("fail commit %d: %v\n", res.ID, res.Err)
		}
	}
	for _, d := range r.Dropped {
		s.printf("dropped %s: %v\n", d.Backup, d.Reason)
		// The wrapper tears the connection down: posted writes fail.
		for _, o := range s.down[d.Backup] {
			if o.Write != nil {
				s.p.WriteCompleted(o.Write.Op, errors.New("connection closed"))
			}
		}
		delete(s.down, d.Backup)
		delete(s.up, d.Backup)
	}
	if len(r.ReleasedSegments) > 0 {
		s.printf("released segments %v\n", r.ReleasedSegments)
	}
	if len(r.ReleasedChunks) > 0 {
		s.printf("released chunks %v\n", r.ReleasedChunks)
	}
	if len(r.Dropped) > 0 {
		s.flush() // the failed writes may release buffers
	}
}

// runBackup prints and executes a backup's actions; sends go up.
func (s *sim) runBackup(id string) {
	b := s.backups[id]
	for _, a := range b.Ready() {
		s.printf("  %s: %s\n", id, a)
		if a.Type == ActSend {
			s.up[id] = append(s.up[id], a.Msg)
		}
	}
}

func (s *sim) errorf(format string, args ...any) { s.printf("error: "+format+"\n", args...) }

func (s *sim) handle(t *testing.T, td *datadriven.TestData) string {
	s.out.Reset()
	args := map[string]string{}
	for _, a := range td.CmdArgs {
		args[a.Key] = strings.Join(a.Vals, ",")
	}
	u := func(k string, def uint64) uint64 {
		v, ok := args[k]
		if !ok {
			return def
		}
		n, err := strconv.ParseUint(v, 0, 64)
		if err != nil {
			t.Fatalf("%s: bad %s=%q", td.Pos, k, v)
		}
		return n
	}
	kind := func() ObjectKind {
		switch args["kind"] {
		case "table":
			return ObjectTable
		case "edit":
			return ObjectEdit
		case "segment":
			return ObjectSegment
		case "snapshot":
			return ObjectSnapshot
		}
		t.Fatalf("%s: kind=table|edit|segment|snapshot", td.Pos)
		return 0
	}
	switch td.Cmd {
	case "primary":
		cfg := PrimaryConfig{Epoch: u("epoch", 1), SegmentSize: u("segment-size", 4096), MinReplicas: int(u("min", 0)),
			HeartbeatInterval: int(u("hb-interval", 0)), HeartbeatTimeout: int(u("hb-timeout", 0))}
		if v, ok := args["ack"]; ok {
			a, err := ParseAck(v)
			if err != nil {
				t.Fatal(err)
			}
			cfg.Ack = a
		}
		if v, ok := args["mode"]; ok {
			m, err := ParseMode(v)
			if err != nil {
				t.Fatal(err)
			}
			cfg.Mode = m
		}
		s.p = NewPrimary(cfg)
		s.down, s.up = map[string][]Out{}, map[string][]Message{}
		s.printf("primary epoch=%d\n", s.p.Epoch())
	case "backup":
		id := args["id"]
		cfg := BackupConfig{ID: id, Epoch: u("epoch", 0), Geo: Geometry{SegmentSize: int(u("segment-size", 4096)),
			VlogSlots: int(u("vlog", 2)), ChunkSlots: int(u("chunks", 2)), ChunkSize: int(u("chunk-size", 4096))}}
		if v, ok := args["mode"]; ok {
			m, err := ParseMode(v)
			if err != nil {
				t.Fatal(err)
			}
			cfg.Mode = m
		}
		s.backups[id] = NewBackup(cfg)
		fallthrough
	case "connect":
		id := args["id"]
		if err := s.p.AddBackup(s.backups[id].Hello()); err != nil {
			s.errorf("%v", err)
		}
	case "append":
		cid, err := s.p.Append(u("seg", 0), u("off", 0), u("n", 0))
		if err != nil {
			s.errorf("%v", err)
		} else {
			s.printf("commit %d\n", cid)
		}
	case "seal":
		if err := s.p.Seal(u("seg", 0), u("len", 0), uint32(u("crc", 0))); err != nil {
			s.errorf("%v", err)
		}
	case "segment-gone":
		if err := s.p.SegmentGone(u("num", 0), u("seg", 0), u("off", 0)); err != nil {
			s.errorf("%v", err)
		}
	case "chunk":
		ref := ChunkRef(u("ref", 0))
		h := ChunkHeader{Kind: kind(), Epoch: s.p.Epoch(), ID: u("id", 0), Offset: u("off", 0), Length: uint32(u("n", 0))}
		s.chunks[ref] = h
		if err := s.p.Chunk(h.Kind, h.ID, h.Offset, ref, uint64(h.Length)+ChunkHeaderSize); err != nil {
			s.errorf("%v", err)
		}
	case "chunk-to":
		ref := ChunkRef(u("ref", 0))
		h := ChunkHeader{Kind: kind(), Epoch: s.p.Epoch(), ID: u("id", 0), Offset: u("off", 0), Length: uint32(u("n", 0))}
		s.chunks[ref] = h
		if err := s.p.ChunkTo(args["to"], h.Kind, h.ID, h.Offset, ref, uint64(h.Length)+ChunkHeaderSize); err != nil {
			s.errorf("%v", err)
		}
	case "end-to":
		if err := s.p.ObjectEndTo(args["to"], kind(), u("id", 0), u("len", 0), uint32(u("crc", 0)), u("ck-seg", 0), u("ck-off", 0)); err != nil {
			s.errorf("%v", err)
		}
	case "pin":
		// The wrapper pinned a snapshot for a joining backup.
		var pinned []uint64
		if v := args["tables"]; v != "" {
			for _, f := range strings.Split(v, ",") {
				n, err := strconv.ParseUint(f, 10, 64)
				if err != nil {
					t.Fatalf("%s: bad tables=%q", td.Pos, v)
				}
				pinned = append(pinned, n)
			}
		}
		if err := s.p.BeginSnapshot(args["id"], u("edit", 0), pinned); err != nil {
			s.errorf("%v", err)
		}
	case "missed":
		var tables []uint64
		for _, v := range strings.Split(args["tables"], ",") {
			n, err := strconv.ParseUint(v, 10, 64)
			if err != nil {
				t.Fatalf("%s: bad tables=%q", td.Pos, args["tables"])
			}
			tables = append(tables, n)
		}
		s.printf("missed by %s: %v\n", args["id"], s.p.TakeMissed(args["id"], tables))
	case "log-end":
		_, sealed := args["sealed"]
		s.p.SetLogEnd(u("seg", 0), u("off", 0), sealed)
	case "end":
		if err := s.p.ObjectEnd(kind(), u("id", 0), u("len", 0), uint32(u("crc", 0)), u("ck-seg", 0), u("ck-off", 0)); err != nil {
			s.errorf("%v", err)
		}
	case "abort":
		if err := s.p.ObjectAbort(kind(), u("id", 0)); err != nil {
			s.errorf("%v", err)
		}
	case "deliver":
		// Deliver up to n items (default all) of each named backup's channel.
		for _, id := range s.targets(args) {
			n := int(u("n", 1<<30))
			for n > 0 && len(s.down[id]) > 0 {
				o := s.down[id][0]
				s.down[id] = s.down[id][1:]
				n--
				_, fail := args["fail"]
				s.deliver(id, o, fail)
			}
		}
	case "reply":
		for _, id := range s.targets(args) {
			n := int(u("n", 1<<30))
			for n > 0 && len(s.up[id]) > 0 {
				m := s.up[id][0]
				s.up[id] = s.up[id][1:]
				n--
				s.printf("%s -> primary: %s\n", id, m)
				if err := s.p.Step(id, m); err != nil {
					s.errorf("%v", err)
				}
				s.flush()
			}
		}
		return s.out.String()
	case "inject":
		m := Message{Epoch: u("epoch", 0), Seg: u("seg", 0), Offset: u("off", 0), Length: u("len", 0),
			ID: u("id", 0), Slot: uint32(u("slot", 0)), CRC: uint32(u("crc", 0)), Text: args["text"]}
		for ty := MsgHello; ty < msgTypeEnd; ty++ {
			if ty.String() == args["type"] {
				m.Type = ty
			}
		}
		if v, ok := args["kind"]; ok {
			if v == "table" || v == "edit" {
				m.Kind = uint8(kind())
			} else {
				m.Kind = uint8(u("kind", 0))
			}
		}
		if to, ok := args["to"]; ok {
			if err := s.backups[to].Step(m); err != nil {
				s.errorf("%v", err)
			}
			s.runBackup(to)
		} else {
			if err := s.p.Step(args["from"], m); err != nil {
				s.errorf("%v", err)
			}
		}
	case "tick":
		for i := uint64(0); i < u("n", 1); i++ {
			s.p.Tick()
		}
	case "drop":
		s.p.RemoveBackup(args["id"], errors.New("connection lost"))
	case "covering":
		s.printf("covering %d/%d: %d\n", u("seg", 0), u("end", 0), s.p.Covering(u("seg", 0), u("end", 0)))
		return s.out.String()
	case "stats":
		seg, off := s.p.LogEnd()
		s.printf("log end %d/%d\n", seg, off)
		for _, st := range s.p.Stats() {
			s.printf("%s: member=%t posted=%d/%d durable=%d/%d lag=%d durable-lag=%d vlog-bytes=%d chunk-bytes=%d queued=%d/%d last-edit=%d\n",
				st.ID, st.Member, st.PostedSeg, st.PostedOff, st.DurableSeg, st.DurableOff, st.LagBytes, st.DurableLagBytes,
				st.VlogBytes, st.ChunkBytes, st.QueuedVlog, st.QueuedObjects, st.LastEdit)
		}
		return s.out.String()
	case "state":
		s.printf("replica set %v members %v\n", s.p.Backups(), s.p.Members())
		for _, id := range s.ids() {
			seg, dur := s.backups[id].Position()
			s.printf("%s: epoch=%d seg=%d durable=%d pending-down=%d pending-up=%d joining=%t\n",
				id, s.backups[id].Epoch(), seg, dur, len(s.down[id]), len(s.up[id]), s.p.Joining(id))
		}
		return s.out.String()
	default:
		t.Fatalf("%s: unknown command %q", td.Pos, td.Cmd)
	}
	s.flush()
	return s.out.String()
}

func (s *sim) targets(args map[string]string) []string {
	if v, ok := args["to"]; ok {
		return []string{v}
	}
	if v, ok := args["from"]; ok {
		return []string{v}
	}
	return s.ids()
}

// deliver applies one Out at backup id, as the transport would.
func (s *sim) deliver(id string, o Out, fail bool) {
	b := s.backups[id]
	if o.Write == nil {
		s.printf("primary -> %s: %s\n", id, o.Msg)
		if err := b.Step(o.Msg); err != nil {
			s.errorf("%v", err)
		}
		s.runBackup(id)
		return
	}
	w := o.Write
	if fail {
		s.printf("op %d failed\n", w.Op)
		s.p.WriteCompleted(w.Op, errors.New("remote access error"))
		s.flush()
		return
	}
	s.printf("op %d done\n", w.Op)
	if w.Target == TargetChunk {
		if err := b.Chunk(w.Slot, s.chunks[w.Chunk]); err != nil {
			s.errorf("%v", err)
		}
		s.runBackup(id)
	}
	s.p.WriteCompleted(w.Op, nil)
	s.flush()
}

func TestDataDriven(t *testing.T) {
	datadriven.Walk(t, "testdata", func(t *testing.T, path string) {
		s := newSim()
		datadriven.RunTest(t, path, func(t *testing.T, td *datadriven.TestData) string {
			return s.handle(t, td)
		})
	})
}

package replication

import (
	"fmt"
	"strings"
)

// ActionType is what a backup's wrapper must do.
type ActionType uint8

// Backup actions, executed in order (invariant 5).
const (
	// ActPersistEpoch: make Epoch durable before anything else of it.
	ActPersistEpoch ActionType = iota + 1
	// ActPersistPrefix: write [From, To) of vlog slot Slot to segment Seg's
	// file and sync it.
	ActPersistPrefix
	// ActPersistSegment: check that vlog slot Slot holds Length bytes with
	// crc32c CRC, write them as segment Seg's file (same number, same
	// bytes) and sync it. The first From bytes are already in the file
	// (earlier ActPersistPrefix): only the rest needs writing.
	ActPersistSegment
	// ActReplaySegment: build-index mode; insert segment Seg's records into
	// the backup's own engine.
	ActReplaySegment
	// ActAppendChunk: append the data in chunk slot Slot (ID, Offset, Length
	// of object Kind) to the object.
	ActAppendChunk
	// ActFinishObject: the object is whole: check Length and CRC and sync it
	// (a table file) or hold it (an edit).
	ActFinishObject
	// ActAbortObject: discard the object.
	ActAbortObject
	// ActInstallEdit: install edit ID (whose tables are finished) in the
	// backup's manifest, durably, and delete what it removes.
	ActInstallEdit
	// ActSend: send Msg to the primary.
	ActSend
	// ActReset: discard the store's tables, segments and manifest state,
	// durably: a welcomed backup starts from empty and copies the
	// primary's snapshot (catch-up).
	ActReset
	// ActWriteSegment: the segment object ID is whole (checked by
	// ActFinishObject): store it as segment ID's file and sync it.
	ActWriteSegment
	// ActDropSegment: build-index mode; the primary's GC deleted segment
	// ID after rewriting its live values below log position (Seg,
	// Offset): delete the backup's copy once its own index checkpoint has
	// passed that position (invariant 9).
	ActDropSegment
	// ActCatchUpReplay: build-index mode; the snapshot edit just installed
	// is the backup's base: replay the held segments from its index
	// checkpoint up to (not including) segment Seg, the first one the
	// primary streams live, into the backup's own index.
	ActCatchUpReplay
)

var actNames = [...]string{
	ActPersistEpoch: "persist-epoch", ActPersistPrefix: "persist-prefix",
	ActPersistSegment: "persist-segment", ActReplaySegment: "replay-segment",
	ActAppendChunk: "append-chunk", ActFinishObject: "finish-object",
	ActAbortObject: "abort-object", ActInstallEdit: "install-edit", ActSend: "send",
	ActReset: "reset", ActWriteSegment: "write-segment", ActDropSegment: "drop-segment",
	ActCatchUpReplay: "catch-up-replay",
}

// Action is one step for the backup's wrapper. Fields not used by its type
// are zero.
type Action struct {
	Type   ActionType
	Epoch  uint64
	Seg    uint64
	Slot   uint32
	From   uint64
	To     uint64
	Kind   ObjectKind
	ID     uint64
	Offset uint64
	Length uint64
	CRC    uint32
	Msg    Message
}

func (a Action) String() string {
	var s strings.Builder
	s.WriteString(actNames[a.Type])
	switch a.Type {
	case ActPersistEpoch:
		fmt.Fprintf(&s, " epoch=%d", a.Epoch)
	case ActPersistPrefix:
		fmt.Fprintf(&s, " seg=%d slot=%d [%d,%d)", a.Seg, a.Slot, a.From, a.To)
	case ActPersistSegment:
		fmt.Fprintf(&s, " seg=%d slot=%d len=%d crc=%08x", a.Seg, a.Slot, a.Length, a.CRC)
		if a.From > 0 {
			fmt.Fprintf(&s, " from=%d", a.From)
		}
	case ActReplaySegment:
		fmt.Fprintf(&s, " seg=%d", a.Seg)
	case ActCatchUpReplay:
		fmt.Fprintf(&s, " to=%d", a.Seg)
	case ActAppendChunk:
		fmt.Fprintf(&s, " %s %d slot=%d off=%d len=%d", a.Kind, a.ID, a.Slot, a.Offset, a.Length)
	case ActFinishObject:
		fmt.Fprintf(&s, " %s %d len=%d crc=%08x", a.Kind, a.ID, a.Length, a.CRC)
	case ActAbortObject:
		fmt.Fprintf(&s, " %s %d", a.Kind, a.ID)
	case ActInstallEdit:
		fmt.Fprintf(&s, " %s %d", a.Kind, a.ID)
	case ActWriteSegment:
		fmt.Fprintf(&s, " seg=%d", a.ID)
	case ActDropSegment:
		fmt.Fprintf(&s, " seg=%d after=%d/%d", a.ID, a.Seg, a.Offset)
	case ActSend:
		fmt.Fprintf(&s, " %s", a.Msg)
	}
	return s.String()
}

// BackupConfig configures a Backup.
type BackupConfig struct {
	ID    string
	Epoch uint64 // the highest epoch this backup has persisted
	Mode  Mode   // zero: ModeShipIndex
	Geo   Geometry
}

// Backup is one backup's side of the protocol. It is not safe for
// concurrent use: the wrapper serialises calls.
type Backup struct {
	cfg      BackupConfig
	welcomed bool
	ack      Ack
	// cur is the segment the primary is filling; durable is how much of it
	// this backup has persisted.
	cur     uint64
	durable uint64
	// objects being received: bytes so far.
	objects map[objKey]uint64
	actions []Action
}

// NewBackup returns a backup's state machine. It panics on an invalid
// configuration.
func NewBackup(cfg BackupConfig) *Backup {
	if cfg.Mode == 0 {
		cfg.Mode = ModeShipIndex
	}
	if err := cfg.Geo.Validate(); err != nil {
		panic(err)
	}
	if cfg.ID == "" {
		panic("replication: backup without an id")
	}
	return &Backup{cfg: cfg, objects: map[objKey]uint64{}}
}

// Hello returns the message that opens a connection to a primary.
func (b *Backup) Hello() Message {
	return Message{
		Type: MsgHello, Epoch: b.cfg.Epoch, Text: b.cfg.ID, Kind: uint8(b.cfg.Mode), Seg: uint64(b.cfg.Geo.SegmentSize),
		Slot: uint32(b.cfg.Geo.VlogSlots), Length: uint64(b.cfg.Geo.ChunkSlots), Offset: uint64(b.cfg.Geo.ChunkSize),
	}
}

// Epoch returns the backup's current epoch.
func (b *Backup) Epoch() uint64 { return b.cfg.Epoch }

// Position returns the segment being received and how much of it is
// durable here. A promoted backup persists the valid prefix beyond it.
func (b *Backup) Position() (seg, durable uint64) { return b.cur, b.durable }

// Slot returns the vlog slot of segment seg.
func (b *Backup) Slot(seg uint64) uint32 { return uint32(seg % uint64(b.cfg.Geo.VlogSlots)) }

// Ready returns and clears the actions to execute, in order.
func (b *Backup) Ready() []Action {
	a := b.actions
	b.actions = nil
	return a
}

func (b *Backup) do(a Action) { b.actions = append(b.actions, a) }

func (b *Backup) send(m Message) {
	m.Epoch = b.cfg.Epoch
	b.do(Action{Type: ActSend, Msg: m})
}

// Step handles a control message from the primary. ErrStaleEpoch and
// ErrProtocol mean the wrapper must send an Error and tear the connection
// down; nothing of the message was acted on.
func (b *Backup) Step(m Message) error {
	switch {
	case m.Epoch < b.cfg.Epoch:
		return fmt.Errorf("%w: %s of epoch %d, backup is at %d", ErrStaleEpoch, m.Type, m.Epoch, b.cfg.Epoch)
	case m.Epoch > b.cfg.Epoch && m.Type != MsgWelcome:
		return fmt.Errorf("%w: %s raises the epoch from %d to %d without a Welcome", ErrProtocol, m.Type, b.cfg.Epoch, m.Epoch)
	case m.Type != MsgWelcome && !b.welcomed:
		return fmt.Errorf("%w: %s before Welcome", ErrProtocol, m.Type)
	}
	switch m.Type {
	case MsgWelcome:
		if Mode(m.Kind&0xf) != b.cfg.Mode {
			return fmt.Errorf("%w: primary runs %s, this backup %s", ErrProtocol, Mode(m.Kind&0xf), b.cfg.Mode)
		}
		ack := Ack(m.Kind >> 4)
		if ack != AckMemory && ack != AckDisk {
			return fmt.Errorf("%w: Welcome with unknown ack level %d", ErrProtocol, ack)
		}
		if m.Seg == 0 {
			return fmt.Errorf("%w: Welcome names segment 0", ErrProtocol)
		}
		if m.Epoch > b.cfg.Epoch {
			b.cfg.Epoch = m.Epoch
			b.do(Action{Type: ActPersistEpoch, Epoch: m.Epoch})
		}
		b.welcomed, b.ack, b.cur, b.durable = true, ack, m.Seg, 0
		b.objects = map[objKey]uint64{}
		b.do(Action{Type: ActReset})
	case MsgCommit:
		if m.Seg != b.cur {
			return fmt.Errorf("%w: Commit of segment %d while receiving %d", ErrProtocol, m.Seg, b.cur)
		}
		b.persistTo(m.Offset)
		b.send(Message{Type: MsgPersisted, Seg: b.cur, Offset: b.durable})
	case MsgSeal:
		if m.Seg != b.cur {
			return fmt.Errorf("%w: Seal of segment %d while receiving %d", ErrProtocol, m.Seg, b.cur)
		}
		if m.Length < b.durable {
			return fmt.Errorf("%w: Seal of segment %d at %d bytes, %d already durable", ErrProtocol, m.Seg, m.Length, b.durable)
		}
		b.do(Action{Type: ActPersistSegment, Seg: m.Seg, Slot: b.Slot(m.Seg), From: b.durable, Length: m.Length, CRC: m.CRC})
		if b.cfg.Mode == ModeBuildIndex {
			b.do(Action{Type: ActReplaySegment, Seg: m.Seg})
		}
		b.send(Message{Type: MsgSegmentDone, Seg: m.Seg})
		b.cur, b.durable = m.Seg+1, 0
	case MsgObjectEnd:
		k := objKey{ObjectKind(m.Kind), m.ID}
		got, ok := b.objects[k]
		if !ok {
			return fmt.Errorf("%w: end of %s %d, which never started", ErrProtocol, k.kind, k.id)
		}
		if got != m.Length {
			return fmt.Errorf("%w: %s %d ends at %d bytes, %d arrived", ErrProtocol, k.kind, k.id, m.Length, got)
		}
		if k.kind == ObjectSegment && k.id >= b.cur {
			return fmt.Errorf("%w: segment object %d, but segments from %d arrive live", ErrProtocol, k.id, b.cur)
		}
		delete(b.objects, k)
		b.do(Action{Type: ActFinishObject, Kind: k.kind, ID: k.id, Length: m.Length, CRC: m.CRC})
		if k.kind == ObjectSegment {
			b.do(Action{Type: ActWriteSegment, ID: k.id})
		}
		if k.kind == ObjectEdit || k.kind == ObjectSnapshot {
			// Invariant 4: the checkpoint's value-log prefix is durable first.
			switch {
			case m.Seg > b.cur:
				return fmt.Errorf("%w: edit %d checkpoint in segment %d, ahead of segment %d", ErrProtocol, m.ID, m.Seg, b.cur)
			case m.Seg == b.cur:
				b.persistTo(m.Offset)
			}
			b.do(Action{Type: ActInstallEdit, Kind: k.kind, ID: m.ID})
			if k.kind == ObjectSnapshot && b.cfg.Mode == ModeBuildIndex {
				b.do(Action{Type: ActCatchUpReplay, Seg: b.cur})
			}
			b.send(Message{Type: MsgEditDone, ID: m.ID})
		}
	case MsgObjectAbort:
		k := objKey{ObjectKind(m.Kind), m.ID}
		delete(b.objects, k)
		b.do(Action{Type: ActAbortObject, Kind: k.kind, ID: k.id})
	case MsgSegmentGone:
		if b.cfg.Mode != ModeBuildIndex {
			return fmt.Errorf("%w: SegmentGone in %s mode", ErrProtocol, b.cfg.Mode)
		}
		if m.ID >= b.cur || m.Seg > b.cur {
			return fmt.Errorf("%w: SegmentGone of segment %d at position %d/%d, while receiving segment %d",
				ErrProtocol, m.ID, m.Seg, m.Offset, b.cur)
		}
		b.do(Action{Type: ActDropSegment, ID: m.ID, Seg: m.Seg, Offset: m.Offset})
	case MsgHeartbeat:
		b.send(Message{Type: MsgHeartbeatAck, ID: m.ID, Seg: b.cur, Offset: b.durable})
	default:
		return fmt.Errorf("%w: unexpected %s from primary", ErrProtocol, m.Type)
	}
	return nil
}

// persistTo makes the current segment durable up to end.
func (b *Backup) persistTo(end uint64) {
	if end > b.durable {
		b.do(Action{Type: ActPersistPrefix, Seg: b.cur, Slot: b.Slot(b.cur), From: b.durable, To: end})
		b.durable = end
	}
}

// Chunk handles a chunk that arrived in slot (the wrapper decoded and
// verified h with DecodeChunk). Chunks of one object arrive in order.
func (b *Backup) Chunk(slot uint32, h ChunkHeader) error {
	if !b.welcomed {
		return fmt.Errorf("%w: chunk before Welcome", ErrProtocol)
	}
	if h.Epoch != b.cfg.Epoch {
		return fmt.Errorf("%w: chunk of epoch %d, backup is at %d", ErrStaleEpoch, h.Epoch, b.cfg.Epoch)
	}
	if b.cfg.Mode == ModeBuildIndex && h.Kind == ObjectEdit {
		// A build-index backup keeps its own manifest: of the primary's
		// index it receives only a catch-up snapshot (tables and the
		// snapshot edit).
		return fmt.Errorf("%w: %s chunk in %s mode", ErrProtocol, h.Kind, b.cfg.Mode)
	}
	if int(slot) >= b.cfg.Geo.ChunkSlots {
		return fmt.Errorf("%w: chunk in slot %d of %d", ErrProtocol, slot, b.cfg.Geo.ChunkSlots)
	}
	k := objKey{h.Kind, h.ID}
	got, ok := b.objects[k]
	if h.Offset == 0 {
		if ok {
			return fmt.Errorf("%w: %s %d started twice", ErrProtocol, k.kind, k.id)
		}
	} else if !ok || got != h.Offset {
		return fmt.Errorf("%w: chunk of %s %d at %d, expected %d", ErrProtocol, k.kind, k.id, h.Offset, got)
	}
	b.objects[k] = h.Offset + uint64(h.Length)
	b.do(Action{Type: ActAppendChunk, Kind: k.kind, ID: k.id, Slot: slot, Offset: h.Offset, Length: uint64(h.Length)})
	b.send(Message{Type: MsgChunkCredit, Slot: slot})
	return nil
}

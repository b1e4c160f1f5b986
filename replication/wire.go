package replication

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
)

// MsgType is the type of a control message.
type MsgType uint8

// The message types; see the package doc for their fields.
const (
	MsgHello MsgType = iota + 1
	MsgWelcome
	MsgCommit
	MsgPersisted
	MsgSeal
	MsgSegmentDone
	MsgObjectEnd
	MsgObjectAbort
	MsgChunkCredit
	MsgEditDone
	MsgHeartbeat
	MsgHeartbeatAck
	MsgError
	MsgSegmentGone
	msgTypeEnd
)

var msgNames = [...]string{
	MsgHello: "Hello", MsgWelcome: "Welcome", MsgCommit: "Commit",
	MsgPersisted: "Persisted", MsgSeal: "Seal", MsgSegmentDone: "SegmentDone",
	MsgObjectEnd: "ObjectEnd", MsgObjectAbort: "ObjectAbort",
	MsgChunkCredit: "ChunkCredit", MsgEditDone: "EditDone",
	MsgHeartbeat: "Heartbeat", MsgHeartbeatAck: "HeartbeatAck", MsgError: "Error",
	MsgSegmentGone: "SegmentGone",
}

func (t MsgType) String() string {
	if t > 0 && t < msgTypeEnd {
		return msgNames[t]
	}
	return fmt.Sprintf("MsgType(%d)", uint8(t))
}

// ObjectKind is what a chunk stream carries.
type ObjectKind uint8

// Object kinds.
const (
	ObjectTable ObjectKind = 1 // an SSTable file, id = table number
	ObjectEdit  ObjectKind = 2 // an encoded index version edit, id = edit number
	// ObjectSegment is a sealed value-log segment file copied for catch-up,
	// id = segment number.
	ObjectSegment ObjectKind = 3
	// ObjectSnapshot is an encoded version edit that recreates the
	// primary's whole index state after edit id (catch-up): it adds every
	// table at its level and carries the checkpoint, NextFileNum, LastSeq
	// and SegmentLive. The backup installs it as its base version.
	ObjectSnapshot ObjectKind = 4
)

func (k ObjectKind) valid() bool { return k >= ObjectTable && k <= ObjectSnapshot }

func (k ObjectKind) String() string {
	switch k {
	case ObjectTable:
		return "table"
	case ObjectEdit:
		return "edit"
	case ObjectSegment:
		return "segment"
	case ObjectSnapshot:
		return "snapshot"
	}
	return fmt.Sprintf("ObjectKind(%d)", uint8(k))
}

// Message is one control message. Which fields a type uses is listed in the
// package doc; the others are zero.
type Message struct {
	Type   MsgType
	Epoch  uint64
	Seg    uint64
	Offset uint64
	Length uint64
	ID     uint64
	Slot   uint32
	CRC    uint32
	Kind   uint8
	Text   string
}

// Wire sizes.
const (
	headerSize = 20
	bodySize   = 8*4 + 4 + 4 + 1 + 2
	// MaxTextLen bounds Message.Text.
	MaxTextLen = 1024
	// MaxMessageSize bounds an encoded message.
	MaxMessageSize = headerSize + bodySize + MaxTextLen
	wireVersion    = 1
)

// Errors returned by decoders and state machines.
var (
	ErrMalformed      = errors.New("replication: malformed message")
	ErrStaleEpoch     = errors.New("replication: message from a stale epoch")
	ErrFenced         = errors.New("replication: fenced by a newer epoch")
	ErrProtocol       = errors.New("replication: protocol violation")
	ErrTooFewReplicas = errors.New("replication: too few replicas")
	ErrBackupDropped  = errors.New("replication: backup dropped")
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// Encode appends m's frame to dst.
func (m *Message) Encode(dst []byte) []byte {
	text := m.Text
	if len(text) > MaxTextLen {
		text = text[:MaxTextLen]
	}
	start := len(dst)
	dst = append(dst, 'T', 'L', wireVersion, byte(m.Type))
	dst = binary.LittleEndian.AppendUint32(dst, uint32(bodySize+len(text)))
	dst = binary.LittleEndian.AppendUint64(dst, m.Epoch)
	dst = binary.LittleEndian.AppendUint32(dst, 0) // crc, filled below
	dst = binary.LittleEndian.AppendUint64(dst, m.Seg)
	dst = binary.LittleEndian.AppendUint64(dst, m.Offset)
	dst = binary.LittleEndian.AppendUint64(dst, m.Length)
	dst = binary.LittleEndian.AppendUint64(dst, m.ID)
	dst = binary.LittleEndian.AppendUint32(dst, m.Slot)
	dst = binary.LittleEndian.AppendUint32(dst, m.CRC)
	dst = append(dst, m.Kind)
	dst = binary.LittleEndian.AppendUint16(dst, uint16(len(text)))
	dst = append(dst, text...)
	sum := crc32.Checksum(dst[start:], castagnoli)
	binary.LittleEndian.PutUint32(dst[start+16:], sum)
	return dst
}

// DecodeMessage decodes exactly one frame. Any damage (short, long, bad
// magic, version, type, checksum, or a field the type does not use) is
// ErrMalformed with the detail.
func DecodeMessage(b []byte) (Message, error) {
	var m Message
	if len(b) < headerSize+bodySize {
		return m, fmt.Errorf("%w: %d bytes, shorter than the %d-byte minimum", ErrMalformed, len(b), headerSize+bodySize)
	}
	if b[0] != 'T' || b[1] != 'L' {
		return m, fmt.Errorf("%w: bad magic %q", ErrMalformed, b[:2])
	}
	if b[2] != wireVersion {
		return m, fmt.Errorf("%w: unknown version %d", ErrMalformed, b[2])
	}
	n := binary.LittleEndian.Uint32(b[4:8])
	if uint64(n) != uint64(len(b)-headerSize) {
		return m, fmt.Errorf("%w: body length %d, frame carries %d", ErrMalformed, n, len(b)-headerSize)
	}
	want := binary.LittleEndian.Uint32(b[16:20])
	h := crc32.Update(0, castagnoli, b[:16])
	h = crc32.Update(h, castagnoli, []byte{0, 0, 0, 0})
	h = crc32.Update(h, castagnoli, b[20:])
	if h != want {
		return m, fmt.Errorf("%w: checksum %08x, want %08x", ErrMalformed, h, want)
	}
	m.Type = MsgType(b[3])
	if m.Type == 0 || m.Type >= msgTypeEnd {
		return m, fmt.Errorf("%w: unknown type %d", ErrMalformed, b[3])
	}
	m.Epoch = binary.LittleEndian.Uint64(b[8:16])
	p := b[headerSize:]
	m.Seg = binary.LittleEndian.Uint64(p[0:])
	m.Offset = binary.LittleEndian.Uint64(p[8:])
	m.Length = binary.LittleEndian.Uint64(p[16:])
	m.ID = binary.LittleEndian.Uint64(p[24:])
	m.Slot = binary.LittleEndian.Uint32(p[32:])
	m.CRC = binary.LittleEndian.Uint32(p[36:])
	m.Kind = p[40]
	tl := int(binary.LittleEndian.Uint16(p[41:]))
	if tl > MaxTextLen || tl != len(p)-bodySize {
		return Message{}, fmt.Errorf("%w: text length %d, frame carries %d", ErrMalformed, tl, len(p)-bodySize)
	}
	m.Text = string(p[bodySize:])
	if err := m.checkFields(); err != nil {
		return Message{}, err
	}
	return m, nil
}

// Field masks: which body fields a message type may set.
const (
	fSeg = 1 << iota
	fOffset
	fLength
	fID
	fSlot
	fCRC
	fKind
	fText
)

var typeFields = [...]int{
	MsgHello:        fSeg | fKind | fText | fSlot | fLength | fOffset,
	MsgWelcome:      fSeg | fKind,
	MsgCommit:       fSeg | fOffset,
	MsgPersisted:    fSeg | fOffset,
	MsgSeal:         fSeg | fLength | fCRC,
	MsgSegmentDone:  fSeg,
	MsgObjectEnd:    fSeg | fOffset | fLength | fID | fCRC | fKind,
	MsgObjectAbort:  fID | fKind,
	MsgChunkCredit:  fSlot,
	MsgEditDone:     fID,
	MsgHeartbeat:    fID,
	MsgHeartbeatAck: fSeg | fOffset | fID,
	MsgError:        fText,
	MsgSegmentGone:  fSeg | fOffset | fID,
}

func (m *Message) checkFields() error {
	allowed := typeFields[m.Type]
	set := 0
	for _, f := range []struct {
		bit int
		on  bool
	}{
		{fSeg, m.Seg != 0}, {fOffset, m.Offset != 0}, {fLength, m.Length != 0},
		{fID, m.ID != 0}, {fSlot, m.Slot != 0}, {fCRC, m.CRC != 0},
		{fKind, m.Kind != 0}, {fText, m.Text != ""},
	} {
		if f.on {
			set |= f.bit
		}
	}
	if extra := set &^ allowed; extra != 0 {
		return fmt.Errorf("%w: %s sets fields it does not use (mask %#x)", ErrMalformed, m.Type, extra)
	}
	return nil
}

// String renders m for logs and test output: the non-zero fields its type uses.
func (m Message) String() string {
	s := fmt.Sprintf("%s e%d", m.Type, m.Epoch)
	f := typeFields[0]
	if m.Type > 0 && m.Type < msgTypeEnd {
		f = typeFields[m.Type]
	}
	if f&fKind != 0 {
		switch m.Type {
		case MsgObjectEnd, MsgObjectAbort:
			s += " " + ObjectKind(m.Kind).String()
		case MsgWelcome:
			s += fmt.Sprintf(" mode=%s ack=%s", Mode(m.Kind&0xf), Ack(m.Kind>>4))
		case MsgHello:
			s += fmt.Sprintf(" mode=%s", Mode(m.Kind))
		}
	}
	if f&fID != 0 && m.ID != 0 {
		s += fmt.Sprintf(" id=%d", m.ID)
	}
	if f&fSeg != 0 && m.Seg != 0 {
		s += fmt.Sprintf(" seg=%d", m.Seg)
	}
	if f&fOffset != 0 && m.Offset != 0 {
		s += fmt.Sprintf(" off=%d", m.Offset)
	}
	if f&fLength != 0 && m.Length != 0 {
		s += fmt.Sprintf(" len=%d", m.Length)
	}
	if f&fSlot != 0 {
		s += fmt.Sprintf(" slot=%d", m.Slot)
	}
	if f&fCRC != 0 && m.CRC != 0 {
		s += fmt.Sprintf(" crc=%08x", m.CRC)
	}
	if f&fText != 0 && m.Text != "" {
		s += fmt.Sprintf(" text=%q", m.Text)
	}
	return s
}

package replication

import (
	"fmt"
	"slices"
	"sort"
)

// CommitID names one group commit, in the order the primary appended them.
type CommitID uint64

// OpID names one write the wrapper posts; the wrapper reports its
// completion with WriteCompleted.
type OpID uint64

// ChunkRef is the wrapper's handle on a chunk buffer (an encoded chunk,
// header included, ready to be written to any backup's chunk slot).
type ChunkRef uint64

// Target is the ring a Write lands in.
type Target uint8

// Write targets.
const (
	TargetVlog  Target = 1 // the backup's value-log ring
	TargetChunk Target = 2 // the backup's chunk ring, with immediate = Slot
)

// Write is one one-sided write the wrapper must post. For TargetVlog it
// copies [Offset, Offset+Length) of the primary's segment Seg into the same
// range of the backup's vlog slot Slot. For TargetChunk it copies the first
// Length bytes of chunk buffer Chunk into the backup's chunk slot Slot, with
// Slot as the immediate.
type Write struct {
	Op     OpID
	Backup string
	Target Target
	Seg    uint64
	Slot   uint32
	Offset uint64
	Length uint64
	Chunk  ChunkRef
}

func (w Write) String() string {
	if w.Target == TargetVlog {
		return fmt.Sprintf("write op=%d to=%s vlog seg=%d slot=%d off=%d len=%d", w.Op, w.Backup, w.Seg, w.Slot, w.Offset, w.Length)
	}
	return fmt.Sprintf("write op=%d to=%s chunk ref=%d slot=%d len=%d imm", w.Op, w.Backup, w.Chunk, w.Slot, w.Length)
}

// Out is one thing to send to a backup: a one-sided write or a control
// message. A backup's Outs go out on its channel in the order given.
type Out struct {
	To    string
	Write *Write // nil for a control message
	Msg   Message
}

func (o Out) String() string {
	if o.Write != nil {
		return o.Write.String()
	}
	return fmt.Sprintf("send to=%s %s", o.To, o.Msg)
}

// CommitResult is the fate of one commit.
type CommitResult struct {
	ID  CommitID
	Err error // nil: acknowledged
}

// Drop reports a backup leaving the replica set.
type Drop struct {
	Backup string
	Reason error
}

// Ready is what a state machine asks of its wrapper since the last call to
// Ready. The wrapper posts the writes and sends the messages of Out in
// order (per backup), answers the
// commits in Results, tears down the connections of Dropped backups, and
// frees the segment buffers and chunk buffers released.
type Ready struct {
	Out              []Out
	Results          []CommitResult
	Dropped          []Drop
	ReleasedSegments []uint64
	ReleasedChunks   []ChunkRef
}

// Empty reports whether r asks for nothing.
func (r *Ready) Empty() bool {
	return len(r.Out) == 0 && len(r.Results) == 0 &&
		len(r.Dropped) == 0 && len(r.ReleasedSegments) == 0 && len(r.ReleasedChunks) == 0
}

// Primary is the primary's side of the protocol for all its backups. It is
// not safe for concurrent use: the wrapper serialises calls.
type Primary struct {
	cfg     PrimaryConfig
	tick    uint64
	fenced  error
	nextOp  OpID
	nextCID CommitID
	// lastSeg and lastEnd are the log end: the newest segment appended to
	// or sealed, and how far it is filled; lastSealed says it is sealed. A
	// backup added now joins there (see AddBackup).
	lastSeg    uint64
	lastEnd    uint64
	lastSealed bool
	// logUsed: something was ever appended or sealed (or SetLogEnd named
	// a non-empty log): a backup added now must copy a snapshot.
	logUsed bool
	sealed  map[uint64]bool // sealed segments with writes still pending
	commits []*commit       // unresolved, oldest first
	backups map[string]*peer
	ops     map[OpID]opRef
	// abandoned: ops in flight to a backup when it was dropped.
	abandoned map[OpID]bool
	// segRefs and chunkRefs count queued and in-flight writes per source
	// buffer, so that buffers are released only when nothing reads them.
	segRefs   map[uint64]int
	chunkRefs map[ChunkRef]int
	objects   map[objKey]bool // objects being streamed
	maxTable  uint64          // highest table whose first chunk was offered
	ready     Ready
}

type commit struct {
	id      CommitID
	seg     uint64
	end     uint64
	waiting map[string]bool // backups that must still confirm
	held    int             // backups that confirmed
}

type objKey struct {
	kind ObjectKind
	id   uint64
}

type opRef struct {
	backup string
	target Target
	seg    uint64
	chunk  ChunkRef
	commit CommitID // for vlog writes under ack memory; 0 otherwise
}

// peer is the primary's view of one backup.
type peer struct {
	id       string
	geo      Geometry
	joinSeg  uint64          // receives segments >= joinSeg
	joinOff  uint64          // ... of which joinSeg from offset 0 (a prefix write up to joinOff)
	inflight map[uint64]bool // segments occupying a vlog slot (not SegmentDone)
	chunkUse map[uint32]bool // chunk slots written and not credited
	// vq holds value-log items (vlog writes, Commit, Seal) and oq object
	// items (chunks, ObjectEnd, ObjectAbort), each waiting in order for its
	// own credit; neither holds up the other except that an edit's
	// ObjectEnd waits for the vlog writes up to its checkpoint (invariant 7).
	vq, oq []queued
	// posSeg/posOff: the value-log position posted to this backup so far.
	posSeg, posOff uint64
	objects        map[objKey]bool // objects this backup receives (saw offset 0)
	// Catch-up (ship-index mode). A joining backup counts toward
	// MinReplicas only once it has acknowledged its snapshot edit.
	joining bool
	// pinned: BeginSnapshot was called; live objects started since then
	// are delivered. snapID is the edit the snapshot reflects: live edits
	// up to it are not delivered. snapOpen: the snapshot edit has not
	// ended; live items wait in held behind it.
	pinned   bool
	snapOpen bool
	snapID   uint64
	held     []queued
	// gone holds SegmentGone messages for segments the snapshot being
	// sent holds; they go once the backup installed it.
	gone []queued
	// preMax is the highest table whose first chunk was offered before
	// the pin: such a table reached this backup only if has names it (the
	// pin holds it, it arrived live, or TakeMissed gave it out).
	preMax   uint64
	has      map[uint64]bool
	targeted map[objKey]bool // objects sent to this backup alone
	lastAck  uint64          // tick of the last HeartbeatAck
	// vlogBytes and chunkBytes count what was posted to this backup.
	vlogBytes, chunkBytes uint64
	durSeg                uint64 // durable position reported (ack disk, lag)
	durOff                uint64
	lastEdit              uint64
}

// queued is a write or a message that must wait behind a credit.
type queued struct {
	write  *Write
	msg    *Message
	commit CommitID // for a vlog write under ack memory: the commit it carries
}

// NewPrimary returns the state machine for a primary of cfg.Epoch. It panics
// on an invalid configuration (the wrapper validates user input first).
func NewPrimary(cfg PrimaryConfig) *Primary {
	cfg.EnsureDefaults()
	if err := cfg.Validate(); err != nil {
		panic(err)
	}
	return &Primary{
		cfg:       cfg,
		sealed:    map[uint64]bool{},
		backups:   map[string]*peer{},
		ops:       map[OpID]opRef{},
		abandoned: map[OpID]bool{},
		segRefs:   map[uint64]int{},
		chunkRefs: map[ChunkRef]int{},
		objects:   map[objKey]bool{},
	}
}

// Epoch returns the primary's epoch.
func (p *Primary) Epoch() uint64 { return p.cfg.Epoch }

// Backups returns the ids of the backups in the replica set, sorted.
func (p *Primary) Backups() []string {
	ids := make([]string, 0, len(p.backups))
	for id := range p.backups {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	return ids
}

// Idle reports whether nothing is queued, in flight or unresolved, and
// every backup has acknowledged edit lastEdit (0: no edit to wait for): a
// clean shutdown waits for it before tearing connections down.
func (p *Primary) Idle(lastEdit uint64) bool {
	if len(p.commits) > 0 || len(p.ops) > 0 {
		return false
	}
	for _, b := range p.backups {
		if len(b.vq) > 0 || len(b.oq) > 0 || len(b.held) > 0 || len(b.gone) > 0 || b.snapOpen || b.lastEdit < lastEdit {
			return false
		}
	}
	return true
}

// Fenced returns ErrFenced (wrapped) once a newer epoch was seen.
func (p *Primary) Fenced() error { return p.fenced }

// Ready returns and clears what the wrapper must do.
func (p *Primary) Ready() Ready {
	r := p.ready
	p.ready = Ready{}
	return r
}

// SetLogEnd tells a primary that reopened a non-empty value log where it
// ends: segment seg holds off bytes and is sealed or not. Call it before
// any Append, Seal or AddBackup.
func (p *Primary) SetLogEnd(seg, off uint64, sealed bool) {
	if p.logUsed || len(p.backups) > 0 {
		panic("replication: SetLogEnd after the log was used")
	}
	p.lastSeg, p.lastEnd, p.lastSealed = seg, off, sealed
	p.logUsed = seg > 0
}

// AddBackup admits the backup that sent hello into the replica set at the
// join point, the log end (L, O): if segment L is not sealed and O > 0,
// the first thing queued to it is a write of [0, O) of segment L, then it
// receives the live value log from O on; if L is sealed it receives
// segments from L+1 on. A Welcome naming the join segment is queued.
//
// A backup added to a primary whose log was ever used (either mode) is
// joining: it receives no live object until the wrapper pins a
// snapshot (BeginSnapshot) and streams it (ChunkTo, ObjectEndTo), and it
// counts toward MinReplicas only once it acknowledged the snapshot edit.
// A backup added before anything was written needs no snapshot.
func (p *Primary) AddBackup(hello Message) error {
	if p.fenced != nil {
		return p.fenced
	}
	if hello.Type != MsgHello {
		return fmt.Errorf("%w: expected Hello, got %s", ErrProtocol, hello.Type)
	}
	id := hello.Text
	if id == "" {
		return fmt.Errorf("%w: Hello without a backup id", ErrProtocol)
	}
	if _, dup := p.backups[id]; dup {
		return fmt.Errorf("%w: backup %q is already in the replica set", ErrProtocol, id)
	}
	if hello.Epoch > p.cfg.Epoch {
		p.fence(hello.Epoch)
		return p.fenced
	}
	if Mode(hello.Kind) != p.cfg.Mode {
		return fmt.Errorf("%w: backup %q runs %s, the primary %s", ErrProtocol, id, Mode(hello.Kind), p.cfg.Mode)
	}
	geo := Geometry{SegmentSize: int(hello.Seg), VlogSlots: int(hello.Slot), ChunkSlots: int(hello.Length), ChunkSize: int(hello.Offset)}
	if err := geo.Validate(); err != nil {
		return fmt.Errorf("backup %q: %w", id, err)
	}
	if uint64(geo.SegmentSize) != p.cfg.SegmentSize {
		return fmt.Errorf("%w: backup %q has %d-byte segment slots, the value log %d-byte segments",
			ErrProtocol, id, geo.SegmentSize, p.cfg.SegmentSize)
	}
	b := &peer{
		id: id, geo: geo, lastAck: p.tick,
		inflight: map[uint64]bool{}, chunkUse: map[uint32]bool{}, objects: map[objKey]bool{},
		targeted: map[objKey]bool{}, has: map[uint64]bool{},
	}
	prefix := uint64(0)
	switch {
	case p.lastSeg == 0:
		b.joinSeg = 1
	case p.lastSealed:
		b.joinSeg = p.lastSeg + 1
	default:
		b.joinSeg, prefix = p.lastSeg, p.lastEnd
	}
	b.posSeg, b.joinOff = b.joinSeg, prefix
	b.joining = p.logUsed
	b.pinned = !b.joining
	p.backups[id] = b
	p.send(id, Message{Type: MsgWelcome, Seg: b.joinSeg, Kind: uint8(p.cfg.Mode) | uint8(p.cfg.Ack)<<4})
	if prefix > 0 {
		// The segment being filled: its bytes so far come first.
		p.segRefs[b.joinSeg]++
		p.enqueueV(b, queued{write: &Write{Backup: id, Target: TargetVlog, Seg: b.joinSeg,
			Slot: uint32(b.joinSeg % uint64(geo.VlogSlots)), Offset: 0, Length: prefix}})
	}
	return nil
}

// Joining reports whether backup id is in the replica set and has not yet
// acknowledged its snapshot.
func (p *Primary) Joining(id string) bool {
	b := p.backups[id]
	return b != nil && b.joining
}

// Members returns the ids of the backups that count toward MinReplicas
// (in the replica set and not joining), sorted.
func (p *Primary) Members() []string {
	var ids []string
	for _, id := range p.Backups() {
		if !p.backups[id].joining {
			ids = append(ids, id)
		}
	}
	return ids
}

// JoinSegment returns the first segment backup id receives live; the
// snapshot must carry every older segment. Zero if id is not in the set.
func (p *Primary) JoinSegment(id string) uint64 {
	if b := p.backups[id]; b != nil {
		return b.joinSeg
	}
	return 0
}

// BeginSnapshot records that the wrapper pinned, for joining backup id, the
// state after edit editID (0: before any edit). From now on the backup
// receives live objects that start, except edits up to editID (the
// snapshot holds them); they wait behind the snapshot edit. Tables whose
// first chunk was offered before now and that are not among the pinned
// tables did not reach it whole: TakeMissed names them when an edit adds
// them.
func (p *Primary) BeginSnapshot(id string, editID uint64, pinned []uint64) error {
	b := p.backups[id]
	if b == nil {
		return fmt.Errorf("%w: %q is not in the replica set", ErrBackupDropped, id)
	}
	if !b.joining || b.pinned {
		return fmt.Errorf("%w: snapshot for backup %q, which is not waiting for one", ErrProtocol, id)
	}
	b.pinned, b.snapOpen, b.snapID, b.preMax = true, true, editID, p.maxTable
	for _, t := range pinned {
		b.has[t] = true
	}
	return nil
}

// TakeMissed returns those of tables (the tables an edit adds) that backup
// id has not received: their streaming started before its snapshot was
// pinned and the pin does not hold them. Each is returned once. The
// wrapper sends them to it (ChunkTo, ObjectEndTo) from their files before
// the edit.
func (p *Primary) TakeMissed(id string, tables []uint64) []uint64 {
	b := p.backups[id]
	if b == nil || !b.pinned {
		return nil
	}
	var out []uint64
	for _, t := range tables {
		if t <= b.preMax && !b.has[t] {
			b.has[t] = true
			out = append(out, t)
		}
	}
	return out
}

// RemoveBackup drops a backup, e.g. when its connection failed.
func (p *Primary) RemoveBackup(id string, reason error) {
	if b := p.backups[id]; b != nil {
		p.drop(b, reason)
		p.resolve()
	}
}

// Append records a group commit whose records occupy [off, off+n) of
// segment seg and returns its id. Its result comes in Ready.Results.
func (p *Primary) Append(seg, off, n uint64) (CommitID, error) {
	if p.fenced != nil {
		return 0, p.fenced
	}
	if seg < p.lastSeg || p.sealed[seg] {
		panic(fmt.Sprintf("replication: append to segment %d after segment %d (sealed=%t)", seg, p.lastSeg, p.sealed[seg]))
	}
	p.lastSeg, p.lastEnd, p.lastSealed, p.logUsed = seg, off+n, false, true
	p.nextCID++
	c := &commit{id: p.nextCID, seg: seg, end: off + n, waiting: map[string]bool{}}
	p.commits = append(p.commits, c)
	for _, id := range p.Backups() {
		b := p.backups[id]
		if seg < b.joinSeg {
			continue
		}
		c.waiting[id] = true
		w := &Write{Backup: id, Target: TargetVlog, Seg: seg, Slot: uint32(seg % uint64(b.geo.VlogSlots)), Offset: off, Length: n}
		p.segRefs[seg]++
		if p.cfg.Ack == AckMemory {
			p.enqueueV(b, queued{write: w, commit: c.id})
		} else {
			p.enqueueV(b, queued{write: w})
			p.enqueueV(b, queued{msg: &Message{Type: MsgCommit, Seg: seg, Offset: off + n}})
		}
	}
	p.resolve()
	return c.id, nil
}

// SegmentWrites returns how many writes from segment seg's staged bytes
// are queued or in flight: the wrapper may reuse the staging memory of a
// segment only once none are.
func (p *Primary) SegmentWrites(seg uint64) int { return max(p.segRefs[seg], 0) }

// Seal records that segment seg is complete: length bytes with crc32c crc.
// Backups persist it and answer SegmentDone, which frees its slot.
func (p *Primary) Seal(seg, length uint64, crc uint32) error {
	if p.fenced != nil {
		return p.fenced
	}
	if seg < p.lastSeg {
		panic(fmt.Sprintf("replication: seal of segment %d after segment %d", seg, p.lastSeg))
	}
	p.lastSeg, p.lastEnd, p.lastSealed, p.logUsed = seg, length, true, true
	p.sealed[seg] = true
	for _, id := range p.Backups() {
		b := p.backups[id]
		if seg < b.joinSeg {
			continue
		}
		// A segment sealed with no append still occupies its slot on the
		// backup until SegmentDone.
		p.enqueueV(b, queued{msg: &Message{Type: MsgSeal, Seg: seg, Length: length, CRC: crc}})
	}
	p.releaseSegment(seg)
	return nil
}

// SegmentGone tells every build-index backup that the primary's value-log
// GC deleted segment num after rewriting its live values below position
// (seg, offset) of the log (invariant 9). A build-index backup deletes its
// copy once its own index checkpoint has passed that position; ship-index
// backups learn of deletions from the version edits they install, so this
// is a no-op in ship-index mode. The message follows, on the same ordered
// queue, the value-log bytes it refers to.
func (p *Primary) SegmentGone(num, seg, offset uint64) error {
	if p.fenced != nil {
		return p.fenced
	}
	if p.cfg.Mode != ModeBuildIndex {
		return nil
	}
	for _, id := range p.Backups() {
		b := p.backups[id]
		q := queued{msg: &Message{Type: MsgSegmentGone, ID: num, Seg: seg, Offset: offset}}
		switch {
		case num >= b.joinSeg:
			p.enqueueV(b, q)
		case !b.pinned:
			// Deleted before the backup's snapshot was pinned: the
			// snapshot will not hold it.
		case b.joining:
			b.gone = append(b.gone, q) // the snapshot being sent holds it
		default:
			p.enqueueV(b, q) // its snapshot held it
		}
	}
	return nil
}

// Chunk offers one chunk of an object (already encoded in the wrapper's
// buffer ref, n bytes with its header) to every backup that receives the
// object. Chunks of an object come in order; offset 0 starts it. In
// build-index mode tables are not shipped: the chunk is released at once.
func (p *Primary) Chunk(kind ObjectKind, id, offset uint64, ref ChunkRef, n uint64) error {
	if p.fenced != nil {
		return p.fenced
	}
	k := objKey{kind, id}
	if offset == 0 {
		p.objects[k] = true
		if kind == ObjectTable {
			p.maxTable = max(p.maxTable, id)
		}
	}
	if !p.objects[k] {
		panic(fmt.Sprintf("replication: chunk at %d of %s %d that never started", offset, kind, id))
	}
	if p.cfg.Mode == ModeShipIndex {
		for _, bid := range p.Backups() {
			b := p.backups[bid]
			if offset == 0 && b.pinned && !(kind == ObjectEdit && id <= b.snapID) {
				b.objects[k] = true
				if kind == ObjectTable && id <= b.preMax {
					b.has[id] = true
				}
			}
			if !b.objects[k] {
				continue
			}
			p.chunkRefs[ref]++
			p.enqueueLive(b, queued{write: &Write{Backup: bid, Target: TargetChunk, Chunk: ref, Length: n}}, kind)
		}
	}
	if p.chunkRefs[ref] == 0 {
		delete(p.chunkRefs, ref)
		p.ready.ReleasedChunks = append(p.ready.ReleasedChunks, ref)
	}
	return nil
}

// ObjectEnd ends an object of length bytes with crc32c crc. For an edit,
// ckSeg and ckOff name the value-log checkpoint the backup must make durable
// before installing it.
func (p *Primary) ObjectEnd(kind ObjectKind, id, length uint64, crc uint32, ckSeg, ckOff uint64) error {
	return p.endObject(Message{Type: MsgObjectEnd, Kind: uint8(kind), ID: id, Length: length, CRC: crc, Seg: ckSeg, Offset: ckOff})
}

// ObjectAbort abandons an object; backups discard what they received.
func (p *Primary) ObjectAbort(kind ObjectKind, id uint64) error {
	return p.endObject(Message{Type: MsgObjectAbort, Kind: uint8(kind), ID: id})
}

func (p *Primary) endObject(m Message) error {
	if p.fenced != nil {
		return p.fenced
	}
	k := objKey{ObjectKind(m.Kind), m.ID}
	if !p.objects[k] {
		panic(fmt.Sprintf("replication: end of %s %d that never started (every object has a chunk at offset 0)", k.kind, k.id))
	}
	delete(p.objects, k)
	if p.cfg.Mode != ModeShipIndex {
		return nil
	}
	for _, bid := range p.Backups() {
		b := p.backups[bid]
		if !b.objects[k] {
			continue
		}
		delete(b.objects, k)
		mm := m
		p.enqueueLive(b, queued{msg: &mm}, k.kind)
	}
	return nil
}

// ChunkTo offers one chunk of an object sent to backup to alone (catch-up:
// the files of its snapshot, the tables it missed). Chunks of an object
// come in order; offset 0 starts it. If the backup left the replica set
// the chunk is released and ErrBackupDropped returned: stop streaming.
func (p *Primary) ChunkTo(to string, kind ObjectKind, id, offset uint64, ref ChunkRef, n uint64) error {
	if p.fenced != nil {
		p.releaseChunkNow(ref)
		return p.fenced
	}
	b := p.backups[to]
	if b == nil {
		p.releaseChunkNow(ref)
		return fmt.Errorf("%w: %q is not in the replica set", ErrBackupDropped, to)
	}
	k := objKey{kind, id}
	if offset == 0 {
		if b.targeted[k] {
			panic(fmt.Sprintf("replication: %s %d to %s started twice", kind, id, to))
		}
		b.targeted[k] = true
	}
	if !b.targeted[k] {
		// The backup left and joined again since the object started.
		p.releaseChunkNow(ref)
		return fmt.Errorf("%w: chunk at %d of %s %d to %q, which did not receive its start", ErrBackupDropped, offset, kind, id, to)
	}
	p.chunkRefs[ref]++
	p.enqueueO(b, queued{write: &Write{Backup: to, Target: TargetChunk, Chunk: ref, Length: n}})
	return nil
}

// ObjectEndTo ends an object sent to backup to alone (see ObjectEnd). The
// end of its snapshot (kind ObjectSnapshot, id = the edit it reflects)
// releases the live objects held behind it.
func (p *Primary) ObjectEndTo(to string, kind ObjectKind, id, length uint64, crc uint32, ckSeg, ckOff uint64) error {
	return p.endTargeted(to, Message{Type: MsgObjectEnd, Kind: uint8(kind), ID: id, Length: length, CRC: crc, Seg: ckSeg, Offset: ckOff})
}

// ObjectAbortTo abandons an object sent to backup to alone.
func (p *Primary) ObjectAbortTo(to string, kind ObjectKind, id uint64) error {
	return p.endTargeted(to, Message{Type: MsgObjectAbort, Kind: uint8(kind), ID: id})
}

func (p *Primary) endTargeted(to string, m Message) error {
	if p.fenced != nil {
		return p.fenced
	}
	b := p.backups[to]
	if b == nil {
		return fmt.Errorf("%w: %q is not in the replica set", ErrBackupDropped, to)
	}
	k := objKey{ObjectKind(m.Kind), m.ID}
	if !b.targeted[k] {
		// The backup left and joined again since the object started.
		return fmt.Errorf("%w: end of %s %d to %q, which did not receive its start", ErrBackupDropped, k.kind, k.id, to)
	}
	delete(b.targeted, k)
	p.enqueueO(b, queued{msg: &m})
	if k.kind == ObjectSnapshot && m.Type == MsgObjectEnd {
		if !b.snapOpen || m.ID != b.snapID {
			panic(fmt.Sprintf("replication: snapshot %d to %s, which waits for snapshot %d (open=%t)", m.ID, to, b.snapID, b.snapOpen))
		}
		b.snapOpen = false
		held := b.held
		b.held = nil
		for _, q := range held {
			p.enqueueO(b, q)
		}
	}
	return nil
}

// WriteCompleted reports the completion of write op; err is the transport's
// error for a failed write, which drops that backup.
func (p *Primary) WriteCompleted(op OpID, err error) {
	ref, ok := p.ops[op]
	if !ok {
		if p.abandoned[op] {
			// Its backup was dropped, which released what it read.
			delete(p.abandoned, op)
			return
		}
		panic(fmt.Sprintf("replication: completion of unknown write op %d", op))
	}
	delete(p.ops, op)
	p.unref(ref.target, ref.seg, ref.chunk)
	b := p.backups[ref.backup]
	if b == nil {
		return // dropped already; its writes drain as failures
	}
	if err != nil {
		p.drop(b, fmt.Errorf("%w: write failed: %v", ErrBackupDropped, err))
	} else if ref.commit != 0 {
		p.confirm(b, func(c *commit) bool { return c.id <= ref.commit })
	}
	p.resolve()
}

// Step handles a control message from backup from.
func (p *Primary) Step(from string, m Message) error {
	if p.fenced != nil {
		return p.fenced
	}
	b := p.backups[from]
	if b == nil {
		return fmt.Errorf("%w: %s from %q, which is not in the replica set", ErrProtocol, m.Type, from)
	}
	if m.Epoch > p.cfg.Epoch {
		p.fence(m.Epoch)
		return p.fenced
	}
	if m.Epoch < p.cfg.Epoch {
		p.drop(b, fmt.Errorf("%w: %s from epoch %d, primary is at %d", ErrStaleEpoch, m.Type, m.Epoch, p.cfg.Epoch))
		p.resolve()
		return nil
	}
	var bad error
	switch m.Type {
	case MsgHeartbeatAck:
		b.lastAck = p.tick
		b.durSeg, b.durOff = m.Seg, m.Offset
	case MsgSegmentDone:
		if !b.inflight[m.Seg] {
			bad = fmt.Errorf("%w: SegmentDone for segment %d, which holds no slot", ErrProtocol, m.Seg)
			break
		}
		delete(b.inflight, m.Seg)
		if m.Seg+1 > b.durSeg {
			b.durSeg, b.durOff = m.Seg+1, 0
		}
	case MsgChunkCredit:
		if !b.chunkUse[m.Slot] {
			bad = fmt.Errorf("%w: credit for chunk slot %d, which is free", ErrProtocol, m.Slot)
			break
		}
		delete(b.chunkUse, m.Slot)
	case MsgPersisted:
		if p.cfg.Ack != AckDisk {
			bad = fmt.Errorf("%w: Persisted under ack %s", ErrProtocol, p.cfg.Ack)
			break
		}
		if m.Seg > b.durSeg || (m.Seg == b.durSeg && m.Offset > b.durOff) {
			b.durSeg, b.durOff = m.Seg, m.Offset
		}
		p.confirm(b, func(c *commit) bool { return c.seg < m.Seg || (c.seg == m.Seg && c.end <= m.Offset) })
	case MsgEditDone:
		b.lastEdit = m.ID
		if b.joining && b.pinned && !b.snapOpen && m.ID >= b.snapID {
			// The snapshot edit (or a later one) is installed: from now on
			// this backup holds everything it is sent. Deletions of
			// segments the snapshot held go now, on the value-log queue
			// behind the bytes they name.
			b.joining = false
			gone := b.gone
			b.gone = nil
			for _, q := range gone {
				p.enqueueV(b, q)
			}
		}
	case MsgError:
		bad = fmt.Errorf("%w: backup reported: %s", ErrBackupDropped, m.Text)
	default:
		bad = fmt.Errorf("%w: unexpected %s from backup", ErrProtocol, m.Type)
	}
	if bad != nil {
		p.drop(b, bad)
	} else {
		p.drain(b)
	}
	p.resolve()
	return nil
}

// Tick advances the primary's clock: heartbeats go out every
// HeartbeatInterval ticks, and a backup silent for HeartbeatTimeout ticks
// is dropped.
func (p *Primary) Tick() {
	if p.fenced != nil {
		return
	}
	p.tick++
	for _, id := range p.Backups() {
		b := p.backups[id]
		if p.tick-b.lastAck >= uint64(p.cfg.HeartbeatTimeout) {
			p.drop(b, fmt.Errorf("%w: no heartbeat answer for %d ticks", ErrBackupDropped, p.tick-b.lastAck))
			continue
		}
		if p.tick%uint64(p.cfg.HeartbeatInterval) == 0 {
			// Heartbeats need no credit and may pass queued items.
			p.send(id, Message{Type: MsgHeartbeat, ID: p.tick})
		}
	}
	p.resolve()
}

// enqueueV adds a value-log item to b's queue and posts what credits allow.
func (p *Primary) enqueueV(b *peer, q queued) {
	b.vq = append(b.vq, q)
	p.drain(b)
}

// enqueueO adds an object item to b's queue and posts what credits allow.
func (p *Primary) enqueueO(b *peer, q queued) {
	b.oq = append(b.oq, q)
	p.drain(b)
}

// enqueueLive queues a live object item. An edit's items wait behind b's
// snapshot while it is being streamed (the edit applies on top of it);
// tables go at once (a live table's number is above every pinned one,
// and holding their chunks would hold the primary's chunk buffers).
func (p *Primary) enqueueLive(b *peer, q queued, kind ObjectKind) {
	if b.snapOpen && kind == ObjectEdit {
		b.held = append(b.held, q)
		return
	}
	p.enqueueO(b, q)
}

// drain posts b's queued items, each queue in order, while credits allow.
func (p *Primary) drain(b *peer) {
	for {
		v := p.drainV(b)
		o := p.drainO(b)
		if !v && !o {
			return
		}
	}
}

// drainV posts value-log items; it reports whether it posted any.
func (p *Primary) drainV(b *peer) bool {
	moved := false
	for len(b.vq) > 0 {
		q := b.vq[0]
		if q.write != nil {
			if !p.post(b, q.write, q.commit) {
				return moved
			}
			b.posSeg, b.posOff = q.write.Seg, q.write.Offset+q.write.Length
		}
		if q.msg != nil {
			// A Seal of a segment that saw no write still claims its slot:
			// the backup persists what the slot holds.
			if q.msg.Type == MsgSeal && !p.acquireVlogSlot(b, q.msg.Seg) {
				return moved
			}
			p.send(b.id, *q.msg)
			if q.msg.Type == MsgSeal {
				b.posSeg, b.posOff = q.msg.Seg+1, 0
			}
		}
		b.vq = b.vq[1:]
		moved = true
	}
	return moved
}

// drainO posts object items; it reports whether it posted any.
func (p *Primary) drainO(b *peer) bool {
	moved := false
	for len(b.oq) > 0 {
		q := b.oq[0]
		if q.write != nil && !p.post(b, q.write, q.commit) {
			return moved
		}
		if q.msg != nil {
			if !p.checkpointPosted(b, q.msg) {
				return moved
			}
			p.send(b.id, *q.msg)
		}
		b.oq = b.oq[1:]
		moved = true
	}
	return moved
}

// checkpointPosted reports whether m may go to b: an edit's ObjectEnd only
// once every value-log write up to its checkpoint was posted to b
// (invariant 7), unless the checkpoint lies beyond the log end the primary
// knows (nothing to wait for: the backup judges it).
func (p *Primary) checkpointPosted(b *peer, m *Message) bool {
	if m.Type != MsgObjectEnd || (ObjectKind(m.Kind) != ObjectEdit && ObjectKind(m.Kind) != ObjectSnapshot) {
		return true
	}
	if m.Seg < b.posSeg || (m.Seg == b.posSeg && m.Offset <= b.posOff) {
		return true
	}
	beyond := m.Seg > p.lastSeg || (m.Seg == p.lastSeg && !p.lastSealed && m.Offset > p.lastEnd)
	return beyond
}

// acquireVlogSlot reports whether segment seg holds, or may now take, its
// slot on b: slot seg mod n is free once the segment that last used it is
// done (invariant 3).
func (p *Primary) acquireVlogSlot(b *peer, seg uint64) bool {
	if b.inflight[seg] {
		return true
	}
	n := uint64(b.geo.VlogSlots)
	for s := range b.inflight {
		if s%n == seg%n {
			return false
		}
	}
	b.inflight[seg] = true
	return true
}

// post emits w if b has the credit for it.
func (p *Primary) post(b *peer, w *Write, cid CommitID) bool {
	ref := opRef{backup: b.id, target: w.Target, seg: w.Seg, chunk: w.Chunk, commit: cid}
	switch w.Target {
	case TargetVlog:
		if !p.acquireVlogSlot(b, w.Seg) {
			return false
		}
	case TargetChunk:
		slot, ok := p.freeChunkSlot(b)
		if !ok {
			return false
		}
		b.chunkUse[slot] = true
		w.Slot = slot
	}
	p.nextOp++
	w.Op = p.nextOp
	p.ops[w.Op] = ref
	if w.Target == TargetVlog {
		b.vlogBytes += w.Length
	} else {
		b.chunkBytes += w.Length
	}
	wc := *w
	p.ready.Out = append(p.ready.Out, Out{To: b.id, Write: &wc})
	return true
}

func (p *Primary) freeChunkSlot(b *peer) (uint32, bool) {
	for s := 0; s < b.geo.ChunkSlots; s++ {
		if !b.chunkUse[uint32(s)] {
			return uint32(s), true
		}
	}
	return 0, false
}

func (p *Primary) send(to string, m Message) {
	m.Epoch = p.cfg.Epoch
	p.ready.Out = append(p.ready.Out, Out{To: to, Msg: m})
}

// confirm records that b holds every waiting commit that match accepts.
func (p *Primary) confirm(b *peer, match func(*commit) bool) {
	for _, c := range p.commits {
		if c.waiting[b.id] && match(c) {
			delete(c.waiting, b.id)
			if !b.joining {
				c.held++
			}
		}
	}
}

// drop removes b from the replica set: its queue is discarded (releasing
// what it referenced) and no commit waits for it any more.
func (p *Primary) drop(b *peer, reason error) {
	delete(p.backups, b.id)
	for _, q := range slices.Concat(b.vq, b.oq, b.held) {
		if q.write != nil {
			p.unref(q.write.Target, q.write.Seg, q.write.Chunk)
		}
	}
	b.vq, b.oq, b.held, b.gone = nil, nil, nil, nil
	// Writes in flight to it: the wrapper closes the connection in the
	// same Ready (no more DMA from their sources), and a transport may
	// never report them once the connection is gone; they stop holding
	// their segments and chunks now. A late completion is ignored.
	var lost []OpID
	for op, ref := range p.ops {
		if ref.backup == b.id {
			lost = append(lost, op)
		}
	}
	slices.Sort(lost) // Ready lists releases in a deterministic order
	for _, op := range lost {
		ref := p.ops[op]
		delete(p.ops, op)
		p.abandoned[op] = true
		p.unref(ref.target, ref.seg, ref.chunk)
	}
	for _, c := range p.commits {
		delete(c.waiting, b.id)
	}
	p.ready.Dropped = append(p.ready.Dropped, Drop{Backup: b.id, Reason: reason})
}

// resolve answers, oldest first, every commit no backup is waiting on.
func (p *Primary) resolve() {
	for len(p.commits) > 0 && len(p.commits[0].waiting) == 0 {
		c := p.commits[0]
		p.commits = p.commits[1:]
		var err error
		if c.held < p.cfg.MinReplicas {
			err = fmt.Errorf("%w: commit %d is held by %d backup(s), %d required", ErrTooFewReplicas, c.id, c.held, p.cfg.MinReplicas)
		}
		p.ready.Results = append(p.ready.Results, CommitResult{ID: c.id, Err: err})
	}
}

// fence fails everything pending: a newer primary exists.
func (p *Primary) fence(epoch uint64) {
	p.fenced = fmt.Errorf("%w: epoch %d seen, this primary is at %d", ErrFenced, epoch, p.cfg.Epoch)
	for _, c := range p.commits {
		p.ready.Results = append(p.ready.Results, CommitResult{ID: c.id, Err: p.fenced})
	}
	p.commits = nil
}

// unref drops one write's reference to its source: a staged segment or a
// chunk buffer, released once nothing reads it.
func (p *Primary) unref(target Target, seg uint64, chunk ChunkRef) {
	switch target {
	case TargetVlog:
		p.segRefs[seg]--
		p.releaseSegment(seg)
	case TargetChunk:
		p.chunkRefs[chunk]--
		p.releaseChunk(chunk)
	}
}

func (p *Primary) releaseSegment(seg uint64) {
	if p.sealed[seg] && p.segRefs[seg] <= 0 {
		delete(p.sealed, seg)
		delete(p.segRefs, seg)
		p.ready.ReleasedSegments = append(p.ready.ReleasedSegments, seg)
	}
}

// releaseChunkNow releases a chunk no backup will read, unless queued writes
// still reference it.
func (p *Primary) releaseChunkNow(ref ChunkRef) {
	if p.chunkRefs[ref] == 0 {
		delete(p.chunkRefs, ref)
		p.ready.ReleasedChunks = append(p.ready.ReleasedChunks, ref)
	}
}

func (p *Primary) releaseChunk(ref ChunkRef) {
	if p.chunkRefs[ref] <= 0 {
		delete(p.chunkRefs, ref)
		p.ready.ReleasedChunks = append(p.ready.ReleasedChunks, ref)
	}
}

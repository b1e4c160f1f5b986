package replication

import (
	"fmt"
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
	// lastSeg is the segment of the newest append or seal; backups added
	// now receive live data from the segment after it.
	lastSeg uint64
	sealed  map[uint64]bool // sealed segments with writes still pending
	commits []*commit       // unresolved, oldest first
	backups map[string]*peer
	ops     map[OpID]opRef
	// segRefs and chunkRefs count queued and in-flight writes per source
	// buffer, so that buffers are released only when nothing reads them.
	segRefs   map[uint64]int
	chunkRefs map[ChunkRef]int
	objects   map[objKey]bool // objects being streamed
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
	afterSeg uint64          // receives segments > afterSeg
	inflight map[uint64]bool // segments occupying a vlog slot (not SegmentDone)
	chunkUse map[uint32]bool // chunk slots written and not credited
	queue    []queued        // waiting, in order, for a credit
	objects  map[objKey]bool // objects this backup receives (saw offset 0)
	lastAck  uint64          // tick of the last HeartbeatAck
	durSeg   uint64          // durable position reported (ack disk, lag)
	durOff   uint64
	lastEdit uint64
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
		if len(b.queue) > 0 || b.lastEdit < lastEdit {
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

// AddBackup admits the backup that sent hello into the replica set. It will
// receive the value log from the segment after the newest one appended or
// sealed so far, and objects that start after now. Older data is the
// wrapper's to copy (catch-up). A Welcome is queued for it.
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
		id: id, geo: geo, afterSeg: p.lastSeg, lastAck: p.tick,
		inflight: map[uint64]bool{}, chunkUse: map[uint32]bool{}, objects: map[objKey]bool{},
	}
	p.backups[id] = b
	p.send(id, Message{Type: MsgWelcome, Seg: p.lastSeg + 1, Kind: uint8(p.cfg.Mode) | uint8(p.cfg.Ack)<<4})
	return nil
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
	p.lastSeg = seg
	p.nextCID++
	c := &commit{id: p.nextCID, seg: seg, end: off + n, waiting: map[string]bool{}}
	p.commits = append(p.commits, c)
	for _, id := range p.Backups() {
		b := p.backups[id]
		if seg <= b.afterSeg {
			continue
		}
		c.waiting[id] = true
		w := &Write{Backup: id, Target: TargetVlog, Seg: seg, Slot: uint32(seg % uint64(b.geo.VlogSlots)), Offset: off, Length: n}
		p.segRefs[seg]++
		if p.cfg.Ack == AckMemory {
			p.enqueue(b, queued{write: w, commit: c.id})
		} else {
			p.enqueue(b, queued{write: w})
			p.enqueue(b, queued{msg: &Message{Type: MsgCommit, Seg: seg, Offset: off + n}})
		}
	}
	p.resolve()
	return c.id, nil
}

// Seal records that segment seg is complete: length bytes with crc32c crc.
// Backups persist it and answer SegmentDone, which frees its slot.
func (p *Primary) Seal(seg, length uint64, crc uint32) error {
	if p.fenced != nil {
		return p.fenced
	}
	if seg < p.lastSeg {
		panic(fmt.Sprintf("replication: seal of segment %d after segment %d", seg, p.lastSeg))
	}
	p.lastSeg = seg
	p.sealed[seg] = true
	for _, id := range p.Backups() {
		b := p.backups[id]
		if seg <= b.afterSeg {
			continue
		}
		// A segment sealed with no append still occupies its slot on the
		// backup until SegmentDone.
		p.enqueue(b, queued{msg: &Message{Type: MsgSeal, Seg: seg, Length: length, CRC: crc}})
	}
	p.releaseSegment(seg)
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
	}
	if !p.objects[k] {
		panic(fmt.Sprintf("replication: chunk at %d of %s %d that never started", offset, kind, id))
	}
	if p.cfg.Mode == ModeShipIndex {
		for _, bid := range p.Backups() {
			b := p.backups[bid]
			if offset == 0 {
				b.objects[k] = true
			}
			if !b.objects[k] {
				continue
			}
			p.chunkRefs[ref]++
			p.enqueue(b, queued{write: &Write{Backup: bid, Target: TargetChunk, Chunk: ref, Length: n}})
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
		p.enqueue(b, queued{msg: &mm})
	}
	return nil
}

// WriteCompleted reports the completion of write op; err is the transport's
// error for a failed write, which drops that backup.
func (p *Primary) WriteCompleted(op OpID, err error) {
	ref, ok := p.ops[op]
	if !ok {
		panic(fmt.Sprintf("replication: completion of unknown write op %d", op))
	}
	delete(p.ops, op)
	switch ref.target {
	case TargetVlog:
		p.segRefs[ref.seg]--
		p.releaseSegment(ref.seg)
	case TargetChunk:
		p.chunkRefs[ref.chunk]--
		p.releaseChunk(ref.chunk)
	}
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
		if m.Seg > b.durSeg {
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

// enqueue adds an item to b's queue and posts what credits allow.
func (p *Primary) enqueue(b *peer, q queued) {
	b.queue = append(b.queue, q)
	p.drain(b)
}

// drain posts b's queued items in order while credits allow.
func (p *Primary) drain(b *peer) {
	for len(b.queue) > 0 {
		q := b.queue[0]
		if q.write != nil && !p.post(b, q.write, q.commit) {
			return
		}
		if q.msg != nil {
			// A Seal of a segment that saw no write still claims its slot:
			// the backup persists what the slot holds.
			if q.msg.Type == MsgSeal && !p.acquireVlogSlot(b, q.msg.Seg) {
				return
			}
			p.send(b.id, *q.msg)
		}
		b.queue = b.queue[1:]
	}
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
			c.held++
		}
	}
}

// drop removes b from the replica set: its queue is discarded (releasing
// what it referenced) and no commit waits for it any more.
func (p *Primary) drop(b *peer, reason error) {
	delete(p.backups, b.id)
	for _, q := range b.queue {
		if q.write == nil {
			continue
		}
		switch q.write.Target {
		case TargetVlog:
			p.segRefs[q.write.Seg]--
			p.releaseSegment(q.write.Seg)
		case TargetChunk:
			p.chunkRefs[q.write.Chunk]--
			p.releaseChunk(q.write.Chunk)
		}
	}
	b.queue = nil
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

func (p *Primary) releaseSegment(seg uint64) {
	if p.sealed[seg] && p.segRefs[seg] <= 0 {
		delete(p.sealed, seg)
		delete(p.segRefs, seg)
		p.ready.ReleasedSegments = append(p.ready.ReleasedSegments, seg)
	}
}

func (p *Primary) releaseChunk(ref ChunkRef) {
	if p.chunkRefs[ref] <= 0 {
		delete(p.chunkRefs, ref)
		p.ready.ReleasedChunks = append(p.ready.ReleasedChunks, ref)
	}
}

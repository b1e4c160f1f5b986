package replication

// BackupStats is the primary's view of one backup, for metrics and INFO.
type BackupStats struct {
	ID string
	// Member: the backup counts toward MinReplicas (it has caught up).
	Member bool
	// JoinSeg is the first segment it received live.
	JoinSeg uint64
	// PostedSeg/PostedOff: the value log written to it so far; its memory
	// holds everything before this position once the writes complete.
	PostedSeg, PostedOff uint64
	// DurableSeg/DurableOff: what it last reported durable (heartbeat
	// answers, SegmentDone, Persisted).
	DurableSeg, DurableOff uint64
	// LagBytes: value-log bytes between the log end and PostedSeg/Off.
	LagBytes uint64
	// DurableLagBytes: value-log bytes between the log end and what it
	// reported durable.
	DurableLagBytes uint64
	// LastEdit is the newest edit it installed.
	LastEdit uint64
	// VlogBytes and ChunkBytes: bytes written to its rings since it joined.
	VlogBytes, ChunkBytes uint64
	// QueuedVlog and QueuedObjects: items waiting for a credit.
	QueuedVlog, QueuedObjects int
}

// LogEnd returns the end of the value log the primary has seen.
func (p *Primary) LogEnd() (seg, off uint64) { return p.lastSeg, p.lastEnd }

// distance is the number of value-log bytes from (s, o) to the log end.
func (p *Primary) distance(s, o uint64) uint64 {
	es, eo := p.lastSeg, p.lastEnd
	if p.lastSealed {
		es, eo = es+1, 0
	}
	switch {
	case s > es || (s == es && o >= eo):
		return 0
	case s == es:
		return eo - o
	}
	// Whole segments between, counted at the segment size.
	return (es-s)*p.cfg.SegmentSize + eo - o
}

// Stats returns every backup's statistics, sorted by id.
func (p *Primary) Stats() []BackupStats {
	ids := p.Backups()
	out := make([]BackupStats, 0, len(ids))
	for _, id := range ids {
		b := p.backups[id]
		out = append(out, BackupStats{
			ID: id, Member: !b.joining, JoinSeg: b.joinSeg,
			PostedSeg: b.posSeg, PostedOff: b.posOff,
			DurableSeg: b.durSeg, DurableOff: b.durOff,
			LagBytes: p.distance(b.posSeg, b.posOff), DurableLagBytes: p.distance(b.durSeg, b.durOff),
			LastEdit: b.lastEdit, VlogBytes: b.vlogBytes, ChunkBytes: b.chunkBytes,
			QueuedVlog: len(b.vq), QueuedObjects: len(b.oq),
		})
	}
	return out
}

// Covering returns how many members hold every value-log byte before
// (seg, end) because they joined at or after it: catching up gave them the
// log up to their join point. A commit that failed for want of replicas is
// durable again once Covering reaches MinReplicas (the primary wrapper
// waits for that instead of giving up at once).
func (p *Primary) Covering(seg, end uint64) int {
	n := 0
	for _, b := range p.backups {
		if !b.joining && (b.joinSeg > seg || (b.joinSeg == seg && b.joinOff >= end)) {
			n++
		}
	}
	return n
}

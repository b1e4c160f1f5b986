package backup

import (
	"bytes"
	"fmt"

	"github.com/talos-kv/talos/kvsep"
)

// PrepareTakeover makes the directory hold everything this backup received,
// so that it can be opened as a primary (primary.Open, which takes the next
// epoch): the valid prefix of the segment being received, found by the
// value log's own checksums, is persisted under its number. Call it after
// Run has returned (the old primary is gone or fenced) and before Close.
//
// Under ack memory a write was acknowledged once its bytes were in this
// backup's memory; this is where they reach its disk.
func (n *Node) PrepareTakeover() error {
	if n.conn != nil {
		return fmt.Errorf("backup: PrepareTakeover while connected to the primary")
	}
	seg, durable := n.sm.Position()
	if seg == 0 {
		return nil // never welcomed: nothing received
	}
	buf := n.slot(n.sm.Slot(seg))
	if bytes.Count(buf[:16], []byte{0}) == 16 {
		return nil // no byte of the segment arrived
	}
	end, err := kvsep.ScanSegment(buf, seg, int64(n.geo.SegmentSize), 0, false, nil)
	if err != nil {
		return fmt.Errorf("backup: segment %d being received: %w", seg, err)
	}
	if uint64(end) < durable {
		return fmt.Errorf("%w: segment %d holds %d valid bytes, %d were already persisted", ErrCorrupt, seg, end, durable)
	}
	if uint64(end) == durable {
		return nil
	}
	if err := n.db.WriteSegment(seg, buf[:end]); err != nil {
		return fmt.Errorf("backup: persist segment %d prefix of %d bytes: %w", seg, end, err)
	}
	n.opts.Logger.Info("persisted the received tail for takeover", "segment", seg, "bytes", end)
	return nil
}

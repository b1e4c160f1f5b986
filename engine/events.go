package engine

import (
	"github.com/talos-kv/talos/index"
	"github.com/talos-kv/talos/kvsep"
)

// Listener receives engine events: the seam replication plugs into. Nil
// fields are not called. Callbacks run synchronously on the goroutine doing
// the work (the commit leader, a flush or compaction, GC) and must not call
// back into the DB; a slow callback slows that work.
type Listener struct {
	// SegmentSealed: value-log segment num is complete, padded to
	// SegmentSize, written and synced. buf is its whole image, valid only
	// during the call. Every CommitHook call for num's bytes has returned
	// before it; no byte of num+1 is written before it returns.
	SegmentSealed func(num uint64, buf []byte)
	// TableCreated: the index starts writing a table (flush or compaction
	// output). A non-nil sink receives every byte of the file as it is
	// written, then Finish(meta) once the file is synced, or Abort(). A sink
	// error fails the flush or compaction (and stops the engine).
	TableCreated func(info index.TableCreateInfo) index.TableSink
	// EditApplied: a version edit is durable in the manifest: a flush or
	// compaction finished ("flush", "compaction"), an edit from a primary was
	// installed ("install"), or the engine logged one ("external": value-log
	// GC deleting segments). Called before obsolete tables are deleted.
	EditApplied func(info index.EditInfo)
	// TableDeleted: a table file was removed.
	TableDeleted func(num uint64)
	// SegmentDeleted: a value-log segment file was removed by GC, after the
	// edit recording it (EditApplied "external", DeletedSegments) and once
	// no snapshot or iterator could still read it.
	SegmentDeleted func(num uint64)
	// WriteStall: writers start (true) or stop (false) being held up.
	WriteStall func(stalled bool, reason string)
	// BackgroundError: background work (flush, compaction, GC, interval
	// sync) failed; the engine has stopped accepting writes.
	BackgroundError func(err error)
}

// CommitHook is called by the commit leader for each run of bytes a group
// commit appended to the value log, in log order, with the value log's
// append lock held: r.Data aliases the segment's mmap'd buffer (the one
// kvsep.Log.Buffers exposes) at r.Offset. It should start moving the bytes
// (post them to the backups) and return at once; the wait it returns (nil:
// nothing to wait for) is called later, outside every engine lock,
// possibly while later groups append and post, and concurrently with the
// waits of other groups. The group is acknowledged to its writers only
// after every wait for it has returned nil (and the local sync policy is
// met), so a wait that returns once the backups hold the bytes makes
// acknowledgement wait for them. A run of a segment's bytes is always
// passed before that segment's SegmentSealed event.
//
// If the hook or a wait returns an error, the group's writes fail with it
// (they are not acknowledged), so do those of every group appended after
// it, and the engine stops accepting writes (ErrStopped): the bytes are
// already in the local log, so they may reappear when the directory is
// reopened; an unacknowledged write may or may not survive.
type CommitHook func(r kvsep.Range) (wait func() error, err error)

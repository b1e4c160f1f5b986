package server

import (
	"bytes"
	"time"
)

// Pipelined plain SETs (SET key value, no options) that arrive together on
// one connection are written as one Store batch: one commit, one value-log
// write, one fsync under a sync-always policy, instead of one each. Each
// SET still replaces its key whole; the run becomes visible at once, which
// any interleaving of the client's own in-flight SETs allows.
const (
	maxSetRun      = 128
	maxSetRunBytes = 256 << 10
)

// plainSet reports whether args is SET key value that this connection may
// run (authenticated, writable store).
func (c *client) plainSet(args [][]byte) bool {
	if len(args) != 3 || len(args[0]) != 3 || !bytes.EqualFold(args[0], []byte("set")) || !c.authed {
		return false
	}
	_, ro := c.srv.store.ReadOnly()
	return !ro
}

// setRun gathers first and the plain SETs buffered behind it, runs them as
// one batch, and returns the next request it read that is not part of the
// run (nil if none), or a read error.
func (c *client) setRun(first [][]byte) ([][]byte, error) {
	pairs := [][]byte{clone(first[1]), clone(first[2])}
	size := len(first[1]) + len(first[2])
	var next [][]byte
	for len(pairs) < 2*maxSetRun && c.r.CommandBuffered() {
		args, err := c.r.ReadCommand()
		if err != nil {
			c.execSetRun(pairs)
			return nil, err
		}
		if !c.plainSet(args) || size+len(args[1])+len(args[2]) > maxSetRunBytes {
			next = args
			break
		}
		pairs = append(pairs, clone(args[1]), clone(args[2]))
		size += len(args[1]) + len(args[2])
	}
	c.execSetRun(pairs)
	return next, nil
}

func clone(b []byte) []byte { return append([]byte(nil), b...) }

// execSetRun writes key/value pairs as one batch and answers each SET.
func (c *client) execSetRun(pairs [][]byte) {
	s := c.srv
	spec := commandTable["set"]
	n := len(pairs) / 2
	start := time.Now()
	s.stats.commands.Add(int64(n))
	c.info.Lock()
	c.info.lastCmd = spec.name
	c.info.lastActive = start
	c.info.Unlock()

	keys := make([][]byte, 0, n)
	for i := 0; i < len(pairs); i += 2 {
		keys = append(keys, pairs[i])
	}
	var b Batch
	end, err := s.locks.beginBlind(keys, func() error {
		for i := 0; i < len(pairs); i += 2 {
			m, found, err := s.lookupLocked(pairs[i], &b)
			if err != nil {
				return err
			}
			if found && m.typ == typeHash {
				if err := s.dropLocked(pairs[i], m, &b); err != nil {
					return err
				}
			}
			b.Put(metaKey(pairs[i]), encodeString(pairs[i+1], 0))
		}
		return nil
	})
	if err == nil {
		err = s.store.Write(&b)
		end()
	}
	took := time.Since(start).Seconds()
	for i := 0; i < n; i++ {
		if err != nil {
			c.storeError(err)
			spec.errs.Inc()
		} else {
			c.w.OK()
		}
		spec.latency.Observe(took)
	}
	spec.ops.Add(float64(n))
}

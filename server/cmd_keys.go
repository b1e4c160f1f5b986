package server

import (
	"bytes"
	"fmt"
	"strconv"
)

func init() {
	register(
		&cmdSpec{name: "dbsize", arity: 1, flags: flagReadonly, group: "server", since: "1.0.0", summary: "Returns the number of keys in the database (counts them: O(n)).", handler: cmdDBSize},
		&cmdSpec{name: "flushdb", arity: -1, flags: flagWrite, group: "server", since: "1.0.0", summary: "Removes all keys from the current database.", handler: cmdFlush},
		&cmdSpec{name: "flushall", arity: -1, flags: flagWrite, group: "server", since: "1.0.0", summary: "Removes all keys from all databases.", handler: cmdFlush},
		&cmdSpec{name: "scan", arity: -2, flags: flagReadonly, group: "generic", since: "2.8.0", summary: "Iterates over the key names in the database, in key order.", handler: cmdScan},
		&cmdSpec{name: "talos.range", arity: -3, flags: flagReadonly, firstKey: 1, lastKey: 2, step: 1, group: "talos", since: "0.1.0", summary: "Returns the string keys in [start, end) with their values, in key order (end \"\" = no bound).", handler: cmdRange},
	)
}

// keyspaceStats counts live keys and live keys with an expiry.
func (s *Server) keyspaceStats() (keys, expires int64, err error) {
	now := s.nowMs()
	var decErr error
	err = s.store.Scan(metaLower, metaUpper, func(_, v []byte) bool {
		m, err := decodeMeta(v)
		if err != nil {
			decErr = err
			return false
		}
		if !m.expired(now) {
			keys++
			if m.expireMs != 0 {
				expires++
			}
		}
		return true
	})
	if err == nil {
		err = decErr
	}
	return keys, expires, err
}

func cmdDBSize(c *client, _ [][]byte) {
	n, _, err := c.srv.keyspaceStats()
	if err != nil {
		c.storeError(err)
		return
	}
	c.w.Int(n)
}

// cmdFlush implements FLUSHDB and FLUSHALL [ASYNC|SYNC]: every key of the
// keyspace is deleted, in batches of flushBatch, with all key locks held.
func cmdFlush(c *client, args [][]byte) {
	if len(args) > 2 || (len(args) == 2 && !bytes.EqualFold(args[1], []byte("async")) && !bytes.EqualFold(args[1], []byte("sync"))) {
		c.w.Error(errSyntax)
		return
	}
	s := c.srv
	unlock := s.locks.lockAll()
	defer unlock()
	const flushBatch = 1024
	var lower []byte
	for {
		var b Batch
		var last []byte
		err := s.store.Scan(lower, nil, func(k, _ []byte) bool {
			last = append([]byte(nil), k...)
			b.Delete(last)
			return b.Len() < flushBatch
		})
		if err != nil {
			c.storeError(err)
			return
		}
		if b.Len() == 0 {
			break
		}
		if !c.write(&b) {
			return
		}
		lower = append(last, 0)
	}
	c.w.OK()
}

// cmdScan implements SCAN cursor [MATCH pattern] [COUNT count] [TYPE type].
// COUNT keys are examined per call, in key order; the reply's cursor is 0
// when the walk is complete.
func cmdScan(c *client, args [][]byte) {
	s := c.srv
	cursor, err := strconv.ParseUint(string(args[1]), 10, 64)
	if err != nil {
		c.w.Error("ERR invalid cursor")
		return
	}
	var pattern []byte
	count := int64(10)
	typ := byte(0)
	for i := 2; i < len(args); i += 2 {
		if i+1 >= len(args) {
			c.w.Error(errSyntax)
			return
		}
		switch {
		case bytes.EqualFold(args[i], []byte("match")):
			pattern = args[i+1]
		case bytes.EqualFold(args[i], []byte("count")):
			n, ok := parseInt64(args[i+1])
			if !ok {
				c.w.Error(errNotInteger)
				return
			}
			if n < 1 {
				c.w.Error(errSyntax)
				return
			}
			count = min(n, 1<<20)
		case bytes.EqualFold(args[i], []byte("type")):
			switch string(bytes.ToLower(args[i+1])) {
			case "string":
				typ = typeString
			case "hash":
				typ = typeHash
			default:
				typ = 0xff // a type Talos does not store: nothing matches
			}
		default:
			c.w.Error(errSyntax)
			return
		}
	}
	lower, upper := metaLower, metaUpper
	if cursor != 0 {
		last, ok := s.cursors.get(cursor)
		if !ok {
			c.w.Error("ERR invalid cursor (unknown or expired; restart the scan from 0)")
			return
		}
		lower = append(metaKey(last), 0)
	}
	if pattern != nil {
		if p := globPrefix(pattern); len(p) > 0 {
			pl := metaKey(p)
			if bytes.Compare(pl, lower) > 0 {
				lower = pl
			}
			if pe := prefixEnd(pl); pe != nil && bytes.Compare(pe, upper) < 0 {
				upper = pe
			}
		}
	}
	now := s.nowMs()
	var keys [][]byte
	var lastKey []byte
	examined := int64(0)
	more := false
	var decErr error
	if bytes.Compare(lower, upper) < 0 {
		err = s.store.Scan(lower, upper, func(k, v []byte) bool {
			if examined == count {
				more = true
				return false
			}
			examined++
			lastKey = append(lastKey[:0], k[1:]...)
			m, err := decodeMeta(v)
			if err != nil {
				decErr = fmt.Errorf("key %q: %w", k[1:], err)
				return false
			}
			if m.expired(now) || (typ != 0 && m.typ != typ) {
				return true
			}
			if pattern != nil && !globMatch(pattern, k[1:]) {
				return true
			}
			keys = append(keys, append([]byte(nil), k[1:]...))
			return true
		})
	}
	if err == nil {
		err = decErr
	}
	if err != nil {
		c.storeError(err)
		return
	}
	next := uint64(0)
	if more {
		next = s.cursors.put(lastKey)
	}
	c.w.Array(2)
	c.w.BulkString(strconv.FormatUint(next, 10))
	c.w.Array(len(keys))
	for _, k := range keys {
		c.w.Bulk(k)
	}
}

// cmdRange implements TALOS.RANGE start end [LIMIT n]: string keys in
// [start, end) (end "" = unbounded) with their values, as an array of
// [key, value] pairs in key order. Hashes and expired keys are skipped.
func cmdRange(c *client, args [][]byte) {
	s := c.srv
	limit := int64(s.opts.MaxRangeResults)
	explicit := false
	switch {
	case len(args) == 3:
	case len(args) == 5 && bytes.EqualFold(args[3], []byte("limit")):
		n, ok := parseInt64(args[4])
		if !ok {
			c.w.Error(errNotInteger)
			return
		}
		if n < 1 || n > int64(s.opts.MaxRangeResults) {
			c.w.Error(fmt.Sprintf("ERR LIMIT must be between 1 and %d", s.opts.MaxRangeResults))
			return
		}
		limit, explicit = n, true
	default:
		c.w.Error(errSyntax)
		return
	}
	lower := metaKey(args[1])
	upper := metaUpper
	if len(args[2]) > 0 {
		upper = metaKey(args[2])
	}
	var pairs [][]byte
	now := s.nowMs()
	tooMany := false
	var decErr error
	if bytes.Compare(lower, upper) < 0 {
		err := s.store.Scan(lower, upper, func(k, v []byte) bool {
			m, err := decodeMeta(v)
			if err != nil {
				decErr = fmt.Errorf("key %q: %w", k[1:], err)
				return false
			}
			if m.typ != typeString || m.expired(now) {
				return true
			}
			if int64(len(pairs)/2) == limit {
				tooMany = true
				return false
			}
			pairs = append(pairs, append([]byte(nil), k[1:]...), append([]byte(nil), m.payload...))
			return true
		})
		if err == nil {
			err = decErr
		}
		if err != nil {
			c.storeError(err)
			return
		}
	}
	if tooMany && !explicit {
		c.w.Error(fmt.Sprintf("ERR range holds more than %d keys; use LIMIT and continue from the last key", limit))
		return
	}
	c.w.Array(len(pairs) / 2)
	for i := 0; i < len(pairs); i += 2 {
		c.w.Array(2)
		c.w.Bulk(pairs[i])
		c.w.Bulk(pairs[i+1])
	}
}

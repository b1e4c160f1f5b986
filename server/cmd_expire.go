package server

import (
	"bytes"
	"fmt"
)

func init() {
	for _, e := range []struct{ name, summary, since string }{
		{"expire", "Sets the expiration time of a key in seconds.", "1.0.0"},
		{"pexpire", "Sets the expiration time of a key in milliseconds.", "2.6.0"},
		{"expireat", "Sets the expiration time of a key to a Unix timestamp.", "1.2.0"},
		{"pexpireat", "Sets the expiration time of a key to a Unix milliseconds timestamp.", "2.6.0"},
	} {
		register(&cmdSpec{name: e.name, arity: -3, flags: flagWrite | flagFast, firstKey: 1, lastKey: 1, step: 1, group: "generic", since: e.since, summary: e.summary, handler: cmdExpire})
	}
	register(
		&cmdSpec{name: "ttl", arity: 2, flags: flagReadonly | flagFast, firstKey: 1, lastKey: 1, step: 1, group: "generic", since: "1.0.0", summary: "Returns the expiration time in seconds of a key.", handler: func(c *client, a [][]byte) { c.ttl(a[1], 1000) }},
		&cmdSpec{name: "pttl", arity: 2, flags: flagReadonly | flagFast, firstKey: 1, lastKey: 1, step: 1, group: "generic", since: "2.6.0", summary: "Returns the expiration time in milliseconds of a key.", handler: func(c *client, a [][]byte) { c.ttl(a[1], 1) }},
		&cmdSpec{name: "persist", arity: 2, flags: flagWrite | flagFast, firstKey: 1, lastKey: 1, step: 1, group: "generic", since: "2.2.0", summary: "Removes the expiration time of a key.", handler: cmdPersist},
	)
}

// cmdExpire implements EXPIRE, PEXPIRE, EXPIREAT and PEXPIREAT with the
// NX, XX, GT and LT options.
func cmdExpire(c *client, args [][]byte) {
	name := string(bytes.ToLower(args[0]))
	n, ok := parseInt64(args[2])
	if !ok {
		c.w.Error(errNotInteger)
		return
	}
	var nx, xx, gt, lt bool
	for _, a := range args[3:] {
		switch {
		case bytes.EqualFold(a, []byte("nx")):
			nx = true
		case bytes.EqualFold(a, []byte("xx")):
			xx = true
		case bytes.EqualFold(a, []byte("gt")):
			gt = true
		case bytes.EqualFold(a, []byte("lt")):
			lt = true
		default:
			c.w.Error(fmt.Sprintf("ERR Unsupported option %s", a))
			return
		}
	}
	if nx && (xx || gt || lt) {
		c.w.Error("ERR NX and XX, GT or LT options at the same time are not compatible")
		return
	}
	if gt && lt {
		c.w.Error("ERR GT and LT options at the same time are not compatible")
		return
	}
	at, ok := c.absExpiry([]byte(name), n)
	if !ok {
		c.w.Error(fmt.Sprintf("ERR invalid expire time in '%s' command", name))
		return
	}
	key := args[1]
	s := c.srv
	unlock := s.locks.lock(key)
	defer unlock()
	var b Batch
	m, found, err := s.lookupLocked(key, &b)
	if err != nil {
		c.storeError(err)
		return
	}
	if !found {
		if c.write(&b) {
			c.w.Int(0)
		}
		return
	}
	// A key without expiry has an infinite TTL for GT and LT.
	switch {
	case nx && m.expireMs != 0,
		xx && m.expireMs == 0,
		gt && (m.expireMs == 0 || at <= m.expireMs),
		lt && m.expireMs != 0 && at >= m.expireMs:
		c.w.Int(0)
		return
	}
	if at <= s.nowMs() {
		// A time in the past deletes the key.
		if err := s.dropLocked(key, m, &b); err != nil {
			c.storeError(err)
			return
		}
	} else {
		b.Put(metaKey(key), m.withExpiry(at))
	}
	if c.write(&b) {
		c.w.Int(1)
	}
}

// ttl answers TTL (unit 1000) or PTTL (unit 1).
func (c *client) ttl(key []byte, unit int64) {
	m, found, err := c.lookup(key)
	switch {
	case err != nil:
		c.storeError(err)
	case !found:
		c.w.Int(-2)
	case m.expireMs == 0:
		c.w.Int(-1)
	default:
		left := max(m.expireMs-c.srv.nowMs(), 0)
		c.w.Int((left + unit/2) / unit)
	}
}

func cmdPersist(c *client, args [][]byte) {
	key := args[1]
	s := c.srv
	unlock := s.locks.lock(key)
	defer unlock()
	var b Batch
	m, found, err := s.lookupLocked(key, &b)
	if err != nil {
		c.storeError(err)
		return
	}
	if !found || m.expireMs == 0 {
		if c.write(&b) {
			c.w.Int(0)
		}
		return
	}
	b.Put(metaKey(key), m.withExpiry(0))
	if c.write(&b) {
		c.w.Int(1)
	}
}

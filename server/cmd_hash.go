package server

import (
	"errors"
)

func init() {
	register(
		&cmdSpec{name: "hset", arity: -4, flags: flagWrite | flagFast, firstKey: 1, lastKey: 1, step: 1, group: "hash", since: "2.0.0", summary: "Creates or modifies the value of a field in a hash.", handler: cmdHSet},
		&cmdSpec{name: "hmset", arity: -4, flags: flagWrite | flagFast, firstKey: 1, lastKey: 1, step: 1, group: "hash", since: "2.0.0", summary: "Sets the values of multiple fields.", handler: cmdHSet},
		&cmdSpec{name: "hget", arity: 3, flags: flagReadonly | flagFast, firstKey: 1, lastKey: 1, step: 1, group: "hash", since: "2.0.0", summary: "Returns the value of a field in a hash.", handler: cmdHGet},
		&cmdSpec{name: "hmget", arity: -3, flags: flagReadonly | flagFast, firstKey: 1, lastKey: 1, step: 1, group: "hash", since: "2.0.0", summary: "Returns the values of all fields in a hash.", handler: cmdHMGet},
		&cmdSpec{name: "hdel", arity: -3, flags: flagWrite | flagFast, firstKey: 1, lastKey: 1, step: 1, group: "hash", since: "2.0.0", summary: "Deletes one or more fields and their values from a hash. Deletes the hash if no fields remain.", handler: cmdHDel},
		&cmdSpec{name: "hgetall", arity: 2, flags: flagReadonly, firstKey: 1, lastKey: 1, step: 1, group: "hash", since: "2.0.0", summary: "Returns all fields and values in a hash.", handler: cmdHGetAll},
		&cmdSpec{name: "hkeys", arity: 2, flags: flagReadonly, firstKey: 1, lastKey: 1, step: 1, group: "hash", since: "2.0.0", summary: "Returns all fields in a hash.", handler: cmdHKeys},
		&cmdSpec{name: "hvals", arity: 2, flags: flagReadonly, firstKey: 1, lastKey: 1, step: 1, group: "hash", since: "2.0.0", summary: "Returns all values in a hash.", handler: cmdHVals},
		&cmdSpec{name: "hlen", arity: 2, flags: flagReadonly | flagFast, firstKey: 1, lastKey: 1, step: 1, group: "hash", since: "2.0.0", summary: "Returns the number of fields in a hash.", handler: cmdHLen},
		&cmdSpec{name: "hexists", arity: 3, flags: flagReadonly | flagFast, firstKey: 1, lastKey: 1, step: 1, group: "hash", since: "2.0.0", summary: "Determines whether a field exists in a hash.", handler: cmdHExists},
	)
}

// getHash looks key up for a hash read (see getTyped).
func (c *client) getHash(key []byte) (m meta, found, ok bool) { return c.getTyped(key, typeHash) }

// hashField reads one field of the hash m of key.
func (s *Server) hashField(key []byte, m meta, field []byte) (value []byte, found bool, err error) {
	v, err := s.store.Get(subkey(subkeyPrefixOf(key, m.hashVersion()), field))
	if errors.Is(err, ErrNotFound) {
		return nil, false, nil
	}
	return v, err == nil, err
}

func cmdHSet(c *client, args [][]byte) {
	if len(args)%2 != 0 {
		c.w.Error("ERR wrong number of arguments for '" + lookupCommand(args[0]).name + "' command")
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
	var version uint64
	var count, expire int64
	if found {
		if m.typ != typeHash {
			c.w.Error(errWrongType)
			return
		}
		version, count, expire = m.hashVersion(), m.hashCount(), m.expireMs
	} else {
		version = s.newVersion()
	}
	prefix := subkeyPrefixOf(key, version)
	seen := make(map[string]bool, len(args)/2-1)
	added := int64(0)
	for i := 2; i < len(args); i += 2 {
		sk := subkey(prefix, args[i])
		if !seen[string(args[i])] {
			seen[string(args[i])] = true
			exists := false
			if found {
				if _, err := s.store.Get(sk); err == nil {
					exists = true
				} else if !errors.Is(err, ErrNotFound) {
					c.storeError(err)
					return
				}
			}
			if !exists {
				added++
			}
		}
		b.Put(sk, args[i+1])
	}
	b.Put(metaKey(key), encodeHash(version, count+added, expire))
	if !c.write(&b) {
		return
	}
	if lookupCommand(args[0]).name == "hmset" {
		c.w.OK()
	} else {
		c.w.Int(added)
	}
}

func cmdHGet(c *client, args [][]byte) {
	m, found, ok := c.getHash(args[1])
	if !ok {
		return
	}
	if !found {
		c.w.Null()
		return
	}
	v, found, err := c.srv.hashField(args[1], m, args[2])
	switch {
	case err != nil:
		c.storeError(err)
	case !found:
		c.w.Null()
	default:
		c.w.Bulk(v)
	}
}

func cmdHMGet(c *client, args [][]byte) {
	m, found, ok := c.getHash(args[1])
	if !ok {
		return
	}
	values := make([][]byte, len(args)-2)
	present := make([]bool, len(values))
	if found {
		for i, f := range args[2:] {
			v, ok, err := c.srv.hashField(args[1], m, f)
			if err != nil {
				c.storeError(err)
				return
			}
			values[i], present[i] = v, ok
		}
	}
	c.w.Array(len(values))
	for i, v := range values {
		if present[i] {
			c.w.Bulk(v)
		} else {
			c.w.Null()
		}
	}
}

func cmdHDel(c *client, args [][]byte) {
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
	if found && m.typ != typeHash {
		c.w.Error(errWrongType)
		return
	}
	if !found {
		if c.write(&b) {
			c.w.Int(0)
		}
		return
	}
	prefix := subkeyPrefixOf(key, m.hashVersion())
	seen := map[string]bool{}
	removed := int64(0)
	for _, f := range args[2:] {
		if seen[string(f)] {
			continue
		}
		seen[string(f)] = true
		sk := subkey(prefix, f)
		if _, err := s.store.Get(sk); errors.Is(err, ErrNotFound) {
			continue
		} else if err != nil {
			c.storeError(err)
			return
		}
		b.Delete(sk)
		removed++
	}
	if removed == 0 {
		c.w.Int(0)
		return
	}
	if left := m.hashCount() - removed; left > 0 {
		b.Put(metaKey(key), encodeHash(m.hashVersion(), left, m.expireMs))
	} else {
		b.Delete(metaKey(key))
	}
	if c.write(&b) {
		c.w.Int(removed)
	}
}

// hashScan calls fn for every field of the live hash key, in field order.
// It answers errors itself and returns ok=false then.
func (c *client) hashScan(key []byte, fn func(field, value []byte)) (ok bool) {
	m, found, ok := c.getHash(key)
	if !ok || !found {
		return ok
	}
	prefix := subkeyPrefixOf(key, m.hashVersion())
	err := c.srv.store.Scan(prefix, prefixEnd(prefix), func(k, v []byte) bool {
		fn(append([]byte(nil), k[len(prefix):]...), append([]byte(nil), v...))
		return true
	})
	if err != nil {
		c.storeError(err)
		return false
	}
	return true
}

func cmdHGetAll(c *client, args [][]byte) {
	var pairs [][]byte
	if !c.hashScan(args[1], func(f, v []byte) { pairs = append(pairs, f, v) }) {
		return
	}
	c.w.Map(len(pairs) / 2)
	for _, p := range pairs {
		c.w.Bulk(p)
	}
}

func cmdHKeys(c *client, args [][]byte) {
	var out [][]byte
	if !c.hashScan(args[1], func(f, _ []byte) { out = append(out, f) }) {
		return
	}
	c.w.Array(len(out))
	for _, p := range out {
		c.w.Bulk(p)
	}
}

func cmdHVals(c *client, args [][]byte) {
	var out [][]byte
	if !c.hashScan(args[1], func(_, v []byte) { out = append(out, v) }) {
		return
	}
	c.w.Array(len(out))
	for _, p := range out {
		c.w.Bulk(p)
	}
}

func cmdHLen(c *client, args [][]byte) {
	m, found, ok := c.getHash(args[1])
	switch {
	case !ok:
	case !found:
		c.w.Int(0)
	default:
		c.w.Int(m.hashCount())
	}
}

func cmdHExists(c *client, args [][]byte) {
	m, found, ok := c.getHash(args[1])
	if !ok {
		return
	}
	if !found {
		c.w.Int(0)
		return
	}
	_, found, err := c.srv.hashField(args[1], m, args[2])
	if err != nil {
		c.storeError(err)
		return
	}
	if found {
		c.w.Int(1)
	} else {
		c.w.Int(0)
	}
}

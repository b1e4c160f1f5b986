package server

import (
	"bytes"
	"math"
	"strconv"
)

func init() {
	register(
		&cmdSpec{name: "get", arity: 2, flags: flagReadonly | flagFast, firstKey: 1, lastKey: 1, step: 1, group: "string", since: "1.0.0", summary: "Returns the string value of a key.", handler: cmdGet},
		&cmdSpec{name: "set", arity: -3, flags: flagWrite, firstKey: 1, lastKey: 1, step: 1, group: "string", since: "1.0.0", summary: "Sets the string value of a key, ignoring its type. The key is created if it doesn't exist.", handler: cmdSet},
		&cmdSpec{name: "getset", arity: 3, flags: flagWrite | flagFast, firstKey: 1, lastKey: 1, step: 1, group: "string", since: "1.0.0", summary: "Returns the previous string value of a key after setting it to a new value.", handler: cmdGetSet},
		&cmdSpec{name: "mget", arity: -2, flags: flagReadonly | flagFast, firstKey: 1, lastKey: -1, step: 1, group: "string", since: "1.0.0", summary: "Atomically returns the string values of one or more keys.", handler: cmdMGet},
		&cmdSpec{name: "mset", arity: -3, flags: flagWrite, firstKey: 1, lastKey: -1, step: 2, group: "string", since: "1.0.1", summary: "Atomically creates or modifies the string values of one or more keys.", handler: cmdMSet},
		&cmdSpec{name: "del", arity: -2, flags: flagWrite, firstKey: 1, lastKey: -1, step: 1, group: "generic", since: "1.0.0", summary: "Deletes one or more keys.", handler: cmdDel},
		&cmdSpec{name: "exists", arity: -2, flags: flagReadonly | flagFast, firstKey: 1, lastKey: -1, step: 1, group: "generic", since: "1.0.0", summary: "Determines whether one or more keys exist.", handler: cmdExists},
		&cmdSpec{name: "type", arity: 2, flags: flagReadonly | flagFast, firstKey: 1, lastKey: 1, step: 1, group: "generic", since: "1.0.0", summary: "Determines the type of value stored at a key.", handler: cmdType},
		&cmdSpec{name: "incr", arity: 2, flags: flagWrite | flagFast, firstKey: 1, lastKey: 1, step: 1, group: "string", since: "1.0.0", summary: "Increments the integer value of a key by one.", handler: func(c *client, a [][]byte) { c.incrBy(a[1], 1) }},
		&cmdSpec{name: "decr", arity: 2, flags: flagWrite | flagFast, firstKey: 1, lastKey: 1, step: 1, group: "string", since: "1.0.0", summary: "Decrements the integer value of a key by one.", handler: func(c *client, a [][]byte) { c.incrBy(a[1], -1) }},
		&cmdSpec{name: "incrby", arity: 3, flags: flagWrite | flagFast, firstKey: 1, lastKey: 1, step: 1, group: "string", since: "1.0.0", summary: "Increments the integer value of a key by a number.", handler: cmdIncrBy},
		&cmdSpec{name: "decrby", arity: 3, flags: flagWrite | flagFast, firstKey: 1, lastKey: 1, step: 1, group: "string", since: "1.0.0", summary: "Decrements a number from the integer value of a key.", handler: cmdDecrBy},
		&cmdSpec{name: "append", arity: 3, flags: flagWrite | flagFast, firstKey: 1, lastKey: 1, step: 1, group: "string", since: "2.0.0", summary: "Appends a string to the value of a key. Creates the key if it doesn't exist.", handler: cmdAppend},
		&cmdSpec{name: "strlen", arity: 2, flags: flagReadonly | flagFast, firstKey: 1, lastKey: 1, step: 1, group: "string", since: "2.2.0", summary: "Returns the length of a string value.", handler: cmdStrlen},
	)
}

// getString looks key up for a string read (see getTyped).
func (c *client) getString(key []byte) (m meta, found, ok bool) { return c.getTyped(key, typeString) }

// getTyped looks key up for a read of type typ; it answers the error cases
// (store failure, wrong type) itself and then returns ok=false.
func (c *client) getTyped(key []byte, typ byte) (m meta, found, ok bool) {
	m, found, err := c.lookup(key)
	if err != nil {
		c.storeError(err)
		return meta{}, false, false
	}
	if found && m.typ != typ {
		c.w.Error(errWrongType)
		return meta{}, false, false
	}
	return m, found, true
}

func cmdGet(c *client, args [][]byte) {
	m, found, ok := c.getString(args[1])
	switch {
	case !ok:
	case !found:
		c.w.Null()
	default:
		c.w.Bulk(m.payload)
	}
}

// setOptions are the parsed options of SET.
type setOptions struct {
	nx, xx, get, keepTTL bool
	expireMs             int64 // absolute; 0: none
}

func (c *client) parseSetOptions(args [][]byte) (o setOptions, ok bool) {
	hasExp := false
	for i := 0; i < len(args); i++ {
		a := args[i]
		switch {
		case bytes.EqualFold(a, []byte("nx")) && !o.xx:
			o.nx = true
		case bytes.EqualFold(a, []byte("xx")) && !o.nx:
			o.xx = true
		case bytes.EqualFold(a, []byte("get")):
			o.get = true
		case bytes.EqualFold(a, []byte("keepttl")) && !hasExp:
			o.keepTTL = true
		case (bytes.EqualFold(a, []byte("ex")) || bytes.EqualFold(a, []byte("px")) ||
			bytes.EqualFold(a, []byte("exat")) || bytes.EqualFold(a, []byte("pxat"))) && !hasExp && !o.keepTTL && i+1 < len(args):
			n, isInt := parseInt64(args[i+1])
			if !isInt {
				c.w.Error(errNotInteger)
				return o, false
			}
			if n <= 0 {
				c.w.Error("ERR invalid expire time in 'set' command")
				return o, false
			}
			at, valid := c.absExpiry(a, n)
			if !valid {
				c.w.Error("ERR invalid expire time in 'set' command")
				return o, false
			}
			o.expireMs, hasExp = at, true
			i++
		default:
			c.w.Error(errSyntax)
			return o, false
		}
	}
	return o, true
}

// absExpiry converts n in the unit of option opt (EX, PX, EXAT, PXAT,
// or the EXPIRE family's names) to absolute unix milliseconds.
func (c *client) absExpiry(opt []byte, n int64) (int64, bool) {
	lower := string(bytes.ToLower(opt))
	now := c.srv.nowMs()
	switch lower {
	case "ex", "expire":
		if n > math.MaxInt64/1000 || n < math.MinInt64/1000 || addOverflows(n*1000, now) {
			return 0, false
		}
		return n*1000 + now, true
	case "px", "pexpire":
		if addOverflows(n, now) {
			return 0, false
		}
		return n + now, true
	case "exat", "expireat":
		if n > math.MaxInt64/1000 || n < math.MinInt64/1000 {
			return 0, false
		}
		return n * 1000, true
	default: // pxat, pexpireat
		return n, true
	}
}

func cmdSet(c *client, args [][]byte) {
	o, ok := c.parseSetOptions(args[3:])
	if !ok {
		return
	}
	key, value := args[1], args[2]
	s := c.srv
	unlock := s.locks.lock(key)
	defer unlock()
	var b Batch
	m, found, err := s.lookupLocked(key, &b)
	if err != nil {
		c.storeError(err)
		return
	}
	if o.get && found && m.typ != typeString {
		c.w.Error(errWrongType)
		return
	}
	replyOld := func() {
		if found {
			c.w.Bulk(m.payload)
		} else {
			c.w.Null()
		}
	}
	if (o.nx && found) || (o.xx && !found) {
		if o.get {
			replyOld()
		} else {
			c.w.Null()
		}
		return
	}
	expire := o.expireMs
	if o.keepTTL && found {
		expire = m.expireMs
	}
	if found && m.typ == typeHash {
		if err := s.dropLocked(key, m, &b); err != nil {
			c.storeError(err)
			return
		}
	}
	b.Put(metaKey(key), encodeString(value, expire))
	if !c.write(&b) {
		return
	}
	if o.get {
		replyOld()
	} else {
		c.w.OK()
	}
}

func cmdGetSet(c *client, args [][]byte) {
	cmdSet(c, [][]byte{args[0], args[1], args[2], []byte("GET")})
}

func cmdMGet(c *client, args [][]byte) {
	c.w.Array(len(args) - 1)
	for _, key := range args[1:] {
		m, found, err := c.lookup(key)
		switch {
		case err != nil:
			// An array is already open: a store failure answers nil for this key.
			c.srv.opts.Logger.Error("store read failed", "err", err)
			c.w.Null()
		case !found || m.typ != typeString:
			c.w.Null()
		default:
			c.w.Bulk(m.payload)
		}
	}
}

func cmdMSet(c *client, args [][]byte) {
	if len(args)%2 != 1 {
		c.w.Error("ERR wrong number of arguments for 'mset' command")
		return
	}
	s := c.srv
	keys := make([][]byte, 0, len(args)/2)
	for i := 1; i < len(args); i += 2 {
		keys = append(keys, args[i])
	}
	unlock := s.locks.lockMany(keys)
	defer unlock()
	var b Batch
	for i := 1; i < len(args); i += 2 {
		m, found, err := s.lookupLocked(args[i], &b)
		if err != nil {
			c.storeError(err)
			return
		}
		if found && m.typ == typeHash {
			if err := s.dropLocked(args[i], m, &b); err != nil {
				c.storeError(err)
				return
			}
		}
		b.Put(metaKey(args[i]), encodeString(args[i+1], 0))
	}
	if c.write(&b) {
		c.w.OK()
	}
}

func cmdDel(c *client, args [][]byte) {
	s := c.srv
	unlock := s.locks.lockMany(args[1:])
	defer unlock()
	var b Batch
	seen := map[string]bool{}
	n := 0
	for _, key := range args[1:] {
		if seen[string(key)] {
			continue
		}
		seen[string(key)] = true
		m, found, err := s.lookupLocked(key, &b)
		if err != nil {
			c.storeError(err)
			return
		}
		if !found {
			continue
		}
		if err := s.dropLocked(key, m, &b); err != nil {
			c.storeError(err)
			return
		}
		n++
	}
	if c.write(&b) {
		c.w.Int(int64(n))
	}
}

func cmdExists(c *client, args [][]byte) {
	n := 0
	for _, key := range args[1:] {
		_, found, err := c.lookup(key)
		if err != nil {
			c.storeError(err)
			return
		}
		if found {
			n++
		}
	}
	c.w.Int(int64(n))
}

func cmdType(c *client, args [][]byte) {
	m, found, err := c.lookup(args[1])
	switch {
	case err != nil:
		c.storeError(err)
	case !found:
		c.w.Simple("none")
	default:
		c.w.Simple(typeName(m.typ))
	}
}

func cmdIncrBy(c *client, args [][]byte) {
	n, ok := parseInt64(args[2])
	if !ok {
		c.w.Error(errNotInteger)
		return
	}
	c.incrBy(args[1], n)
}

func cmdDecrBy(c *client, args [][]byte) {
	n, ok := parseInt64(args[2])
	if !ok || n == math.MinInt64 {
		c.w.Error(errNotInteger)
		return
	}
	c.incrBy(args[1], -n)
}

func (c *client) incrBy(key []byte, delta int64) {
	s := c.srv
	unlock := s.locks.lock(key)
	defer unlock()
	var b Batch
	m, found, err := s.lookupLocked(key, &b)
	if err != nil {
		c.storeError(err)
		return
	}
	var cur, expire int64
	if found {
		if m.typ != typeString {
			c.w.Error(errWrongType)
			return
		}
		var ok bool
		if cur, ok = parseInt64(m.payload); !ok {
			c.w.Error(errNotInteger)
			return
		}
		expire = m.expireMs
	}
	if addOverflows(cur, delta) {
		c.w.Error(errOverflow)
		return
	}
	cur += delta
	b.Put(metaKey(key), encodeString(strconv.AppendInt(nil, cur, 10), expire))
	if c.write(&b) {
		c.w.Int(cur)
	}
}

func cmdAppend(c *client, args [][]byte) {
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
	var value []byte
	var expire int64
	if found {
		if m.typ != typeString {
			c.w.Error(errWrongType)
			return
		}
		if len(m.payload)+len(args[2]) > s.opts.Limits.MaxBulkLen {
			c.w.Error("ERR string exceeds maximum allowed size (proto-max-bulk-len)")
			return
		}
		value = append(append(make([]byte, 0, len(m.payload)+len(args[2])), m.payload...), args[2]...)
		expire = m.expireMs
	} else {
		value = args[2]
	}
	b.Put(metaKey(key), encodeString(value, expire))
	if c.write(&b) {
		c.w.Int(int64(len(value)))
	}
}

func cmdStrlen(c *client, args [][]byte) {
	m, found, ok := c.getString(args[1])
	switch {
	case !ok:
	case !found:
		c.w.Int(0)
	default:
		c.w.Int(int64(len(m.payload)))
	}
}

package server

import (
	"encoding/binary"
	"fmt"
)

// Key prefixes of the keyspace (see doc.go).
const (
	metaPrefix   = 'M'
	subkeyPrefix = 'S'
)

// Value types stored in byte 0 of a metadata value.
const (
	typeString byte = 1
	typeHash   byte = 2
)

// metaHeaderLen is the fixed header of every metadata value: type, expiry.
const metaHeaderLen = 9

// hashPayloadLen is the payload of a hash metadata value: version, count.
const hashPayloadLen = 16

func typeName(t byte) string {
	switch t {
	case typeString:
		return "string"
	case typeHash:
		return "hash"
	}
	return "none"
}

// metaKey returns 'M' | key.
func metaKey(key []byte) []byte {
	k := make([]byte, 1+len(key))
	k[0] = metaPrefix
	copy(k[1:], key)
	return k
}

// metaUpper is the exclusive upper bound of the metadata range.
var metaUpper = []byte{metaPrefix + 1}

// metaLower is the inclusive lower bound of the metadata range.
var metaLower = []byte{metaPrefix}

// meta is a decoded metadata value.
type meta struct {
	typ      byte
	expireMs int64  // unix milliseconds; 0: no expiry
	payload  []byte // string: the value; hash: version | count
}

func decodeMeta(v []byte) (meta, error) {
	if len(v) < metaHeaderLen {
		return meta{}, fmt.Errorf("%w: metadata value of %d bytes, want at least %d", ErrCorrupt, len(v), metaHeaderLen)
	}
	m := meta{typ: v[0], expireMs: int64(binary.BigEndian.Uint64(v[1:9])), payload: v[9:]}
	switch m.typ {
	case typeString:
	case typeHash:
		if len(m.payload) != hashPayloadLen {
			return meta{}, fmt.Errorf("%w: hash metadata payload of %d bytes, want %d", ErrCorrupt, len(m.payload), hashPayloadLen)
		}
	default:
		return meta{}, fmt.Errorf("%w: unknown value type %d", ErrCorrupt, m.typ)
	}
	return m, nil
}

// expired reports whether m has an expiry at or before nowMs.
func (m meta) expired(nowMs int64) bool { return m.expireMs != 0 && m.expireMs <= nowMs }

func encodeString(value []byte, expireMs int64) []byte {
	v := make([]byte, metaHeaderLen+len(value))
	v[0] = typeString
	binary.BigEndian.PutUint64(v[1:9], uint64(expireMs))
	copy(v[9:], value)
	return v
}

func encodeHash(version uint64, count int64, expireMs int64) []byte {
	v := make([]byte, metaHeaderLen+hashPayloadLen)
	v[0] = typeHash
	binary.BigEndian.PutUint64(v[1:9], uint64(expireMs))
	binary.BigEndian.PutUint64(v[9:17], version)
	binary.BigEndian.PutUint64(v[17:25], uint64(count))
	return v
}

// withExpiry re-encodes m with a new expiry.
func (m meta) withExpiry(expireMs int64) []byte {
	v := make([]byte, metaHeaderLen+len(m.payload))
	v[0] = m.typ
	binary.BigEndian.PutUint64(v[1:9], uint64(expireMs))
	copy(v[9:], m.payload)
	return v
}

func (m meta) hashVersion() uint64 { return binary.BigEndian.Uint64(m.payload[0:8]) }
func (m meta) hashCount() int64    { return int64(binary.BigEndian.Uint64(m.payload[8:16])) }

// subkeyPrefixOf returns 'S' | len(key) u32 | key | version u64: the prefix
// of every field key of one version of a hash.
func subkeyPrefixOf(key []byte, version uint64) []byte {
	p := make([]byte, 1+4+len(key)+8)
	p[0] = subkeyPrefix
	binary.BigEndian.PutUint32(p[1:5], uint32(len(key)))
	copy(p[5:], key)
	binary.BigEndian.PutUint64(p[5+len(key):], version)
	return p
}

// subkey returns the key of one hash field.
func subkey(prefix, field []byte) []byte {
	k := make([]byte, len(prefix)+len(field))
	copy(k, prefix)
	copy(k[len(prefix):], field)
	return k
}

// prefixEnd returns the smallest key greater than every key with prefix p,
// or nil if there is none (p is all 0xff).
func prefixEnd(p []byte) []byte {
	end := append([]byte(nil), p...)
	for i := len(end) - 1; i >= 0; i-- {
		if end[i] != 0xff {
			end[i]++
			return end[:i+1]
		}
	}
	return nil
}

package server

import (
	"bytes"
	"encoding/binary"
	"errors"

	"github.com/talos-kv/talos/engine"
	"github.com/talos-kv/talos/index"
)

// MetaValuePrefix is the engine.Options.ValuePrefix a store under this
// filter should use: a metadata value's type and expiry (its first 9
// bytes), so that the filter judges a string kept in the value log without
// reading it.
const MetaValuePrefix = metaHeaderLen

// NewCompactionFilter returns the engine compaction filter that drops what
// no reader can see any more (see doc.go, Expiry):
//
//   - a metadata entry ('M') whose expire_ms is non-zero and at or before
//     the compaction's start time on clock;
//   - a field entry ('S') of a hash whose metadata, at the newest seq, is
//     absent, expired, of another type or of another version, unless a
//     reader older than that lookup (an open snapshot or iterator) may
//     read the field.
//
// Every other entry is kept, as is any entry the filter cannot decide
// about (undecodable key or metadata, a failed read). clock nil means the
// system clock; a Server over the same engine should use the same Clock.
//
// The filter never takes the server's key locks: a command holding one may
// be waiting for its write, which may wait for compactions, which would
// wait for the filter. It reads the engine only through the FilterEntry.
func NewCompactionFilter(clock Clock) engine.CompactionFilter {
	if clock == nil {
		clock = systemClock{}
	}
	return func(index.CompactionInfo) func(e *engine.FilterEntry) engine.FilterDecision {
		f := &expiryFilter{nowMs: clock.Now().UnixMilli()}
		return f.filter
	}
}

// expiryFilter is the filter of one compaction. Its time is the
// compaction's start: an entry expired then is expired for every later
// reader (expiry times are absolute).
type expiryFilter struct {
	nowMs int64
	// The metadata lookup of the last hash key whose fields were offered:
	// the fields of one hash are contiguous in key order.
	cached bool
	key    []byte
	dead   bool   // the fields of version are invisible from seq on, for good
	ver    uint64 // the version dead refers to
	seq    uint64 // the seq the lookup read at
}

func (f *expiryFilter) filter(e *engine.FilterEntry) engine.FilterDecision {
	if len(e.Key) == 0 {
		return engine.FilterKeep
	}
	switch e.Key[0] {
	case metaPrefix:
		// Decided from the value alone and the clock: an expired entry is
		// absent for every reader, at any seq, so a tombstone in its place
		// (or nothing) changes no read, even a snapshot's.
		// The header is in the index entry when the value is inline or
		// the engine keeps MetaValuePrefix bytes beside its pointer;
		// otherwise it costs a value-log read.
		v, ok := e.ValuePrefix(metaHeaderLen)
		if !ok {
			var err error
			if v, err = e.Value(); err != nil {
				return engine.FilterKeep
			}
		}
		if len(v) < metaHeaderLen {
			return engine.FilterKeep
		}
		exp := int64(binary.BigEndian.Uint64(v[1:9]))
		if exp != 0 && exp <= f.nowMs {
			return engine.FilterDelete
		}
	case subkeyPrefix:
		// Decided from another key's newest state: a snapshot that reads
		// this field may see an older metadata entry that makes it live.
		if e.Snapshot {
			return engine.FilterKeep
		}
		key, version, ok := parseSubkey(e.Key)
		if !ok {
			return engine.FilterKeep
		}
		dead, seq, ok := f.lookup(e, key, version)
		if ok && dead && !e.ReaderBelow(seq) {
			return engine.FilterDelete
		}
	}
	return engine.FilterKeep
}

// lookup reports whether the fields of version of key are dead for good
// from seq on: key's metadata (newest) is absent, not a hash, of another
// version, or expired. Versions are never reused (a hash created over an
// absent or expired key gets a new one) and expiry is absolute, so a dead
// version never comes back. ok is false if the metadata could not be read
// or decoded.
func (f *expiryFilter) lookup(e *engine.FilterEntry, key []byte, version uint64) (dead bool, seq uint64, ok bool) {
	if f.cached && f.ver == version && bytes.Equal(f.key, key) {
		return f.dead, f.seq, true
	}
	v, seq, err := e.Get(metaKey(key))
	switch {
	case errors.Is(err, engine.ErrNotFound):
		dead = true
	case err != nil:
		return false, 0, false
	default:
		m, err := decodeMeta(v)
		if err != nil {
			return false, 0, false
		}
		dead = m.typ != typeHash || m.hashVersion() != version || m.expired(f.nowMs)
	}
	f.cached, f.key, f.ver, f.dead, f.seq = true, append(f.key[:0], key...), version, dead, seq
	return dead, seq, true
}

// parseSubkey splits a field key 'S' | keylen u32 | key | version u64 |
// field into its user key and version.
func parseSubkey(k []byte) (key []byte, version uint64, ok bool) {
	if len(k) < 1+4 || k[0] != subkeyPrefix {
		return nil, 0, false
	}
	n := uint64(binary.BigEndian.Uint32(k[1:5]))
	if uint64(len(k)) < 1+4+n+8 {
		return nil, 0, false
	}
	return k[5 : 5+n], binary.BigEndian.Uint64(k[5+n : 5+n+8]), true
}

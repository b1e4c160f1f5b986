package server

import (
	"errors"
	"fmt"
)

// lookup returns the live metadata of key for a read. found is false for an
// absent or expired key. An expired key found on a writable store is
// deleted (with its hash fields), as Redis does on access.
func (c *client) lookup(key []byte) (m meta, found bool, err error) {
	s := c.srv
	m, found, expired, err := s.lookupRaw(key)
	if err != nil || found {
		if found {
			s.stats.hits.Add(1)
		}
		return m, found, err
	}
	s.stats.misses.Add(1)
	if expired {
		if _, ro := s.store.ReadOnly(); !ro {
			s.reapExpired(key)
		}
	}
	return meta{}, false, nil
}

// lookupRaw reads the metadata of key. found: present and not expired;
// expired: present but expired (m is then its metadata).
func (s *Server) lookupRaw(key []byte) (m meta, found, expired bool, err error) {
	v, err := s.store.Get(metaKey(key))
	if errors.Is(err, ErrNotFound) {
		return meta{}, false, false, nil
	}
	if err != nil {
		return meta{}, false, false, err
	}
	m, err = decodeMeta(v)
	if err != nil {
		return meta{}, false, false, fmt.Errorf("key %q: %w", key, err)
	}
	if m.expired(s.nowMs()) {
		return m, false, true, nil
	}
	return m, true, false, nil
}

// lookupLocked is lookupRaw for a command holding the key's lock: it
// returns the live metadata, and adds to b the deletes that clear an
// expired predecessor (its metadata and hash fields) so that the command's
// batch replaces it cleanly.
func (s *Server) lookupLocked(key []byte, b *Batch) (m meta, found bool, err error) {
	m, found, expired, err := s.lookupRaw(key)
	if err != nil || !expired {
		return m, found, err
	}
	if err := s.dropLocked(key, m, b); err != nil {
		return meta{}, false, err
	}
	return meta{}, false, nil
}

// dropLocked adds to b the deletes of key's metadata and, for a hash, of
// every field of its version. The caller holds key's lock.
func (s *Server) dropLocked(key []byte, m meta, b *Batch) error {
	b.Delete(metaKey(key))
	if m.typ != typeHash {
		return nil
	}
	prefix := subkeyPrefixOf(key, m.hashVersion())
	return s.store.Scan(prefix, prefixEnd(prefix), func(k, _ []byte) bool {
		b.Delete(append([]byte(nil), k...))
		return true
	})
}

// reapExpired deletes key if it is still expired once its lock is held.
func (s *Server) reapExpired(key []byte) {
	unlock := s.locks.lock(key)
	defer unlock()
	m, _, expired, err := s.lookupRaw(key)
	if err != nil || !expired {
		return
	}
	var b Batch
	if err := s.dropLocked(key, m, &b); err != nil {
		s.opts.Logger.Warn("reaping expired key failed", "err", err)
		return
	}
	if err := s.store.Write(&b); err != nil {
		s.opts.Logger.Warn("reaping expired key failed", "err", err)
		return
	}
	s.stats.expired.Add(1)
}

// write applies b, answering a failure; it reports success.
func (c *client) write(b *Batch) bool {
	if b.Len() == 0 {
		return true
	}
	if err := c.srv.store.Write(b); err != nil {
		c.storeError(err)
		return false
	}
	return true
}

package index

import (
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"os"
	"slices"

	"github.com/talos-kv/talos/internal/iostat"
)

// InstallEdit installs an edit made elsewhere (a primary): every table it
// adds must already be in the directory, whole, with the edit's size and
// checksum (else ErrCorrupt and nothing is installed). The tables are synced,
// the edit is logged and the version switched; tables the edit removes are
// deleted once no reader holds them. The memtable is not involved.
func (x *Index) InstallEdit(e *VersionEdit) error { return x.InstallEditChecked(e, nil) }

// Checked reports whether the caller already verified, as the file was
// written and synced, that table num holds size bytes with crc32c crc.
type Checked func(num, size uint64, crc uint32) bool

// InstallEditChecked is InstallEdit for a caller that verified some tables
// as they arrived (a ship-index backup checks every chunk's and every
// table's crc32c in memory and syncs the file): for a table checked
// confirms with the edit's size and checksum, only the file's size is
// checked, not its bytes, so installing reads nothing back. checked may be
// nil.
func (x *Index) InstallEditChecked(e *VersionEdit, checked Checked) error {
	x.mu.Lock()
	err := x.errLocked()
	live := make(map[uint64]bool, len(e.Added))
	for _, a := range e.Added {
		_, live[a.Meta.Num] = x.mu.tables[a.Meta.Num]
	}
	x.mu.Unlock()
	if err != nil {
		return err
	}
	maxNum := uint64(0)
	for _, a := range e.Added {
		maxNum = max(maxNum, a.Meta.Num)
		if live[a.Meta.Num] {
			continue // moved between levels: the file is already ours
		}
		if checked != nil && checked(a.Meta.Num, a.Meta.Size, a.Meta.Checksum) {
			if err := x.checkTableSize(a.Meta); err != nil {
				return err
			}
			continue
		}
		if err := x.checkTableFile(a.Meta); err != nil {
			return err
		}
	}
	if len(e.Added) > 0 {
		if err := syncDir(x.opts.FS, x.dir); err != nil {
			return x.fail(err)
		}
	}
	for {
		cur := x.nextFileNum.Load()
		want := max(cur, e.NextFileNum, maxNum+1)
		if want == cur || x.nextFileNum.CompareAndSwap(cur, want) {
			break
		}
	}
	ce := *e
	ce.Added = slices.Clone(e.Added)
	ce.NextFileNum = x.nextFileNum.Load()
	return x.logAndApply(&ce, "install", nil)
}

// checkTableSize verifies that the file of table m exists with m's size.
func (x *Index) checkTableSize(m TableMeta) error {
	name := x.opts.FS.PathJoin(x.dir, tableFileName(m.Num))
	st, err := x.opts.FS.Stat(name)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("%w: table %s to install is missing", ErrCorrupt, tableFileName(m.Num))
		}
		return fmt.Errorf("index: stat table %s: %w", tableFileName(m.Num), err)
	}
	if uint64(st.Size()) != m.Size {
		return fmt.Errorf("%w: table %s is %d bytes, the edit says %d", ErrCorrupt, tableFileName(m.Num), st.Size(), m.Size)
	}
	return nil
}

// checkTableFile verifies that the file of table m is whole and matches
// m's size and checksum, and syncs it.
func (x *Index) checkTableFile(m TableMeta) error {
	fs := x.opts.Counters.FS(x.opts.FS, iostat.Replication)
	name := fs.PathJoin(x.dir, tableFileName(m.Num))
	f, err := fs.Open(name)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("%w: table %s to install is missing", ErrCorrupt, tableFileName(m.Num))
		}
		return fmt.Errorf("index: open table %s: %w", tableFileName(m.Num), err)
	}
	defer f.Close()
	size, sum, err := crcFile(f)
	if err != nil {
		return fmt.Errorf("index: read table %s: %w", tableFileName(m.Num), err)
	}
	if size != m.Size || sum != m.Checksum {
		return fmt.Errorf("%w: table %s is %d bytes with crc32c %08x, the edit says %d bytes with %08x",
			ErrCorrupt, tableFileName(m.Num), size, sum, m.Size, m.Checksum)
	}
	if err := f.Sync(); err != nil {
		return x.fail(fmt.Errorf("index: sync table %s: %w", tableFileName(m.Num), err))
	}
	return nil
}

func crcFile(r io.Reader) (size uint64, sum uint32, err error) {
	buf := make([]byte, 256<<10)
	for {
		n, err := r.Read(buf)
		sum = crc32.Update(sum, castagnoli, buf[:n])
		size += uint64(n)
		if err == io.EOF {
			return size, sum, nil
		}
		if err != nil {
			return size, sum, err
		}
	}
}

// VerifyTables reads every table of the current version whole, checks its
// size and crc32c against the manifest and every block checksum. Damage is
// reported as ErrCorrupt naming the table. Reads are counted as Scan.
func (x *Index) VerifyTables() error {
	rs := x.loadReadState()
	defer x.unrefReadState(rs)
	fs := x.opts.Counters.FS(x.opts.FS, iostat.Scan)
	var errs []error
	for _, lvl := range rs.v.levels {
		for _, t := range lvl {
			f, err := fs.Open(fs.PathJoin(x.dir, tableFileName(t.meta.Num)))
			if err != nil {
				errs = append(errs, fmt.Errorf("%w: table %s: %v", ErrCorrupt, tableFileName(t.meta.Num), err))
				continue
			}
			size, sum, err := crcFile(f)
			_ = f.Close()
			if err != nil {
				errs = append(errs, fmt.Errorf("index: read table %s: %w", tableFileName(t.meta.Num), err))
				continue
			}
			if size != t.meta.Size || sum != t.meta.Checksum {
				errs = append(errs, fmt.Errorf("%w: table %s is %d bytes with crc32c %08x, the manifest says %d bytes with %08x",
					ErrCorrupt, tableFileName(t.meta.Num), size, sum, t.meta.Size, t.meta.Checksum))
				continue
			}
			r, err := x.reader(x.scanCtx, t)
			if err != nil {
				errs = append(errs, err)
				continue
			}
			if err := r.ValidateBlockChecksums(); err != nil {
				errs = append(errs, corruptErr(t.meta.Num, err))
			}
		}
	}
	return errors.Join(errs...)
}

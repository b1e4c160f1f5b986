// Package dirdiff compares a stopped primary's store directory with its
// backups' and lists every difference, for `talosd verify`.
//
// In ship-index mode replicas are byte-identical where it matters
// (DESIGN.md invariant 1), so the comparison is strict:
//
//  1. The manifests describe the same version: the same tables at the same
//     levels with the same sizes and checksums, and the same value-log
//     checkpoint. The edit history itself may differ (a backup rolls its
//     manifest on its own schedule), so versions are compared, not files.
//  2. Every live table file has the size and crc32c its manifest records,
//     on every replica.
//  3. Every value-log segment but the primary's newest exists on every
//     replica with the same bytes; the newest may be shorter on a backup
//     (it persists its prefix on demand), but the bytes it has must match.
//
// Reads go through a vfs.FS and nothing is written.
package dirdiff

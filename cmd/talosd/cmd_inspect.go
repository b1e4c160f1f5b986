package main

import (
	"encoding/json"
	"fmt"
	"io"
	"text/tabwriter"

	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/talos-kv/talos/engine"
	"github.com/talos-kv/talos/internal/iostat"
)

func init() {
	register(&command{
		name:    "inspect",
		summary: "show a stopped store's levels, tables, value-log segments, manifest and I/O counters",
		run:     runInspect,
	})
}

func runInspect(args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("inspect", "--data-dir DIR [--json]", stderr)
	dir := fs.String("data-dir", "", "store directory (the store must be stopped)")
	asJSON := fs.Bool("json", false, "print JSON")
	if err := parseFlags(fs, args, false); err != nil {
		return err
	}
	if *dir == "" {
		fmt.Fprintln(stderr, "--data-dir is required")
		fs.Usage()
		return errUsage
	}
	ins, err := engine.Inspect(vfs.Default, *dir)
	if err != nil {
		return err
	}
	if *asJSON {
		return printInspectJSON(stdout, ins)
	}
	printInspectText(stdout, ins)
	return nil
}

type jsonTable struct {
	Num      uint64 `json:"num"`
	Size     uint64 `json:"size"`
	Keys     uint64 `json:"keys"`
	Smallest string `json:"smallest"`
	Largest  string `json:"largest"`
	Checksum string `json:"checksum"`
}

type jsonLevel struct {
	Level  int         `json:"level"`
	Size   uint64      `json:"size"`
	Keys   uint64      `json:"keys"`
	Tables []jsonTable `json:"tables"`
}

type jsonSegment struct {
	Num             uint64 `json:"num"`
	Size            int64  `json:"size"`
	Live            int64  `json:"live_bytes"`
	Garbage         int64  `json:"garbage_bytes"`
	AboveCheckpoint bool   `json:"above_checkpoint"`
}

// printInspectJSON prints one object; the I/O counters are top-level
// fields named <kind>_bytes_read and <kind>_bytes_written.
func printInspectJSON(w io.Writer, ins *engine.Inspection) error {
	out := map[string]any{
		"data_dir":     ins.Dir,
		"segment_size": ins.SegmentSize,
		"manifest": map[string]any{
			"edits":              ins.Manifest.Edits,
			"last_seq":           ins.Manifest.LastSeq,
			"next_file_num":      ins.Manifest.NextFileNum,
			"checkpoint_segment": ins.Manifest.Checkpoint.Segment,
			"checkpoint_offset":  ins.Manifest.Checkpoint.Offset,
		},
	}
	levels := []jsonLevel{}
	for _, l := range ins.Levels {
		jl := jsonLevel{Level: l.Level, Size: l.Size, Keys: l.Keys, Tables: []jsonTable{}}
		for _, t := range l.Tables {
			jl.Tables = append(jl.Tables, jsonTable{
				Num: t.Num, Size: t.Size, Keys: t.Entries,
				Smallest: fmt.Sprintf("%q", t.Smallest), Largest: fmt.Sprintf("%q", t.Largest),
				Checksum: fmt.Sprintf("%08x", t.Checksum),
			})
		}
		levels = append(levels, jl)
	}
	out["levels"] = levels
	segs := []jsonSegment{}
	var live, garbage int64
	for _, s := range ins.Segments {
		segs = append(segs, jsonSegment{s.Num, s.Size, s.Live, s.Garbage, s.AboveCheckpoint})
		live += s.Live
		garbage += s.Garbage
	}
	out["segments"] = segs
	out["vlog_live_bytes"] = live
	out["vlog_garbage_bytes"] = garbage
	for k, v := range ins.IO.Map() {
		out[k] = v
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(out)
}

func printInspectText(w io.Writer, ins *engine.Inspection) {
	fmt.Fprintf(w, "store %s\n", ins.Dir)
	m := ins.Manifest
	fmt.Fprintf(w, "manifest: %d edits, last seq %d, next file %d, checkpoint segment %d offset %d\n",
		m.Edits, m.LastSeq, m.NextFileNum, m.Checkpoint.Segment, m.Checkpoint.Offset)
	tw := tabwriter.NewWriter(w, 2, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "\nlevel\ttables\tsize\tkeys\t")
	for _, l := range ins.Levels {
		fmt.Fprintf(tw, "L%d\t%d\t%d\t%d\t\n", l.Level, len(l.Tables), l.Size, l.Keys)
	}
	tw.Flush()
	tw = tabwriter.NewWriter(w, 2, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "\ntable\tlevel\tsize\tkeys\tsmallest\tlargest\t")
	for _, l := range ins.Levels {
		for _, t := range l.Tables {
			fmt.Fprintf(tw, "%06d.sst\tL%d\t%d\t%d\t%q\t%q\t\n", t.Num, l.Level, t.Size, t.Entries, t.Smallest, t.Largest)
		}
	}
	tw.Flush()
	tw = tabwriter.NewWriter(w, 2, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "\nsegment (size %d)\tfile size\tlive\tgarbage\t\n", ins.SegmentSize)
	for _, s := range ins.Segments {
		note := ""
		if s.AboveCheckpoint {
			note = "  (not yet flushed: live not counted)"
		}
		fmt.Fprintf(tw, "%06d.vlog\t%d\t%d\t%d\t%s\n", s.Num, s.Size, s.Live, s.Garbage, note)
	}
	tw.Flush()
	tw = tabwriter.NewWriter(w, 2, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "\nI/O kind\tbytes read\tbytes written\t")
	for _, k := range iostat.Kinds() {
		fmt.Fprintf(tw, "%s\t%d\t%d\t\n", k, ins.IO.Read[k], ins.IO.Written[k])
	}
	tw.Flush()
}

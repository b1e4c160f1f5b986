package bench

import (
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"text/tabwriter"
)

// TableHeader is the header line of the stdout table.
func tableHeader() string {
	return "run\ttarget\tmode\tr\tgf\tmix\tphase\tnode\tops\tops/s\tp50us\tp99us\tio_amp\tsrc\tblk_amp\tmaint_rd\tcpu_us/op\tnet_B/op\trss_MiB\tnote"
}

func tableRow(r *Record) string {
	note := ""
	switch {
	case r.Error != "":
		note = "error: " + r.Error
	case r.Interrupted:
		note = "interrupted"
	case r.NotFound > 0:
		note = fmt.Sprintf("%d not found", r.NotFound)
	}
	return fmt.Sprintf("%d\t%s\t%s\t%d\t%d\t%s\t%s\t%s\t%d\t%.0f\t%.1f\t%.1f\t%.2f\t%s\t%.2f\t%s\t%.1f\t%.1f\t%.0f\t%s",
		r.Run, r.Target, r.Mode, r.Replicas, r.GrowthFactor, r.Mix, r.Workload, r.Node, r.Ops, r.OpsPerSec,
		r.Latency.P50Us, r.Latency.P99Us, r.IOAmplification, r.IOSource, r.BlockIOAmplification,
		humanBytes(r.IndexMaintenanceBytesRead), r.CPUUsPerOp, r.NetBytesPerOp, float64(r.RSSBytes)/(1<<20), note)
}

func humanBytes(b uint64) string {
	switch {
	case b >= 1<<30:
		return fmt.Sprintf("%.1fGiB", float64(b)/(1<<30))
	case b >= 1<<20:
		return fmt.Sprintf("%.1fMiB", float64(b)/(1<<20))
	case b >= 1<<10:
		return fmt.Sprintf("%.1fKiB", float64(b)/(1<<10))
	default:
		return fmt.Sprintf("%dB", b)
	}
}

// WriteTable writes records as an aligned table.
func WriteTable(w io.Writer, recs []Record) error {
	tw := tabwriter.NewWriter(w, 0, 0, 1, ' ', 0)
	fmt.Fprintln(tw, tableHeader())
	for i := range recs {
		fmt.Fprintln(tw, tableRow(&recs[i]))
	}
	return tw.Flush()
}

// RunInfo is run.json: everything about an invocation except the records.
type RunInfo struct {
	Seed           uint64      `json:"seed"`
	Targets        []string    `json:"targets"`
	Workloads      []string    `json:"workloads"`
	Distribution   string      `json:"distribution_override,omitempty"`
	Mixes          []string    `json:"mixes"`
	GrowthFactors  []int       `json:"growth_factors"`
	Modes          []string    `json:"modes,omitempty"`
	Replicas       []int       `json:"replicas,omitempty"`
	RecordCount    int64       `json:"record_count"`
	OperationCount int64       `json:"operation_count"`
	Threads        int         `json:"threads"`
	Settle         bool        `json:"settle"`
	Sync           bool        `json:"sync"`
	CommandLine    []string    `json:"command_line"`
	Machine        Machine     `json:"machine"`
	Started        string      `json:"started"`
	Finished       string      `json:"finished"`
	Cancelled      bool        `json:"cancelled"`
	Small          bool        `json:"small,omitempty"`
	ValueThreshold string      `json:"value_threshold,omitempty"`
	MemtableSize   string      `json:"memtable_size,omitempty"`
	SegmentSize    string      `json:"segment_size,omitempty"`
	Skipped        []string    `json:"skipped,omitempty"`
	Ratios         []ModeRatio `json:"mode_ratios,omitempty"`
}

// Info returns the run.json content of a result.
func (res *Result) Info(cmdline []string) RunInfo {
	c := res.Config
	ri := RunInfo{Seed: c.Seed, Targets: c.Targets, Mixes: nil, GrowthFactors: c.GrowthFactors,
		Modes: c.Modes, Replicas: c.Replicas, RecordCount: c.RecordCount, OperationCount: c.OperationCount,
		Threads: c.Threads, Settle: c.Settle, Sync: c.Sync, CommandLine: cmdline, Machine: res.Machine,
		Started: res.Started.UTC().Format("2006-01-02T15:04:05Z"), Finished: res.Finished.UTC().Format("2006-01-02T15:04:05Z"),
		Cancelled: res.Cancelled, Small: c.Small, ValueThreshold: c.ValueThreshold,
		MemtableSize: c.MemtableSize, SegmentSize: c.SegmentSize, Skipped: res.Skipped}
	for _, w := range c.Workloads {
		ri.Workloads = append(ri.Workloads, w.Name)
	}
	for _, m := range c.Mixes {
		ri.Mixes = append(ri.Mixes, m.Name)
	}
	if c.Distribution != nil {
		ri.Distribution = c.Distribution.String()
	}
	figs := make([]string, 0, len(Figures))
	for fig := range Figures {
		figs = append(figs, fig)
	}
	sort.Strings(figs)
	for _, fig := range figs {
		ri.Ratios = append(ri.Ratios, ModeRatios(res.Records, ModeShipIndex, ModeBuildIndex, fig)...)
	}
	return ri
}

// WriteResults writes dir/results.json (the records), dir/results.csv (the
// same, flattened), dir/run.json (seed, configuration, machine, and the
// ship-index/build-index ratios when both modes ran) and, with plots,
// dir/plots/*.svg and *.png and dir/report.md.
func WriteResults(dir string, res *Result, cmdline []string, plots bool) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("bench: %w", err)
	}
	recs := res.Records
	if recs == nil {
		recs = []Record{}
	}
	if err := writeJSON(filepath.Join(dir, "results.json"), recs); err != nil {
		return err
	}
	if err := writeJSON(filepath.Join(dir, "run.json"), res.Info(cmdline)); err != nil {
		return err
	}
	f, err := os.Create(filepath.Join(dir, "results.csv"))
	if err != nil {
		return fmt.Errorf("bench: %w", err)
	}
	if err := WriteCSV(f, recs); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("bench: %w", err)
	}
	if !plots {
		return nil
	}
	files, err := WritePlots(filepath.Join(dir, "plots"), recs)
	if err != nil {
		return err
	}
	rf, err := os.Create(filepath.Join(dir, "report.md"))
	if err != nil {
		return fmt.Errorf("bench: %w", err)
	}
	if err := WriteReport(rf, res, cmdline, files); err != nil {
		rf.Close()
		return fmt.Errorf("bench: report: %w", err)
	}
	return rf.Close()
}

func writeJSON(path string, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return fmt.Errorf("bench: %s: %w", path, err)
	}
	if err := os.WriteFile(path, append(b, '\n'), 0o644); err != nil {
		return fmt.Errorf("bench: %w", err)
	}
	return nil
}

// csvColumns are the columns of results.csv, each with its getter.
var csvColumns = []struct {
	name string
	get  func(r *Record) string
}{
	{"run", func(r *Record) string { return strconv.Itoa(r.Run) }},
	{"target", func(r *Record) string { return r.Target }},
	{"workload", func(r *Record) string { return r.Workload }},
	{"distribution", func(r *Record) string { return r.Distribution }},
	{"mix", func(r *Record) string { return r.Mix }},
	{"mode", func(r *Record) string { return r.Mode }},
	{"replicas", func(r *Record) string { return strconv.Itoa(r.Replicas) }},
	{"growth_factor", func(r *Record) string { return strconv.Itoa(r.GrowthFactor) }},
	{"node", func(r *Record) string { return r.Node }},
	{"transport", func(r *Record) string { return r.Transport }},
	{"seed", func(r *Record) string { return strconv.FormatUint(r.Seed, 10) }},
	{"record_count", func(r *Record) string { return strconv.FormatInt(r.RecordCount, 10) }},
	{"operation_count", func(r *Record) string { return strconv.FormatInt(r.OperationCount, 10) }},
	{"threads", func(r *Record) string { return strconv.Itoa(r.Threads) }},
	{"interrupted", func(r *Record) string { return strconv.FormatBool(r.Interrupted) }},
	{"ops", func(r *Record) string { return u64(r.Ops) }},
	{"not_found", func(r *Record) string { return u64(r.NotFound) }},
	{"duration_sec", func(r *Record) string { return f64(r.DurationSec) }},
	{"ops_per_sec", func(r *Record) string { return f64(r.OpsPerSec) }},
	{"user_bytes_written", func(r *Record) string { return u64(r.UserBytesWritten) }},
	{"io_source", func(r *Record) string { return r.IOSource }},
	{"bytes_written", func(r *Record) string { return u64(r.BytesWritten) }},
	{"bytes_read", func(r *Record) string { return u64(r.BytesRead) }},
	{"index_maintenance_bytes_read", func(r *Record) string { return u64(r.IndexMaintenanceBytesRead) }},
	{"io_amplification", func(r *Record) string { return f64(r.IOAmplification) }},
	{"block_bytes_written", func(r *Record) string { return u64(r.BlockBytesWritten) }},
	{"block_bytes_read", func(r *Record) string { return u64(r.BlockBytesRead) }},
	{"block_io_amplification", func(r *Record) string { return f64(r.BlockIOAmplification) }},
	{"rchar", func(r *Record) string { return u64(r.RChar) }},
	{"wchar", func(r *Record) string { return u64(r.WChar) }},
	{"cpu_user_seconds", func(r *Record) string { return f64(r.CPUUserSeconds) }},
	{"cpu_system_seconds", func(r *Record) string { return f64(r.CPUSystemSeconds) }},
	{"cpu_seconds", func(r *Record) string { return f64(r.CPUSeconds) }},
	{"cpu_us_per_op", func(r *Record) string { return f64(r.CPUUsPerOp) }},
	{"rss_bytes", func(r *Record) string { return u64(r.RSSBytes) }},
	{"net_source", func(r *Record) string { return r.NetSource }},
	{"net_bytes_sent", func(r *Record) string { return u64(r.NetBytesSent) }},
	{"net_bytes_received", func(r *Record) string { return u64(r.NetBytesReceived) }},
	{"net_bytes", func(r *Record) string { return u64(r.NetBytes) }},
	{"net_bytes_per_op", func(r *Record) string { return f64(r.NetBytesPerOp) }},
	{"wire_source", func(r *Record) string { return r.WireSource }},
	{"wire_bytes_sent", func(r *Record) string { return u64(r.WireBytesSent) }},
	{"wire_bytes_received", func(r *Record) string { return u64(r.WireBytesReceived) }},
	{"wire_bytes", func(r *Record) string { return u64(r.WireBytes) }},
	{"wire_bytes_per_op", func(r *Record) string { return f64(r.WireBytesPerOp) }},
	{"latency_mean_us", func(r *Record) string { return f64(r.Latency.MeanUs) }},
	{"latency_p50_us", func(r *Record) string { return f64(r.Latency.P50Us) }},
	{"latency_p90_us", func(r *Record) string { return f64(r.Latency.P90Us) }},
	{"latency_p99_us", func(r *Record) string { return f64(r.Latency.P99Us) }},
	{"latency_p999_us", func(r *Record) string { return f64(r.Latency.P999Us) }},
	{"latency_max_us", func(r *Record) string { return f64(r.Latency.MaxUs) }},
	{"cpu_model", func(r *Record) string { return r.Machine.CPUModel }},
	{"cores", func(r *Record) string { return strconv.Itoa(r.Machine.Cores) }},
	{"kernel", func(r *Record) string { return r.Machine.Kernel }},
	{"device", func(r *Record) string { return r.Machine.Device }},
	{"file_system", func(r *Record) string { return r.Machine.FileSystem }},
	{"error", func(r *Record) string { return r.Error }},
}

func u64(v uint64) string  { return strconv.FormatUint(v, 10) }
func f64(v float64) string { return strconv.FormatFloat(v, 'g', 6, 64) }

// WriteCSV writes records as CSV with a header row.
func WriteCSV(w io.Writer, recs []Record) error {
	cw := csv.NewWriter(w)
	row := make([]string, len(csvColumns))
	for i, c := range csvColumns {
		row[i] = c.name
	}
	if err := cw.Write(row); err != nil {
		return fmt.Errorf("bench: csv: %w", err)
	}
	for i := range recs {
		for j, c := range csvColumns {
			row[j] = c.get(&recs[i])
		}
		if err := cw.Write(row); err != nil {
			return fmt.Errorf("bench: csv: %w", err)
		}
	}
	cw.Flush()
	if err := cw.Error(); err != nil {
		return fmt.Errorf("bench: csv: %w", err)
	}
	return nil
}

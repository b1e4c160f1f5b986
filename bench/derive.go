package bench

// IOAmplification is (bytes read + bytes written) / bytes of user writes.
// It is 0 when the phase wrote no user bytes (a read-only phase), where the
// ratio has no meaning.
func IOAmplification(bytesRead, bytesWritten, userBytesWritten uint64) float64 {
	if userBytesWritten == 0 {
		return 0
	}
	return float64(bytesRead+bytesWritten) / float64(userBytesWritten)
}

// PerOp returns total/ops, or 0 when ops is 0.
func PerOp(total float64, ops uint64) float64 {
	if ops == 0 {
		return 0
	}
	return total / float64(ops)
}

// CPUMicrosPerOp returns CPU microseconds per operation.
func CPUMicrosPerOp(cpuSeconds float64, ops uint64) float64 {
	return PerOp(cpuSeconds*1e6, ops)
}

// Ratio returns a/b, or 0 when b is 0.
func Ratio(a, b float64) float64 {
	if b == 0 {
		return 0
	}
	return a / b
}

// ModeRatio compares one figure between two sets of records (for example
// ship-index against build-index) on the records that agree on everything
// but the mode.
type ModeRatio struct {
	Workload     string  `json:"workload"`
	Mix          string  `json:"mix"`
	Replicas     int     `json:"replicas"`
	GrowthFactor int     `json:"growth_factor"`
	Node         string  `json:"node"`
	Figure       string  `json:"figure"`
	Numerator    float64 `json:"numerator"`
	Denominator  float64 `json:"denominator"`
	Ratio        float64 `json:"ratio"`
}

// Figures are the derived figures ModeRatios compares.
var Figures = map[string]func(*Record) float64{
	"io_amplification":       func(r *Record) float64 { return r.IOAmplification },
	"block_io_amplification": func(r *Record) float64 { return r.BlockIOAmplification },
	"cpu_us_per_op":          func(r *Record) float64 { return r.CPUUsPerOp },
	"net_bytes_per_op":       func(r *Record) float64 { return r.NetBytesPerOp },
	"wire_bytes_per_op":      func(r *Record) float64 { return r.WireBytesPerOp },
	"ops_per_sec":            func(r *Record) float64 { return r.OpsPerSec },
}

// ModeRatios returns figure(numMode)/figure(denMode) for every pair of
// records of the same target, workload, mix, replica count, growth factor
// and node, in the order of the numerator records.
func ModeRatios(recs []Record, numMode, denMode, figure string) []ModeRatio {
	f := Figures[figure]
	if f == nil {
		return nil
	}
	type key struct {
		target, workload, mix, node string
		replicas, gf                int
	}
	den := map[key]*Record{}
	for i := range recs {
		r := &recs[i]
		if r.Mode == denMode {
			den[key{r.Target, r.Workload, r.Mix, r.Node, r.Replicas, r.GrowthFactor}] = r
		}
	}
	var out []ModeRatio
	for i := range recs {
		r := &recs[i]
		if r.Mode != numMode {
			continue
		}
		d := den[key{r.Target, r.Workload, r.Mix, r.Node, r.Replicas, r.GrowthFactor}]
		if d == nil {
			continue
		}
		out = append(out, ModeRatio{Workload: r.Workload, Mix: r.Mix, Replicas: r.Replicas,
			GrowthFactor: r.GrowthFactor, Node: r.Node, Figure: figure,
			Numerator: f(r), Denominator: f(d), Ratio: Ratio(f(r), f(d))})
	}
	return out
}

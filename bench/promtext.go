package bench

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
)

// ErrMetrics reports a Prometheus text exposition that cannot be parsed.
var ErrMetrics = errors.New("bench: bad metrics text")

// Sample of a Prometheus metric: its name, labels and value.
type promSample struct {
	name   string
	labels map[string]string
	value  float64
}

// parsePromText parses the Prometheus text exposition format (version
// 0.0.4) as talosd's /metrics serves it, keeping only the samples whose
// metric name want accepts. Comment lines (# HELP, # TYPE) and blank lines
// are skipped; every other line must be
//
//	name[{label="value",...}] value [timestamp]
//
// with label values escaped as \\, \" and \n. A malformed line is an error
// naming its line number.
func parsePromText(b []byte, want func(name string) bool) ([]promSample, error) {
	var out []promSample
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || line[0] == '#' {
			continue
		}
		s, err := parsePromLine(line, want)
		if err != nil {
			return nil, fmt.Errorf("%w: line %d: %w", ErrMetrics, n, err)
		}
		if s != nil {
			out = append(out, *s)
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrMetrics, err)
	}
	return out, nil
}

func parsePromLine(line string, want func(string) bool) (*promSample, error) {
	end := strings.IndexAny(line, "{ \t")
	if end <= 0 {
		return nil, fmt.Errorf("no metric name and value in %q", line)
	}
	s := &promSample{name: line[:end]}
	rest := line[end:]
	if rest[0] == '{' {
		labels, after, err := parsePromLabels(rest[1:])
		if err != nil {
			return nil, fmt.Errorf("metric %s: %w", s.name, err)
		}
		s.labels, rest = labels, after
	}
	f := strings.Fields(rest)
	if len(f) < 1 || len(f) > 2 {
		return nil, fmt.Errorf("metric %s: want a value and an optional timestamp, found %q", s.name, rest)
	}
	if !want(s.name) {
		return nil, nil
	}
	v, err := strconv.ParseFloat(f[0], 64)
	if err != nil {
		return nil, fmt.Errorf("metric %s: value %q: %w", s.name, f[0], err)
	}
	s.value = v
	return s, nil
}

// parsePromLabels parses `name="value",...}` and returns the labels and
// what follows the closing brace.
func parsePromLabels(s string) (map[string]string, string, error) {
	labels := map[string]string{}
	for {
		s = strings.TrimLeft(s, " \t")
		if strings.HasPrefix(s, "}") {
			return labels, s[1:], nil
		}
		eq := strings.IndexByte(s, '=')
		if eq <= 0 {
			return nil, "", fmt.Errorf("label without '=' in %q", s)
		}
		name := strings.TrimSpace(s[:eq])
		s = strings.TrimLeft(s[eq+1:], " \t")
		if !strings.HasPrefix(s, `"`) {
			return nil, "", fmt.Errorf("label %s: value not quoted", name)
		}
		var v strings.Builder
		i := 1
		for ; i < len(s) && s[i] != '"'; i++ {
			if s[i] != '\\' {
				v.WriteByte(s[i])
				continue
			}
			if i++; i == len(s) {
				break
			}
			switch s[i] {
			case '\\', '"':
				v.WriteByte(s[i])
			case 'n':
				v.WriteByte('\n')
			default:
				return nil, "", fmt.Errorf("label %s: bad escape \\%c", name, s[i])
			}
		}
		if i >= len(s) {
			return nil, "", fmt.Errorf("label %s: unterminated value", name)
		}
		labels[name] = v.String()
		s = strings.TrimLeft(s[i+1:], " \t")
		if strings.HasPrefix(s, ",") {
			s = s[1:]
		} else if !strings.HasPrefix(s, "}") {
			return nil, "", fmt.Errorf("label %s: want ',' or '}' after the value", name)
		}
	}
}

// counterValue converts a counter's float value to bytes. Counters are
// whole, non-negative numbers; anything else is an error.
func counterValue(s promSample) (uint64, error) {
	v := s.value
	if v < 0 || math.IsNaN(v) || math.IsInf(v, 0) || v != math.Trunc(v) || v >= 1<<64 {
		return 0, fmt.Errorf("%w: counter %s%v is %v, want a whole number >= 0", ErrMetrics, s.name, s.labels, v)
	}
	return uint64(v), nil
}

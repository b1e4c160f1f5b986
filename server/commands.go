package server

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Command flags (as COMMAND reports them).
const (
	flagWrite    = 1 << iota // modifies the keyspace: refused on a read-only store
	flagReadonly             // reads the keyspace
	flagNoAuth               // allowed before AUTH
	flagFast                 // O(1) or O(log n)
	flagAdmin                // server administration
)

// cmdSpec describes one command.
type cmdSpec struct {
	name     string // lower case
	arity    int    // Redis convention: n exact, -n at least n (name included)
	flags    int
	firstKey int
	lastKey  int
	step     int
	group    string
	summary  string
	since    string
	handler  func(c *client, args [][]byte)

	ops     prometheus.Counter
	errs    prometheus.Counter
	latency prometheus.Observer
}

func (spec *cmdSpec) bindMetrics(m *metrics) {
	spec.ops = m.commands.WithLabelValues(spec.name)
	spec.errs = m.errors.WithLabelValues(spec.name)
	spec.latency = m.latency.WithLabelValues(spec.name)
}

// commandTable maps lower-case names to commands; filled by init functions
// of the cmd_*.go files and read-only afterwards.
var commandTable = map[string]*cmdSpec{}

func register(specs ...*cmdSpec) {
	for _, s := range specs {
		if _, dup := commandTable[s.name]; dup {
			panic("server: command registered twice: " + s.name)
		}
		commandTable[s.name] = s
	}
}

func flagNames(f int) []string {
	var out []string
	for _, p := range []struct {
		bit  int
		name string
	}{{flagWrite, "write"}, {flagReadonly, "readonly"}, {flagAdmin, "admin"}, {flagNoAuth, "no_auth"}, {flagFast, "fast"}} {
		if f&p.bit != 0 {
			out = append(out, p.name)
		}
	}
	return out
}

// lookupCommand finds the command named by name, case-insensitively,
// without allocating for names up to 32 bytes.
func lookupCommand(name []byte) *cmdSpec {
	var buf [32]byte
	if len(name) > len(buf) {
		return commandTable[strings.ToLower(string(name))]
	}
	for i, ch := range name {
		if ch >= 'A' && ch <= 'Z' {
			ch += 'a' - 'A'
		}
		buf[i] = ch
	}
	return commandTable[string(buf[:len(name)])]
}

// dispatch checks and runs one command.
func (c *client) dispatch(args [][]byte) {
	s := c.srv
	s.stats.commands.Add(1)
	spec := lookupCommand(args[0])
	if spec == nil {
		var b strings.Builder
		for _, a := range args[1:min(len(args), 4)] {
			fmt.Fprintf(&b, "'%s' ", truncate(a, 128))
		}
		c.w.Error(fmt.Sprintf("ERR unknown command '%s', with args beginning with: %s", truncate(args[0], 128), b.String()))
		return
	}
	start := time.Now()
	c.info.Lock()
	c.info.lastCmd = spec.name
	c.info.lastActive = start
	c.info.Unlock()
	if !c.authed && spec.flags&flagNoAuth == 0 {
		c.w.Error(errNoAuth)
		spec.errs.Inc()
		return
	}
	if (spec.arity > 0 && len(args) != spec.arity) || (spec.arity < 0 && len(args) < -spec.arity) {
		c.w.Error(fmt.Sprintf("ERR wrong number of arguments for '%s' command", spec.name))
		spec.errs.Inc()
		return
	}
	if spec.flags&flagWrite != 0 {
		if primary, ro := s.store.ReadOnly(); ro {
			c.readOnlyError(primary)
			spec.errs.Inc()
			return
		}
	}
	before := c.w.Errors
	spec.handler(c, args)
	spec.latency.Observe(time.Since(start).Seconds())
	spec.ops.Inc()
	if c.w.Errors != before {
		spec.errs.Inc()
	}
}

func (c *client) readOnlyError(primary string) {
	if primary == "" {
		primary = "unknown"
	}
	c.w.Error("READONLY You can't write against a read only replica. primary: " + primary)
}

// storeError answers a failed Store call.
func (c *client) storeError(err error) {
	if errors.Is(err, ErrReadOnly) {
		primary, _ := c.srv.store.ReadOnly()
		c.readOnlyError(primary)
		return
	}
	if errors.Is(err, ErrTooLarge) {
		c.w.Error("ERR " + err.Error())
		return
	}
	c.srv.opts.Logger.Error("store operation failed", "err", err)
	c.w.Error("ERR store: " + err.Error())
}

func truncate(b []byte, n int) string {
	if len(b) > n {
		return string(b[:n]) + "..."
	}
	return string(b)
}

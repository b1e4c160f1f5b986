package server

import (
	"fmt"
	"net"
	"os"
	"runtime"
	"slices"
	"strings"
	"time"
)

func init() {
	register(
		&cmdSpec{name: "info", arity: -1, flags: 0, group: "server", since: "1.0.0", summary: "Returns information and statistics about the server (sections: server, clients, persistence, replication, stats, keyspace).", handler: cmdInfo},
		&cmdSpec{name: "config", arity: -2, flags: flagAdmin, group: "server", since: "2.0.0", summary: "CONFIG GET parameter... (read-only view of the server's settings).", handler: cmdConfig},
		&cmdSpec{name: "command", arity: -1, flags: 0, group: "server", since: "2.8.13", summary: "Returns detailed information about commands: COMMAND [COUNT|INFO|DOCS|LIST].", handler: cmdCommand},
	)
}

var infoSections = []string{"server", "clients", "persistence", "replication", "stats", "keyspace"}

func (s *Server) infoSection(name string) string {
	var b strings.Builder
	line := func(k string, v any) { fmt.Fprintf(&b, "%s:%v\r\n", k, v) }
	switch name {
	case "server":
		b.WriteString("# Server\r\n")
		line("redis_version", redisCompatVersion)
		line("talos_version", s.opts.Version)
		line("redis_mode", "standalone")
		line("os", runtime.GOOS+" "+runtime.GOARCH)
		line("arch_bits", 64)
		line("go_version", runtime.Version())
		line("process_id", os.Getpid())
		up := time.Since(s.started)
		line("uptime_in_seconds", int64(up.Seconds()))
		line("uptime_in_days", int64(up.Hours()/24))
		s.mu.Lock()
		for ln := range s.mu.listeners {
			if a, ok := ln.Addr().(*net.TCPAddr); ok {
				line("tcp_port", a.Port)
				break
			}
		}
		s.mu.Unlock()
	case "clients":
		b.WriteString("# Clients\r\n")
		s.mu.Lock()
		n := len(s.mu.clients)
		s.mu.Unlock()
		line("connected_clients", n)
		line("maxclients", s.opts.MaxClients)
	case "persistence":
		b.WriteString("# Persistence\r\n")
		line("loading", 0)
		line("storage_engine", "talos")
		if s.opts.Persistence != nil {
			for _, l := range s.opts.Persistence() {
				b.WriteString(l)
				b.WriteString("\r\n")
			}
		}
	case "replication":
		b.WriteString("# Replication\r\n")
		if primary, ro := s.store.ReadOnly(); ro {
			line("role", "slave")
			host, port, err := net.SplitHostPort(primary)
			if err != nil {
				host, port = primary, ""
			}
			line("master_host", host)
			line("master_port", port)
			line("slave_read_only", 1)
		} else {
			line("role", "master")
		}
		if s.opts.Replication != nil {
			for _, l := range s.opts.Replication() {
				b.WriteString(l)
				b.WriteString("\r\n")
			}
		} else if _, ro := s.store.ReadOnly(); !ro {
			line("connected_slaves", 0)
		}
	case "stats":
		b.WriteString("# Stats\r\n")
		line("total_connections_received", s.stats.connections.Load())
		line("total_commands_processed", s.stats.commands.Load())
		line("total_net_input_bytes", s.stats.netIn.Load())
		line("total_net_output_bytes", s.stats.netOut.Load())
		line("rejected_connections", s.stats.rejected.Load())
		line("expired_keys", s.stats.expired.Load())
		line("keyspace_hits", s.stats.hits.Load())
		line("keyspace_misses", s.stats.misses.Load())
	case "keyspace":
		b.WriteString("# Keyspace\r\n")
		keys, expires, err := s.keyspaceStats()
		if err != nil {
			line("errorstat_keyspace", strings.ReplaceAll(err.Error(), "\n", " "))
		} else if keys > 0 {
			line("db0", fmt.Sprintf("keys=%d,expires=%d,avg_ttl=0", keys, expires))
		}
	}
	return b.String()
}

func cmdInfo(c *client, args [][]byte) {
	want := map[string]bool{}
	for _, a := range args[1:] {
		sec := strings.ToLower(string(a))
		switch sec {
		case "all", "everything", "default":
			for _, s := range infoSections {
				want[s] = true
			}
		default:
			want[sec] = true
		}
	}
	if len(want) == 0 {
		for _, s := range infoSections {
			want[s] = true
		}
	}
	var parts []string
	for _, sec := range infoSections {
		if want[sec] {
			parts = append(parts, c.srv.infoSection(sec))
		}
	}
	c.w.Verbatim(strings.Join(parts, "\r\n"))
}

// configValues returns what CONFIG GET reports.
func (s *Server) configValues() [][2]string {
	yesno := func(b bool) string {
		if b {
			return "yes"
		}
		return "no"
	}
	_, ro := s.store.ReadOnly()
	idle := int64(s.opts.IdleTimeout.Seconds())
	return [][2]string{
		{"appendonly", "yes"}, // every write is in the value log before it is acknowledged
		{"databases", "1"},
		{"maxclients", fmt.Sprint(s.opts.MaxClients)},
		{"proto-max-bulk-len", fmt.Sprint(s.opts.Limits.MaxBulkLen)},
		{"replica-read-only", yesno(ro)},
		{"requirepass", ""}, // never revealed
		{"save", ""},
		{"timeout", fmt.Sprint(idle)},
	}
}

func cmdConfig(c *client, args [][]byte) {
	sub := strings.ToLower(string(args[1]))
	switch sub {
	case "get":
		if len(args) < 3 {
			c.w.Error("ERR wrong number of arguments for 'config|get' command")
			return
		}
		var out [][2]string
		for _, kv := range c.srv.configValues() {
			for _, p := range args[2:] {
				if globMatch([]byte(strings.ToLower(string(p))), []byte(kv[0])) {
					out = append(out, kv)
					break
				}
			}
		}
		c.w.Map(len(out))
		for _, kv := range out {
			c.w.BulkString(kv[0])
			c.w.BulkString(kv[1])
		}
	case "set":
		c.w.Error("ERR CONFIG SET is not supported: talosd is configured by its config file and flags")
	case "resetstat":
		c.w.Error("ERR CONFIG RESETSTAT is not supported")
	default:
		c.w.Error(fmt.Sprintf("ERR unknown subcommand '%s'. Try CONFIG HELP.", truncate(args[1], 64)))
	}
}

func sortedCommands() []*cmdSpec {
	specs := make([]*cmdSpec, 0, len(commandTable))
	for _, s := range commandTable {
		specs = append(specs, s)
	}
	slices.SortFunc(specs, func(a, b *cmdSpec) int { return strings.Compare(a.name, b.name) })
	return specs
}

// writeCommandInfo writes one COMMAND INFO entry.
func (c *client) writeCommandInfo(spec *cmdSpec) {
	c.w.Array(10)
	c.w.BulkString(spec.name)
	c.w.Int(int64(spec.arity))
	flags := flagNames(spec.flags)
	c.w.Set(len(flags))
	for _, f := range flags {
		c.w.Simple(f)
	}
	c.w.Int(int64(spec.firstKey))
	c.w.Int(int64(spec.lastKey))
	c.w.Int(int64(spec.step))
	c.w.Set(1)
	c.w.Simple("@" + spec.group)
	c.w.Set(0) // tips
	c.w.Array(0)
	c.w.Array(0)
}

func cmdCommand(c *client, args [][]byte) {
	if len(args) == 1 {
		specs := sortedCommands()
		c.w.Array(len(specs))
		for _, s := range specs {
			c.writeCommandInfo(s)
		}
		return
	}
	switch strings.ToLower(string(args[1])) {
	case "count":
		c.w.Int(int64(len(commandTable)))
	case "list":
		specs := sortedCommands()
		c.w.Array(len(specs))
		for _, s := range specs {
			c.w.BulkString(s.name)
		}
	case "info":
		names := args[2:]
		if len(names) == 0 {
			specs := sortedCommands()
			c.w.Array(len(specs))
			for _, s := range specs {
				c.writeCommandInfo(s)
			}
			return
		}
		c.w.Array(len(names))
		for _, n := range names {
			if spec := lookupCommand(n); spec != nil {
				c.writeCommandInfo(spec)
			} else {
				c.w.NullArray()
			}
		}
	case "docs":
		var specs []*cmdSpec
		if len(args) == 2 {
			specs = sortedCommands()
		} else {
			for _, n := range args[2:] {
				if spec := lookupCommand(n); spec != nil {
					specs = append(specs, spec)
				}
			}
		}
		c.w.Map(len(specs))
		for _, s := range specs {
			c.w.BulkString(s.name)
			c.w.Map(3)
			c.w.BulkString("summary")
			c.w.BulkString(s.summary)
			c.w.BulkString("since")
			c.w.BulkString(s.since)
			c.w.BulkString("group")
			c.w.BulkString(s.group)
		}
	default:
		c.w.Error(fmt.Sprintf("ERR unknown subcommand '%s'. Try COMMAND HELP.", truncate(args[1], 64)))
	}
}

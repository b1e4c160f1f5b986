package server

import (
	"bytes"
	"crypto/subtle"
	"fmt"
	"strings"
	"time"
)

// redisCompatVersion is the Redis version whose protocol and command
// semantics the server follows; clients such as redis-cli read it.
const redisCompatVersion = "7.2.0"

func init() {
	register(
		&cmdSpec{name: "hello", arity: -1, flags: flagNoAuth | flagFast, group: "connection", since: "6.0.0", summary: "Handshakes with the server: protocol version, authentication, client name.", handler: cmdHello},
		&cmdSpec{name: "auth", arity: -2, flags: flagNoAuth | flagFast, group: "connection", since: "1.0.0", summary: "Authenticates the connection.", handler: cmdAuth},
		&cmdSpec{name: "ping", arity: -1, flags: flagFast, group: "connection", since: "1.0.0", summary: "Returns the server's liveliness response.", handler: cmdPing},
		&cmdSpec{name: "echo", arity: 2, flags: flagFast, group: "connection", since: "1.0.0", summary: "Returns the given string.", handler: func(c *client, a [][]byte) { c.w.Bulk(a[1]) }},
		&cmdSpec{name: "select", arity: 2, flags: flagFast, group: "connection", since: "1.0.0", summary: "Changes the selected database (only database 0 exists).", handler: cmdSelect},
		&cmdSpec{name: "quit", arity: -1, flags: flagNoAuth | flagFast, group: "connection", since: "1.0.0", summary: "Closes the connection.", handler: func(c *client, _ [][]byte) { c.w.OK(); c.quit = true }},
		&cmdSpec{name: "client", arity: -2, flags: 0, group: "connection", since: "2.4.0", summary: "CLIENT SETNAME|GETNAME|ID|INFO|LIST|SETINFO.", handler: cmdClient},
		&cmdSpec{name: "time", arity: 1, flags: flagFast, group: "server", since: "2.6.0", summary: "Returns the server time.", handler: cmdTime},
	)
}

func (c *client) setProto(p int) {
	c.w.Proto = p
	c.info.Lock()
	c.info.proto = p
	c.info.Unlock()
}

func (c *client) checkPassword(user, pass []byte) bool {
	if user != nil && !bytes.Equal(user, []byte("default")) {
		return false
	}
	return subtle.ConstantTimeCompare(pass, []byte(c.srv.opts.Password)) == 1
}

// cmdHello implements HELLO [protover [AUTH username password] [SETNAME name]].
func cmdHello(c *client, args [][]byte) {
	proto := c.w.Proto
	if len(args) >= 2 {
		p, ok := parseInt64(args[1])
		if !ok {
			c.w.Error("ERR Protocol version is not an integer or out of range")
			return
		}
		if p != 2 && p != 3 {
			c.w.Error("NOPROTO unsupported protocol version")
			return
		}
		proto = int(p)
	}
	var name []byte
	authed := c.authed
	for i := 2; i < len(args); i++ {
		switch {
		case bytes.EqualFold(args[i], []byte("auth")) && i+2 < len(args):
			if c.srv.opts.Password == "" {
				// Redis accepts any password for the default user without requirepass.
				authed = true
			} else if !c.checkPassword(args[i+1], args[i+2]) {
				c.w.Error(errWrongPass)
				return
			} else {
				authed = true
			}
			i += 2
		case bytes.EqualFold(args[i], []byte("setname")) && i+1 < len(args):
			if !validClientName(args[i+1]) {
				c.w.Error("ERR Client names cannot contain spaces, newlines or special characters.")
				return
			}
			name = args[i+1]
			i++
		default:
			c.w.Error(fmt.Sprintf("ERR Syntax error in HELLO option '%s'", truncate(args[i], 64)))
			return
		}
	}
	if !authed {
		c.w.Error("NOAUTH HELLO must be called with the client already authenticated, otherwise the HELLO <proto> AUTH <user> <pass> option can be used to authenticate the client and select the RESP protocol version at the same time")
		return
	}
	c.authed = true
	if name != nil {
		c.info.Lock()
		c.info.name = string(name)
		c.info.Unlock()
	}
	c.setProto(proto)
	role := "master"
	if _, ro := c.srv.store.ReadOnly(); ro {
		role = "replica"
	}
	c.w.Map(8)
	c.w.BulkString("server")
	c.w.BulkString("redis")
	c.w.BulkString("version")
	c.w.BulkString(redisCompatVersion)
	c.w.BulkString("proto")
	c.w.Int(int64(proto))
	c.w.BulkString("id")
	c.w.Int(int64(c.id))
	c.w.BulkString("mode")
	c.w.BulkString("standalone")
	c.w.BulkString("role")
	c.w.BulkString(role)
	c.w.BulkString("modules")
	c.w.Array(0)
	c.w.BulkString("talos_version")
	c.w.BulkString(c.srv.opts.Version)
}

func cmdAuth(c *client, args [][]byte) {
	if len(args) > 3 {
		c.w.Error(errSyntax)
		return
	}
	if c.srv.opts.Password == "" {
		c.w.Error("ERR AUTH <password> called without any password configured for the default user. Are you sure your configuration is correct?")
		return
	}
	var user []byte
	pass := args[1]
	if len(args) == 3 {
		user, pass = args[1], args[2]
	}
	if !c.checkPassword(user, pass) {
		c.w.Error(errWrongPass)
		return
	}
	c.authed = true
	c.w.OK()
}

func cmdPing(c *client, args [][]byte) {
	switch len(args) {
	case 1:
		c.w.Simple("PONG")
	case 2:
		c.w.Bulk(args[1])
	default:
		c.w.Error("ERR wrong number of arguments for 'ping' command")
	}
}

func cmdSelect(c *client, args [][]byte) {
	n, ok := parseInt64(args[1])
	switch {
	case !ok:
		c.w.Error(errNotInteger)
	case n != 0:
		c.w.Error("ERR DB index is out of range")
	default:
		c.w.OK()
	}
}

func cmdTime(c *client, _ [][]byte) {
	now := time.Now()
	c.w.Array(2)
	c.w.BulkString(fmt.Sprint(now.Unix()))
	c.w.BulkString(fmt.Sprint(now.Nanosecond() / 1000))
}

func validClientName(name []byte) bool {
	for _, ch := range name {
		if ch < '!' || ch > '~' {
			return false
		}
	}
	return true
}

// clientInfoLine formats one client as CLIENT LIST and CLIENT INFO do.
func (c *client) clientInfoLine(now time.Time) string {
	c.info.Lock()
	defer c.info.Unlock()
	return fmt.Sprintf("id=%d addr=%s laddr=%s fd=0 name=%s age=%d idle=%d flags=N db=0 sub=0 psub=0 ssub=0 multi=-1 qbuf=0 qbuf-free=0 argv-mem=0 multi-mem=0 rbs=0 rbp=0 obl=0 oll=0 omem=0 tot-mem=0 events=r cmd=%s user=default redir=-1 resp=%d lib-name=%s lib-ver=%s\n",
		c.id, c.addr, c.laddr, c.info.name, int64(now.Sub(c.created).Seconds()), int64(now.Sub(c.info.lastActive).Seconds()),
		c.info.lastCmd, c.info.proto, c.info.libName, c.info.libVer)
}

func cmdClient(c *client, args [][]byte) {
	sub := strings.ToLower(string(args[1]))
	arityErr := func() { c.w.Error(fmt.Sprintf("ERR wrong number of arguments for 'client|%s' command", sub)) }
	switch sub {
	case "setname":
		if len(args) != 3 {
			arityErr()
			return
		}
		if !validClientName(args[2]) {
			c.w.Error("ERR Client names cannot contain spaces, newlines or special characters.")
			return
		}
		c.info.Lock()
		c.info.name = string(args[2])
		c.info.Unlock()
		c.w.OK()
	case "getname":
		c.info.Lock()
		name := c.info.name
		c.info.Unlock()
		if name == "" {
			c.w.Null()
		} else {
			c.w.BulkString(name)
		}
	case "id":
		c.w.Int(int64(c.id))
	case "info":
		c.w.Verbatim(c.clientInfoLine(time.Now()))
	case "list":
		now := time.Now()
		var b strings.Builder
		c.srv.mu.Lock()
		clients := make([]*client, 0, len(c.srv.mu.clients))
		for _, o := range c.srv.mu.clients {
			clients = append(clients, o)
		}
		c.srv.mu.Unlock()
		for _, o := range clients {
			b.WriteString(o.clientInfoLine(now))
		}
		c.w.Verbatim(b.String())
	case "setinfo":
		if len(args) != 4 {
			arityErr()
			return
		}
		attr := strings.ToLower(string(args[2]))
		if attr != "lib-name" && attr != "lib-ver" {
			c.w.Error(fmt.Sprintf("ERR Unrecognized option '%s'", args[2]))
			return
		}
		if !validClientName(args[3]) && len(args[3]) > 0 {
			c.w.Error(fmt.Sprintf("ERR %s cannot contain spaces, newlines or special characters.", attr))
			return
		}
		c.info.Lock()
		if attr == "lib-name" {
			c.info.libName = string(args[3])
		} else {
			c.info.libVer = string(args[3])
		}
		c.info.Unlock()
		c.w.OK()
	default:
		c.w.Error(fmt.Sprintf("ERR unknown subcommand '%s'. Try CLIENT HELP.", truncate(args[1], 64)))
	}
}

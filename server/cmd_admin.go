package server

func init() {
	register(&cmdSpec{
		name: "talos.promote", arity: 1, flags: flagAdmin, group: "server", since: "0.1.0",
		summary: "Makes this backup the primary: it fences the old primary (a new epoch), persists what it received, and serves writes.",
		handler: cmdPromote,
	})
}

func cmdPromote(c *client, _ [][]byte) {
	if c.srv.opts.Promote == nil {
		c.w.Error("ERR this node cannot be promoted: it is not a backup")
		return
	}
	if err := c.srv.opts.Promote(); err != nil {
		c.w.Error("ERR promotion failed: " + OneLine(err.Error()))
		return
	}
	c.w.OK()
}

// OneLine keeps a message on one RESP (or INFO) line: CR and LF become spaces.
func OneLine(s string) string {
	b := []byte(s)
	for i, ch := range b {
		if ch == '\r' || ch == '\n' {
			b[i] = ' '
		}
	}
	return string(b)
}

package backup

// SetPrimary changes the replication address the next Run dials: after a
// promotion a backup reconnects to whichever replica is now the primary.
// Call it only while Run is not running.
func (n *Node) SetPrimary(addr string) { n.opts.Primary = addr }

// Primary returns the replication address Run dials.
func (n *Node) Primary() string { return n.opts.Primary }

//go:build linux

package main

import "syscall"

// childAttrs puts a node in its own process group, so a terminal's Ctrl-C
// reaches only cluster up, which stops the nodes in order (primary first);
// and makes the kernel stop the node if cluster up itself dies.
func childAttrs() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGTERM}
}

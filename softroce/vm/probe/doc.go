// Package probe is a test of the Soft-RoCE VM harness itself (softroce/vm):
// a small cgo program over libibverbs that opens an RDMA device, allocates a
// protection domain, registers an mmap'd region and reads a port and its
// GIDs. Its test runs inside the guest (build tag rxe); it proves that the
// guest's device, user-space drivers, memlock limit and libraries work
// before the project's own verbs tests run there.
//
// Nothing outside the harness imports this package.
package probe

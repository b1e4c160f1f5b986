//go:build rxe && linux && cgo

package probe

/*
#cgo LDFLAGS: -libverbs
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <infiniband/verbs.h>

struct probe_result {
	int err;          // errno of the failing call, 0 on success
	int step;         // which call failed
	uint32_t lkey, rkey;
	int port_state, link_layer, active_mtu, gid_tbl_len;
	uint8_t gid0[16], gid1[16];
};

enum { STEP_LIST = 1, STEP_OPEN, STEP_PD, STEP_MR, STEP_PORT, STEP_GID0, STEP_GID1, STEP_NODEV };

static void probe(const char *name, void *buf, size_t len, struct probe_result *r) {
	int n = 0;
	struct ibv_device **list = ibv_get_device_list(&n);
	struct ibv_device *dev = NULL;
	memset(r, 0, sizeof *r);
	if (list == NULL) { r->err = errno; r->step = STEP_LIST; return; }
	for (int i = 0; i < n; i++)
		if (strcmp(ibv_get_device_name(list[i]), name) == 0) dev = list[i];
	if (dev == NULL) { r->err = ENODEV; r->step = STEP_NODEV; ibv_free_device_list(list); return; }
	struct ibv_context *ctx = ibv_open_device(dev);
	ibv_free_device_list(list);
	if (ctx == NULL) { r->err = errno; r->step = STEP_OPEN; return; }
	struct ibv_pd *pd = ibv_alloc_pd(ctx);
	if (pd == NULL) { r->err = errno; r->step = STEP_PD; ibv_close_device(ctx); return; }
	struct ibv_mr *mr = ibv_reg_mr(pd, buf, len,
		IBV_ACCESS_LOCAL_WRITE | IBV_ACCESS_REMOTE_WRITE | IBV_ACCESS_REMOTE_READ);
	if (mr == NULL) { r->err = errno; r->step = STEP_MR; goto out_pd; }
	r->lkey = mr->lkey;
	r->rkey = mr->rkey;
	struct ibv_port_attr pa;
	int e = ibv_query_port(ctx, 1, &pa);
	if (e != 0) { r->err = e; r->step = STEP_PORT; goto out_mr; }
	r->port_state = pa.state;
	r->link_layer = pa.link_layer;
	r->active_mtu = pa.active_mtu;
	r->gid_tbl_len = pa.gid_tbl_len;
	union ibv_gid g;
	if (ibv_query_gid(ctx, 1, 0, &g) != 0) { r->err = errno; r->step = STEP_GID0; goto out_mr; }
	memcpy(r->gid0, g.raw, 16);
	if (ibv_query_gid(ctx, 1, 1, &g) != 0) { r->err = errno; r->step = STEP_GID1; goto out_mr; }
	memcpy(r->gid1, g.raw, 16);
out_mr:
	e = ibv_dereg_mr(mr);
	if (e != 0 && r->err == 0) { r->err = e; r->step = STEP_MR; }
out_pd:
	ibv_dealloc_pd(pd);
	ibv_close_device(ctx);
}
*/
import "C"

import (
	"fmt"
	"net"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Result is what Probe found.
type Result struct {
	LKey, RKey  uint32
	PortActive  bool
	Ethernet    bool // link layer is Ethernet (RoCE)
	ActiveMTU   int  // bytes
	GIDTableLen int
	GID0, GID1  net.IP
}

var steps = map[C.int]string{
	C.STEP_LIST: "ibv_get_device_list", C.STEP_OPEN: "ibv_open_device", C.STEP_PD: "ibv_alloc_pd", C.STEP_MR: "ibv_reg_mr/ibv_dereg_mr",
	C.STEP_PORT: "ibv_query_port", C.STEP_GID0: "ibv_query_gid(0)", C.STEP_GID1: "ibv_query_gid(1)",
	C.STEP_NODEV: "ibv_get_device_list (device not listed)",
}

// Probe opens device, allocates a PD, registers an mmap'd region of size
// bytes, queries port 1 and its first two GIDs, and releases everything.
func Probe(device string, size int) (Result, error) {
	buf, err := unix.Mmap(-1, 0, size, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS)
	if err != nil {
		return Result{}, fmt.Errorf("probe: mmap %d bytes: %w", size, err)
	}
	defer unix.Munmap(buf)
	name := C.CString(device)
	defer C.free(unsafe.Pointer(name))
	var r C.struct_probe_result
	C.probe(name, unsafe.Pointer(&buf[0]), C.size_t(size), &r)
	if r.err != 0 {
		return Result{}, fmt.Errorf("probe: %s on %s: %w", steps[r.step], device, syscall.Errno(r.err))
	}
	mtu := map[C.int]int{C.IBV_MTU_256: 256, C.IBV_MTU_512: 512, C.IBV_MTU_1024: 1024, C.IBV_MTU_2048: 2048, C.IBV_MTU_4096: 4096}
	return Result{
		LKey:        uint32(r.lkey),
		RKey:        uint32(r.rkey),
		PortActive:  r.port_state == C.IBV_PORT_ACTIVE,
		Ethernet:    r.link_layer == C.IBV_LINK_LAYER_ETHERNET,
		ActiveMTU:   mtu[C.int(r.active_mtu)],
		GIDTableLen: int(r.gid_tbl_len),
		GID0:        net.IP(C.GoBytes(unsafe.Pointer(&r.gid0[0]), 16)),
		GID1:        net.IP(C.GoBytes(unsafe.Pointer(&r.gid1[0]), 16)),
	}, nil
}

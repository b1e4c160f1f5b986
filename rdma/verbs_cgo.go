//go:build linux && cgo

package rdma

// This is the only file of the package that imports "C". It holds small C
// shims that build work requests and read completions on the C side (the
// unions of ibv_send_wr do not map to Go, and Go memory must not hold
// pointers handed to C), and thin Go wrappers that turn every failure
// into an *OpError naming the call, the errno and the device. The
// connection logic lives in verbs.go.

/*
#cgo LDFLAGS: -libverbs -lrdmacm
#include <infiniband/verbs.h>
#include <rdma/rdma_cma.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>

#define TALOS_MAX_CHAIN 64
#define TALOS_MAX_POLL 64

// talos_wr mirrors verbsWR in verbs.go; the layout is checked at start.
struct talos_wr {
	uint64_t wr_id;
	uint64_t local_addr;
	uint64_t remote_addr;
	uint32_t length;
	uint32_t lkey;
	uint32_t rkey;
	uint32_t imm;
	uint8_t  opcode;   // 1 write, 2 write with immediate, 3 send
	uint8_t  signaled;
	uint8_t  inl;
	uint8_t  pad[5];
};

// talos_wc mirrors verbsWC in verbs.go.
struct talos_wc {
	uint64_t wr_id;
	uint32_t status;
	uint32_t opcode;
	uint32_t byte_len;
	uint32_t imm;
	uint32_t vendor_err;
	uint32_t flags;
};

struct talos_cm_event {
	struct rdma_cm_id *id;
	struct rdma_cm_id *listen_id;
	int32_t event;
	int32_t status;
	uint8_t private_data_len;
	uint8_t private_data[255];
};

// talos_post_send posts n work requests as one chain. It returns 0, or
// the errno of ibv_post_send with *bad set to the index of the first
// request that was not posted.
static int talos_post_send(struct ibv_qp *qp, struct talos_wr *w, int n, int *bad) {
	struct ibv_send_wr wrs[TALOS_MAX_CHAIN];
	struct ibv_sge sges[TALOS_MAX_CHAIN];
	struct ibv_send_wr *badwr = NULL;
	int i, rc;
	if (n <= 0 || n > TALOS_MAX_CHAIN) { *bad = 0; return EINVAL; }
	memset(wrs, 0, sizeof(wrs[0]) * n);
	for (i = 0; i < n; i++) {
		sges[i].addr = w[i].local_addr;
		sges[i].length = w[i].length;
		sges[i].lkey = w[i].lkey;
		wrs[i].wr_id = w[i].wr_id;
		wrs[i].sg_list = w[i].length ? &sges[i] : NULL;
		wrs[i].num_sge = w[i].length ? 1 : 0;
		switch (w[i].opcode) {
		case 1: wrs[i].opcode = IBV_WR_RDMA_WRITE; break;
		case 2: wrs[i].opcode = IBV_WR_RDMA_WRITE_WITH_IMM; wrs[i].imm_data = htonl(w[i].imm); break;
		default: wrs[i].opcode = IBV_WR_SEND; break;
		}
		if (w[i].opcode != 3) {
			wrs[i].wr.rdma.remote_addr = w[i].remote_addr;
			wrs[i].wr.rdma.rkey = w[i].rkey;
		}
		wrs[i].send_flags = (w[i].signaled ? IBV_SEND_SIGNALED : 0) | (w[i].inl ? IBV_SEND_INLINE : 0);
		wrs[i].next = i + 1 < n ? &wrs[i + 1] : NULL;
	}
	rc = ibv_post_send(qp, wrs, &badwr);
	if (rc) *bad = badwr ? (int)(badwr - wrs) : 0;
	return rc;
}

static int talos_post_recv(struct ibv_qp *qp, struct talos_wr *w, int n, int *bad) {
	struct ibv_recv_wr wrs[TALOS_MAX_CHAIN];
	struct ibv_sge sges[TALOS_MAX_CHAIN];
	struct ibv_recv_wr *badwr = NULL;
	int i, rc;
	if (n <= 0 || n > TALOS_MAX_CHAIN) { *bad = 0; return EINVAL; }
	memset(wrs, 0, sizeof(wrs[0]) * n);
	for (i = 0; i < n; i++) {
		sges[i].addr = w[i].local_addr;
		sges[i].length = w[i].length;
		sges[i].lkey = w[i].lkey;
		wrs[i].wr_id = w[i].wr_id;
		wrs[i].sg_list = w[i].length ? &sges[i] : NULL;
		wrs[i].num_sge = w[i].length ? 1 : 0;
		wrs[i].next = i + 1 < n ? &wrs[i + 1] : NULL;
	}
	rc = ibv_post_recv(qp, wrs, &badwr);
	if (rc) *bad = badwr ? (int)(badwr - wrs) : 0;
	return rc;
}

// talos_poll polls up to n completions; it returns their number or a
// negative value on error.
static int talos_poll(struct ibv_cq *cq, struct talos_wc *out, int n) {
	struct ibv_wc wc[TALOS_MAX_POLL];
	int i, got;
	if (n > TALOS_MAX_POLL) n = TALOS_MAX_POLL;
	got = ibv_poll_cq(cq, n, wc);
	for (i = 0; i < got; i++) {
		out[i].wr_id = wc[i].wr_id;
		out[i].status = wc[i].status;
		out[i].opcode = wc[i].opcode;
		out[i].byte_len = wc[i].byte_len;
		out[i].imm = (wc[i].wc_flags & IBV_WC_WITH_IMM) ? ntohl(wc[i].imm_data) : 0;
		out[i].vendor_err = wc[i].vendor_err;
		out[i].flags = wc[i].wc_flags;
	}
	return got;
}

// talos_cq_event takes and acknowledges one completion event; it returns
// 0 or an errno (EAGAIN when none is ready on the non-blocking channel).
static int talos_cq_event(struct ibv_comp_channel *ch) {
	struct ibv_cq *cq;
	void *ctx;
	if (ibv_get_cq_event(ch, &cq, &ctx)) return errno ? errno : EIO;
	ibv_ack_cq_events(cq, 1);
	return 0;
}

static int talos_set_nonblock(int fd) {
	int fl = fcntl(fd, F_GETFL);
	if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0) return errno;
	return 0;
}

// talos_cm_event takes one rdma_cm event, copies what Go needs, and
// acknowledges it. It returns 0 or an errno (EAGAIN when none is ready).
static int talos_cm_event(struct rdma_event_channel *ch, struct talos_cm_event *out) {
	struct rdma_cm_event *ev;
	if (rdma_get_cm_event(ch, &ev)) return errno ? errno : EIO;
	out->id = ev->id;
	out->listen_id = ev->listen_id;
	out->event = ev->event;
	out->status = ev->status;
	out->private_data_len = 0;
	if (ev->param.conn.private_data && ev->param.conn.private_data_len &&
	    ev->event != RDMA_CM_EVENT_ADDR_RESOLVED && ev->event != RDMA_CM_EVENT_ROUTE_RESOLVED) {
		out->private_data_len = ev->param.conn.private_data_len;
		memcpy(out->private_data, ev->param.conn.private_data, ev->param.conn.private_data_len);
	}
	rdma_ack_cm_event(ev);
	return 0;
}

static int talos_resolve_addr(struct rdma_cm_id *id, int v6, const uint8_t *ip, uint16_t port, int timeout_ms) {
	struct sockaddr_storage ss;
	memset(&ss, 0, sizeof(ss));
	if (v6) {
		struct sockaddr_in6 *s = (struct sockaddr_in6 *)&ss;
		s->sin6_family = AF_INET6;
		s->sin6_port = htons(port);
		memcpy(&s->sin6_addr, ip, 16);
	} else {
		struct sockaddr_in *s = (struct sockaddr_in *)&ss;
		s->sin_family = AF_INET;
		s->sin_port = htons(port);
		memcpy(&s->sin_addr, ip, 4);
	}
	if (rdma_resolve_addr(id, NULL, (struct sockaddr *)&ss, timeout_ms)) return errno;
	return 0;
}

static int talos_bind_addr(struct rdma_cm_id *id, int v6, const uint8_t *ip, uint16_t port) {
	struct sockaddr_storage ss;
	memset(&ss, 0, sizeof(ss));
	if (v6) {
		struct sockaddr_in6 *s = (struct sockaddr_in6 *)&ss;
		s->sin6_family = AF_INET6;
		s->sin6_port = htons(port);
		memcpy(&s->sin6_addr, ip, 16);
	} else {
		struct sockaddr_in *s = (struct sockaddr_in *)&ss;
		s->sin_family = AF_INET;
		s->sin_port = htons(port);
		memcpy(&s->sin_addr, ip, 4);
	}
	if (rdma_bind_addr(id, (struct sockaddr *)&ss)) return errno;
	return 0;
}

// talos_sockaddr extracts an address: returns 4 or 16 (address length)
// or 0 if unknown.
static int talos_sockaddr(struct sockaddr *sa, uint8_t *ip, uint16_t *port) {
	if (!sa) return 0;
	if (sa->sa_family == AF_INET) {
		struct sockaddr_in *s = (struct sockaddr_in *)sa;
		memcpy(ip, &s->sin_addr, 4);
		*port = ntohs(s->sin_port);
		return 4;
	}
	if (sa->sa_family == AF_INET6) {
		struct sockaddr_in6 *s = (struct sockaddr_in6 *)sa;
		memcpy(ip, &s->sin6_addr, 16);
		*port = ntohs(s->sin6_port);
		return 16;
	}
	return 0;
}

static int talos_create_qp(struct rdma_cm_id *id, struct ibv_pd *pd, struct ibv_cq *cq,
		int sq, int rq, int inl, int *got_inline) {
	struct ibv_qp_init_attr a;
	memset(&a, 0, sizeof(a));
	a.send_cq = cq;
	a.recv_cq = cq;
	a.qp_type = IBV_QPT_RC;
	a.sq_sig_all = 0;
	a.cap.max_send_wr = sq;
	a.cap.max_recv_wr = rq;
	a.cap.max_send_sge = 1;
	a.cap.max_recv_sge = 1;
	a.cap.max_inline_data = inl;
	if (rdma_create_qp(id, pd, &a)) return errno;
	*got_inline = a.cap.max_inline_data;
	return 0;
}

static int talos_connect(struct rdma_cm_id *id, const void *pd, int len, int accept) {
	struct rdma_conn_param p;
	memset(&p, 0, sizeof(p));
	p.private_data = pd;
	p.private_data_len = len;
	p.responder_resources = 1;
	p.initiator_depth = 1;
	p.retry_count = 7;
	p.rnr_retry_count = 7;
	if (accept ? rdma_accept(id, &p) : rdma_connect(id, &p)) return errno;
	return 0;
}

static int talos_qp_to_error(struct ibv_qp *qp) {
	struct ibv_qp_attr a;
	memset(&a, 0, sizeof(a));
	a.qp_state = IBV_QPS_ERR;
	return ibv_modify_qp(qp, &a, IBV_QP_STATE);
}

static const char *talos_dev_name(struct ibv_context *c) {
	return c ? ibv_get_device_name(c->device) : "";
}
static struct ibv_context *talos_id_verbs(struct rdma_cm_id *id) { return id->verbs; }
static struct ibv_qp *talos_id_qp(struct rdma_cm_id *id) { return id->qp; }
static int talos_chan_fd(struct rdma_event_channel *ch) { return ch->fd; }
static int talos_comp_fd(struct ibv_comp_channel *ch) { return ch->fd; }
static struct ibv_context *talos_dev_at(struct ibv_context **l, int i) { return l[i]; }
*/
import "C"

import (
	"fmt"
	"net"
	"syscall"
	"unsafe"
)

const verbsMaxChain = C.TALOS_MAX_CHAIN

func init() {
	if unsafe.Sizeof(verbsWR{}) != C.sizeof_struct_talos_wr || unsafe.Sizeof(verbsWC{}) != C.sizeof_struct_talos_wc {
		panic(fmt.Sprintf("rdma: verbsWR/verbsWC are %d/%d bytes, C structs %d/%d",
			unsafe.Sizeof(verbsWR{}), unsafe.Sizeof(verbsWC{}), C.sizeof_struct_talos_wr, C.sizeof_struct_talos_wc))
	}
}

// Completion opcodes and statuses from verbs.h used by verbs.go.
const (
	wcRecvRDMAWithImm = C.IBV_WC_RECV_RDMA_WITH_IMM
	cmAddrResolved    = C.RDMA_CM_EVENT_ADDR_RESOLVED
	cmRouteResolved   = C.RDMA_CM_EVENT_ROUTE_RESOLVED
	cmConnectRequest  = C.RDMA_CM_EVENT_CONNECT_REQUEST
	cmEstablished     = C.RDMA_CM_EVENT_ESTABLISHED
	cmRejected        = C.RDMA_CM_EVENT_REJECTED
	cmDisconnected    = C.RDMA_CM_EVENT_DISCONNECTED
	cmDeviceRemoval   = C.RDMA_CM_EVENT_DEVICE_REMOVAL
	cmTimewaitExit    = C.RDMA_CM_EVENT_TIMEWAIT_EXIT
)

func cmEventName(ev int) string { return C.GoString(C.rdma_event_str(C.enum_rdma_cm_event_type(ev))) }

func opErr(call, dev string, errno C.int, detail string) error {
	return &OpError{Call: call, Device: dev, Errno: syscall.Errno(errno), Detail: detail}
}

// verbsDevice is an opened device with its protection domain.
type verbsDevice struct {
	list *(*C.struct_ibv_context)
	ctx  *C.struct_ibv_context
	pd   *C.struct_ibv_pd
	name string
}

// openVerbsDevice opens the named device (or the first) from the list
// librdmacm keeps, so that queue pairs made on rdma_cm ids can use the
// protection domain.
func openVerbsDevice(name string) (*verbsDevice, error) {
	var n C.int
	list, err := C.rdma_get_devices(&n)
	if list == nil {
		return nil, opErr("rdma_get_devices", name, errnoOf(err), "no RDMA devices: is rdma_rxe loaded and an rxe device created (talosd softroce up)?")
	}
	var names []string
	d := &verbsDevice{list: list}
	for i := 0; i < int(n); i++ {
		c := C.talos_dev_at(list, C.int(i))
		dn := C.GoString(C.talos_dev_name(c))
		names = append(names, dn)
		if d.ctx == nil && (name == "" || dn == name) {
			d.ctx, d.name = c, dn
		}
	}
	if d.ctx == nil {
		C.rdma_free_devices(list)
		return nil, opErr("rdma_get_devices", name, C.ENODEV, fmt.Sprintf("device %q not found among %v", name, names))
	}
	pd, err := C.ibv_alloc_pd(d.ctx)
	if pd == nil {
		C.rdma_free_devices(list)
		return nil, opErr("ibv_alloc_pd", d.name, errnoOf(err), "")
	}
	d.pd = pd
	return d, nil
}

func errnoOf(err error) C.int {
	if e, ok := err.(syscall.Errno); ok {
		return C.int(e)
	}
	return C.EIO
}

func (d *verbsDevice) close() error {
	var err error
	if rc := C.ibv_dealloc_pd(d.pd); rc != 0 {
		err = opErr("ibv_dealloc_pd", d.name, rc, "regions or queue pairs still use it")
	}
	C.rdma_free_devices(d.list)
	return err
}

// regMR registers buf; it returns the ibv_mr and its keys.
func (d *verbsDevice) regMR(buf []byte, access Access) (unsafe.Pointer, uint32, uint32, error) {
	flags := C.int(C.IBV_ACCESS_LOCAL_WRITE)
	if access&AccessRemoteWrite != 0 {
		flags |= C.IBV_ACCESS_REMOTE_WRITE
	}
	mr, err := C.ibv_reg_mr(d.pd, unsafe.Pointer(unsafe.SliceData(buf)), C.size_t(len(buf)), flags)
	if mr == nil {
		return nil, 0, 0, opErr("ibv_reg_mr", d.name, errnoOf(err),
			fmt.Sprintf("%d bytes, access %v (ENOMEM or EFAULT usually means RLIMIT_MEMLOCK is too low: ulimit -l unlimited, LimitMEMLOCK=infinity)", len(buf), access))
	}
	return unsafe.Pointer(mr), uint32(mr.lkey), uint32(mr.rkey), nil
}

func (d *verbsDevice) deregMR(mr unsafe.Pointer) error {
	if rc := C.ibv_dereg_mr((*C.struct_ibv_mr)(mr)); rc != 0 {
		return opErr("ibv_dereg_mr", d.name, rc, "")
	}
	return nil
}

// verbsChannel is an rdma_cm event channel in non-blocking mode.
type verbsChannel struct{ ch *C.struct_rdma_event_channel }

func newVerbsChannel(dev string) (*verbsChannel, int, error) {
	ch, err := C.rdma_create_event_channel()
	if ch == nil {
		return nil, 0, opErr("rdma_create_event_channel", dev, errnoOf(err), "")
	}
	fd := int(C.talos_chan_fd(ch))
	if rc := C.talos_set_nonblock(C.int(fd)); rc != 0 {
		C.rdma_destroy_event_channel(ch)
		return nil, 0, opErr("fcntl(O_NONBLOCK) on rdma_cm channel", dev, rc, "")
	}
	return &verbsChannel{ch: ch}, fd, nil
}

func (c *verbsChannel) destroy() { C.rdma_destroy_event_channel(c.ch) }

// cmEvent is a copied rdma_cm event.
type cmEvent struct {
	id          verbsID
	listenID    verbsID
	event       int
	status      int
	privateData []byte
}

// next takes one event without blocking; errno EAGAIN means none.
func (c *verbsChannel) next() (cmEvent, syscall.Errno) {
	var e C.struct_talos_cm_event
	if rc := C.talos_cm_event(c.ch, &e); rc != 0 {
		return cmEvent{}, syscall.Errno(rc)
	}
	return cmEvent{
		id:          verbsID{e.id},
		listenID:    verbsID{e.listen_id},
		event:       int(e.event),
		status:      int(e.status),
		privateData: C.GoBytes(unsafe.Pointer(&e.private_data[0]), C.int(e.private_data_len)),
	}, 0
}

// verbsID is an rdma_cm id.
type verbsID struct{ id *C.struct_rdma_cm_id }

func newVerbsID(ch *verbsChannel, dev string) (verbsID, error) {
	var id *C.struct_rdma_cm_id
	if rc, err := C.rdma_create_id(ch.ch, &id, nil, C.RDMA_PS_TCP); rc != 0 {
		return verbsID{}, opErr("rdma_create_id", dev, errnoOf(err), "")
	}
	return verbsID{id}, nil
}

func (v verbsID) valid() bool { return v.id != nil }

// device is the name of the device the id is bound to ("" if none yet).
func (v verbsID) device() string { return C.GoString(C.talos_dev_name(C.talos_id_verbs(v.id))) }

// onDevice reports whether the id is bound to d's device context.
func (v verbsID) onDevice(d *verbsDevice) bool { return C.talos_id_verbs(v.id) == d.ctx }

func ipBytes(ip net.IP) (v6 C.int, b [16]byte) {
	if ip4 := ip.To4(); ip4 != nil {
		copy(b[:], ip4)
		return 0, b
	}
	copy(b[:], ip.To16())
	return 1, b
}

func (v verbsID) bind(ip net.IP, port int, dev string) error {
	v6, b := ipBytes(ip)
	if rc := C.talos_bind_addr(v.id, v6, (*C.uint8_t)(&b[0]), C.uint16_t(port)); rc != 0 {
		return opErr("rdma_bind_addr", dev, rc, fmt.Sprintf("%s:%d", ip, port))
	}
	return nil
}

func (v verbsID) listen(backlog int, dev string) error {
	if rc, err := C.rdma_listen(v.id, C.int(backlog)); rc != 0 {
		return opErr("rdma_listen", dev, errnoOf(err), "")
	}
	return nil
}

func (v verbsID) resolveAddr(ip net.IP, port int, timeoutMS int, dev string) error {
	v6, b := ipBytes(ip)
	if rc := C.talos_resolve_addr(v.id, v6, (*C.uint8_t)(&b[0]), C.uint16_t(port), C.int(timeoutMS)); rc != 0 {
		return opErr("rdma_resolve_addr", dev, rc, fmt.Sprintf("%s:%d", ip, port))
	}
	return nil
}

func (v verbsID) resolveRoute(timeoutMS int, dev string) error {
	if rc, err := C.rdma_resolve_route(v.id, C.int(timeoutMS)); rc != 0 {
		return opErr("rdma_resolve_route", dev, errnoOf(err), "")
	}
	return nil
}

func sockaddrString(sa *C.struct_sockaddr) string {
	var b [16]byte
	var port C.uint16_t
	n := C.talos_sockaddr(sa, (*C.uint8_t)(&b[0]), &port)
	if n == 0 {
		return "?"
	}
	return net.JoinHostPort(net.IP(b[:n]).String(), fmt.Sprint(int(port)))
}

func (v verbsID) localAddr() string { return sockaddrString(C.rdma_get_local_addr(v.id)) }
func (v verbsID) peerAddr() string  { return sockaddrString(C.rdma_get_peer_addr(v.id)) }

func (v verbsID) migrate(ch *verbsChannel, dev string) error {
	if rc, err := C.rdma_migrate_id(v.id, ch.ch); rc != 0 {
		return opErr("rdma_migrate_id", dev, errnoOf(err), "")
	}
	return nil
}

// createQP creates the RC queue pair on the id; it returns the inline
// size the device granted.
func (v verbsID) createQP(d *verbsDevice, cq *verbsCQ, sq, rq, inline int) (int, error) {
	var got C.int
	if rc := C.talos_create_qp(v.id, d.pd, cq.cq, C.int(sq), C.int(rq), C.int(inline), &got); rc != 0 {
		return 0, opErr("rdma_create_qp", d.name, rc, fmt.Sprintf("send depth %d, receive depth %d, inline %d", sq, rq, inline))
	}
	return int(got), nil
}

func (v verbsID) connect(pd []byte, accept bool, dev string) error {
	cpd := C.CBytes(pd)
	defer C.free(cpd)
	acc, call := C.int(0), "rdma_connect"
	if accept {
		acc, call = 1, "rdma_accept"
	}
	if rc := C.talos_connect(v.id, cpd, C.int(len(pd)), acc); rc != 0 {
		return opErr(call, dev, rc, "")
	}
	return nil
}

func (v verbsID) reject(pd []byte, dev string) error {
	cpd := C.CBytes(pd)
	defer C.free(cpd)
	if rc, err := C.rdma_reject(v.id, cpd, C.uint8_t(len(pd))); rc != 0 {
		return opErr("rdma_reject", dev, errnoOf(err), "")
	}
	return nil
}

// disconnect moves the queue pair to the error state (flushing every
// outstanding request) and tells the peer.
func (v verbsID) disconnect(dev string) error {
	var err error
	if rc, e := C.rdma_disconnect(v.id); rc != 0 {
		err = opErr("rdma_disconnect", dev, errnoOf(e), "")
	}
	if qp := C.talos_id_qp(v.id); qp != nil {
		if rc := C.talos_qp_to_error(qp); rc != 0 && err == nil {
			err = opErr("ibv_modify_qp(IBV_QPS_ERR)", dev, rc, "")
		}
	}
	return err
}

func (v verbsID) destroyQP() {
	if C.talos_id_qp(v.id) != nil {
		C.rdma_destroy_qp(v.id)
	}
}

func (v verbsID) destroy(dev string) error {
	if rc, err := C.rdma_destroy_id(v.id); rc != 0 {
		return opErr("rdma_destroy_id", dev, errnoOf(err), "")
	}
	return nil
}

// postSend posts wrs as one chain; on failure bad is how many were
// posted before the failing one.
func (v verbsID) postSend(wrs []verbsWR, dev string) (bad int, err error) {
	var b C.int
	if rc := C.talos_post_send(C.talos_id_qp(v.id), (*C.struct_talos_wr)(unsafe.Pointer(&wrs[0])), C.int(len(wrs)), &b); rc != 0 {
		return int(b), opErr("ibv_post_send", dev, rc, fmt.Sprintf("chain of %d, request %d refused", len(wrs), int(b)))
	}
	return 0, nil
}

func (v verbsID) postRecv(wrs []verbsWR, dev string) (bad int, err error) {
	var b C.int
	if rc := C.talos_post_recv(C.talos_id_qp(v.id), (*C.struct_talos_wr)(unsafe.Pointer(&wrs[0])), C.int(len(wrs)), &b); rc != 0 {
		return int(b), opErr("ibv_post_recv", dev, rc, fmt.Sprintf("chain of %d, request %d refused", len(wrs), int(b)))
	}
	return 0, nil
}

// verbsCQ is a completion queue with its completion channel.
type verbsCQ struct {
	cq *C.struct_ibv_cq
	ch *C.struct_ibv_comp_channel
}

func newVerbsCQ(d *verbsDevice, depth int) (*verbsCQ, int, error) {
	ch, err := C.ibv_create_comp_channel(d.ctx)
	if ch == nil {
		return nil, 0, opErr("ibv_create_comp_channel", d.name, errnoOf(err), "")
	}
	fd := int(C.talos_comp_fd(ch))
	if rc := C.talos_set_nonblock(C.int(fd)); rc != 0 {
		C.ibv_destroy_comp_channel(ch)
		return nil, 0, opErr("fcntl(O_NONBLOCK) on completion channel", d.name, rc, "")
	}
	cq, err := C.ibv_create_cq(d.ctx, C.int(depth), nil, ch, 0)
	if cq == nil {
		C.ibv_destroy_comp_channel(ch)
		return nil, 0, opErr("ibv_create_cq", d.name, errnoOf(err), fmt.Sprintf("%d entries", depth))
	}
	return &verbsCQ{cq: cq, ch: ch}, fd, nil
}

func (q *verbsCQ) destroy(dev string) error {
	var err error
	if rc := C.ibv_destroy_cq(q.cq); rc != 0 {
		err = opErr("ibv_destroy_cq", dev, rc, "")
	}
	if rc := C.ibv_destroy_comp_channel(q.ch); rc != 0 && err == nil {
		err = opErr("ibv_destroy_comp_channel", dev, rc, "")
	}
	return err
}

func (q *verbsCQ) poll(out []verbsWC, dev string) (int, error) {
	n := C.talos_poll(q.cq, (*C.struct_talos_wc)(unsafe.Pointer(&out[0])), C.int(len(out)))
	if n < 0 {
		return 0, opErr("ibv_poll_cq", dev, -n, "")
	}
	return int(n), nil
}

func (q *verbsCQ) reqNotify(dev string) error {
	if rc := C.ibv_req_notify_cq(q.cq, 0); rc != 0 {
		return opErr("ibv_req_notify_cq", dev, rc, "")
	}
	return nil
}

// event takes one completion event without blocking; EAGAIN means none.
func (q *verbsCQ) event() syscall.Errno { return syscall.Errno(C.talos_cq_event(q.ch)) }

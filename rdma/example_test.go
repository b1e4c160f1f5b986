package rdma_test

import (
	"context"
	"fmt"

	"github.com/talos-kv/talos/rdma"
)

// A backup exposes a registered ring; a primary dials it, WRITEs bytes
// into the ring, and tells it with WRITE_WITH_IMM where they are.
func Example() {
	ctx := context.Background()
	opts := rdma.Options{ClusterToken: 0xc1a55}

	backup, _ := rdma.Open("tcp", opts) // "verbs" on an RDMA device
	ring, _ := backup.RegisterRegion(1<<20, rdma.AccessRemoteWrite)
	l, _ := backup.Listen("127.0.0.1:0", rdma.ListenOptions{Regions: []rdma.RemoteRegion{ring.Remote()}})
	accepted := make(chan rdma.Conn, 1)
	go func() { c, _ := l.Accept(ctx); accepted <- c }()

	primary, _ := rdma.Open("tcp", opts)
	buf, _ := primary.RegisterRegion(4096, rdma.AccessLocalWrite)
	c, _ := primary.Dial(ctx, l.Addr(), rdma.DialOptions{})
	b := <-accepted
	// The backup posts a receive for each immediate it expects.
	_ = b.PostRecv([]rdma.RecvRequest{{ID: 1}})

	n := copy(buf.Bytes(), "segment 7 bytes")
	dst := c.PeerRegions()[0]
	_ = c.Post([]rdma.WorkRequest{
		{ID: 10, Op: rdma.OpWrite, Local: buf, Length: n, Remote: dst, RemoteOffset: 512},
		{ID: 11, Op: rdma.OpWriteImm, Remote: dst, Imm: 512, Signaled: true},
	})
	cs := make([]rdma.Completion, 4)
	k, _ := c.Wait(ctx, cs)
	fmt.Println("primary:", k, "completion, id", cs[0].ID, cs[0].Status)
	_, _ = b.Wait(ctx, cs)
	off := int(cs[0].Imm)
	fmt.Println("backup:", cs[0].Op, "imm", off, "data", string(ring.Bytes()[off:off+n]))

	c.Close()
	b.Close()
	l.Close()
	buf.Close()
	ring.Close()
	primary.Close()
	backup.Close()
	// Output:
	// primary: 1 completion, id 11 success
	// backup: RECV_RDMA_WITH_IMM imm 512 data segment 7 bytes
}

package rdma

import (
	"fmt"
	"math"
)

// Access says what a region may be used for.
type Access uint8

const (
	// AccessLocalWrite lets receives (and the local CPU) write the region.
	// Every region has it.
	AccessLocalWrite Access = 1 << iota
	// AccessRemoteWrite lets peers RDMA WRITE into the region.
	AccessRemoteWrite
)

func (a Access) String() string {
	switch a {
	case AccessLocalWrite:
		return "local-write"
	case AccessLocalWrite | AccessRemoteWrite, AccessRemoteWrite:
		return "local-write|remote-write"
	}
	return fmt.Sprintf("access(%d)", uint8(a))
}

// Opcode is what a work request or completion is.
type Opcode uint8

const (
	// OpWrite is an RDMA WRITE into a peer's region.
	OpWrite Opcode = iota + 1
	// OpWriteImm is an RDMA WRITE followed by a 32-bit immediate that
	// consumes one posted receive on the peer.
	OpWriteImm
	// OpSend sends bytes into the peer's next posted receive.
	OpSend
	// OpRecv is a completed receive of a SEND.
	OpRecv
	// OpRecvImm is a completed receive of a WRITE_WITH_IMM's immediate.
	OpRecvImm
)

func (o Opcode) String() string {
	switch o {
	case OpWrite:
		return "WRITE"
	case OpWriteImm:
		return "WRITE_WITH_IMM"
	case OpSend:
		return "SEND"
	case OpRecv:
		return "RECV"
	case OpRecvImm:
		return "RECV_RDMA_WITH_IMM"
	}
	return fmt.Sprintf("opcode(%d)", uint8(o))
}

// Status is a completion's status. The values and names follow
// ibv_wc_status so the two providers report the same thing.
type Status uint8

const (
	StatusSuccess          Status = 0
	StatusLocalLength      Status = 1
	StatusLocalQPOperation Status = 2
	StatusLocalProtection  Status = 4
	StatusFlushed          Status = 5
	StatusMemoryWindowBind Status = 6
	StatusBadResponse      Status = 7
	StatusLocalAccess      Status = 8
	StatusRemoteInvalidReq Status = 9
	StatusRemoteAccess     Status = 10
	StatusRemoteOperation  Status = 11
	StatusRetryExceeded    Status = 12
	StatusRNRRetryExceeded Status = 13
	StatusFatal            Status = 19
	StatusResponseTimeout  Status = 20
	StatusGeneral          Status = 21
)

var statusNames = map[Status]string{
	StatusSuccess:          "success",
	StatusLocalLength:      "local length error",
	StatusLocalQPOperation: "local QP operation error",
	StatusLocalProtection:  "local protection error",
	StatusFlushed:          "work request flushed error",
	StatusMemoryWindowBind: "memory bind operation error",
	StatusBadResponse:      "bad response error",
	StatusLocalAccess:      "local access error",
	StatusRemoteInvalidReq: "remote invalid request error",
	StatusRemoteAccess:     "remote access error",
	StatusRemoteOperation:  "remote operation error",
	StatusRetryExceeded:    "transport retry counter exceeded",
	StatusRNRRetryExceeded: "RNR retry counter exceeded",
	StatusFatal:            "fatal error",
	StatusResponseTimeout:  "response timeout error",
	StatusGeneral:          "general error",
}

func (s Status) String() string {
	if n, ok := statusNames[s]; ok {
		return n
	}
	return fmt.Sprintf("status(%d)", uint8(s))
}

// RemoteRegion describes a peer's region: what a WRITE needs to target it.
type RemoteRegion struct {
	Addr uint64 // the region's first byte, in the owner's address space
	Len  uint32 // its length in bytes
	RKey uint32 // the remote key
}

// WorkRequest is one send-queue operation.
type WorkRequest struct {
	// ID is returned in the completion.
	ID uint64
	// Op is OpWrite, OpWriteImm or OpSend.
	Op Opcode
	// Local, LocalOffset and Length name the bytes to send. Local may be
	// nil only when Length is 0; it must be registered by the Provider
	// that made the connection. The bytes must not change until the
	// request completes (unless Length <= Options.MaxInline: those are
	// copied at post time).
	Local       *Region
	LocalOffset int
	Length      int
	// Remote and RemoteOffset name where a WRITE lands: Remote.Addr +
	// RemoteOffset on the peer. Ignored for OpSend. The peer, not the
	// sender, checks the key and bounds.
	Remote       RemoteRegion
	RemoteOffset uint64
	// Imm is the immediate of an OpWriteImm.
	Imm uint32
	// Signaled asks for a completion when the request succeeds.
	Signaled bool
}

// RecvRequest is a posted receive buffer.
type RecvRequest struct {
	ID     uint64
	Region *Region
	Offset int
	Length int
}

// Completion reports a finished work request.
type Completion struct {
	ID     uint64
	Op     Opcode
	Status Status
	// Bytes is the number of bytes received (receives) or the length of
	// the peer's WRITE_WITH_IMM (OpRecvImm).
	Bytes int
	// Imm is the immediate of an OpRecvImm.
	Imm uint32
	// Err is nil on success, else a *CompletionError.
	Err error
}

// MaxMessageSize is the largest single work request, in both providers.
const MaxMessageSize = 1 << 30

func validateWR(wr *WorkRequest, p Provider) error {
	switch wr.Op {
	case OpWrite, OpWriteImm, OpSend:
	default:
		return fmt.Errorf("%w: id %d: opcode %v cannot be posted", ErrInvalidRequest, wr.ID, wr.Op)
	}
	if wr.Length < 0 || wr.Length > MaxMessageSize {
		return fmt.Errorf("%w: id %d: length %d outside [0, %d]", ErrInvalidRequest, wr.ID, wr.Length, MaxMessageSize)
	}
	if wr.Length == 0 {
		return nil
	}
	if wr.Local == nil {
		return fmt.Errorf("%w: id %d: %d bytes but no local region", ErrInvalidRequest, wr.ID, wr.Length)
	}
	if wr.Local.owner != p {
		return fmt.Errorf("%w: id %d: local region was registered by another provider", ErrInvalidRequest, wr.ID)
	}
	if wr.LocalOffset < 0 || wr.LocalOffset > wr.Local.Len()-wr.Length {
		return fmt.Errorf("%w: id %d: local range [%d, %d) outside region of %d bytes",
			ErrInvalidRequest, wr.ID, wr.LocalOffset, wr.LocalOffset+wr.Length, wr.Local.Len())
	}
	if wr.Op != OpSend && wr.RemoteOffset > math.MaxUint64-wr.Remote.Addr {
		return fmt.Errorf("%w: id %d: remote offset %d overflows address 0x%x", ErrInvalidRequest, wr.ID, wr.RemoteOffset, wr.Remote.Addr)
	}
	return nil
}

func validateRR(rr *RecvRequest, p Provider) error {
	if rr.Length < 0 || rr.Length > MaxMessageSize {
		return fmt.Errorf("%w: recv id %d: length %d outside [0, %d]", ErrInvalidRequest, rr.ID, rr.Length, MaxMessageSize)
	}
	if rr.Length == 0 {
		return nil
	}
	if rr.Region == nil {
		return fmt.Errorf("%w: recv id %d: %d bytes but no region", ErrInvalidRequest, rr.ID, rr.Length)
	}
	if rr.Region.owner != p {
		return fmt.Errorf("%w: recv id %d: region was registered by another provider", ErrInvalidRequest, rr.ID)
	}
	if rr.Offset < 0 || rr.Offset > rr.Region.Len()-rr.Length {
		return fmt.Errorf("%w: recv id %d: range [%d, %d) outside region of %d bytes",
			ErrInvalidRequest, rr.ID, rr.Offset, rr.Offset+rr.Length, rr.Region.Len())
	}
	return nil
}

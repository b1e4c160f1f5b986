package rdma

import (
	"encoding/binary"
	"fmt"
	"hash/crc32"
)

// Private data is what rdma_cm carries in the connect request, the accept
// reply and the reject; the TCP provider sends the same bytes in its
// hello, accept and reject frames. The layout is drawn in doc.go.

const (
	privMagic   = 0x5441 // "TA"
	privVersion = 1

	privHeaderLen = 16
	privRegionLen = 16
	privTrailer   = 4

	// Private data limits of rdma_cm over InfiniBand/RoCE: a connect
	// request carries 56 bytes, an accept 196, a reject 148.
	privMaxConnect = 56
	privMaxAccept  = 196
	privMaxReject  = 148

	// MaxDialRegions is how many regions a dialer can offer.
	MaxDialRegions = (privMaxConnect - privHeaderLen - privTrailer) / privRegionLen
	// MaxAcceptRegions is how many regions a listener can offer.
	MaxAcceptRegions = (privMaxAccept - privHeaderLen - privTrailer) / privRegionLen
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// privKind is which message the private data travels in.
type privKind uint8

const (
	privConnect privKind = 1
	privAccept  privKind = 2
	privReject  privKind = 3
)

// RejectReason says why a listener refused a connection.
type RejectReason uint8

const (
	RejectNone        RejectReason = 0
	RejectToken       RejectReason = 1 // the cluster token differs
	RejectPrivateData RejectReason = 2 // the connect request did not decode
	RejectDevice      RejectReason = 3 // the request arrived on another device
	RejectResources   RejectReason = 4 // the listener could not set up the queue pair
)

func (r RejectReason) String() string {
	switch r {
	case RejectNone:
		return "no reason given"
	case RejectToken:
		return "wrong cluster token"
	case RejectPrivateData:
		return "malformed connect private data"
	case RejectDevice:
		return "request arrived on a different RDMA device than the listener's provider"
	case RejectResources:
		return "listener could not create the queue pair"
	}
	return fmt.Sprintf("reject reason %d", uint8(r))
}

// privData is decoded private data.
type privData struct {
	kind    privKind
	reason  RejectReason
	token   uint64
	regions []RemoteRegion
}

func privMax(k privKind) int {
	switch k {
	case privConnect:
		return privMaxConnect
	case privAccept:
		return privMaxAccept
	default:
		return privMaxReject
	}
}

// encodePrivData encodes p; it fails if p does not fit its message.
func encodePrivData(p privData) ([]byte, error) {
	n := privHeaderLen + len(p.regions)*privRegionLen + privTrailer
	if n > privMax(p.kind) || len(p.regions) > 255 {
		return nil, fmt.Errorf("%w: %d regions do not fit the %d bytes of private data a %s carries (at most %d regions)",
			ErrInvalidRequest, len(p.regions), privMax(p.kind), p.kind, (privMax(p.kind)-privHeaderLen-privTrailer)/privRegionLen)
	}
	b := make([]byte, n)
	binary.LittleEndian.PutUint16(b[0:], privMagic)
	b[2] = privVersion
	b[3] = byte(p.kind)
	binary.LittleEndian.PutUint64(b[4:], p.token)
	b[12] = byte(len(p.regions))
	b[13] = byte(p.reason)
	for i, r := range p.regions {
		o := privHeaderLen + i*privRegionLen
		binary.LittleEndian.PutUint64(b[o:], r.Addr)
		binary.LittleEndian.PutUint32(b[o+8:], r.Len)
		binary.LittleEndian.PutUint32(b[o+12:], r.RKey)
	}
	binary.LittleEndian.PutUint32(b[n-privTrailer:], crc32.Checksum(b[:n-privTrailer], castagnoli))
	return b, nil
}

// decodePrivData decodes private data of the wanted kind. Bytes after the
// checksum are ignored: InfiniBand pads private data with zeros to the
// message's full size.
func decodePrivData(b []byte, want privKind) (privData, error) {
	var p privData
	if len(b) < privHeaderLen+privTrailer {
		return p, fmt.Errorf("%w: %d bytes, need at least %d", ErrBadPrivateData, len(b), privHeaderLen+privTrailer)
	}
	if m := binary.LittleEndian.Uint16(b[0:]); m != privMagic {
		return p, fmt.Errorf("%w: magic 0x%04x, want 0x%04x", ErrBadPrivateData, m, privMagic)
	}
	if b[2] != privVersion {
		return p, fmt.Errorf("%w: version %d, want %d", ErrBadPrivateData, b[2], privVersion)
	}
	p.kind = privKind(b[3])
	if p.kind != want {
		return p, fmt.Errorf("%w: kind %s, want %s", ErrBadPrivateData, p.kind, want)
	}
	count := int(b[12])
	n := privHeaderLen + count*privRegionLen + privTrailer
	if n > len(b) || n > privMax(p.kind) {
		return p, fmt.Errorf("%w: %d regions need %d bytes, have %d (limit %d)", ErrBadPrivateData, count, n, len(b), privMax(p.kind))
	}
	if b[14] != 0 || b[15] != 0 {
		return p, fmt.Errorf("%w: reserved bytes 0x%02x%02x not zero", ErrBadPrivateData, b[14], b[15])
	}
	if got, want := binary.LittleEndian.Uint32(b[n-privTrailer:]), crc32.Checksum(b[:n-privTrailer], castagnoli); got != want {
		return p, fmt.Errorf("%w: crc32c 0x%08x, computed 0x%08x", ErrBadPrivateData, got, want)
	}
	p.token = binary.LittleEndian.Uint64(b[4:])
	p.reason = RejectReason(b[13])
	if count > 0 {
		p.regions = make([]RemoteRegion, count)
		for i := range p.regions {
			o := privHeaderLen + i*privRegionLen
			p.regions[i] = RemoteRegion{
				Addr: binary.LittleEndian.Uint64(b[o:]),
				Len:  binary.LittleEndian.Uint32(b[o+8:]),
				RKey: binary.LittleEndian.Uint32(b[o+12:]),
			}
		}
	}
	return p, nil
}

func (k privKind) String() string {
	switch k {
	case privConnect:
		return "connect request"
	case privAccept:
		return "accept"
	case privReject:
		return "reject"
	}
	return fmt.Sprintf("kind %d", uint8(k))
}

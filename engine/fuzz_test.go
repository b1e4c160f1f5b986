package engine

import (
	"bytes"
	"testing"

	"github.com/talos-kv/talos/kvsep"
)

// FuzzDecodeIndexValue: index values come from tables on disk.
func FuzzDecodeIndexValue(f *testing.F) {
	f.Add(encodeInline(nil, []byte("hello")))
	f.Add(encodePointer(nil, kvsep.Pointer{Segment: 3, Offset: 4096, Length: 100}))
	f.Add([]byte{})
	f.Add([]byte{0x02, 1})
	f.Fuzz(func(t *testing.T, b []byte) {
		inline, p, isPtr, err := decodeIndexValue(b)
		if err != nil {
			return
		}
		var again []byte
		if isPtr {
			again = encodePointer(nil, p)
			seg, n, ok := valueRef(b)
			if !ok || seg != p.Segment || n != int64(p.Length) {
				t.Fatalf("valueRef(%x) = %d %d %v, pointer %v", b, seg, n, ok, p)
			}
		} else {
			again = encodeInline(nil, inline)
		}
		if !bytes.Equal(again, b) {
			t.Fatalf("round trip %x -> %x", b, again)
		}
	})
}

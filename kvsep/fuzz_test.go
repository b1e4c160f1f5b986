package kvsep

import (
	"bytes"
	"testing"
)

func FuzzDecodeFrame(f *testing.F) {
	var r Records
	r.Add(KindSet, []byte("k"), []byte("value"))
	r.Add(KindDelete, []byte("gone"), nil)
	frame := make([]byte, r.FrameLen())
	r.encodeFrame(frame, 42)
	f.Add(frame)
	f.Add(frame[:10])
	f.Add([]byte{})
	f.Add(make([]byte, 64))
	f.Fuzz(func(t *testing.T, b []byte) {
		var fr Frame
		ok, err := DecodeFrame(b, 3, 0, &fr)
		if err != nil || !ok {
			return
		}
		// Re-encode what decoded: it must give the same bytes.
		var again Records
		again.SetGC(fr.GC)
		for _, rec := range fr.Records {
			again.Add(rec.Kind, rec.Key, rec.Value)
		}
		out := make([]byte, again.FrameLen())
		again.encodeFrame(out, fr.FirstSeq)
		if !bytes.Equal(out, b[:fr.Len]) {
			t.Fatalf("round trip differs:\n%x\n%x", out, b[:fr.Len])
		}
	})
}

func FuzzDecodeRecord(f *testing.F) {
	var r Records
	r.Add(KindSet, []byte("key"), []byte("v"))
	frame := make([]byte, r.FrameLen())
	r.encodeFrame(frame, 1)
	f.Add(frame[frameHeaderLen:])
	f.Add([]byte{1, 2, 3})
	f.Fuzz(func(t *testing.T, b []byte) {
		rec, n, err := DecodeRecord(b)
		if err != nil {
			return
		}
		if n != RecordLen(len(rec.Key), len(rec.Value)) || n > len(b) {
			t.Fatalf("length %d for key %d value %d", n, len(rec.Key), len(rec.Value))
		}
	})
}

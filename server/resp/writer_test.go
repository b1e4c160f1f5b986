package resp

import (
	"bytes"
	"testing"
)

func TestWriterEncodings(t *testing.T) {
	for _, tc := range []struct {
		name   string
		write  func(w *Writer)
		v2, v3 string
	}{
		{"simple", func(w *Writer) { w.Simple("OK\r\nx") }, "+OK  x\r\n", "+OK  x\r\n"},
		{"error", func(w *Writer) { w.Error("ERR bad\n") }, "-ERR bad \r\n", "-ERR bad \r\n"},
		{"int", func(w *Writer) { w.Int(-42) }, ":-42\r\n", ":-42\r\n"},
		{"bulk", func(w *Writer) { w.Bulk([]byte("a\r\nb")) }, "$4\r\na\r\nb\r\n", "$4\r\na\r\nb\r\n"},
		{"null", func(w *Writer) { w.Null() }, "$-1\r\n", "_\r\n"},
		{"null array", func(w *Writer) { w.NullArray() }, "*-1\r\n", "_\r\n"},
		{"map", func(w *Writer) { w.Map(1); w.BulkString("k"); w.Int(1) }, "*2\r\n$1\r\nk\r\n:1\r\n", "%1\r\n$1\r\nk\r\n:1\r\n"},
		{"set", func(w *Writer) { w.Set(0) }, "*0\r\n", "~0\r\n"},
		{"double", func(w *Writer) { w.Double(1.5) }, "$3\r\n1.5\r\n", ",1.5\r\n"},
		{"bool", func(w *Writer) { w.Bool(true); w.Bool(false) }, ":1\r\n:0\r\n", "#t\r\n#f\r\n"},
		{"verbatim", func(w *Writer) { w.Verbatim("hi") }, "$2\r\nhi\r\n", "=6\r\ntxt:hi\r\n"},
	} {
		for _, proto := range []int{2, 3} {
			var out bytes.Buffer
			w := NewWriter(&out)
			w.Proto = proto
			tc.write(w)
			if err := w.Flush(); err != nil {
				t.Fatal(err)
			}
			want := tc.v2
			if proto == 3 {
				want = tc.v3
			}
			if out.String() != want {
				t.Errorf("%s RESP%d: got %q, want %q", tc.name, proto, out.String(), want)
			}
		}
	}
}

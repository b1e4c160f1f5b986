package resp

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"testing"
)

// FuzzReadCommand feeds arbitrary bytes to the request decoder: it must never
// panic, must fail only with a protocol error or an EOF, and whatever it
// decodes must round-trip through AppendCommand.
func FuzzReadCommand(f *testing.F) {
	f.Add([]byte("*2\r\n$3\r\nGET\r\n$1\r\nk\r\n"))
	f.Add([]byte("*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$5\r\nhello\r\nPING\r\n"))
	f.Add([]byte(`SET "a\x00b" 'c'` + "\r\n"))
	f.Add([]byte("*1\r\n$-1\r\n"))
	f.Add([]byte("*99999999999\r\n"))
	f.Add([]byte("\r\n\r\n*0\r\n"))
	limits := Limits{MaxArgs: 64, MaxBulkLen: 1 << 10, MaxRequestBytes: 4 << 10, MaxInlineLen: 1 << 10}
	f.Fuzz(func(t *testing.T, in []byte) {
		r := NewReader(bufio.NewReaderSize(bytes.NewReader(in), 16), limits)
		for {
			args, err := r.ReadCommand()
			if err != nil {
				if err != io.EOF && !errors.Is(err, io.ErrUnexpectedEOF) && !errors.Is(err, ErrProtocol) {
					t.Fatalf("unexpected error kind: %v", err)
				}
				return
			}
			if len(args) == 0 || len(args) > limits.MaxArgs {
				t.Fatalf("decoded %d args", len(args))
			}
			enc := AppendCommand(nil, args...)
			r2 := NewReader(bufio.NewReader(bytes.NewReader(enc)), Limits{})
			back, err := r2.ReadCommand()
			if err != nil || len(back) != len(args) {
				t.Fatalf("round trip of %q: %q, %v", args, back, err)
			}
			for i := range args {
				if !bytes.Equal(back[i], args[i]) {
					t.Fatalf("round trip arg %d: %q != %q", i, back[i], args[i])
				}
			}
		}
	})
}

// FuzzCommandBuffered checks that CommandBuffered never promises a request
// that ReadCommand cannot deliver from the buffer alone.
func FuzzCommandBuffered(f *testing.F) {
	f.Add([]byte("*2\r\n$3\r\nGET\r\n$1\r\nk\r\n"))
	f.Add([]byte("*1\r\n$4\r\nPING\r\n*1\r\n$4\r\nPI"))
	f.Add([]byte("*1\r\n$-1\r\n"))
	limits := Limits{MaxArgs: 64, MaxBulkLen: 1 << 10, MaxRequestBytes: 4 << 10, MaxInlineLen: 1 << 10}
	f.Fuzz(func(t *testing.T, in []byte) {
		if len(in) > 16<<10 {
			return
		}
		br := bufio.NewReaderSize(bytes.NewReader(in), 16<<10)
		r := NewReader(br, limits)
		br.Peek(len(in))
		if !r.CommandBuffered() {
			return
		}
		// The stream holds nothing beyond the buffer: needing more bytes
		// would be io.ErrUnexpectedEOF.
		args, err := r.ReadCommand()
		if err != nil || len(args) == 0 {
			t.Fatalf("CommandBuffered promised a request; ReadCommand = %q, %v", args, err)
		}
	})
}

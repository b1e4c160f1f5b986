package resp

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"
)

func readAll(t *testing.T, in string, limits Limits) ([][]string, error) {
	t.Helper()
	r := NewReader(bufio.NewReaderSize(strings.NewReader(in), 16), limits)
	var out [][]string
	for {
		args, err := r.ReadCommand()
		if err == io.EOF {
			return out, nil
		}
		if err != nil {
			return out, err
		}
		var s []string
		for _, a := range args {
			s = append(s, string(a))
		}
		out = append(out, s)
	}
}

func TestReadCommand(t *testing.T) {
	for _, tc := range []struct {
		name, in string
		want     [][]string
		err      string // substring of the protocol error; "" means none
		eof      bool   // io.ErrUnexpectedEOF expected
	}{
		{name: "multibulk", in: "*2\r\n$3\r\nGET\r\n$1\r\nk\r\n", want: [][]string{{"GET", "k"}}},
		{name: "pipelined", in: "*1\r\n$4\r\nPING\r\n*2\r\n$4\r\nECHO\r\n$0\r\n\r\n", want: [][]string{{"PING"}, {"ECHO", ""}}},
		{name: "binary", in: "*1\r\n$4\r\na\r\nb\r\n", want: [][]string{{"a\r\nb"}}},
		{name: "empty multibulk skipped", in: "*0\r\n*-1\r\n*1\r\n$1\r\nx\r\n", want: [][]string{{"x"}}},
		{name: "inline", in: "SET  k  v\r\n", want: [][]string{{"SET", "k", "v"}}},
		{name: "inline lf only", in: "PING\n", want: [][]string{{"PING"}}},
		{name: "inline empty lines skipped", in: "\r\n\n PING\r\n", want: [][]string{{"PING"}}},
		{name: "inline quotes", in: `SET "a b\x41\n" 'c\'d' ""` + "\r\n", want: [][]string{{"SET", "a bA\n", "c'd", ""}}},
		{name: "inline unbalanced", in: "SET \"a\r\n", err: "unbalanced quotes"},
		{name: "inline quote glued", in: "SET \"a\"b\r\n", err: "unbalanced quotes"},
		{name: "bad multibulk length", in: "*x\r\n", err: "invalid multibulk length"},
		{name: "too many args", in: "*5\r\n", err: "invalid multibulk length"},
		{name: "bad bulk prefix", in: "*1\r\n:1\r\n", err: "expected '$', got ':'"},
		{name: "negative bulk", in: "*1\r\n$-1\r\n", err: "invalid bulk length"},
		{name: "huge bulk", in: "*1\r\n$1000\r\n", err: "invalid bulk length"},
		{name: "request too big", in: "*3\r\n$60\r\n" + strings.Repeat("a", 60) + "\r\n$60\r\n" + strings.Repeat("a", 60) + "\r\n", err: "request larger"},
		{name: "unterminated bulk", in: "*1\r\n$1\r\nab\r\n", err: "not terminated by CRLF"},
		{name: "header without CR", in: "*1\n", err: "invalid multibulk length"},
		{name: "long header", in: "*" + strings.Repeat("1", 40) + "\r\n", err: "invalid multibulk length"},
		{name: "inline too long", in: strings.Repeat("a", 200) + "\r\n", err: "too big inline request"},
		{name: "truncated", in: "*2\r\n$3\r\nGET\r\n", eof: true},
		{name: "truncated bulk", in: "*1\r\n$3\r\nGE", eof: true},
		{name: "truncated inline", in: "PING", eof: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := readAll(t, tc.in, Limits{MaxArgs: 4, MaxBulkLen: 100, MaxRequestBytes: 100, MaxInlineLen: 100})
			switch {
			case tc.err != "":
				var pe *ProtocolError
				if !errors.As(err, &pe) || !errors.Is(err, ErrProtocol) || !strings.Contains(pe.Msg, tc.err) {
					t.Fatalf("err = %v, want protocol error containing %q", err, tc.err)
				}
			case tc.eof:
				if !errors.Is(err, io.ErrUnexpectedEOF) {
					t.Fatalf("err = %v, want unexpected EOF", err)
				}
			case err != nil:
				t.Fatalf("unexpected error %v", err)
			default:
				if len(got) != len(tc.want) {
					t.Fatalf("got %q, want %q", got, tc.want)
				}
				for i := range got {
					if strings.Join(got[i], "|") != strings.Join(tc.want[i], "|") || len(got[i]) != len(tc.want[i]) {
						t.Fatalf("command %d: got %q, want %q", i, got[i], tc.want[i])
					}
				}
			}
		})
	}
}

func TestArgsReusedAcrossCalls(t *testing.T) {
	var in []byte
	in = AppendCommand(in, []byte("SET"), []byte("key"), bytes.Repeat([]byte("v"), 100))
	in = AppendCommand(in, []byte("GET"), []byte("other"))
	r := NewReader(bufio.NewReader(bytes.NewReader(in)), Limits{})
	a, err := r.ReadCommand()
	if err != nil || len(a) != 3 || string(a[1]) != "key" || len(a[2]) != 100 {
		t.Fatalf("first: %q %v", a, err)
	}
	b, err := r.ReadCommand()
	if err != nil || len(b) != 2 || string(b[0]) != "GET" || string(b[1]) != "other" {
		t.Fatalf("second: %q %v", b, err)
	}
}

func TestLimitsValidate(t *testing.T) {
	l := Limits{}
	l.EnsureDefaults()
	if err := l.Validate(); err != nil {
		t.Fatal(err)
	}
	bad := Limits{MaxArgs: -1, MaxBulkLen: 10, MaxRequestBytes: 5, MaxInlineLen: 1}
	err := bad.Validate()
	for _, want := range []string{"MaxArgs", "MaxRequestBytes", "MaxInlineLen"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Validate() = %v, want it to name %s", err, want)
		}
	}
}

func TestCommandBuffered(t *testing.T) {
	full := string(AppendCommand(nil, []byte("SET"), []byte("k"), []byte("v")))
	for _, tc := range []struct {
		in   string
		want bool
	}{
		{full, true},
		{full + "*1\r\n", true},
		{full[:len(full)-1], false},
		{full[:5], false},
		{"PING\r\n", false}, // inline requests are never reported
		{"*0\r\n", false},
		{"*1\r\n$-1\r\n", false},
		{"*1\r\n:1\r\n", false},
		{"*1\r\n$1\r\nab\r\n", false},
		{"*1\r\n$2000\r\n" + strings.Repeat("x", 2000) + "\r\n", false}, // over MaxBulkLen
	} {
		br := bufio.NewReader(strings.NewReader(tc.in))
		r := NewReader(br, Limits{MaxBulkLen: 1000})
		br.Peek(len(tc.in)) // fill the buffer
		if got := r.CommandBuffered(); got != tc.want {
			t.Errorf("CommandBuffered(%q) = %v, want %v", tc.in, got, tc.want)
		}
		if tc.want {
			if _, err := r.ReadCommand(); err != nil {
				t.Errorf("ReadCommand after CommandBuffered(%q): %v", tc.in, err)
			}
		}
	}
}

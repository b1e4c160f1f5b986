package resp

import (
	"io"
	"strconv"
)

// Writer encodes replies into a buffer and writes them out on Flush. Proto
// selects RESP2 (2) or RESP3 (3) encodings of nulls, maps, doubles, booleans
// and verbatim strings. The first write error is sticky: later writes are
// dropped and Flush returns it. Writer is not safe for concurrent use.
type Writer struct {
	w     io.Writer
	buf   []byte
	err   error
	Proto int
	// Errors counts the error replies written (for per-command metrics).
	Errors int
}

// NewWriter returns a RESP2 Writer to w.
func NewWriter(w io.Writer) *Writer {
	return &Writer{w: w, buf: make([]byte, 0, 16<<10), Proto: 2}
}

// Buffered reports how many reply bytes await Flush.
func (w *Writer) Buffered() int { return len(w.buf) }

// Flush writes the buffered replies.
func (w *Writer) Flush() error {
	if w.err != nil {
		return w.err
	}
	if len(w.buf) == 0 {
		return nil
	}
	_, w.err = w.w.Write(w.buf)
	if cap(w.buf) > 1<<20 {
		w.buf = make([]byte, 0, 16<<10)
	} else {
		w.buf = w.buf[:0]
	}
	return w.err
}

// Err returns the first write error.
func (w *Writer) Err() error { return w.err }

func (w *Writer) header(prefix byte, n int64) {
	w.buf = append(w.buf, prefix)
	w.buf = strconv.AppendInt(w.buf, n, 10)
	w.buf = append(w.buf, '\r', '\n')
}

// appendLine appends s replacing CR and LF with spaces (invariant 4).
func (w *Writer) appendLine(s string) {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c == '\r' || c == '\n' {
			c = ' '
		}
		w.buf = append(w.buf, c)
	}
	w.buf = append(w.buf, '\r', '\n')
}

// Simple writes a simple string such as OK.
func (w *Writer) Simple(s string) {
	w.buf = append(w.buf, '+')
	w.appendLine(s)
}

// OK writes +OK.
func (w *Writer) OK() { w.buf = append(w.buf, "+OK\r\n"...) }

// Error writes an error reply; msg starts with its code, e.g. "ERR syntax error".
func (w *Writer) Error(msg string) {
	w.Errors++
	w.buf = append(w.buf, '-')
	w.appendLine(msg)
}

// Int writes an integer.
func (w *Writer) Int(n int64) { w.header(':', n) }

// Bulk writes a bulk string.
func (w *Writer) Bulk(b []byte) {
	w.header('$', int64(len(b)))
	w.buf = append(w.buf, b...)
	w.buf = append(w.buf, '\r', '\n')
}

// BulkString writes a bulk string.
func (w *Writer) BulkString(s string) {
	w.header('$', int64(len(s)))
	w.buf = append(w.buf, s...)
	w.buf = append(w.buf, '\r', '\n')
}

// Null writes a null (a missing bulk string).
func (w *Writer) Null() {
	if w.Proto >= 3 {
		w.buf = append(w.buf, "_\r\n"...)
	} else {
		w.buf = append(w.buf, "$-1\r\n"...)
	}
}

// NullArray writes a null array.
func (w *Writer) NullArray() {
	if w.Proto >= 3 {
		w.buf = append(w.buf, "_\r\n"...)
	} else {
		w.buf = append(w.buf, "*-1\r\n"...)
	}
}

// Array writes the header of an array of n elements, which follow.
func (w *Writer) Array(n int) { w.header('*', int64(n)) }

// Map writes the header of a map of n key-value pairs, which follow (2n
// elements). In RESP2 a map is a flat array.
func (w *Writer) Map(n int) {
	if w.Proto >= 3 {
		w.header('%', int64(n))
	} else {
		w.header('*', 2*int64(n))
	}
}

// Set writes the header of a set of n elements (an array in RESP2).
func (w *Writer) Set(n int) {
	if w.Proto >= 3 {
		w.header('~', int64(n))
	} else {
		w.header('*', int64(n))
	}
}

// Double writes a floating-point number.
func (w *Writer) Double(f float64) {
	s := strconv.FormatFloat(f, 'g', 17, 64)
	if w.Proto >= 3 {
		w.buf = append(w.buf, ',')
		w.buf = append(w.buf, s...)
		w.buf = append(w.buf, '\r', '\n')
	} else {
		w.BulkString(s)
	}
}

// Bool writes a boolean (an integer 0 or 1 in RESP2).
func (w *Writer) Bool(b bool) {
	switch {
	case w.Proto >= 3 && b:
		w.buf = append(w.buf, "#t\r\n"...)
	case w.Proto >= 3:
		w.buf = append(w.buf, "#f\r\n"...)
	case b:
		w.Int(1)
	default:
		w.Int(0)
	}
}

// Verbatim writes text as a RESP3 verbatim string of format "txt" (a bulk
// string in RESP2).
func (w *Writer) Verbatim(text string) {
	if w.Proto < 3 {
		w.BulkString(text)
		return
	}
	w.header('=', int64(len(text)+4))
	w.buf = append(w.buf, "txt:"...)
	w.buf = append(w.buf, text...)
	w.buf = append(w.buf, '\r', '\n')
}

// AppendCommand appends args as a multibulk request to dst (for clients and tests).
func AppendCommand(dst []byte, args ...[]byte) []byte {
	dst = append(dst, '*')
	dst = strconv.AppendInt(dst, int64(len(args)), 10)
	dst = append(dst, '\r', '\n')
	for _, a := range args {
		dst = append(dst, '$')
		dst = strconv.AppendInt(dst, int64(len(a)), 10)
		dst = append(dst, '\r', '\n')
		dst = append(dst, a...)
		dst = append(dst, '\r', '\n')
	}
	return dst
}

package resp

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
)

// ErrProtocol is matched (errors.Is) by every *ProtocolError.
var ErrProtocol = errors.New("resp: protocol error")

// ProtocolError is a malformed request. Msg is phrased as Redis phrases it
// after "ERR Protocol error: ", e.g. "invalid bulk length".
type ProtocolError struct{ Msg string }

func (e *ProtocolError) Error() string { return "resp: protocol error: " + e.Msg }

// Is makes errors.Is(err, ErrProtocol) true.
func (e *ProtocolError) Is(target error) bool { return target == ErrProtocol }

func protoErr(format string, args ...any) error {
	return &ProtocolError{Msg: fmt.Sprintf(format, args...)}
}

// Limits bounds what one request may hold. Zero fields take the defaults.
type Limits struct {
	// MaxArgs is the most arguments (including the command name) one request
	// may have. Zero: 1<<20.
	MaxArgs int
	// MaxBulkLen is the longest bulk string one argument may be. Zero: 32 MiB.
	MaxBulkLen int
	// MaxRequestBytes bounds the sum of argument lengths of one request.
	// Zero: 64 MiB.
	MaxRequestBytes int
	// MaxInlineLen is the longest inline request line. Zero: 64 KiB.
	MaxInlineLen int
}

// Default limits.
const (
	DefaultMaxArgs         = 1 << 20
	DefaultMaxBulkLen      = 32 << 20
	DefaultMaxRequestBytes = 64 << 20
	DefaultMaxInlineLen    = 64 << 10
)

// EnsureDefaults replaces zero fields with their defaults.
func (l *Limits) EnsureDefaults() {
	if l.MaxArgs == 0 {
		l.MaxArgs = DefaultMaxArgs
	}
	if l.MaxBulkLen == 0 {
		l.MaxBulkLen = DefaultMaxBulkLen
	}
	if l.MaxRequestBytes == 0 {
		l.MaxRequestBytes = DefaultMaxRequestBytes
	}
	if l.MaxInlineLen == 0 {
		l.MaxInlineLen = DefaultMaxInlineLen
	}
}

// Validate reports every out-of-range limit.
func (l *Limits) Validate() error {
	var errs []error
	if l.MaxArgs < 1 {
		errs = append(errs, fmt.Errorf("resp: MaxArgs %d: must be at least 1", l.MaxArgs))
	}
	if l.MaxBulkLen < 1 {
		errs = append(errs, fmt.Errorf("resp: MaxBulkLen %d: must be at least 1", l.MaxBulkLen))
	}
	if l.MaxRequestBytes < l.MaxBulkLen {
		errs = append(errs, fmt.Errorf("resp: MaxRequestBytes %d: must be at least MaxBulkLen (%d)", l.MaxRequestBytes, l.MaxBulkLen))
	}
	if l.MaxInlineLen < 16 {
		errs = append(errs, fmt.Errorf("resp: MaxInlineLen %d: must be at least 16", l.MaxInlineLen))
	}
	return errors.Join(errs...)
}

// maxHeaderLine is the longest "*<n>\r\n" or "$<n>\r\n" line accepted.
const maxHeaderLine = 32

// Reader decodes requests from a buffered stream. It is not safe for
// concurrent use.
type Reader struct {
	br     *bufio.Reader
	limits Limits
	line   []byte   // the current header or inline line
	arena  []byte   // argument bytes of the current request
	offs   []int    // arena offsets: arg i is arena[offs[2i]:offs[2i+1]]
	args   [][]byte // returned slice, reused
}

// NewReader returns a Reader over br. limits are defaulted (EnsureDefaults).
func NewReader(br *bufio.Reader, limits Limits) *Reader {
	limits.EnsureDefaults()
	return &Reader{br: br, limits: limits}
}

// Buffered reports how many bytes are already buffered: a server flushes its
// replies when no further pipelined request is waiting.
func (r *Reader) Buffered() int { return r.br.Buffered() }

// ReadCommand reads one request and returns its arguments (at least one).
// Empty inline lines are skipped. The returned slices are valid until the
// next call. io.EOF means the stream ended cleanly between requests; a
// stream ending inside a request is io.ErrUnexpectedEOF; malformed input is
// a *ProtocolError.
func (r *Reader) ReadCommand() ([][]byte, error) {
	for {
		b, err := r.br.Peek(1)
		if err != nil {
			return nil, err
		}
		var args [][]byte
		if b[0] == '*' {
			args, err = r.readMultiBulk()
		} else {
			args, err = r.readInline()
		}
		if err != nil {
			return nil, err
		}
		if len(args) > 0 {
			return args, nil
		}
	}
}

func (r *Reader) reset() {
	r.arena = r.arena[:0]
	r.offs = r.offs[:0]
	r.args = r.args[:0]
	// Do not keep a huge arena alive after one large request.
	if cap(r.arena) > 1<<20 {
		r.arena = nil
	}
	if cap(r.offs) > 1<<16 {
		r.offs = nil
		r.args = nil
	}
}

func (r *Reader) finish() [][]byte {
	for i := 0; i < len(r.offs); i += 2 {
		r.args = append(r.args, r.arena[r.offs[i]:r.offs[i+1]:r.offs[i+1]])
	}
	return r.args
}

// readLine reads up to and including the next '\n' into r.line and
// returns it, failing with tooLong once more than max bytes arrive without
// one. It never waits for more bytes than a line of max bytes needs.
func (r *Reader) readLine(max int, tooLong func() error) ([]byte, error) {
	r.line = r.line[:0]
	for {
		n := r.br.Buffered()
		if n == 0 {
			n = 1
		}
		b, err := r.br.Peek(n)
		if i := bytes.IndexByte(b, '\n'); i >= 0 {
			if len(r.line)+i+1 > max {
				return nil, tooLong()
			}
			r.line = append(r.line, b[:i+1]...)
			r.br.Discard(i + 1)
			return r.line, nil
		}
		if len(r.line)+len(b) > max {
			return nil, tooLong()
		}
		r.line = append(r.line, b...)
		r.br.Discard(len(b))
		if err != nil {
			if err == io.EOF && len(r.line) > 0 {
				err = io.ErrUnexpectedEOF
			}
			return nil, err
		}
	}
}

// readHeader reads "<prefix><int>\r\n" and returns the integer.
func (r *Reader) readHeader(prefix byte, what string) (int64, error) {
	line, err := r.readLine(maxHeaderLine, func() error { return protoErr("invalid %s length", what) })
	if err != nil {
		return 0, err
	}
	if len(line) < 4 || line[len(line)-2] != '\r' {
		return 0, protoErr("invalid %s length", what)
	}
	if line[0] != prefix {
		return 0, protoErr("expected '%c', got '%s'", prefix, printable(line[0]))
	}
	n, ok := parseInt(line[1 : len(line)-2])
	if !ok {
		return 0, protoErr("invalid %s length", what)
	}
	return n, nil
}

func (r *Reader) readMultiBulk() ([][]byte, error) {
	r.reset()
	n, err := r.readHeader('*', "multibulk")
	if err != nil {
		return nil, err
	}
	if n <= 0 {
		// "*0" and "*-1" are empty requests that Redis ignores.
		return nil, nil
	}
	if n > int64(r.limits.MaxArgs) {
		return nil, protoErr("invalid multibulk length")
	}
	total := 0
	for i := int64(0); i < n; i++ {
		l, err := r.readHeader('$', "bulk")
		if err != nil {
			if err == io.EOF {
				err = io.ErrUnexpectedEOF
			}
			return nil, err
		}
		if l < 0 || l > int64(r.limits.MaxBulkLen) {
			return nil, protoErr("invalid bulk length")
		}
		total += int(l)
		if total > r.limits.MaxRequestBytes {
			return nil, protoErr("request larger than %d bytes", r.limits.MaxRequestBytes)
		}
		start := len(r.arena)
		r.arena = grow(r.arena, int(l)+2)
		if _, err := io.ReadFull(r.br, r.arena[start:start+int(l)+2]); err != nil {
			if err == io.EOF {
				err = io.ErrUnexpectedEOF
			}
			return nil, err
		}
		if r.arena[start+int(l)] != '\r' || r.arena[start+int(l)+1] != '\n' {
			return nil, protoErr("bulk string not terminated by CRLF")
		}
		r.arena = r.arena[:start+int(l)]
		r.offs = append(r.offs, start, start+int(l))
	}
	return r.finish(), nil
}

// grow extends b by n bytes (contents of the new bytes undefined).
func grow(b []byte, n int) []byte {
	if cap(b)-len(b) < n {
		nb := make([]byte, len(b), 2*cap(b)+n)
		copy(nb, b)
		b = nb
	}
	return b[:len(b)+n]
}

func (r *Reader) readInline() ([][]byte, error) {
	r.reset()
	line, err := r.readLine(r.limits.MaxInlineLen, func() error { return protoErr("too big inline request") })
	if err != nil {
		return nil, err
	}
	line = line[:len(line)-1]
	if len(line) > 0 && line[len(line)-1] == '\r' {
		line = line[:len(line)-1]
	}
	if err := r.splitArgs(line); err != nil {
		return nil, err
	}
	if len(r.offs)/2 > r.limits.MaxArgs {
		return nil, protoErr("invalid multibulk length")
	}
	return r.finish(), nil
}

func isBlank(c byte) bool {
	return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\v' || c == '\f'
}

func hexVal(c byte) (byte, bool) {
	switch {
	case c >= '0' && c <= '9':
		return c - '0', true
	case c >= 'a' && c <= 'f':
		return c - 'a' + 10, true
	case c >= 'A' && c <= 'F':
		return c - 'A' + 10, true
	}
	return 0, false
}

// splitArgs splits an inline line as Redis's sdssplitargs does.
func (r *Reader) splitArgs(line []byte) error {
	i := 0
	for {
		for i < len(line) && isBlank(line[i]) {
			i++
		}
		if i == len(line) {
			return nil
		}
		start := len(r.arena)
		inDQ, inSQ := false, false
	arg:
		for ; ; i++ {
			if i == len(line) {
				if inDQ || inSQ {
					return protoErr("unbalanced quotes in request")
				}
				break
			}
			c := line[i]
			switch {
			case inDQ:
				switch {
				case c == '\\' && i+3 < len(line) && line[i+1] == 'x':
					hi, ok1 := hexVal(line[i+2])
					lo, ok2 := hexVal(line[i+3])
					if ok1 && ok2 {
						r.arena = append(r.arena, hi<<4|lo)
						i += 3
						continue
					}
					r.arena = append(r.arena, c)
				case c == '\\' && i+1 < len(line):
					i++
					switch line[i] {
					case 'n':
						r.arena = append(r.arena, '\n')
					case 'r':
						r.arena = append(r.arena, '\r')
					case 't':
						r.arena = append(r.arena, '\t')
					case 'b':
						r.arena = append(r.arena, '\b')
					case 'a':
						r.arena = append(r.arena, '\a')
					default:
						r.arena = append(r.arena, line[i])
					}
				case c == '"':
					if i+1 < len(line) && !isBlank(line[i+1]) {
						return protoErr("unbalanced quotes in request")
					}
					i++
					break arg
				default:
					r.arena = append(r.arena, c)
				}
			case inSQ:
				switch {
				case c == '\\' && i+1 < len(line) && line[i+1] == '\'':
					i++
					r.arena = append(r.arena, '\'')
				case c == '\'':
					if i+1 < len(line) && !isBlank(line[i+1]) {
						return protoErr("unbalanced quotes in request")
					}
					i++
					break arg
				default:
					r.arena = append(r.arena, c)
				}
			default:
				switch {
				case isBlank(c):
					break arg
				case c == '"':
					inDQ = true
				case c == '\'':
					inSQ = true
				default:
					r.arena = append(r.arena, c)
				}
			}
		}
		r.offs = append(r.offs, start, len(r.arena))
	}
}

// parseInt parses a decimal integer with an optional '-' sign; no '+', no
// leading blanks, at most 18 digits.
func parseInt(b []byte) (int64, bool) {
	neg := false
	if len(b) > 0 && b[0] == '-' {
		neg = true
		b = b[1:]
	}
	if len(b) == 0 || len(b) > 18 {
		return 0, false
	}
	var n int64
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int64(c-'0')
	}
	if neg {
		n = -n
	}
	return n, true
}

func printable(c byte) string {
	if c >= 0x20 && c < 0x7f {
		return string(c)
	}
	return fmt.Sprintf("\\x%02x", c)
}

// CommandBuffered reports whether a whole, well-formed multibulk request
// (at least one argument, within the limits) is already buffered, so that
// ReadCommand will return it without reading from the stream. It returns
// false when unsure; it never consumes input.
func (r *Reader) CommandBuffered() bool {
	n := r.br.Buffered()
	if n == 0 {
		return false
	}
	b, _ := r.br.Peek(n)
	return completeRequest(b, &r.limits)
}

func completeRequest(b []byte, l *Limits) bool {
	if len(b) == 0 || b[0] != '*' {
		return false
	}
	line := func(p int) (int64, int, bool) { // value and position after CRLF
		i := bytes.IndexByte(b[p:], '\n')
		if i < 3 || i > maxHeaderLine || b[p+i-1] != '\r' {
			return 0, 0, false
		}
		v, ok := parseInt(b[p+1 : p+i-1])
		return v, p + i + 1, ok
	}
	n, pos, ok := line(0)
	if !ok || n < 1 || n > int64(l.MaxArgs) {
		return false
	}
	total := int64(0)
	for k := int64(0); k < n; k++ {
		if pos >= len(b) || b[pos] != '$' {
			return false
		}
		bl, next, ok := line(pos)
		if !ok || bl < 0 || bl > int64(l.MaxBulkLen) {
			return false
		}
		total += bl
		if total > int64(l.MaxRequestBytes) {
			return false
		}
		pos = next + int(bl) + 2
		if pos > len(b) || b[pos-2] != '\r' || b[pos-1] != '\n' {
			return false
		}
	}
	return true
}

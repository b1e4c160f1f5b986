// Package resp encodes and decodes the Redis serialization protocol (RESP2
// and RESP3) for the Talos server.
//
// The codec is written here rather than taken from a library: the server
// needs per-request limits (arguments per command, bytes per bulk string,
// bytes per request, inline line length) enforced before memory is
// allocated, replies in either protocol version from one writer, and
// argument buffers reused across requests so that a pipelined GET does not
// allocate. tidwall/redcon fits the first only partly (its limits are fixed
// and it speaks RESP2 only); the codec is small enough to own and fuzz.
//
// # Requests (client to server)
//
// A request is either a multibulk array of bulk strings or an inline line:
//
//	multibulk:  *<n>\r\n  then n times  $<len>\r\n<len bytes>\r\n
//	            e.g. *2\r\n$3\r\nGET\r\n$1\r\nk\r\n
//	inline:     GET k\r\n          (arguments split on blanks; "..." and
//	                                '...' quote, with \n \r \t \\ \" \xHH
//	                                escapes inside double quotes)
//
// # Replies (server to client)
//
//	type           RESP2                 RESP3
//	simple string  +OK\r\n               +OK\r\n
//	error          -ERR msg\r\n          -ERR msg\r\n
//	integer        :42\r\n               :42\r\n
//	bulk string    $3\r\nabc\r\n         $3\r\nabc\r\n
//	null           $-1\r\n               _\r\n
//	null array     *-1\r\n               _\r\n
//	array          *<n>\r\n...           *<n>\r\n...
//	map            *<2n>\r\n k v ...     %<n>\r\n k v ...
//	double         $<len>\r\n1.5\r\n     ,1.5\r\n
//	boolean        :1\r\n / :0\r\n       #t\r\n / #f\r\n
//	verbatim       $<len>\r\ntext\r\n    =<len+4>\r\ntxt:text\r\n
//
// # Invariants
//
//  1. The Reader never allocates more than Limits allow before the bytes that
//     justify the allocation have arrived: an announced bulk length beyond
//     MaxBulkLen, an argument count beyond MaxArgs, or a request whose
//     announced sizes add up beyond MaxRequestBytes is a ProtocolError before
//     any of its payload is read.
//  2. Any malformed request is a *ProtocolError (errors.Is(err, ErrProtocol));
//     after one, the stream position is undefined and the connection must be
//     closed.
//  3. Arguments returned by ReadCommand are valid only until the next call.
//  4. The Writer never emits a CR or LF inside a simple string or an error.
package resp

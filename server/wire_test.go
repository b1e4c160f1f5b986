package server

import (
	"bufio"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/cockroachdb/datadriven"
	"github.com/talos-kv/talos/server/resp"
)

// TestWire runs the scripts in testdata/wire/*.txt against a server: the
// replies' exact bytes, RESP2 and RESP3, for every store. Regenerate the
// expected output with -rewrite.
//
//	send            each input line, parsed as an inline request (quotes
//	                allowed), is sent as a multibulk request; one output line
//	                per reply, Go-quoted
//	raw [replies=n] the input, Go-unquoted line by line, is sent as is; n
//	                replies are printed, then "closed" if the server closed
//	                the connection
//	advance d=dur   moves the server's clock
//	reconnect       opens a new connection
func TestWire(t *testing.T) {
	for _, f := range storeFactories {
		t.Run(f.name, func(t *testing.T) {
			datadriven.Walk(t, "testdata/wire", func(t *testing.T, path string) {
				h := newHarness(t, f.open(t), Options{})
				var nc net.Conn
				var br *bufio.Reader
				connect := func() {
					if nc != nil {
						nc.Close()
					}
					var err error
					nc, err = net.Dial("tcp", h.addr)
					if err != nil {
						t.Fatal(err)
					}
					nc.SetDeadline(time.Now().Add(time.Minute))
					br = bufio.NewReader(nc)
				}
				connect()
				defer func() { nc.Close() }()
				reply := func() string {
					s, err := readReply(br)
					if err != nil {
						t.Fatalf("reading a reply: %v", err)
					}
					return strconv.Quote(s)
				}
				datadriven.RunTest(t, path, func(t *testing.T, d *datadriven.TestData) string {
					var out strings.Builder
					switch d.Cmd {
					case "send":
						var req []byte
						n := 0
						for _, line := range strings.Split(d.Input, "\n") {
							r := resp.NewReader(bufio.NewReader(strings.NewReader(line+"\r\n")), resp.Limits{})
							args, err := r.ReadCommand()
							if err != nil {
								d.Fatalf(t, "line %q: %v", line, err)
							}
							req = resp.AppendCommand(req, args...)
							n++
						}
						if _, err := nc.Write(req); err != nil {
							d.Fatalf(t, "%v", err)
						}
						for i := 0; i < n; i++ {
							out.WriteString(reply() + "\n")
						}
					case "raw":
						var req []byte
						for _, line := range strings.Split(d.Input, "\n") {
							s, err := strconv.Unquote(`"` + line + `"`)
							if err != nil {
								d.Fatalf(t, "line %q: %v", line, err)
							}
							req = append(req, s...)
						}
						if _, err := nc.Write(req); err != nil {
							d.Fatalf(t, "%v", err)
						}
						n := 0
						d.MaybeScanArgs(t, "replies", &n)
						for i := 0; i < n; i++ {
							out.WriteString(reply() + "\n")
						}
						if _, err := br.Peek(1); err != nil {
							out.WriteString("closed\n")
						}
					case "advance":
						var s string
						d.ScanArgs(t, "d", &s)
						dur, err := time.ParseDuration(s)
						if err != nil {
							d.Fatalf(t, "%v", err)
						}
						h.clock.Advance(dur)
						return "ok"
					case "reconnect":
						connect()
						return "ok"
					default:
						d.Fatalf(t, "unknown command %q", d.Cmd)
					}
					return out.String()
				})
			})
		})
	}
}

package bench

import (
	"io"
	"net"
	"os"
	"strconv"
	"testing"
)

// TCPSocketBytes counts a connection's bytes from the kernel, by port, and
// leaves out sockets on other ports.
func TestTCPSocketBytes(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	done := make(chan error, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			done <- err
			return
		}
		defer c.Close()
		_, err = io.CopyN(io.Discard, c, 100000)
		if err == nil {
			_, err = c.Write(make([]byte, 3000))
		}
		done <- err
	}()
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.Write(make([]byte, 100000)); err != nil {
		t.Fatal(err)
	}
	if _, err := io.ReadFull(c, make([]byte, 3000)); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	_, ps, _ := net.SplitHostPort(ln.Addr().String())
	port, _ := strconv.ParseUint(ps, 10, 16)
	// This process holds both ends: the dialer sent 100000 and received
	// 3000, the accepted end the opposite (it may be closed by now, so
	// count at least the dialer's).
	sent, recv, err := TCPSocketBytes(os.Getpid(), uint16(port))
	if err != nil {
		t.Fatal(err)
	}
	if sent < 100000 || recv < 3000 {
		t.Fatalf("sent %d, received %d; want at least 100000 and 3000", sent, recv)
	}
	sent, recv, err = TCPSocketBytes(os.Getpid(), uint16(port)+1)
	if err != nil {
		t.Fatal(err)
	}
	if sent != 0 || recv != 0 {
		t.Fatalf("another port: sent %d, received %d; want 0", sent, recv)
	}
}

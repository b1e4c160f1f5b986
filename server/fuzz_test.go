package server

import (
	"bufio"
	"context"
	"io"
	"sync"
	"testing"
	"time"

	"github.com/talos-kv/talos/server/resp"
)

// FuzzConnection feeds arbitrary bytes to a connection of a running server
// (in-memory store, small limits). Any panic in decoding or in a command
// handler fails the fuzz run; after each input a fresh connection must get
// PONG.
func FuzzConnection(f *testing.F) {
	seed := func(cmds ...[]string) []byte {
		var b []byte
		for _, c := range cmds {
			args := make([][]byte, len(c))
			for i, a := range c {
				args[i] = []byte(a)
			}
			b = resp.AppendCommand(b, args...)
		}
		return b
	}
	f.Add(seed([]string{"SET", "k", "v", "EX", "10", "GET"}, []string{"GET", "k"}, []string{"INCRBY", "k", "5"}))
	f.Add(seed([]string{"HSET", "h", "a", "1"}, []string{"HGETALL", "h"}, []string{"HDEL", "h", "a", "b"}, []string{"SET", "h", "x"}))
	f.Add(seed([]string{"SCAN", "0", "MATCH", "*[a-", "COUNT", "1"}, []string{"TALOS.RANGE", "a", "", "LIMIT", "1"}))
	f.Add(seed([]string{"HELLO", "3", "AUTH", "default", "x", "SETNAME", "n"}, []string{"CLIENT", "SETINFO", "lib-name", "x"}))
	f.Add(seed([]string{"EXPIRE", "k", "9223372036854775807", "GT"}, []string{"COMMAND", "DOCS"}, []string{"CONFIG", "GET", "*"}))
	f.Add(seed([]string{"SET", "a", "1"}, []string{"SET", "b", "2"}, []string{"MSET", "a"}, []string{"DEL", "a", "b", "a"}))
	f.Add([]byte("PING\r\nSET \"a\\x00\" 'b'\r\nINFO\r\n"))

	var once sync.Once
	var srv *Server
	var ln *pipeListener
	f.Cleanup(func() {
		if srv != nil {
			srv.Shutdown(context.Background())
		}
	})
	f.Fuzz(func(t *testing.T, in []byte) {
		once.Do(func() {
			var err error
			srv, err = New(newMemStore(), Options{
				Limits:          resp.Limits{MaxArgs: 64, MaxBulkLen: 4 << 10, MaxRequestBytes: 16 << 10, MaxInlineLen: 4 << 10},
				MaxRangeResults: 100,
			})
			if err != nil {
				t.Fatal(err)
			}
			ln = newPipeListener()
			go srv.Serve(ln)
		})
		nc := ln.dial()
		nc.SetDeadline(time.Now().Add(10 * time.Second))
		done := make(chan struct{})
		go func() {
			io.Copy(io.Discard, nc)
			close(done)
		}()
		nc.Write(in)
		nc.Close()
		<-done

		check := ln.dial()
		defer check.Close()
		check.SetDeadline(time.Now().Add(10 * time.Second))
		if _, err := check.Write([]byte("*1\r\n$4\r\nPING\r\n")); err != nil {
			t.Fatalf("server gone: %v", err)
		}
		line, err := bufio.NewReader(check).ReadString('\n')
		if err != nil || line != "+PONG\r\n" {
			t.Fatalf("PING after input: %q, %v", line, err)
		}
	})
}

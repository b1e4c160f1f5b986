// Command talosbench runs the Talos benchmark harness (package bench):
// YCSB workloads against the engine and its peers, measuring I/O
// amplification, CPU, network, throughput and latency. Run it with --help
// for every option, or --quick for a run of under a minute.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/talos-kv/talos/bench"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	// After the first signal, restore the default handling so that a second
	// Ctrl-C kills a run that does not stop.
	go func() {
		<-ctx.Done()
		stop()
	}()
	code := bench.Command(ctx, "talosbench", os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

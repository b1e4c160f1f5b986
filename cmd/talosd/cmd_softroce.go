package main

import (
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"strings"

	"github.com/talos-kv/talos/softroce"
)

func init() {
	register(&command{
		name:    "softroce",
		summary: "create, delete and show Soft-RoCE (rxe) RDMA devices",
		run:     runSoftroce,
	})
}

// softroceHost is the host the softroce command acts on; tests replace it.
var softroceHost = func() (*softroce.Host, error) { return softroce.NewHost(softroce.Options{}) }

func softroceUsage(w io.Writer) {
	fmt.Fprintln(w, `Usage: talosd softroce <up|down|status> [flags]

  up --netdev IFACE [--name rxe0]   load rdma_rxe and create an rxe device on IFACE
  down [--name rxe0]                delete an RDMA device
  status [--json]                   show the rdma_rxe module and every RDMA device`)
}

func runSoftroce(args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		softroceUsage(stderr)
		return errUsage
	}
	switch args[0] {
	case "-h", "--help", "help":
		softroceUsage(stdout)
		return nil
	case "up":
		return softroceUp(args[1:], stdout, stderr)
	case "down":
		return softroceDown(args[1:], stdout, stderr)
	case "status":
		return softroceStatus(args[1:], stdout, stderr)
	}
	fmt.Fprintf(stderr, "unknown softroce subcommand %q\n", args[0])
	softroceUsage(stderr)
	return errUsage
}

func softroceUp(args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("softroce up", "--netdev IFACE [--name rxe0]", stderr)
	netdev := fs.String("netdev", "", "network device to put the rxe device on (required)")
	name := fs.String("name", softroce.DefaultName, "name of the RDMA device to create")
	if err := parseFlags(fs, args, false); err != nil {
		return err
	}
	if *netdev == "" {
		fmt.Fprintln(stderr, "--netdev is required")
		fs.Usage()
		return errUsage
	}
	h, err := softroceHost()
	if err != nil {
		return err
	}
	d, err := h.Up(*netdev, *name)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "softroce: %s is up on %s\n", d.Name, *netdev)
	writeDevice(stdout, d)
	return nil
}

func softroceDown(args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("softroce down", "[--name rxe0]", stderr)
	name := fs.String("name", softroce.DefaultName, "name of the RDMA device to delete")
	if err := parseFlags(fs, args, false); err != nil {
		return err
	}
	h, err := softroceHost()
	if err != nil {
		return err
	}
	if err := h.Down(*name); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "softroce: %s deleted\n", *name)
	return nil
}

func softroceStatus(args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("softroce status", "[--json]", stderr)
	asJSON := fs.Bool("json", false, "print the status as JSON")
	if err := parseFlags(fs, args, false); err != nil {
		return err
	}
	h, err := softroceHost()
	if err != nil {
		return err
	}
	s, err := h.Status()
	if err != nil {
		return err
	}
	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(s)
	}
	fmt.Fprintf(stdout, "rdma_rxe module: %s\n", s.Module)
	if !s.RDMA {
		fmt.Fprintln(stdout, "RDMA: the running kernel has no RDMA support")
		return nil
	}
	if len(s.Devices) == 0 {
		fmt.Fprintln(stdout, "RDMA devices: none")
		return nil
	}
	for _, d := range s.Devices {
		writeDevice(stdout, d)
	}
	return nil
}

// writeDevice prints a device in a few lines: identity, ports, counters that
// are not zero.
func writeDevice(w io.Writer, d softroce.Device) {
	fmt.Fprintf(w, "%s: index %d, node guid %s, %d port(s), char devices %s\n",
		d.Name, d.Index, d.NodeGUID, d.NumPorts, orNone(strings.Join(d.CharDevices, " ")))
	for _, p := range d.Ports {
		fmt.Fprintf(w, "  port %d: %s (%s), link layer %s, netdev %s\n",
			p.Port, orNone(p.State), orNone(p.PhysState), orNone(p.LinkLayer), orNone(p.Netdev))
		if c := nonZero(p.Counters, p.HwCounters); c != "" {
			fmt.Fprintf(w, "    counters: %s\n", c)
		}
	}
}

func orNone(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// nonZero formats the counters that are not zero as sorted name=value pairs.
func nonZero(maps ...map[string]uint64) string {
	var kv []string
	for _, m := range maps {
		for k, v := range m {
			if v != 0 {
				kv = append(kv, fmt.Sprintf("%s=%d", k, v))
			}
		}
	}
	sort.Strings(kv)
	return strings.Join(kv, " ")
}

// Package softroce sets up Soft-RoCE (the Linux rdma_rxe driver) so that
// Talos's verbs transport can run on hosts without an RDMA NIC, and holds
// the VM harness (softroce/vm) that tests that transport where the host
// kernel has no RDMA at all.
//
// # What Up, Down and Status do
//
// Up(netdev, name) is `rdma link add NAME type rxe netdev NETDEV` done over
// the kernel's RDMA netlink family (github.com/vishvananda/netlink), after
// checking what would make it fail and loading the modules it needs;
// Down(name) is `rdma link delete NAME`; Status lists every RDMA device with
// its ports, the network device behind each port, its character devices and
// its counters (github.com/Mellanox/rdmamap and sysfs).
//
//	talosd softroce up --netdev eth0 [--name rxe0]
//	          │
//	          ▼
//	  name valid? ── no ──▶ ErrInvalidName
//	  netdev exists? (netlink LinkByName) ── no ──▶ ErrNoNetdev
//	  rdma_rxe loaded, built in, or in modules.dep? ── no ──▶ ErrNoModule
//	  CAP_NET_ADMIN and CAP_SYS_MODULE? ── no ──▶ ErrNotRoot
//	  modprobe rdma_rxe, crc32_generic, ib_uverbs, rdma_ucm (those installed
//	           and not loaded)
//	  name already on netdev? ── yes ──▶ done, nothing changed
//	  name on another netdev, or netdev carries another device? ──▶ ErrExists
//	  RdmaLinkAdd(name, "rxe", netdev)
//	          │
//	          ▼
//	  /sys/class/infiniband/rxe0, /dev/infiniband/uverbsN, rdma_cm
//
// # Where module state is read
//
//	<root>/proc/modules                          loaded
//	<root>/sys/module/<name>/initstate           loaded
//	<root>/lib/modules/<release>/modules.builtin built in
//	<root>/lib/modules/<release>/modules.dep     loadable (modprobe)
//
// Options.Root moves these reads into a test tree; Options.Privileged and
// Options.LoadModule replace the capability check and modprobe.
//
// # Invariants
//
//  1. Up changes nothing (no module loaded, no link added) unless the name
//     is valid, the network device exists, rdma_rxe can be had and the
//     process is privileged.
//  2. Errors that running as root would not fix (bad name, missing netdev,
//     missing module) are reported before ErrNotRoot.
//  3. Up is idempotent: a device of that name on that netdev is success.
//     It never deletes or renames an existing device.
//  4. Every error with one of the package's causes wraps its sentinel
//     (errors.Is) and names the device, netdev or module concerned.
//
// # Running the rxe tests on a host that has the driver
//
// On a Linux host whose kernel has rdma_rxe (most distribution kernels; on
// Ubuntu it is in linux-modules-extra-$(uname -r)), as root:
//
//	ip addr show eth0               # rdma_cm needs an address on it
//	talosd softroce up --netdev eth0
//	ulimit -l unlimited             # memory registration pins pages
//	TALOS_RDMA_ADDR=<eth0's IPv4 address> TALOS_RDMA_DEVICE=rxe0 \
//	    go test -tags rxe -v -run Verbs ./rdma/
//	talosd softroce down
//
// Where the kernel has no RDMA (this project's build machines), run the
// same tests in a qemu guest instead: bash softroce/vm/run.sh (see
// softroce/README.md).
//
// Host is safe for concurrent use; the kernel serialises the changes.
package softroce

package softroce

import (
	"fmt"
	"path/filepath"
	"strconv"
	"strings"
)

// Capability bits (linux/capability.h) that Up and Down need.
const (
	capNetAdmin  = 12 // add and delete RDMA links
	capSysModule = 16 // load rdma_rxe and its helpers
)

// capabilityCheck reports whether the effective capability set read from
// <root>/proc/self/status holds CAP_NET_ADMIN and CAP_SYS_MODULE.
func capabilityCheck(root string) (bool, error) {
	path := filepath.Join(root, "proc/self/status")
	var capEff string
	found := false
	err := scanLines(path, func(line string) bool {
		if v, ok := strings.CutPrefix(line, "CapEff:"); ok {
			capEff, found = strings.TrimSpace(v), true
			return false
		}
		return true
	})
	if err != nil {
		return false, err
	}
	if !found {
		return false, fmt.Errorf("softroce: no CapEff line in %s", path)
	}
	return hasCaps(capEff, capNetAdmin, capSysModule)
}

// hasCaps parses a CapEff hexadecimal mask and reports whether every bit in
// caps is set.
func hasCaps(mask string, caps ...uint) (bool, error) {
	v, err := strconv.ParseUint(mask, 16, 64)
	if err != nil {
		return false, fmt.Errorf("softroce: bad capability mask %q: %w", mask, err)
	}
	for _, c := range caps {
		if v&(1<<c) == 0 {
			return false, nil
		}
	}
	return true, nil
}

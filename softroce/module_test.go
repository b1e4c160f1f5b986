package softroce

import (
	"os"
	"path/filepath"
	"testing"
)

func TestModuleName(t *testing.T) {
	for in, want := range map[string]string{
		"rdma_rxe": "rdma_rxe",
		"rdma-rxe": "rdma_rxe",
		"kernel/drivers/infiniband/sw/rxe/rdma_rxe.ko":      "rdma_rxe",
		"kernel/drivers/infiniband/sw/rxe/rdma_rxe.ko.xz":   "rdma_rxe",
		"/lib/modules/x/kernel/crypto/crc32_generic.ko.zst": "crc32_generic",
	} {
		if got := moduleName(in); got != want {
			t.Errorf("moduleName(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestModuleState(t *testing.T) {
	const dep = "kernel/drivers/infiniband/core/ib_core.ko:\n" +
		"kernel/drivers/infiniband/sw/rxe/rdma_rxe.ko.xz: kernel/drivers/infiniband/core/ib_uverbs.ko kernel/drivers/infiniband/core/ib_core.ko\n"
	for _, tc := range []struct {
		name  string
		files map[string]string
		want  ModuleState
	}{
		{"empty tree", map[string]string{}, ModuleMissing},
		{"other modules only", map[string]string{
			"proc/modules":             procModules("dummy", "rdma_rxe_helper"),
			modDir + "modules.dep":     "kernel/drivers/net/dummy.ko:\n",
			modDir + "modules.builtin": "kernel/crypto/crc32c_generic.ko\n",
		}, ModuleMissing},
		{"loaded per /proc/modules", map[string]string{
			"proc/modules": procModules("dummy", "rdma_rxe"),
		}, ModuleLoaded},
		{"loaded per sysfs initstate", map[string]string{
			"sys/module/rdma_rxe/initstate": "live\n",
		}, ModuleLoaded},
		{"sysfs entry without initstate is not loaded", map[string]string{
			"sys/module/rdma_rxe/parameters/x": "",
		}, ModuleMissing},
		{"built in", map[string]string{
			modDir + "modules.builtin": "kernel/drivers/net/dummy.ko\nkernel/drivers/infiniband/sw/rxe/rdma_rxe.ko\n",
		}, ModuleBuiltin},
		{"loadable, compressed", map[string]string{
			modDir + "modules.dep": dep,
		}, ModuleLoadable},
		{"installed for another release only", map[string]string{
			"lib/modules/5.10.0-other/modules.dep": dep,
		}, ModuleMissing},
		{"loaded wins over loadable", map[string]string{
			"proc/modules":         procModules("rdma_rxe"),
			modDir + "modules.dep": dep,
		}, ModuleLoaded},
	} {
		t.Run(tc.name, func(t *testing.T) {
			root := fakeRoot(t, tc.files)
			got, err := moduleState(root, testRelease, "rdma_rxe")
			if err != nil {
				t.Fatal(err)
			}
			if got != tc.want {
				t.Fatalf("moduleState = %v, want %v", got, tc.want)
			}
			if got.Usable() != (tc.want != ModuleMissing) {
				t.Fatalf("%v.Usable() = %v", got, got.Usable())
			}
		})
	}
}

func TestModuleStateReadError(t *testing.T) {
	// proc/modules is a directory: reading it fails with something other
	// than "does not exist", which must be reported, not taken as "missing".
	root := t.TempDir()
	if err := os.MkdirAll(filepath.Join(root, "proc/modules"), 0o755); err != nil {
		t.Fatal(err)
	}
	if _, err := moduleState(root, testRelease, "rdma_rxe"); err == nil {
		t.Fatal("moduleState with an unreadable proc/modules returned no error")
	}
}

func TestModuleStateString(t *testing.T) {
	for s, want := range map[ModuleState]string{
		ModuleMissing: "missing", ModuleLoadable: "loadable", ModuleLoaded: "loaded",
		ModuleBuiltin: "builtin", ModuleState(9): "ModuleState(9)",
	} {
		if got := s.String(); got != want {
			t.Errorf("String() = %q, want %q", got, want)
		}
		if b, _ := s.MarshalText(); string(b) != want {
			t.Errorf("MarshalText() = %q, want %q", b, want)
		}
	}
}

//go:build linux

package softroce

import (
	"errors"
	"os"
	"reflect"
	"strings"
	"testing"
)

// testHost returns a Host reading the fake tree files, whose privilege
// check answers privileged and whose module loader records what it loads.
func testHost(t *testing.T, files map[string]string, privileged bool) (*Host, *[]string) {
	t.Helper()
	var loaded []string
	h, err := NewHost(Options{
		Root:          fakeRoot(t, files),
		KernelRelease: testRelease,
		Privileged:    func() (bool, error) { return privileged, nil },
		LoadModule: func(name string) error {
			loaded = append(loaded, name)
			return nil
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	return h, &loaded
}

func TestOptionsValidate(t *testing.T) {
	o := Options{Root: "relative/dir", KernelRelease: "a/b"}
	o.EnsureDefaults()
	err := o.Validate()
	if err == nil {
		t.Fatal("Validate accepted a relative Root and a release with a slash")
	}
	for _, want := range []string{"Options.Root", "Options.KernelRelease"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("Validate error %q does not name %s", err, want)
		}
	}
	var zero Options
	zero.EnsureDefaults()
	if err := zero.Validate(); err != nil {
		t.Fatalf("defaults do not validate: %v", err)
	}
	if zero.Root != "/" || zero.KernelRelease == "" || zero.Privileged == nil || zero.LoadModule == nil {
		t.Fatalf("EnsureDefaults left a zero field: %+v", zero)
	}
}

func TestValidateName(t *testing.T) {
	for name, ok := range map[string]bool{
		"rxe0": true, "rxe_eth0": true, strings.Repeat("r", 63): true,
		"": false, strings.Repeat("r", 64): false, "a/b": false, "rxe%d": false, "rxe 0": false,
	} {
		err := validateName(name)
		if (err == nil) != ok {
			t.Errorf("validateName(%q) = %v, want ok=%v", name, err, ok)
		}
		if err != nil && !errors.Is(err, ErrInvalidName) {
			t.Errorf("validateName(%q) = %v, not ErrInvalidName", name, err)
		}
	}
}

// TestUpMissingNetdev asks the live kernel for a network device that does
// not exist.
func TestUpMissingNetdev(t *testing.T) {
	h, loaded := testHost(t, map[string]string{"proc/modules": procModules("rdma_rxe")}, true)
	for _, netdev := range []string{"talos-nosuch0", ""} {
		_, err := h.Up(netdev, "rxe0")
		if !errors.Is(err, ErrNoNetdev) {
			t.Fatalf("Up(%q) = %v, want ErrNoNetdev", netdev, err)
		}
		if netdev != "" && !strings.Contains(err.Error(), netdev) {
			t.Errorf("error %q does not name the netdev", err)
		}
	}
	if len(*loaded) != 0 {
		t.Fatalf("modules loaded although the netdev is missing: %v", *loaded)
	}
}

func TestUpInvalidName(t *testing.T) {
	h, _ := testHost(t, nil, true)
	if _, err := h.Up("lo", "bad/name"); !errors.Is(err, ErrInvalidName) {
		t.Fatalf("Up(lo, bad/name) = %v, want ErrInvalidName", err)
	}
	if err := h.Down("bad name"); !errors.Is(err, ErrInvalidName) {
		t.Fatalf("Down(bad name) = %v, want ErrInvalidName", err)
	}
}

// TestUpMissingModule uses the live loopback device (it exists on every
// Linux host) and a module tree without rdma_rxe. Running as root would not
// fix it, so the module error comes first even when unprivileged.
func TestUpMissingModule(t *testing.T) {
	for _, privileged := range []bool{true, false} {
		h, loaded := testHost(t, map[string]string{
			"proc/modules":         procModules("dummy"),
			modDir + "modules.dep": "kernel/drivers/net/dummy.ko:\n",
		}, privileged)
		_, err := h.Up("lo", "")
		if !errors.Is(err, ErrNoModule) {
			t.Fatalf("privileged=%v: Up(lo) = %v, want ErrNoModule", privileged, err)
		}
		if !strings.Contains(err.Error(), testRelease) {
			t.Errorf("error %q does not name the kernel release", err)
		}
		if len(*loaded) != 0 {
			t.Fatalf("modules loaded: %v", *loaded)
		}
	}
}

// TestUpNotRoot injects an unprivileged check: Up must refuse before it
// loads a module or touches a link.
func TestUpNotRoot(t *testing.T) {
	h, loaded := testHost(t, map[string]string{
		modDir + "modules.dep": "kernel/drivers/infiniband/sw/rxe/rdma_rxe.ko:\n",
	}, false)
	_, err := h.Up("lo", "rxe0")
	if !errors.Is(err, ErrNotRoot) {
		t.Fatalf("Up = %v, want ErrNotRoot", err)
	}
	if len(*loaded) != 0 {
		t.Fatalf("modules loaded without privilege: %v", *loaded)
	}
}

func TestPrivilegeCheckError(t *testing.T) {
	boom := errors.New("boom")
	h, err := NewHost(Options{
		Root:          fakeRoot(t, map[string]string{"proc/modules": procModules("rdma_rxe")}),
		KernelRelease: testRelease,
		Privileged:    func() (bool, error) { return false, boom },
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := h.Up("lo", "rxe0"); !errors.Is(err, boom) {
		t.Fatalf("Up = %v, want the privilege check's error", err)
	}
}

// TestEnsureModulesLoads checks which modules are loaded: rdma_rxe and the
// helpers that are installed and not loaded, never one already loaded or
// built in, and never one that is not installed.
func TestEnsureModulesLoads(t *testing.T) {
	h, loaded := testHost(t, map[string]string{
		"proc/modules": procModules("rdma_ucm"),
		modDir + "modules.dep": "kernel/drivers/infiniband/sw/rxe/rdma_rxe.ko: kernel/drivers/infiniband/core/ib_core.ko\n" +
			"kernel/drivers/infiniband/core/ib_uverbs.ko:\n" +
			"kernel/drivers/infiniband/core/rdma_ucm.ko:\n",
		modDir + "modules.builtin": "kernel/crypto/crc32_generic.ko\n",
	}, true)
	if err := h.ensureModules(); err != nil {
		t.Fatal(err)
	}
	if want := []string{"rdma_rxe", "ib_uverbs"}; !reflect.DeepEqual(*loaded, want) {
		t.Fatalf("loaded %v, want %v", *loaded, want)
	}
}

func TestEnsureModulesLoadFailure(t *testing.T) {
	boom := errors.New("modprobe said no")
	h, err := NewHost(Options{
		Root:          fakeRoot(t, map[string]string{modDir + "modules.dep": "kernel/drivers/infiniband/sw/rxe/rdma_rxe.ko:\n"}),
		KernelRelease: testRelease,
		Privileged:    func() (bool, error) { return true, nil },
		LoadModule:    func(string) error { return boom },
	})
	if err != nil {
		t.Fatal(err)
	}
	err = h.ensureModules()
	if !errors.Is(err, boom) || !strings.Contains(err.Error(), "rdma_rxe") {
		t.Fatalf("ensureModules = %v, want the loader's error naming rdma_rxe", err)
	}
}

// TestModprobeMissingModule runs the real modprobe (when this host has one)
// on a module name that exists nowhere: the error must name the module and
// carry modprobe's message.
func TestModprobeMissingModule(t *testing.T) {
	err := modprobe("talos_no_such_module")
	if err == nil {
		t.Fatal("modprobe of a module that does not exist succeeded")
	}
	if !strings.Contains(err.Error(), "talos_no_such_module") {
		t.Fatalf("error %q does not name the module", err)
	}
}

func TestDownMissingDevice(t *testing.T) {
	h, _ := testHost(t, nil, true)
	err := h.Down("talos-nosuch9")
	if !errors.Is(err, ErrNoDevice) {
		t.Fatalf("Down = %v, want ErrNoDevice", err)
	}
}

// TestLive checks the live host without changing it. Where rdma_rxe cannot
// be had (this project's build machines), Up must say so with ErrNoModule;
// where it can, an unprivileged Up must stop at ErrNotRoot. Status must
// agree with ModuleState either way.
func TestLive(t *testing.T) {
	h, err := NewHost(Options{Privileged: func() (bool, error) { return false, nil }})
	if err != nil {
		t.Fatal(err)
	}
	st, err := h.ModuleState()
	if err != nil {
		t.Fatal(err)
	}
	_, upErr := h.Up("lo", "talos-live-test")
	t.Logf("rdma_rxe is %v here; Up(lo) as unprivileged: %v", st, upErr)
	want := ErrNotRoot
	if !st.Usable() {
		want = ErrNoModule
	}
	if !errors.Is(upErr, want) {
		t.Fatalf("Up(lo) = %v, want %v", upErr, want)
	}
	s, err := h.Status()
	if err != nil {
		t.Fatal(err)
	}
	if s.Module != st {
		t.Fatalf("Status().Module = %v, ModuleState() = %v", s.Module, st)
	}
	if !s.RDMA && len(s.Devices) != 0 {
		t.Fatalf("no RDMA subsystem but devices: %+v", s.Devices)
	}
	if _, err := os.Stat("/sys/class/infiniband"); err != nil && len(s.Devices) != 0 {
		t.Fatalf("no /sys/class/infiniband but Status lists %d devices", len(s.Devices))
	}
}

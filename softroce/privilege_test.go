package softroce

import (
	"os"
	"testing"
)

func TestHasCaps(t *testing.T) {
	for _, tc := range []struct {
		mask    string
		want    bool
		wantErr bool
	}{
		{"000001ffffffffff", true, false}, // root in the initial namespace
		{"0000000000000000", false, false},
		{"0000000000001000", false, false}, // CAP_NET_ADMIN without CAP_SYS_MODULE
		{"0000000000011000", true, false},  // both
		{"0000000000010000", false, false}, // CAP_SYS_MODULE only
		{"zz", false, true},
		{"", false, true},
	} {
		got, err := hasCaps(tc.mask, capNetAdmin, capSysModule)
		if (err != nil) != tc.wantErr || got != tc.want {
			t.Errorf("hasCaps(%q) = %v, %v; want %v, error %v", tc.mask, got, err, tc.want, tc.wantErr)
		}
	}
}

func TestCapabilityCheck(t *testing.T) {
	status := func(capEff string) map[string]string {
		return map[string]string{"proc/self/status": "Name:\ttalosd\nCapInh:\t0000000000000000\nCapEff:\t" + capEff + "\nCapBnd:\t000001ffffffffff\n"}
	}
	ok, err := capabilityCheck(fakeRoot(t, status("000001ffffffffff")))
	if err != nil || !ok {
		t.Fatalf("full capabilities: %v, %v; want true", ok, err)
	}
	ok, err = capabilityCheck(fakeRoot(t, status("0000000000000000")))
	if err != nil || ok {
		t.Fatalf("no capabilities: %v, %v; want false", ok, err)
	}
	if _, err := capabilityCheck(fakeRoot(t, map[string]string{"proc/self/status": "Name:\tx\n"})); err == nil {
		t.Fatal("status without CapEff: no error")
	}
}

// TestCapabilityCheckLive reads this process's real capabilities: a process
// with euid 0 and a full bounding set (as root on a host, or in the CI
// container) must pass, a non-root process without ambient capabilities
// must not.
func TestCapabilityCheckLive(t *testing.T) {
	ok, err := capabilityCheck("/")
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("euid %d, CAP_NET_ADMIN and CAP_SYS_MODULE effective: %v", os.Geteuid(), ok)
	if os.Geteuid() != 0 && ok {
		t.Error("a non-root process reported as privileged")
	}
}

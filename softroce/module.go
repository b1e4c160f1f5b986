package softroce

import (
	"bufio"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// ModuleState says whether a kernel module can be used.
type ModuleState int

const (
	// ModuleMissing: not loaded, not built in, not installed.
	ModuleMissing ModuleState = iota
	// ModuleLoadable: installed under lib/modules/<release> but not loaded.
	ModuleLoadable
	// ModuleLoaded: loaded now.
	ModuleLoaded
	// ModuleBuiltin: compiled into the kernel.
	ModuleBuiltin
)

func (s ModuleState) String() string {
	switch s {
	case ModuleMissing:
		return "missing"
	case ModuleLoadable:
		return "loadable"
	case ModuleLoaded:
		return "loaded"
	case ModuleBuiltin:
		return "builtin"
	}
	return fmt.Sprintf("ModuleState(%d)", int(s))
}

// Usable reports whether the module is or can be made available.
func (s ModuleState) Usable() bool { return s != ModuleMissing }

// MarshalText makes ModuleState print as its name in JSON.
func (s ModuleState) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// moduleName normalises a module name or a path to a module file the way the
// kernel does: basename, no .ko suffix (with or without compression), and
// '-' read as '_'.
func moduleName(p string) string {
	b := filepath.Base(p)
	if i := strings.Index(b, ".ko"); i >= 0 {
		b = b[:i]
	}
	return strings.ReplaceAll(b, "-", "_")
}

// moduleState finds the state of module name under root for the kernel
// release rel. It reads, in order: <root>/proc/modules (loaded), the
// initstate file under <root>/sys/module/<name> (loaded, in case /proc is not
// that kernel's), lib/modules/<rel>/modules.builtin, lib/modules/<rel>/modules.dep.
// A file that does not exist counts as saying nothing; any other read error
// is returned.
func moduleState(root, rel, name string) (ModuleState, error) {
	name = moduleName(name)
	loaded := false
	err := scanLines(filepath.Join(root, "proc/modules"), func(line string) bool {
		if f := strings.Fields(line); len(f) > 0 && moduleName(f[0]) == name {
			loaded = true
			return false
		}
		return true
	})
	if err != nil {
		return ModuleMissing, err
	}
	if loaded {
		return ModuleLoaded, nil
	}
	if _, err := os.Stat(filepath.Join(root, "sys/module", name, "initstate")); err == nil {
		return ModuleLoaded, nil
	}
	dir := filepath.Join(root, "lib/modules", rel)
	builtin := false
	err = scanLines(filepath.Join(dir, "modules.builtin"), func(line string) bool {
		if moduleName(strings.TrimSpace(line)) == name {
			builtin = true
			return false
		}
		return true
	})
	if err != nil {
		return ModuleMissing, err
	}
	if builtin {
		return ModuleBuiltin, nil
	}
	loadable := false
	err = scanLines(filepath.Join(dir, "modules.dep"), func(line string) bool {
		key, _, ok := strings.Cut(line, ":")
		if ok && moduleName(key) == name {
			loadable = true
			return false
		}
		return true
	})
	if err != nil {
		return ModuleMissing, err
	}
	if loadable {
		return ModuleLoadable, nil
	}
	return ModuleMissing, nil
}

// scanLines calls fn for each line of the file at path until fn returns
// false. A missing file is not an error.
func scanLines(path string, fn func(line string) bool) error {
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("softroce: reading %s: %w", path, err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	for sc.Scan() {
		if !fn(sc.Text()) {
			return nil
		}
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("softroce: reading %s: %w", path, err)
	}
	return nil
}

// modprobe loads a module with the system's modprobe.
func modprobe(name string) error {
	path, err := exec.LookPath("modprobe")
	if err != nil {
		for _, p := range []string{"/usr/sbin/modprobe", "/sbin/modprobe"} {
			if _, serr := os.Stat(p); serr == nil {
				path, err = p, nil
				break
			}
		}
	}
	if err != nil {
		return fmt.Errorf("softroce: loading module %s: no modprobe in PATH, /usr/sbin or /sbin", name)
	}
	out, err := exec.Command(path, name).CombinedOutput()
	if err != nil {
		return fmt.Errorf("softroce: %s %s: %w: %s", path, name, err, strings.TrimSpace(string(out)))
	}
	return nil
}

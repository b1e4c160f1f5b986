package bench

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// talosModule is the module whose cmd/talosd BuildTalosd builds.
const talosModule = "github.com/talos-kv/talos"

// BuildTalosd builds talosd from the Talos module the current directory is
// in (found with `go list -m`) into dir/talosd and returns its path. Run
// from outside the module it fails: pass a built binary instead (--talosd).
func BuildTalosd(ctx context.Context, dir string) (string, error) {
	out, err := exec.CommandContext(ctx, "go", "list", "-m", "-f", "{{.Path}} {{.Dir}}").Output()
	if err != nil {
		return "", fmt.Errorf("%w: finding the Talos module to build talosd (run inside it or pass --talosd): %w", ErrConfig, err)
	}
	path, root, ok := strings.Cut(strings.TrimSpace(string(out)), " ")
	if !ok || path != talosModule {
		return "", fmt.Errorf("%w: the current module is %q, not %s; run inside it or pass --talosd", ErrConfig, path, talosModule)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", fmt.Errorf("bench: %w", err)
	}
	bin := filepath.Join(dir, "talosd")
	cmd := exec.CommandContext(ctx, "go", "build", "-o", bin, "./cmd/talosd")
	cmd.Dir = root
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("%w: go build ./cmd/talosd in %s: %w\n%s", ErrTarget, root, err, stderr.Bytes())
	}
	return bin, nil
}

// TalosdModeUnavailable asks the talosd binary whether it runs replication
// mode: it returns "" when it does, otherwise talosd's own reason. It runs
// `talosd serve --role primary --replication MODE` with an empty data
// directory, which every build rejects before touching anything; talosd
// reports every invalid setting at once, so the mode is available exactly
// when --replication is not among them.
func TalosdModeUnavailable(ctx context.Context, bin, mode string) (string, error) {
	out, err := exec.CommandContext(ctx, bin, "serve", "--role", "primary", "--data-dir", "",
		"--replication", mode).CombinedOutput()
	if err == nil {
		return "", fmt.Errorf("%w: %s serve with an empty --data-dir did not fail; cannot probe mode %s", ErrTarget, bin, mode)
	}
	if _, isExit := err.(*exec.ExitError); !isExit {
		return "", fmt.Errorf("%w: running %s: %w", ErrTarget, bin, err)
	}
	for _, l := range strings.Split(string(out), "\n") {
		if strings.Contains(l, "--replication") {
			return strings.TrimSpace(l), nil
		}
	}
	if !strings.Contains(string(out), "--data-dir") {
		return "", fmt.Errorf("%w: %s serve rejected the probe for an unexpected reason: %s", ErrTarget, bin, out)
	}
	return "", nil
}

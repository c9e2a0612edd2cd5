//go:build unix

package harness

import (
	"errors"
	"syscall"
	"testing"
)

// assertGone checks that no process with pid exists any more (reaped, not
// a zombie, not running).
func assertGone(t *testing.T, pid int) {
	t.Helper()
	if err := syscall.Kill(pid, 0); !errors.Is(err, syscall.ESRCH) {
		t.Errorf("process %d still exists (kill 0: %v)", pid, err)
	}
}

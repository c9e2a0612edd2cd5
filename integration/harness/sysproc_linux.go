//go:build linux

package harness

import "syscall"

// sysProcAttr makes the kernel kill the child if the test binary dies
// without running its cleanups (a -timeout panic, a kill), so no btcd
// outlives its test.
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}

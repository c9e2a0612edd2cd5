//go:build linux

package pgtest

import (
	"os"
	"syscall"
)

// procAttr runs a server binary as own, if set, and has the kernel kill it
// if the test binary dies without running its cleanups (a -timeout panic,
// a kill), so that no server outlives its test.
func procAttr(own *owner) *syscall.SysProcAttr {
	a := &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if own != nil {
		a.Credential = &syscall.Credential{Uid: uint32(own.uid), Gid: uint32(own.gid)}
	}
	return a
}

// stopImmediately asks the server for an immediate shutdown (pg_ctl's -m
// immediate).
func stopImmediately(p *os.Process) error { return p.Signal(syscall.SIGQUIT) }

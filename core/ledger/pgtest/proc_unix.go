//go:build unix && !linux

package pgtest

import (
	"os"
	"syscall"
)

// procAttr runs a server binary as own, if set.
func procAttr(own *owner) *syscall.SysProcAttr {
	if own == nil {
		return nil
	}
	return &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: uint32(own.uid), Gid: uint32(own.gid)}}
}

// stopImmediately asks the server for an immediate shutdown (pg_ctl's -m
// immediate).
func stopImmediately(p *os.Process) error { return p.Signal(syscall.SIGQUIT) }

//go:build !unix

package pgtest

import (
	"os"
	"syscall"
)

// procAttr has nothing to set: only a Unix root runs the server as
// another user (own is nil here).
func procAttr(*owner) *syscall.SysProcAttr { return nil }

// stopImmediately kills the server: there are no signals to ask with.
func stopImmediately(p *os.Process) error { return p.Kill() }

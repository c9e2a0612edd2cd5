//go:build !unix

package harness

import "os"

// terminate kills: there is no SIGTERM to send.
func terminate(p *os.Process) error { return p.Kill() }

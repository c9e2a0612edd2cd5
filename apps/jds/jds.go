// Package jds is the sv2-jds app: core's job declarator server
// (core/jdserver) run on its own, possibly on another machine than the
// pool, which trusts it by its authority key (sv2-pool
// --jds-authority-pubkey). A pool can run the same server inside itself
// instead (sv2-pool --jds-listen).
package jds

import (
	"context"

	"github.com/stratumgo/stratum/core/jdserver"
)

// Config configures the server; see jdserver.Config.
type Config = jdserver.Config

// Run serves job declaration until ctx ends; see jdserver.JDS.Run.
func Run(ctx context.Context, cfg Config) error { return jdserver.Run(ctx, cfg) }

package service

import (
	"context"

	"github.com/stratumgo/stratum/core/sv2"
)

// Probe connects to the server of cfg for protocol p as the service would
// (TCP, Noise with the pinned key, SetupConnection with cfg's flags) and
// hangs up once the server accepts, without touching the service's own
// connections. A client that failed over uses it to learn that the server
// it prefers is back before moving its work there. It may be called from
// any goroutine; it blocks until the server answers, ctx ends or the
// service's dial, handshake or setup timeout passes.
func (c *ClientService) Probe(ctx context.Context, p sv2.Protocol, cfg UpstreamConfig) (ServerInfo, error) {
	conn, info, err := c.dial(ctx, p, cfg, cfg.Address, true)
	if err != nil {
		return info, err
	}
	conn.Close()
	return info, nil
}

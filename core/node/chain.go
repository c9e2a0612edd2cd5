package node

import (
	"context"
	"fmt"

	"github.com/stratumgo/stratum/core/network"
)

// CheckChain asks the node which chain it is on (getblockchaininfo) and
// returns its name for it ("main", "regtest"...). With a network name (as
// core/network knows them: mainnet, testnet4, regtest...) it is an error
// for the node to be on another chain; an empty name checks nothing.
func (c *Client) CheckChain(ctx context.Context, name string) (string, error) {
	var info struct {
		Chain string `json:"chain"`
	}
	if err := c.Call(ctx, "getblockchaininfo", nil, &info); err != nil {
		return "", fmt.Errorf("node at %s: %w", c.Host(), err)
	}
	if name == "" {
		return info.Chain, nil
	}
	want, err := network.Lookup(name)
	if err != nil {
		return "", err
	}
	if !want.HasChain(info.Chain) {
		return "", fmt.Errorf("node at %s is on %q, not %s", c.Host(), info.Chain, name)
	}
	return info.Chain, nil
}

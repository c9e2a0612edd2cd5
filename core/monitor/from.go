package monitor

import (
	"math"

	"github.com/btcsuite/btcd/chainhash/v2"

	"github.com/stratumgo/stratum/core/accounting"
	"github.com/stratumgo/stratum/core/node"
	"github.com/stratumgo/stratum/core/submit"
	"github.com/stratumgo/stratum/core/tpclient"
)

// The parts of a Status made of core's own figures, so that each app's
// status says the same things the same way.

// SharesOf are the shares of counters.
func SharesOf(c accounting.Counters) *Shares {
	rejected := c.Rejected
	if rejected == nil {
		rejected = map[string]uint64{} // {} in the JSON, not null
	}
	return &Shares{Accepted: c.Accepted, AcceptedDifficulty: c.AcceptedDifficulty, Rejected: rejected}
}

// BlocksOf are a block queue's blocks by where they ended (submit.Chain):
// confirmed, a tip built on them; lost, not on the chain; the rest pending
// (on their way, or taken by the node with no tip since: "accepted").
func BlocksOf(q *submit.Queue) *Blocks {
	c, ch := q.Counts(), q.Chain()
	b := CountedBlocks(c.Found, ch.On, ch.Off)
	for _, r := range q.Recent() {
		b.Recent = append(b.Recent, Block{Height: r.Height, Hash: chainhash.Hash(r.Hash).String(), Finder: r.Finder, Found: r.Found, State: r.Chain, Outcome: r.Outcome})
	}
	return b
}

// NodeOf is a node client's traffic; nil for a nil client.
func NodeOf(c *node.Client) *NodeRPC {
	if c == nil {
		return nil
	}
	s := c.RPCStats()
	n := &NodeRPC{Address: c.Host(), Requests: s.Requests, Errors: s.Errors, Seconds: s.Seconds, Timed: s.Timed}
	for i, le := range node.LatencyBounds() {
		if i < len(s.Buckets) {
			n.Buckets = append(n.Buckets, Bucket{Le: le, Count: s.Buckets[i]})
		}
	}
	return n
}

// TemplateOf is the template a template-distribution client works on; nil
// before the first.
func TemplateOf(h *tpclient.Handler) *Template {
	c, ok := h.Current()
	if !ok {
		return nil
	}
	t := &Template{ID: c.TemplateID, Received: c.Since, Value: c.Value}
	if c.Height > 0 && c.Height <= math.MaxUint32 {
		t.Height = uint32(c.Height)
	}
	if c.PrevHash != ([32]byte{}) {
		t.PrevHash = chainhash.Hash(c.PrevHash).String()
	}
	return t
}

// CountedBlocks are blocks known by counts alone: found, and of those
// confirmed and lost; the rest pending.
func CountedBlocks(found, confirmed, lost uint64) *Blocks {
	b := &Blocks{Found: found, Confirmed: confirmed, Lost: lost}
	if found > confirmed+lost {
		b.Pending = int(found - confirmed - lost)
	}
	return b
}

// ProviderUpstream is the template provider a template-distribution client
// follows, as an upstream (the configured address until one connects), and
// what it says of the app: "template provider unreachable", "waiting for a
// template", or ok (then state is "").
func ProviderUpstream(h *tpclient.Handler, configured string) (up *Upstream, state string, ok bool) {
	address, connected := h.Upstream()
	if address == "" {
		address = configured
	}
	up = &Upstream{Address: address, Connected: connected}
	_, current := h.Current()
	switch {
	case !connected:
		return up, "template provider unreachable", false
	case !current:
		return up, "waiting for a template", false
	}
	return up, "", true
}

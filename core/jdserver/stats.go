package jdserver

import (
	"maps"
	"sync"
)

// Stats counts what the JDS did since it started.
type Stats struct {
	Tokens        uint64            // tokens granted
	TokensRefused uint64            // token requests over the rate limit
	Declared      uint64            // DeclareMiningJob received
	Accepted      uint64            // declarations answered .Success
	Refused       map[string]uint64 // declarations answered .Error, by code
	Solutions     uint64            // PushSolution that completed a declared job
	Submitted     uint64            // pushed blocks handed to the node (a block pushed again while on its way counts once)
	NodeAccepted  uint64            // of those, the node took (or had)
	NodeRefused   uint64            // the node refused
	Undelivered   uint64            // never reached the node: too many at once, or the node unreachable
}

type counters struct {
	mu                                                   sync.Mutex
	tokens, tokensRefused, declared, accepted, solutions uint64
	refused                                              map[string]uint64
}

func (c *counters) add(n *uint64) { c.mu.Lock(); *n++; c.mu.Unlock() }

func (c *counters) refusal(code string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.refused == nil {
		c.refused = map[string]uint64{}
	}
	c.refused[code]++
}

func (c *counters) snapshot() Stats {
	c.mu.Lock()
	defer c.mu.Unlock()
	return Stats{Tokens: c.tokens, TokensRefused: c.tokensRefused, Declared: c.declared, Accepted: c.accepted,
		Refused: maps.Clone(c.refused), Solutions: c.solutions}
}

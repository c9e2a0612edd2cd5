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
	NodeAccepted  uint64            // pushed blocks the node took (or had)
	NodeRefused   uint64            // pushed blocks the node refused
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

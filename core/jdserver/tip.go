package jdserver

import (
	"context"
	"sync"
	"time"

	"github.com/stratumgo/stratum/core/mining/coinbase"
	"github.com/stratumgo/stratum/core/service"
	"github.com/stratumgo/stratum/core/sv2"
)

// tip is the block a declared job must build on, as the template provider
// last said.
type tip struct {
	prevHash sv2.U256
	nBits    uint32
	minNTime uint32 // the prev hash's header_timestamp
	height   int64  // of the next block; -1 when the templates do not say
}

// The topics the template-distribution side hands the JD server.
var (
	templates  = service.NewTopic[*sv2.NewTemplate]("template")
	prevHashes = service.NewTopic[*sv2.TemplateSetNewPrevHash]("prev hash")
)

// keepHeights is how many templates' heights are remembered to match a
// prev hash with: a provider sends its future template just before.
const keepHeights = 16

// chain follows the template provider's tip. It is written from the
// sibling's goroutine and read by every client's, hence the lock.
type chain struct {
	mu      sync.Mutex
	heights map[uint64]int64 // template id → BIP34 height
	order   []uint64
	cur     *tip
	changed chan struct{} // closed, and replaced, at each new tip
}

func newChain() *chain { return &chain{heights: map[uint64]int64{}, changed: make(chan struct{})} }

func (c *chain) template(m *sv2.NewTemplate) {
	_, h := coinbase.BIP34Height(m.CoinbasePrefix)
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.heights[m.TemplateID]; !ok {
		c.order = append(c.order, m.TemplateID)
	}
	c.heights[m.TemplateID] = h
	for len(c.order) > keepHeights {
		delete(c.heights, c.order[0])
		c.order = c.order[1:]
	}
}

// prevHash makes m the tip and reports whether it changed.
func (c *chain) prevHash(m *sv2.TemplateSetNewPrevHash) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	h, ok := c.heights[m.TemplateID]
	if !ok {
		h = -1
	}
	changed := c.cur == nil || c.cur.prevHash != m.PrevHash
	c.cur = &tip{prevHash: m.PrevHash, nBits: m.NBits, minNTime: m.HeaderTimestamp, height: h}
	if changed {
		close(c.changed)
		c.changed = make(chan struct{})
	}
	return changed
}

// next waits up to d (or ctx) for a tip other than old and returns the
// current one.
func (c *chain) next(ctx context.Context, old *tip, d time.Duration) *tip {
	c.mu.Lock()
	cur, ch := c.cur, c.changed
	c.mu.Unlock()
	if cur != old {
		return cur
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ch:
	case <-t.C:
	case <-ctx.Done():
	}
	return c.tip()
}

// tip is the current tip, or nil before the provider sent one.
func (c *chain) tip() *tip {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.cur
}

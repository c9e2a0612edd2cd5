package mining

import (
	"fmt"
	"sync"

	"github.com/stratumgo/stratum/core/mining/block"
	"github.com/stratumgo/stratum/core/mining/coinbase"
	"github.com/stratumgo/stratum/core/mining/merkle"
	"github.com/stratumgo/stratum/core/sv2"
)

// Client follows the channels and jobs an upstream gives a mining client:
// future jobs, their activation by SetNewPrevHash, SetTarget (which applies to
// future jobs too), SetExtranoncePrefix and SetGroupChannel. It is safe for
// concurrent use.
type Client struct {
	mu       sync.Mutex
	channels map[uint32]*clientChannel
}

type clientChannel struct {
	id, group      uint32
	extended       bool
	prefix         []byte
	extranonceSize int
	target         sv2.U256
	future         map[uint32]*Work // by job id
	active         *Work
}

// Work is an active job ready to hash. It is immutable.
type Work struct {
	ChannelID        uint32
	JobID            uint32
	Extended         bool
	Version          uint32
	VersionRolling   bool
	PrevHash         sv2.U256
	NBits            uint32
	MinNTime         uint32
	Target           sv2.U256 // the share target
	MerkleRoot       sv2.U256 // standard jobs
	ExtranoncePrefix []byte   // extended jobs: the channel's prefix when the job arrived
	ExtranonceSize   int      // extended jobs: bytes the miner rolls
	CoinbasePrefix   []byte
	CoinbaseSuffix   []byte
	MerklePath       []sv2.U256
}

// Header returns the header for a nonce, ntime, version and, on extended jobs, extranonce.
func (w *Work) Header(extranonce []byte, nonce, ntime, version uint32) block.Header {
	root := w.MerkleRoot
	if w.Extended {
		root = merkle.Root(coinbase.TxID(w.CoinbasePrefix, w.ExtranoncePrefix, extranonce, w.CoinbaseSuffix), w.MerklePath)
	}
	return block.Header{Version: version, PrevHash: w.PrevHash, MerkleRoot: root, NTime: ntime, NBits: w.NBits, Nonce: nonce}
}

// NewClient returns a Client with no channels.
func NewClient() *Client { return &Client{channels: make(map[uint32]*clientChannel)} }

// Handle applies one message from the upstream. Messages that do not change
// job state are ignored; a message for an unknown channel or job is an error
// wrapping ErrUnknownChannel or ErrUnknownJob.
func (c *Client) Handle(m sv2.Message) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	switch m := m.(type) {
	case *sv2.OpenStandardMiningChannelSuccess:
		c.channels[m.ChannelID] = &clientChannel{id: m.ChannelID, group: m.GroupChannelID, prefix: m.ExtranoncePrefix,
			target: m.Target, future: make(map[uint32]*Work)}
	case *sv2.OpenExtendedMiningChannelSuccess:
		c.channels[m.ChannelID] = &clientChannel{id: m.ChannelID, group: m.GroupChannelID, extended: true,
			prefix: m.ExtranoncePrefix, extranonceSize: int(m.ExtranonceSize), target: m.Target, future: make(map[uint32]*Work)}
	case *sv2.SetGroupChannel:
		for _, id := range m.ChannelIDs {
			if ch := c.channels[id]; ch != nil {
				ch.group = m.GroupChannelID
			}
		}
	case *sv2.SetTarget:
		return c.each(m.ChannelID, func(ch *clientChannel) {
			ch.target = m.MaximumTarget
			for _, w := range ch.future {
				w.Target = m.MaximumTarget
			}
		})
	case *sv2.SetExtranoncePrefix:
		return c.each(m.ChannelID, func(ch *clientChannel) { ch.prefix = m.ExtranoncePrefix })
	case *sv2.NewMiningJob:
		return c.each(m.ChannelID, func(ch *clientChannel) {
			c.addJob(ch, &Work{JobID: m.JobID, Version: m.Version, VersionRolling: true, MerkleRoot: m.MerkleRoot}, m.MinNTime)
		})
	case *sv2.NewExtendedMiningJob:
		return c.each(m.ChannelID, func(ch *clientChannel) {
			w := &Work{JobID: m.JobID, Extended: true, Version: m.Version, VersionRolling: m.VersionRollingAllowed,
				CoinbasePrefix: m.CoinbaseTxPrefix, CoinbaseSuffix: m.CoinbaseTxSuffix, MerklePath: m.MerklePath}
			if !ch.extended {
				// A standard channel in a group: its merkle root follows from its prefix (§5.2.1).
				w.Extended = false
				w.MerkleRoot = merkle.Root(coinbase.TxID(m.CoinbaseTxPrefix, ch.prefix, nil, m.CoinbaseTxSuffix), m.MerklePath)
			}
			c.addJob(ch, w, m.MinNTime)
		})
	case *sv2.SetNewPrevHash:
		_, direct := c.channels[m.ChannelID]
		var missing error
		err := c.each(m.ChannelID, func(ch *clientChannel) {
			w := ch.future[m.JobID]
			if w == nil && !direct {
				// A group's prev hash can overtake a member that joined after
				// the server sent it; that member's own jobs are newer.
				return
			}
			clear(ch.future) // only the named job stays valid (§5.3.17)
			if w == nil {
				missing = fmt.Errorf("%w: job %d on channel %d", ErrUnknownJob, m.JobID, ch.id)
				ch.active = nil
				return
			}
			w.PrevHash, w.NBits, w.MinNTime = m.PrevHash, m.NBits, m.MinNTime
			ch.active = w
		})
		if err != nil {
			return err
		}
		return missing
	case *sv2.CloseChannel:
		// A group channel's id closes every member (§5.3.9).
		return c.each(m.ChannelID, func(ch *clientChannel) { delete(c.channels, ch.id) })
	}
	return nil
}

// each applies f to the channel id, or to every member when id is a group.
func (c *Client) each(id uint32, f func(*clientChannel)) error {
	if ch := c.channels[id]; ch != nil {
		f(ch)
		return nil
	}
	found := false
	for _, ch := range c.channels {
		if ch.group == id {
			f(ch)
			found = true
		}
	}
	if !found {
		return fmt.Errorf("%w: %d", ErrUnknownChannel, id)
	}
	return nil
}

func (c *Client) addJob(ch *clientChannel, w *Work, minNTime sv2.Option[uint32]) {
	w.ChannelID, w.Target = ch.id, ch.target
	if w.Extended {
		w.ExtranoncePrefix, w.ExtranonceSize = ch.prefix, ch.extranonceSize
	}
	if !minNTime.Valid {
		ch.future[w.JobID] = w
		return
	}
	if ch.active == nil {
		return // an active job needs a prev hash first
	}
	w.PrevHash, w.NBits, w.MinNTime = ch.active.PrevHash, ch.active.NBits, minNTime.Value
	ch.active = w
}

// Work returns the active job of a channel.
func (c *Client) Work(channelID uint32) (*Work, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	ch := c.channels[channelID]
	if ch == nil || ch.active == nil {
		return nil, false
	}
	return ch.active, true
}

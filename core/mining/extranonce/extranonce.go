// Package extranonce hands out unique extranonce prefixes to channels.
//
// A full extranonce is laid out as
//
//	[ fixed prefix ][ channel index ][ rollable ]
//
// The fixed prefix is empty for a pool, or the prefix a proxy or job declarator
// client got from its own upstream (an upstream channel's extranonce_prefix), so
// that the space an upstream gave is divided again without overlap. The channel
// index is what this allocator assigns; the rollable bytes are left to the
// downstream (an extended channel's extranonce_size) or zero-filled (a standard
// channel, whose prefix is the whole extranonce, so that every channel of a group
// has the same full extranonce size, §5.2.3).
package extranonce

import (
	"errors"
	"fmt"
	"math/bits"
	"sync"
)

// MaxSize is the largest full extranonce: a share's extranonce is a B0_32.
const MaxSize = 32

// Errors callers may branch on.
var (
	// ErrExhausted means every channel index is in use or still quarantined;
	// a server answers the channel request with OpenMiningChannel.Error
	// (ErrorCodeExhausted) and other channels are unaffected.
	ErrExhausted = errors.New("extranonce: all prefixes in use")
	ErrConfig    = errors.New("extranonce: invalid layout")
	ErrNotOwned  = errors.New("extranonce: prefix not allocated here")
)

// ErrorCodeExhausted is the OpenMiningChannel.Error code for ErrExhausted.
const ErrorCodeExhausted = "channel-capacity-exhausted"

// Config is the layout an Allocator manages.
type Config struct {
	Prefix       []byte // fixed bytes from upstream or of this server; may be empty
	IndexSize    int    // bytes of channel index, 1 to 8
	RollableSize int    // bytes left to downstreams
}

// Allocator assigns channel indexes. An index given back with Release is
// quarantined until the next Advance, because shares already credited with it
// could be credited again to whoever gets it next while the tip is the same
// (a job of the same template, or a custom job of the same content, with the
// same prefix makes the same headers). An index that nothing was credited with
// since the last Advance can be given back with Free and is reused at once.
// It is safe for concurrent use.
type Allocator struct {
	mu         sync.Mutex
	cfg        Config
	capacity   uint64
	used       []uint64 // bitmap: allocated or quarantined
	quarantine []uint64 // indexes released since the last Advance
	next       uint64   // where the search for a free index starts
	inUse      uint64
}

// MaxChannels bounds the channels one Allocator tracks, keeping its bitmap at 2 MiB.
const MaxChannels = 1 << 24

// New returns an Allocator for cfg. An index of more than 3 bytes still serves
// at most MaxChannels channels; the upper bytes stay zero.
func New(cfg Config) (*Allocator, error) {
	switch {
	case cfg.IndexSize < 1 || cfg.IndexSize > 8:
		return nil, fmt.Errorf("%w: index size %d, want 1 to 8", ErrConfig, cfg.IndexSize)
	case cfg.RollableSize < 0:
		return nil, fmt.Errorf("%w: rollable size %d", ErrConfig, cfg.RollableSize)
	case len(cfg.Prefix)+cfg.IndexSize+cfg.RollableSize > MaxSize:
		return nil, fmt.Errorf("%w: %d+%d+%d bytes exceed %d", ErrConfig,
			len(cfg.Prefix), cfg.IndexSize, cfg.RollableSize, MaxSize)
	}
	capacity := uint64(MaxChannels)
	if cfg.IndexSize < 3 {
		capacity = 1 << (8 * cfg.IndexSize)
	}
	cfg.Prefix = append([]byte(nil), cfg.Prefix...)
	return &Allocator{cfg: cfg, capacity: capacity}, nil
}

// FromUpstream returns an Allocator that divides the space an upstream channel
// was given: its extranonce_prefix stays fixed, indexSize of its extranonce_size
// bytes index this node's channels, and the rest is left to them.
func FromUpstream(upstreamPrefix []byte, upstreamSize, indexSize int) (*Allocator, error) {
	return New(Config{Prefix: upstreamPrefix, IndexSize: indexSize, RollableSize: upstreamSize - indexSize})
}

// PrefixSize is the length of the prefixes an extended channel gets: fixed prefix and index.
func (a *Allocator) PrefixSize() int { return len(a.cfg.Prefix) + a.cfg.IndexSize }

// RollableSize is the extranonce_size of an extended channel.
func (a *Allocator) RollableSize() int { return a.cfg.RollableSize }

// FullSize is the full extranonce size of every channel of this allocator.
func (a *Allocator) FullSize() int { return a.PrefixSize() + a.cfg.RollableSize }

// Prefix is an allocated extranonce prefix.
type Prefix struct {
	Index uint64
	Bytes []byte // fixed prefix and big-endian index; for a standard channel, zero-filled to FullSize
}

// Allocate reserves a free index and returns its prefix, zero-filled to the
// full extranonce size when standard is set.
func (a *Allocator) Allocate(standard bool) (Prefix, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.used == nil {
		a.used = make([]uint64, (a.capacity+63)/64)
	}
	idx, ok := a.findFree()
	if !ok {
		return Prefix{}, fmt.Errorf("%w: %d of %d", ErrExhausted, a.inUse, a.capacity)
	}
	a.used[idx/64] |= 1 << (idx % 64)
	a.inUse++
	a.next = idx + 1
	if a.next == a.capacity {
		a.next = 0
	}
	return Prefix{Index: idx, Bytes: a.encode(idx, standard)}, nil
}

// findFree scans the bitmap a word at a time from next, wrapping once.
func (a *Allocator) findFree() (uint64, bool) {
	if a.inUse >= a.capacity {
		return 0, false
	}
	words := uint64(len(a.used))
	start := a.next / 64
	for i := uint64(0); i <= words; i++ {
		w := (start + i) % words
		free := ^a.used[w]
		if i == 0 {
			free &^= (1 << (a.next % 64)) - 1 // bits before next in the first word come last
		}
		if w == words-1 && a.capacity%64 != 0 {
			free &= (1 << (a.capacity % 64)) - 1
		}
		if free != 0 {
			return w*64 + uint64(bits.TrailingZeros64(free)), true
		}
	}
	return 0, false
}

func (a *Allocator) encode(idx uint64, standard bool) []byte {
	n := a.PrefixSize()
	if standard {
		n = a.FullSize()
	}
	b := make([]byte, n)
	copy(b, a.cfg.Prefix)
	for i := range a.cfg.IndexSize {
		b[len(a.cfg.Prefix)+a.cfg.IndexSize-1-i] = byte(idx >> (8 * i))
	}
	return b
}

// Release returns an index. It is handed out again only after the next
// Advance, once the jobs made with it are stale.
func (a *Allocator) Release(idx uint64) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	if err := a.owned(idx); err != nil {
		return err
	}
	a.quarantine = append(a.quarantine, idx)
	return nil
}

// Free returns an index for reuse at once. The caller must know that no share
// made with it can be credited any more and that none was credited since the
// last Advance: its channel is closed (its jobs are gone) and accepted no share
// on the current tip, or the tip changed since its jobs were made. Otherwise
// it must call Release.
func (a *Allocator) Free(idx uint64) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	if err := a.owned(idx); err != nil {
		return err
	}
	a.used[idx/64] &^= 1 << (idx % 64)
	a.inUse--
	return nil
}

// owned checks that idx is allocated. An index is given back once, with
// Release or Free; giving back a quarantined index again is not detected.
func (a *Allocator) owned(idx uint64) error {
	if idx >= a.capacity || a.used == nil || a.used[idx/64]&(1<<(idx%64)) == 0 {
		return fmt.Errorf("%w: index %d", ErrNotOwned, idx)
	}
	return nil
}

// Advance frees every index released before it. A server calls it when a new
// prev hash makes all earlier jobs stale.
func (a *Allocator) Advance() {
	a.mu.Lock()
	defer a.mu.Unlock()
	for _, idx := range a.quarantine {
		a.used[idx/64] &^= 1 << (idx % 64)
		a.inUse--
	}
	a.quarantine = a.quarantine[:0]
	if cap(a.quarantine) > 1024 {
		a.quarantine = nil // a burst of releases does not stay allocated
	}
}

// InUse returns the number of indexes allocated or quarantined.
func (a *Allocator) InUse() uint64 {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.inUse
}

// Quarantined returns the number of released indexes waiting for the next
// Advance (included in InUse). Together with Capacity it tells a server how
// close churn has brought it to ErrExhausted.
func (a *Allocator) Quarantined() uint64 {
	a.mu.Lock()
	defer a.mu.Unlock()
	return uint64(len(a.quarantine))
}

// Capacity returns the number of channel indexes the Allocator hands out.
func (a *Allocator) Capacity() uint64 { return a.capacity }

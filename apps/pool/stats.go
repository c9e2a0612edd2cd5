package pool

import "github.com/stratumgo/stratum/core/accounting"

// The pool's accounting is core/accounting's: these names keep the pool's
// API whole for code that embeds it.
type (
	Counters     = accounting.Counters
	ChannelKey   = accounting.ChannelKey
	ChannelStats = accounting.ChannelStats
	WorkerKey    = accounting.WorkerKey
	Stats        = accounting.Stats
)

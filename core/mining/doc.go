// Package mining keeps the job and channel state of the Mining Protocol for
// both sides of a connection.
//
// Server side (a pool, a proxy or a job declarator client towards its miners):
// a [Server] turns templates (NewTemplate, TemplateSetNewPrevHash) into the
// messages each connection's channels need — NewMiningJob for standard jobs,
// one NewExtendedMiningJob per group channel, SetNewPrevHash — and a [Conn]
// opens standard and extended channels and validates SubmitShares* into a
// [ShareResult]: rejected with the code SRI uses, accepted with its difficulty,
// or a found block with what is needed to submit it. Acknowledgements are
// batched per channel, vardiff runs per channel, and extranonce prefixes come
// from a shared [extranonce.Allocator].
//
// With a [CustomJobConfig], a Server also takes custom jobs from job
// declarator clients (SetCustomMiningJob, §5.3.18 and §6): [Conn.SetCustomMiningJob]
// validates one against the tip and the pool payout and makes it a job whose
// shares are validated like any other extended job's.
//
// Client side (a CPU miner, or a proxy towards its pool): a [Client] follows
// the same state from the messages it receives and hands out the [Work] to hash.
//
// Share validation does not allocate except to report a found block and to
// grow a channel's set of accepted shares (made with its first share on a tip:
// an idle channel costs about 1 KB); its hashing is done by package sha256d,
// with the CPU's SHA extensions where it has them.
//
// # Limits
//
// What one client can make a Server hold or refuse others is bounded (see
// [ServerConfig]): no channel's target is easier than MinShareDifficulty, a
// channel remembers at most MaxSharesPerTip shares per tip, a connection opens
// at most MaxChannelOpensPerSecond channels beyond a burst, and a channel that
// accepted no share on the current tip gives its extranonce prefix back at
// once when it closes (one that did keeps it until the next prev hash, so no
// share is credited twice). A non-future template whose BIP34 height is not
// the tip's is refused with [ErrWrongTip].
//
// # Concurrency
//
// A [Server], its [Conn]s and a [Client] are safe for concurrent use. A mining
// service calls each client's handlers on that client's goroutine and the
// template events on another, and that is the use the locking is shaped for:
//
//   - The Server's lock guards the templates, the tip and the set of
//     connections; each Conn's lock guards its channels and jobs. Whoever
//     needs both takes the server's first (NewTemplate, SetNewPrevHash and
//     opening a channel, which all create jobs).
//   - Share validation (SubmitStandard, SubmitExtended) takes only its Conn's
//     lock, for the one share: about 0.2 µs, or 1.8 µs for an extended
//     share with a new extranonce. Shares of one connection come in order anyway,
//     so the lock is contended only by a template being fanned out, which
//     waits for at most one share per connection.
//   - The other Conn methods take only the Conn's lock.
//
// Each call returns the messages it calls for, and the caller sends them. The
// Server produces a connection's messages in a definite order, under that
// connection's lock; they reach the connection in that order when a Conn's
// calls and the sending of their results happen on the connection's own
// goroutine, and each [Outbound] is handed to that goroutine to send after
// whatever it is doing. That is what a service.ServerService does by
// construction (its handler calls for one client are serialized with
// everything pushed to that client), so a mining server handler needs no
// lock of its own for order: a job made by NewTemplate for a channel is made
// only once the channel exists, and is queued after the channel's
// OpenStandardMiningChannel.Success that its own goroutine queued first. The
// [Client] in turn tolerates a group's SetNewPrevHash that overtakes a channel
// which joined the group later.
package mining

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
// Client side (a CPU miner, or a proxy towards its pool): a [Client] follows
// the same state from the messages it receives and hands out the [Work] to hash.
//
// Both sides are safe for concurrent use. Share validation does not allocate
// except to report a found block.
package mining

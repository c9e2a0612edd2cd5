// Package sv1 brings Stratum V1 devices into a Stratum V2 mining server.
//
// NewGateway (or Gateways) returns a service.Gateway: its connections are
// served by the server's own mining handler as clients with one extended
// channel each, so their shares are checked, vardiffed, limited and
// credited by the same code as a Sv2 device's. The gateway translates:
// mining.subscribe is answered at once, mining.authorize opens the channel
// (OpenExtendedMiningChannel with the device's user), mining.submit becomes
// SubmitSharesExtended, mining.suggest_difficulty and minimum-difficulty
// UpdateChannel; the handler's jobs, targets and answers become
// mining.notify, mining.set_difficulty and the answers, in request order.
//
// # Extranonces
//
// A Sv1 device learns its extranonce1 from mining.subscribe, before it
// names a user, and so before its channel exists. Its extranonce1 is
// therefore Extranonce1Size bytes of the session's own, and the channel's
// extranonce prefix goes at the end of coinb1; extranonce2 is
// Config.Extranonce2Size bytes, and the channel's bytes the device does not
// roll are zeros at the start of coinb2. A device that takes
// mining.set_extranonce when its channel opens gets the prefix in its
// extranonce1 instead. Either way the coinbase is the channel's: prefix,
// then the bytes a Sv2 miner would roll.
//
// # Byte orders
//
// mining.notify's prev hash is the header's 32 bytes with each 4-byte word
// reversed; version, nbits, ntime and nonce are 8 hex digits of the number,
// most significant first; coinbase parts, extranonces and merkle branches
// are bytes in the order they are hashed. PrevHashHex, Uint32Hex and their
// parsers hold these conventions; the tests fix them against a real block.
//
// Client is a Stratum V1 miner of our own, behaving as common firmware does,
// for tests, benchmarks and the sv2 tool's sv1-mine.
package sv1

// Package harness runs the pieces of an integration test: a node in regtest
// and our own apps, in-process or as built binaries. The node is a btcd,
// built from the module cache at the version the integration module pins
// (its go.mod "tool" line), or Bitcoin Core's bitcoind when the
// SV2_BITCOIND environment variable names its binary (see Kind and
// EachNode: tests against bitcoind skip, saying so, without it; nothing is
// downloaded or built).
//
// Everything is per test: each Node has its own temp dir, ports chosen at
// run time, its own key and its own log, so tests may run in parallel.
// Every wait has a deadline, and everything started is stopped by
// t.Cleanup; the output of a node or process is copied into the test log
// when the test fails.
package harness

// Package harness runs the pieces of an integration test: a btcd node in
// regtest, built from the module cache at the version the integration
// module pins (its go.mod "tool" line), and our own apps, in-process or as
// built binaries.
//
// Everything is per test: each Node has its own temp dir, ports chosen by
// the kernel, its own key and its own log, so tests may run in parallel.
// Every wait has a deadline, and everything started is stopped by
// t.Cleanup; the output of a node or process is copied into the test log
// when the test fails.
package harness

// Package integration holds the tests that drive our code against a real
// btcd in regtest, and against Bitcoin Core's bitcoind when SV2_BITCOIND
// names one; see the harness package for the machinery.
package integration

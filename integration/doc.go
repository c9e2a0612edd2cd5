// Package integration holds the tests that drive our code against a real
// btcd in regtest; see the harness package for the machinery.
package integration

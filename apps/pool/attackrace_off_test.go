//go:build !race

package pool

// attackRace: see attackrace_on_test.go.
const attackRace = false

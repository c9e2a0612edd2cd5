//go:build race

package pool

// attackRace: the race detector makes the pure-Go SQLite driver about 20
// times slower, so timing attacks scale their fixtures down under it.
const attackRace = true

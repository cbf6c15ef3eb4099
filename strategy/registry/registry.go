// Package registry is the one explicit list of the strategy types the daemon knows. There is
// no init() registration and no global map: a caller asks for the list and passes it on, so
// tests and future binaries can build their own.
package registry

import (
	"sort"

	"github.com/mmd-dev/mmd/strategy"
	"github.com/mmd-dev/mmd/strategy/ladder"
)

// Builtin returns a fresh map of every built-in strategy type, keyed by the name a strategy
// file gives in `type:`.
func Builtin() map[string]strategy.Factory {
	return map[string]strategy.Factory{
		"ladder": ladder.New,
	}
}

// Names returns the types in reg, sorted, for messages such as
// "unknown strategy type; known: ladder".
func Names(reg map[string]strategy.Factory) []string {
	names := make([]string, 0, len(reg))
	for n := range reg {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

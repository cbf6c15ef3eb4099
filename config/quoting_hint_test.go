package config

import (
	"strings"
	"testing"
)

// A quoted value that is empty or spells null is no number bare either: without its quotes
// it is no value at all, which the loader refuses as "no value given". The hint to drop the
// quotes must not be given there, since following it does not help.
func TestUnquoteHintNotForNull(t *testing.T) {
	for _, tt := range []struct{ name, daemon, key string }{
		{"empty double-quoted whole number", "sim: {seed: \"\"}\n", "sim.seed"},
		{"empty single-quoted whole number", "risk: {maxOpenOrders: ''}\n", "risk.maxOpenOrders"},
		{"quoted null number", "sim: {volatility: \"null\"}\n", "sim.volatility"},
		{"quoted tilde whole number", "sim: {seed: '~'}\n", "sim.seed"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			strat := "name: p\ntype: probe\ninstrument: ETH-BTC\nparams:\n"
			_, err := Load(fixture(t, simDaemon+tt.daemon, map[string]string{"p.yaml": strat}), testRegistry(), nil)
			ps := problemsOf(t, err)
			if len(ps) != 1 || ps[0].Key != tt.key {
				t.Fatalf("problems:\n%v\nwant one at %s", ps, tt.key)
			}
			if strings.Contains(ps[0].Msg, "without quotes") {
				t.Fatalf("%s: %s — without the quotes the value is no value at all", ps[0].Key, ps[0].Msg)
			}
		})
	}
}

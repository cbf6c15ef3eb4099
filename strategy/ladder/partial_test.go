package ladder

import (
	"testing"

	"github.com/mmd-dev/mmd/exchange"
	"github.com/mmd-dev/mmd/strategy"
)

// The budget charged for a partly filled order the order manager keeps (from a second
// adversarial review).

// With minRefresh 0 every call is fresh and the order manager's tolerance alone decides
// which orders stay. The best ask (0.05 at 0.031113) is partly filled (0.03 left) and the
// base balance binds: the two asks hold all 0.08 ETH there is. The mid rises one tick, so
// the fresh ask is 0.031114: still within 5 bps of the resting one, which the order manager
// keeps as it is. keptPartial looked only for an order at exactly the fresh price, found
// none, and charged level 0 its full 0.05: level 1 was left 0.03, below the 0.05 its order
// still shows, so the manager cancelled that order and sent a smaller one — a partial fill of
// one level churned the next, as before the fix, whenever the book had moved at all.
func TestKeptPartialWithinTolerance(t *testing.T) {
	l, err := NewLadder(params(func(p *Params) { p.ToleranceBps = d("5") }))
	if err != nil {
		t.Fatal(err)
	}
	partial := order(exchange.Sell, "0.031113", "0.03")
	partial.Volume = d("0.05")
	v := strategy.View{
		Now: t0, Instrument: ethBTC,
		Book: book([]string{"0.031001:1"}, []string{"0.031101:1"}), // mid 0.031051
		Base: hold("0.08", "0"), Quote: hold("10", "10"),
		Open: []exchange.Order{partial, order(exchange.Sell, "0.031144", "0.05")},
	}
	w := l.Quote(v)
	var asks []strategy.Quote
	for _, q := range w.Quotes {
		if q.Side == exchange.Sell {
			asks = append(asks, q)
		}
	}
	if len(asks) != 2 || !asks[0].Price.Equal(d("0.031114")) || !asks[1].Price.Equal(d("0.031145")) {
		t.Fatalf("asks:\n%s", quotes(w.Quotes))
	}
	if !asks[1].Volume.Equal(d("0.05")) {
		t.Errorf("level 1 ask %s × %s: the order of 0.05 resting within tolerance is to be replaced, "+
			"because the kept partial level 0 was charged its full size\n%s", asks[1].Price, asks[1].Volume, quotes(w.Quotes))
	}
}

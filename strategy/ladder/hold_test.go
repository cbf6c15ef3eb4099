package ladder

import (
	"slices"
	"testing"
	"time"

	"github.com/shopspring/decimal"

	"github.com/mmd-dev/mmd/exchange"
	"github.com/mmd-dev/mmd/strategy"
)

// Edge cases from an adversarial review of the ladder's quoting invariants: every published set must have bids
// strictly descending and asks strictly ascending (no two levels on one price), and the bids
// must not cost more than the budget the ladder itself computes (quote.Available plus what
// its own open bids freeze), also inside minRefresh where held prices replace fresh ones.

// reviewSides splits quotes into bid and ask prices in published order.
func reviewSides(qs []strategy.Quote) (bids, asks []decimal.Decimal) {
	for _, q := range qs {
		if q.Side == exchange.Buy {
			bids = append(bids, q.Price)
		} else {
			asks = append(asks, q.Price)
		}
	}
	return bids, asks
}

// reviewCheckOrder fails unless bids are strictly descending and asks strictly ascending.
func reviewCheckOrder(t *testing.T, what string, qs []strategy.Quote) {
	t.Helper()
	bids, asks := reviewSides(qs)
	for i := 1; i < len(bids); i++ {
		if !bids[i].LessThan(bids[i-1]) {
			t.Errorf("%s: bid level %d at %s is not below level %d at %s (two levels on one price or out of order)\n%s",
				what, i, bids[i], i-1, bids[i-1], quotes(qs))
		}
	}
	for i := 1; i < len(asks); i++ {
		if !asks[i].GreaterThan(asks[i-1]) {
			t.Errorf("%s: ask level %d at %s is not above level %d at %s (two levels on one price or out of order)\n%s",
				what, i, asks[i], i-1, asks[i-1], quotes(qs))
		}
	}
}

// The shipped eth-btc ladder (3 levels, spread 25, step 15, tolerance 5 → hold up to 20 bps,
// minRefresh 2s). The best bid fills; inside minRefresh the remaining two open bids are
// paired with the fresh levels by rank, so each slides up one level (15 bps ≤ 20 bps hold),
// and the third level, which has no order any more, takes its fresh price: the price of the
// order now held for level 2. Two levels land on one price, and the level that just filled
// is not re-quoted at its fresh price as the package comment promises.
func TestHoldAfterFillKeepsLevelsApart(t *testing.T) {
	l, err := NewLadder(Params{
		Levels: 3, SpreadBps: d("25"), StepBps: d("15"), Size: d("0.01"), Reference: RefMid,
		ToleranceBps: d("5"), MinRefresh: 2 * time.Second, TargetBaseRatio: d("0.5"),
	})
	if err != nil {
		t.Fatal(err)
	}
	v := strategy.View{
		Now: t0, Instrument: ethBTC,
		Book: book([]string{"0.031000:1"}, []string{"0.031100:1"}),
		Base: hold("100", "100"), Quote: hold("10", "10"),
	}
	first := slices.Clone(l.Quote(v).Quotes)
	reviewCheckOrder(t, "fresh", first)
	freshBids, freshAsks := reviewSides(first)
	if len(freshBids) != 3 || len(freshAsks) != 3 {
		t.Fatalf("fresh ladder:\n%s", quotes(first))
	}
	// Level 0's bid filled; levels 1 and 2 and all asks rest at their fresh prices.
	v.Now = t0.Add(500 * time.Millisecond)
	v.Open = []exchange.Order{
		order(exchange.Buy, freshBids[1].String(), "0.01"),
		order(exchange.Buy, freshBids[2].String(), "0.01"),
		order(exchange.Sell, freshAsks[0].String(), "0.01"),
		order(exchange.Sell, freshAsks[1].String(), "0.01"),
		order(exchange.Sell, freshAsks[2].String(), "0.01"),
	}
	got := l.Quote(v).Quotes
	reviewCheckOrder(t, "inside minRefresh after a fill", got)
	if bids, _ := reviewSides(got); len(bids) != 3 || !bids[0].Equal(freshBids[0]) {
		t.Errorf("the level whose order filled is not re-quoted at its fresh price %s:\n%s", freshBids[0], quotes(got))
	}
}

// Inside minRefresh the ladder sizes its bids at their fresh prices, then swaps in the
// (higher) held price of an open bid. The set it publishes then costs more than its own
// budget, so the new level-1 bid needs more quote than is available: the exchange rejects
// it for insufficient balance (2011) and the gate's reject backoff stops the strategy's
// inserts, doubling with each repeat.
func TestHoldStaysWithinBudget(t *testing.T) {
	l, err := NewLadder(params(func(p *Params) {
		p.ToleranceBps = d("10") // hold up to 40 bps
		p.MinRefresh = time.Minute
	}))
	if err != nil {
		t.Fatal(err)
	}
	v := strategy.View{
		Now: t0, Instrument: ethBTC,
		Book: book([]string{"0.031000:1"}, []string{"0.031100:1"}),
		Base: hold("100", "100"), Quote: hold("10", "10"),
	}
	l.Quote(v) // fresh: bids 0.030987, 0.030956
	// 30 bps lower a second later. The level-0 bid rests at 0.030987 (0.05), level 1's filled
	// and spent the quote: 0.000985 BTC is left free.
	v.Now = t0.Add(time.Second)
	v.Book = book([]string{"0.030907:1"}, []string{"0.031007:1"})
	v.Quote = hold("0.00253435", "0.000985")
	v.Open = []exchange.Order{order(exchange.Buy, "0.030987", "0.05")}
	got := l.Quote(v).Quotes

	budget := v.Quote.Available
	for _, o := range v.Open {
		if o.Side == exchange.Buy {
			budget = budget.Add(o.Price.Mul(o.Remaining))
		}
	}
	cost := decimal.Zero
	for _, q := range got {
		if q.Side == exchange.Buy {
			cost = cost.Add(q.Price.Mul(q.Volume))
		}
	}
	if cost.GreaterThan(budget) {
		t.Errorf("bids cost %s > budget %s (available %s + own open bids): the new bid cannot be paid\n%s",
			cost, budget, v.Quote.Available, quotes(got))
	}
	reviewCheckOrder(t, "held", got)
}

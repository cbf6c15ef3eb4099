package risk

import (
	"testing"

	"github.com/mmd-dev/mmd/exchange"
)

// The private stream delivers a fill as two messages, order_return (the order with its new
// volumeTraded) and trade_return (the fill), in no fixed order. Whichever comes first, the
// gate must end with the same open-order exposure: 0.5 of the 1.0 bid still rests in the book.
// With order_return first, applyFill used to subtract the fill from a remaining that the
// report had already reduced: the order was dropped as "done" while half of it was still in
// the book, and every later update for it ignored (it was in the done set), so the gate
// under-counted max_open_orders and the worst-case position.
func TestOrderReturnBeforeTradeReturn(t *testing.T) {
	for _, tc := range []struct {
		name        string
		reportFirst bool
	}{
		{"trade_return then order_return", false},
		{"order_return then trade_return", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t, func(l *Limits) { l.MaxOpenOrders = 2 }).healthy()
			sent := f.mustInsert(exchange.Buy, "99", "1")
			report := exchange.Order{SysID: "S1", LocalID: sent.LocalID, Instrument: ethUSDT.ID, Side: exchange.Buy,
				Price: d("99"), Volume: d("1"), Remaining: d("0.5"), Traded: d("0.5"), Status: exchange.StatusPartFilled}
			fill := exchange.Fill{TradeID: "T1", SysID: "S1", LocalID: sent.LocalID, Instrument: ethUSDT.ID,
				Side: exchange.Buy, Price: d("99"), Volume: d("0.5"), PriceSource: exchange.Buy, Time: f.clock.Now()}
			if tc.reportFirst {
				f.g.OnOrder(strat, report)
				f.g.OnFill(strat, fill)
			} else {
				f.g.OnFill(strat, fill)
				f.g.OnOrder(strat, report)
			}
			s := f.g.Status(strat)
			if !s.Position.Equal(d("0.5")) {
				t.Fatalf("position %s, want 0.5", s.Position)
			}
			// One order (0.5 left of it) still rests: one more may be opened, not two.
			if s.OrderRoom != 1 {
				t.Errorf("order room %d, want 1: the partly filled bid is no longer counted as open", s.OrderRoom)
			}
			// Worst case if every bid fills: 0.5 held + 0.5 resting + 2.4 new = 3.4 > max 3.
			_, err := f.insert(exchange.Buy, "99", "2.4")
			if err == nil {
				t.Fatalf("a bid of 2.4 was approved: worst-case position 3.4 > maxPosition 3 (the resting 0.5 was forgotten)")
			}
			refusal(t, err, CheckMaxPosition, "3", "3.4")
		})
	}
}

package risk

import (
	"strings"
	"testing"
	"time"

	"github.com/mmd-dev/mmd/exchange"
)

func (f *fixture) wantState(state State, reasonPrefix string) Status {
	f.t.Helper()
	s := f.g.Status(strat)
	if s.State != state || !strings.HasPrefix(s.Reason, reasonPrefix) {
		f.t.Fatalf("status %s %q, want %s %q (pnl %+v)", s.State, s.Reason, state, reasonPrefix, s.PnL)
	}
	return s
}

func TestPnLDecomposition(t *testing.T) {
	f := newFixture(t, nil).healthy() // mid 100
	f.g.OnFill(strat, exchange.Fill{TradeID: "1", Instrument: ethUSDT.ID, Side: exchange.Buy, Price: d("99.9"), Volume: d("2"), Fee: d("0.002")})
	f.g.OnFill(strat, exchange.Fill{TradeID: "2", Instrument: ethUSDT.ID, Side: exchange.Sell, Price: d("100.1"), Volume: d("1"), Fee: d("0.1001")})
	s := f.g.Status(strat)
	// spread: 2×(100−99.9) + 1×(100.1−100) = 0.3; fees: 0.002 ETH × 99.9 + 0.1001 = 0.2999
	want := PnL{SpreadCapture: d("0.3"), Inventory: d("0"), Fees: d("0.2999"), Total: d("0.0001")}
	if !pnlEqual(s.PnL, want) || !s.Position.Equal(d("1")) {
		t.Fatalf("pnl %+v position %s, want %+v position 1", s.PnL, s.Position, want)
	}
	f.market(10090, 10110) // mid 101, held long enough to be the mark
	f.wait(6 * time.Second)
	s = f.g.Status(strat)
	want.Inventory, want.Total = d("1"), d("1.0001")
	if !pnlEqual(s.PnL, want) {
		t.Fatalf("pnl %+v, want %+v", s.PnL, want)
	}
}

func pnlEqual(a, b PnL) bool {
	return a.SpreadCapture.Equal(b.SpreadCapture) && a.Inventory.Equal(b.Inventory) && a.Fees.Equal(b.Fees) && a.Total.Equal(b.Total)
}

// TestLossLadderDaily: reducing-only at ReduceAt × limit, with its hysteresis; halted at the
// limit and latched through a recovery; Rearm clears it.
func TestLossLadderDaily(t *testing.T) {
	f := newFixture(t, nil).healthy() // daily loss 10 USDT: reducing at 8, back to active below 6.4
	f.fill(exchange.Buy, "99.9", "1") // long 1 at mid 100, spread +0.1

	f.market(9140, 9160) // mid 91.5: total 0.1 − 8.5 = −8.4
	f.wait(6 * time.Second)
	s := f.wantState(ReducingOnly, "daily_loss loss=8.4 reduce_at=8")
	if s.BuyOK || !s.SellOK {
		t.Fatalf("reducing-only sides: %+v", s)
	}
	_, err := f.insert(exchange.Buy, "91", "0.1")
	refusal(t, err, CheckState, "reducing_only", "buy grows position 1: daily_loss loss=8.4 reduce_at=8")
	f.mustInsert(exchange.Sell, "92", "0.6")
	_, err = f.insert(exchange.Sell, "92", "0.5")
	refusal(t, err, CheckState, "reducing_only up to 1", "1.1")
	f.mustInsert(exchange.Sell, "92", "0.4")

	f.market(9290, 9310) // mid 93: loss 6.9, above the 6.4 exit
	f.wait(6 * time.Second)
	f.wantState(ReducingOnly, "daily_loss loss=8.4")
	f.market(9390, 9410) // mid 94: loss 5.9
	f.wait(6 * time.Second)
	f.wantState(Active, "")

	f.market(8940, 8960) // mid 89.5: loss 10.4
	f.wait(6 * time.Second)
	s = f.wantState(Halted, "daily_loss loss=10.4 limit=10")
	if s.BuyOK || s.SellOK {
		t.Fatalf("halted sides: %+v", s)
	}
	f.market(9990, 10010) // full recovery: still halted until re-armed
	f.wait(6 * time.Second)
	f.wantState(Halted, "daily_loss loss=10.4 limit=10")
	_, err = f.insert(exchange.Sell, "100.5", "0.1")
	refusal(t, err, CheckState, "active", "halted: daily_loss loss=10.4 limit=10")

	if got := f.g.RearmHalted(); len(got) != 1 || got[0] != strat {
		t.Fatalf("RearmHalted re-armed %v, want [%s]", got, strat)
	}
	f.wantState(Active, "")
	if got := f.g.RearmHalted(); len(got) != 0 {
		t.Fatalf("RearmHalted re-armed an active strategy: %v", got)
	}
	if err := f.g.Rearm("nobody"); err == nil {
		t.Fatal("rearm of an unknown strategy succeeded")
	}
	// From now on the loss counts from the re-arm point.
	f.market(9140, 9160)
	f.wait(6 * time.Second)
	f.wantState(ReducingOnly, "daily_loss loss=8.5")

	changes := f.logs.FilterMessage("risk_state_changed").AllUntimed()
	var path []string
	for _, e := range changes {
		c := e.ContextMap()
		path = append(path, c["from"].(string)+">"+c["to"].(string))
	}
	want := "active>reducing_only reducing_only>active active>halted halted>active active>reducing_only"
	if got := strings.Join(path, " "); got != want {
		t.Fatalf("transitions %q, want %q", got, want)
	}
	if f.count("risk_halted") != 1 || f.count("risk_rearmed") != 1 {
		t.Fatalf("risk_halted %d risk_rearmed %d", f.count("risk_halted"), f.count("risk_rearmed"))
	}
}

// TestLossLadderDrawdown: the drawdown counts from the highest PnL, not from zero.
func TestLossLadderDrawdown(t *testing.T) {
	f := newFixture(t, func(l *Limits) {
		l.DailyLossLimit["USDT"] = d("1000")
		l.DrawdownLimit["USDT"] = d("10")
	}).healthy()
	f.fill(exchange.Buy, "100", "1")
	f.market(10990, 11010) // +10
	f.wait(6 * time.Second)
	f.wantState(Active, "")
	f.market(10190, 10210) // +2: 8 down from the peak, though still in profit
	f.wait(6 * time.Second)
	f.wantState(ReducingOnly, "drawdown drawdown=8 reduce_at=8")
	f.market(9990, 10010) // 0: 10 down
	f.wait(6 * time.Second)
	f.wantState(Halted, "drawdown drawdown=10 limit=10")
}

// TestFlashMoveImmunity: a spike in the mid that reverts within half the mark window changes
// neither the state nor the PnL the limits see; the same move sustained halts.
func TestFlashMoveImmunity(t *testing.T) {
	f := newFixture(t, nil).healthy() // daily loss limit 10, mark window 10 s
	f.fill(exchange.Buy, "100", "1")
	f.wait(10 * time.Second)
	before := f.wantState(Active, "").PnL

	for _, spike := range []time.Duration{100 * time.Millisecond, time.Second, 4 * time.Second} {
		f.market(4990, 5010) // mid 50: a 50-USDT loss if it counted
		f.wantState(Active, "")
		f.wait(spike)
		f.wantState(Active, "")
		f.market(9990, 10010)
		f.wantState(Active, "")
		f.wait(10 * time.Second)
		if s := f.wantState(Active, ""); !pnlEqual(s.PnL, before) {
			t.Fatalf("spike of %s moved the PnL: %+v, was %+v", spike, s.PnL, before)
		}
	}
	if n := f.count("risk_state_changed"); n != 0 {
		t.Fatalf("%d state changes from spikes", n)
	}
	// Sustained: after more than half the window the move counts.
	f.market(4990, 5010)
	f.wait(5*time.Second + 100*time.Millisecond)
	f.wantState(Halted, "daily_loss loss=50 limit=10")
}

func TestExchangeDay(t *testing.T) {
	tests := []struct {
		a, b time.Time
		same bool
	}{
		{time.Date(2024, 3, 1, 15, 59, 59, 999e6, time.UTC), time.Date(2024, 3, 1, 16, 0, 0, 0, time.UTC), false},
		{time.Date(2024, 3, 1, 16, 0, 0, 0, time.UTC), time.Date(2024, 3, 2, 15, 59, 59, 0, time.UTC), true},
		{time.Date(2024, 3, 1, 0, 0, 0, 0, time.UTC), time.Date(2024, 3, 1, 15, 0, 0, 0, time.UTC), true},
		{time.Date(1969, 12, 31, 15, 59, 59, 0, time.UTC), time.Date(1969, 12, 31, 16, 0, 0, 0, time.UTC), false},
		{time.Date(2024, 3, 2, 0, 0, 0, 0, time.FixedZone("UTC+8", 8*3600)), time.Date(2024, 3, 2, 23, 59, 59, 0, time.FixedZone("UTC+8", 8*3600)), true},
	}
	for _, tc := range tests {
		if got := exchangeDay(tc.a) == exchangeDay(tc.b); got != tc.same {
			t.Errorf("same day(%s, %s) = %v, want %v", tc.a, tc.b, got, tc.same)
		}
	}
	if exchangeDay(time.Date(1969, 12, 31, 16, 0, 0, 0, time.UTC)) != 0 {
		t.Error("day 0 must start at 1970-01-01 00:00 UTC+8")
	}
}

// TestExchangeDayRollover: at midnight UTC+8 the order budget refills and the daily loss
// counts from the new day's PnL; a loss halt stays latched across it.
func TestExchangeDayRollover(t *testing.T) {
	f := newFixture(t, func(l *Limits) { l.DailyOrderBudget = 2 }).healthy()
	f.finish(f.mustInsert(exchange.Buy, "99", "0.1").LocalID)
	f.fill(exchange.Buy, "99.9", "1")
	f.market(9140, 9160) // loss 8.4
	f.wait(6 * time.Second)
	f.wantState(ReducingOnly, "daily_loss")
	f.finish(f.mustInsert(exchange.Sell, "92", "0.1").LocalID)
	_, err := f.insert(exchange.Sell, "92", "0.1")
	refusal(t, err, CheckDailyOrderBudget, "2", "3")

	midnight := time.Date(2024, 3, 1, 16, 0, 0, 0, time.UTC) // 2024-03-02 00:00 UTC+8
	f.wait(midnight.Add(-time.Millisecond).Sub(f.clock.Now()))
	_, err = f.insert(exchange.Sell, "92", "0.1")
	refusal(t, err, CheckDailyOrderBudget, "2", "3")
	f.wantState(ReducingOnly, "daily_loss")
	f.wait(time.Millisecond)
	f.wantState(Active, "")
	f.mustInsert(exchange.Sell, "92", "0.1")
	if f.count("risk_day_rolled") != 1 {
		t.Fatal("rollover not logged once")
	}

	// Lose the full limit, then roll the day: still halted.
	f.market(8140, 8160) // mid 81.5: 10 down from the day's start at 91.5
	f.wait(6 * time.Second)
	f.wantState(Halted, "daily_loss")
	f.clock.Advance(24 * time.Hour)
	f.book(f.bid, f.ask)
	f.wantState(Halted, "daily_loss")
}

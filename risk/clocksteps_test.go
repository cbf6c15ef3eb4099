package risk

// Wall-clock steps against the gate's time-driven state, from a second adversarial review:
// each test failed against the code it was written for.

import (
	"testing"
	"time"

	"github.com/mmd-dev/mmd/exchange"
)

// The healthy period is measured on the wall clock. A clock stepped far FORWARD by mistake
// (a VM restored, a bad RTC, a manual date) sees the book "stale" and records that instant as
// the last bad one; once the clock is corrected, the healthy period could only end a month
// later, when the wall clock caught up with the mistaken reading: no quoting for a month.
func TestHealthyPeriodAfterMistakenForwardStep(t *testing.T) {
	f := newFixture(t, nil).healthy()
	real := f.clock.Now()
	f.stepClock(real.Add(30 * 24 * time.Hour)) // the wall clock jumps a month ahead by mistake
	f.g.Status(strat)                          // the book is a month old: paused
	f.stepClock(real.Add(time.Second))         // and is corrected
	f.book(f.bid, f.ask)
	f.wait(f.lim.HealthyPeriod)
	f.wantState(Active, "")
}

// The exchange day only moves forward so that a small step back across midnight cannot forgive
// the day's loss. But after a wall clock stepped far forward by mistake and corrected, the day
// stayed in the future: no daily reset until the wall clock caught up with it (here 30 days).
// Every day in between, the order budget was never refilled (the strategy stopped quoting for
// good), and the daily loss was measured from the bogus day's start, so one day's profit hid
// the next day's loss beyond the daily limit.
func TestDayFollowsClockBackAfterMistakenForwardStep(t *testing.T) {
	f := newFixture(t, func(l *Limits) {
		l.DailyOrderBudget = 2
		l.MaxBookAge = 31 * 24 * time.Hour // no health pause in this test (see the test above)
	}).healthy() // daily loss 10: reducing at 8
	real := f.clock.Now() // 2024-03-01 18:00 UTC+8

	f.stepClock(real.Add(30 * 24 * time.Hour)) // the wall clock jumps a month ahead by mistake
	f.g.Status(strat)
	f.stepClock(real.Add(time.Second)) // and is corrected
	f.book(f.bid, f.ask)
	f.wantState(Active, "")

	// Day D: a profit of 20 (a sell 20 above the mid of 100, marked flat) and the budget used.
	f.g.OnFill(strat, exchange.Fill{TradeID: "profit", Instrument: ethUSDT.ID, Side: exchange.Sell,
		Price: d("120"), Volume: d("1"), Fee: d("0"), PriceSource: exchange.Sell, Time: f.clock.Now()})
	f.finish(f.mustInsert(exchange.Sell, "101", "0.1").LocalID)
	f.finish(f.mustInsert(exchange.Sell, "101", "0.1").LocalID)
	_, err := f.insert(exchange.Sell, "101", "0.1")
	refusal(t, err, CheckDailyOrderBudget, "2", "3")

	// Past midnight UTC+8 (6 h later): a new exchange day.
	f.wait(7 * time.Hour)
	if s := f.g.Status(strat); s.OrderRoom == 0 {
		t.Errorf("day D+1: OrderRoom 0: the daily order budget was not refilled (%+v)", s)
	}
	if _, err := f.insert(exchange.Sell, "101", "0.1"); err != nil {
		t.Errorf("day D+1: first insert refused: %v", err)
	}

	// Day D+1: a loss of 9 (a buy's fee of 0.09 ETH at 100) must put the strategy reducing-only
	// (daily loss 9 ≥ 8), whatever day D earned.
	f.g.OnFill(strat, exchange.Fill{TradeID: "fee", Instrument: ethUSDT.ID, Side: exchange.Buy,
		Price: d("100"), Volume: d("1"), Fee: d("0.09"), PriceSource: exchange.Buy, Time: f.clock.Now()})
	if s := f.g.Status(strat); s.State != ReducingOnly {
		t.Errorf("day D+1 loss of 9 with a daily limit of 10 (reduce at 8): state %s %q, want reducing_only (pnl %s)",
			s.State, s.Reason, s.PnL.Total)
	}
}

// A small step back across midnight must still not roll the day back (the guard the day's
// forward-only rule exists for), with the correction above in place.
func TestDaySmallStepBackAcrossMidnightStillHeld(t *testing.T) {
	f := newFixture(t, func(l *Limits) { l.DailyOrderBudget = 2 }).healthy()
	midnight := time.Date(2024, 3, 1, 16, 0, 0, 0, time.UTC) // 2024-03-02 00:00 UTC+8
	f.wait(midnight.Add(time.Minute).Sub(f.clock.Now()))
	f.finish(f.mustInsert(exchange.Sell, "101", "0.1").LocalID)
	f.finish(f.mustInsert(exchange.Sell, "101", "0.1").LocalID)
	f.stepClock(midnight.Add(-10 * time.Minute)) // NTP steps back ten minutes
	f.book(f.bid, f.ask)
	f.wait(20 * time.Minute) // and time runs on past midnight again
	_, err := f.insert(exchange.Sell, "101", "0.1")
	refusal(t, err, CheckDailyOrderBudget, "2", "3")
	if n := f.count("risk_day_rolled"); n != 1 {
		t.Errorf("%d day rolls, want 1", n)
	}
}

// The same mistaken forward step left the gate's other deadlines in the future: a fill burst
// seen during it pulled the side until a month later (cooldown counted from the bogus time).
// No deadline may lie further ahead than the period that set it.
func TestFillBurstCooldownAfterMistakenForwardStep(t *testing.T) {
	f := newFixture(t, func(l *Limits) {
		l.MaxBookAge = 31 * 24 * time.Hour // no health pause in this test
	}).healthy()
	real := f.clock.Now()
	f.stepClock(real.Add(30 * 24 * time.Hour)) // the wall clock jumps a month ahead by mistake
	for range f.lim.FillBurstCount {
		f.fill(exchange.Buy, "100", "0.001")
	}
	if s := f.g.Status(strat); s.BuyOK {
		t.Fatalf("no fill burst: %+v", s)
	}
	f.stepClock(real.Add(time.Second)) // and is corrected
	f.g.Status(strat)                  // the engine asks before every decision
	f.wait(f.lim.FillBurstCooldown + time.Second)
	if s := f.g.Status(strat); !s.BuyOK {
		t.Errorf("buy side still pulled %s after the cooldown of %s: %+v", f.lim.FillBurstCooldown+time.Second, f.lim.FillBurstCooldown, s)
	}
}

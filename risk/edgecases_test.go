package risk

// Gate edge cases from an adversarial review: each test failed against the code it was
// written for and names the scenario it guards.

import (
	"context"
	"testing"
	"time"

	"github.com/mmd-dev/mmd/exchange"
)

// stepClock sets the fixture's clock to t: unlike Advance it may go back, as the wall clock
// does when NTP steps it (the gate reads the wall clock through Unix/UnixNano for the
// exchange day and the mark, which the monotonic reading of time.Now does not protect).
func (f *fixture) stepClock(t time.Time) {
	f.clock.mu.Lock()
	f.clock.now = t
	f.clock.mu.Unlock()
}

// A wall clock stepped back across midnight UTC+8 and forward again must not roll the exchange
// day twice more: each roll re-baselines the daily loss at the PnL of that moment and refills
// the order budget, so a clock step would forgive the day's losses and hand out a second
// budget. The day may only move forward.
func TestDayNeverRollsBackOnClockStep(t *testing.T) {
	f := newFixture(t, func(l *Limits) { l.DailyOrderBudget = 2 }).healthy() // daily loss 10: reducing at 8
	midnight := time.Date(2024, 3, 1, 16, 0, 0, 0, time.UTC)                 // 2024-03-02 00:00 UTC+8
	f.wait(midnight.Add(time.Second).Sub(f.clock.Now()))
	f.wantState(Active, "")
	if n := f.count("risk_day_rolled"); n != 1 {
		t.Fatalf("%d day rolls at midnight, want 1", n)
	}

	// The new day: a loss of 9 (a buy's fee of 0.09 ETH at 100; the mid stays at 100, so the
	// mark plays no part) and the whole order budget used.
	f.g.OnFill(strat, exchange.Fill{TradeID: "fee", Instrument: ethUSDT.ID, Side: exchange.Buy,
		Price: d("100"), Volume: d("1"), Fee: d("0.09"), PriceSource: exchange.Buy, Time: f.clock.Now()})
	f.finish(f.mustInsert(exchange.Sell, "101", "0.1").LocalID)
	f.finish(f.mustInsert(exchange.Sell, "101", "0.1").LocalID)
	f.wantState(ReducingOnly, "daily_loss loss=9 reduce_at=8")
	_, err := f.insert(exchange.Sell, "101", "0.1")
	refusal(t, err, CheckDailyOrderBudget, "2", "3")

	// NTP steps the wall clock back two seconds (before midnight), then time runs on.
	f.stepClock(midnight.Add(-time.Second))
	f.book(f.bid, f.ask)
	f.wantState(ReducingOnly, "daily_loss loss=9")
	f.stepClock(midnight.Add(2 * time.Second))
	f.book(f.bid, f.ask)
	f.wantState(ReducingOnly, "daily_loss loss=9")
	_, err = f.insert(exchange.Sell, "101", "0.1")
	refusal(t, err, CheckDailyOrderBudget, "2", "3")
	if n := f.count("risk_day_rolled"); n != 1 {
		t.Errorf("%d day rolls, want 1: a clock step back rolled the exchange day", n)
	}
}

// The loss limits must not trip on one flash print (mark.go). After the wall clock steps back
// by more than MarkWindow, every stored mid lies in the "future" and gets no weight, so the
// mark is whatever mid arrives first: a single 100 ms flash print is marked, the strategy is
// halted and stays halted until an operator re-arms it.
func TestFlashAfterClockStepBackDoesNotHalt(t *testing.T) {
	f := newFixture(t, nil).healthy() // daily loss limit 10, mark window 10 s
	f.fill(exchange.Buy, "100", "1")
	for i := range 20 { // a live market: the mid ticks between 100 and 100.005 every second
		f.clock.Advance(time.Second)
		f.market(9990+int64(i%2), 10010)
	}
	f.wantState(Active, "")

	f.stepClock(f.clock.Now().Add(-30 * time.Second)) // NTP steps the wall clock back 30 s
	f.book(4990, 5010)                                // a flash print: mid 50, a 50-USDT loss if it counted
	f.clock.Advance(100 * time.Millisecond)
	f.wantState(Active, "")
	f.market(9990, 10010) // gone again
	f.clock.Advance(100 * time.Millisecond)
	f.wait(10 * time.Second)
	f.wantState(Active, "")
	if n := f.count("risk_halted"); n != 0 {
		t.Fatalf("a 100 ms flash print after a clock step halted the strategy (%d risk_halted)", n)
	}
}

// The worst-case position may exceed maxPosition only "on the way back": an order that shrinks
// it. A position beyond the limit (reached by fills the gate cannot refuse) must not let an
// order through that flips it to the same size beyond the limit on the other side: that is
// new exposure, not a way back.
func TestMaxPositionNoFlipBeyondLimit(t *testing.T) {
	f := newFixture(t, nil).healthy()              // maxPosition ETH 3
	f.fill(exchange.Sell, "100", "5")              // short 5: beyond the limit
	_, err := f.insert(exchange.Buy, "101", "9.9") // short 5 → worst case long 4.9
	refusal(t, err, CheckMaxPosition, "3", "4.9")
	f.mustInsert(exchange.Buy, "101", "8") // short 5 → worst case long 3: the way back, allowed
}

// maxOpenOrders, maxOrdersPerSecond and dailyOrderBudget are documented (README risk table,
// limits.go) as per instrument, like maxPosition, which the gate does count over every
// strategy quoting the instrument. The three counters are kept per strategy, so two strategy
// files on one instrument each get the whole limit.
func TestOrderCountsPerInstrument(t *testing.T) {
	second := func(t *testing.T, edit func(*Limits)) *fixture {
		f := newFixture(t, edit)
		if err := f.g.Register("ladder-eth-2", ethUSDT, f.lim); err != nil {
			t.Fatal(err)
		}
		f.healthy()
		if s := f.g.Status("ladder-eth-2"); s.State != Active {
			t.Fatalf("second strategy not active: %+v", s)
		}
		return f
	}
	insert2 := func(f *fixture) error {
		_, err := f.g.Insert(context.Background(), "ladder-eth-2", f.req(exchange.Buy, "99", "0.1"))
		return err
	}
	t.Run("maxOpenOrders", func(t *testing.T) {
		f := second(t, func(l *Limits) { l.MaxOpenOrders = 2 })
		f.mustInsert(exchange.Buy, "99", "0.1")
		f.mustInsert(exchange.Buy, "99", "0.1")
		refusal(t, insert2(f), CheckMaxOpenOrders, "2", "3")
		if room := f.g.Status("ladder-eth-2").OrderRoom; room != 0 {
			t.Errorf("OrderRoom of the second strategy %d, want 0", room)
		}
	})
	t.Run("maxOrdersPerSecond", func(t *testing.T) {
		f := second(t, func(l *Limits) { l.MaxOrdersPerSecond = 2 })
		f.finish(f.mustInsert(exchange.Buy, "99", "0.1").LocalID)
		f.finish(f.mustInsert(exchange.Buy, "99", "0.1").LocalID)
		refusal(t, insert2(f), CheckOrderRate, "2/s", "")
	})
	t.Run("dailyOrderBudget", func(t *testing.T) {
		f := second(t, func(l *Limits) { l.DailyOrderBudget = 2 })
		f.finish(f.mustInsert(exchange.Buy, "99", "0.1").LocalID)
		f.finish(f.mustInsert(exchange.Buy, "99", "0.1").LocalID)
		refusal(t, insert2(f), CheckDailyOrderBudget, "2", "3")
	})
}

package risk

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/shopspring/decimal"
	"go.uber.org/zap/zapcore"

	"github.com/mmd-dev/mmd/exchange"
)

// Approved's fields are unexported, so no other package can build a non-zero one: the only
// way to an order the Sender accepts is through Gate.Insert. That is a compile-time fact
// (`risk.Approved{req: …}` does not compile outside this package); here we check the runtime
// half: the zero value reports !ok, and what the gate sends reports ok.
func TestApprovedOnlyFromGate(t *testing.T) {
	if _, ok := (Approved{}).Order(); ok {
		t.Fatal("zero Approved reports ok")
	}
	f := newFixture(t, nil).healthy()
	f.mustInsert(exchange.Buy, "99.5", "1")
	if len(f.sender.sent()) != 1 {
		t.Fatalf("sender saw %d orders, want 1", len(f.sender.sent()))
	}
}

func TestInsertChecks(t *testing.T) {
	buy, sell := exchange.Buy, exchange.Sell
	tests := []struct {
		name  string
		edit  func(*Limits)
		setup func(*fixture)
		req   func(*fixture) exchange.OrderRequest
		check string // "" = approved
		limit string
		value string
	}{
		{name: "approved buy", req: func(f *fixture) exchange.OrderRequest { return f.req(buy, "99.5", "1") }},
		{name: "approved sell", req: func(f *fixture) exchange.OrderRequest { return f.req(sell, "100.5", "1") }},
		{
			name: "unknown instrument",
			req: func(f *fixture) exchange.OrderRequest {
				r := f.req(buy, "99.5", "1")
				r.Instrument = "BTC-USDT"
				return r
			},
			check: CheckUnknownInstrument, limit: "ETH-USDT", value: "BTC-USDT",
		},
		{
			name: "bad side",
			req: func(f *fixture) exchange.OrderRequest {
				r := f.req(buy, "99.5", "1")
				r.Side = 0
				return r
			},
			check: CheckSide, limit: "buy|sell", value: "side(0)",
		},
		{
			name: "empty local ID",
			req: func(f *fixture) exchange.OrderRequest {
				r := f.req(buy, "99.5", "1")
				r.LocalID = ""
				return r
			},
			check: CheckLocalID, limit: "1..20 characters", value: `""`,
		},
		{
			name: "local ID too long",
			req: func(f *fixture) exchange.OrderRequest {
				r := f.req(buy, "99.5", "1")
				r.LocalID = strings.Repeat("9", 21)
				return r
			},
			check: CheckLocalID, limit: "1..20 characters",
		},
		{
			name:  "duplicate local ID of an open order",
			setup: func(f *fixture) { f.mustInsert(buy, "99.5", "1") },
			req: func(f *fixture) exchange.OrderRequest {
				r := f.req(buy, "99.5", "1")
				r.LocalID = "id1"
				return r
			},
			check: CheckLocalID, limit: "unused local ID", value: "duplicate id1",
		},
		{
			name:  "duplicate local ID of a finished order",
			setup: func(f *fixture) { f.finish(f.mustInsert(buy, "99.5", "1").LocalID) },
			req: func(f *fixture) exchange.OrderRequest {
				r := f.req(buy, "99.5", "1")
				r.LocalID = "id1"
				return r
			},
			check: CheckLocalID, value: "duplicate id1",
		},
		{
			name:  "halted by operator",
			setup: func(f *fixture) { f.g.Halt("maintenance") },
			req:   func(f *fixture) exchange.OrderRequest { return f.req(buy, "99.5", "1") },
			check: CheckState, limit: "active", value: "halted: operator_halt maintenance",
		},
		{
			name:  "halted by stale book",
			setup: func(f *fixture) { f.clock.Advance(6 * time.Second) },
			req:   func(f *fixture) exchange.OrderRequest { return f.req(buy, "99.5", "1") },
			check: CheckState, limit: "active", value: "halted: book_stale age=6s limit=5s",
		},
		{
			name:  "volume rounds to zero",
			req:   func(f *fixture) exchange.OrderRequest { return f.req(buy, "99.5", "0.0009") },
			check: CheckZeroVolume, limit: "lot 0.001", value: "0",
		},
		{
			name:  "bid price rounds to zero",
			req:   func(f *fixture) exchange.OrderRequest { return f.req(buy, "0.009", "1") },
			check: CheckZeroPrice, limit: "tick 0.01", value: "0",
		},
		{
			name:  "price at the exchange maximum",
			req:   func(f *fixture) exchange.OrderRequest { return f.req(sell, "10000000", "1") },
			check: CheckExchangeBounds, limit: "price < 10000000", value: "10000000",
		},
		{
			name:  "volume at the exchange maximum",
			req:   func(f *fixture) exchange.OrderRequest { return f.req(buy, "99", "10000000") },
			check: CheckExchangeBounds, limit: "volume < 10000000", value: "10000000",
		},
		{name: "bid at the band edge", req: func(f *fixture) exchange.OrderRequest { return f.req(buy, "102", "1") }},
		{
			name:  "bid through the band",
			req:   func(f *fixture) exchange.OrderRequest { return f.req(buy, "102.01", "1") },
			check: CheckPriceBand, limit: "bid <= 102", value: "102.01",
		},
		{name: "ask at the band edge", req: func(f *fixture) exchange.OrderRequest { return f.req(sell, "98", "1") }},
		{
			name:  "ask through the band",
			req:   func(f *fixture) exchange.OrderRequest { return f.req(sell, "97.99", "1") },
			check: CheckPriceBand, limit: "ask >= 98", value: "97.99",
		},
		{
			name:  "band uses the per-strategy limit",
			edit:  func(l *Limits) { l.PriceBandBps = d("50") },
			req:   func(f *fixture) exchange.OrderRequest { return f.req(buy, "100.51", "1") },
			check: CheckPriceBand, limit: "bid <= 100.5", value: "100.51",
		},
		{name: "notional at the limit", req: func(f *fixture) exchange.OrderRequest { return f.req(buy, "100", "20") },
			edit: func(l *Limits) { l.MaxPosition["ETH"] = d("100") }},
		{
			name:  "notional over the limit",
			edit:  func(l *Limits) { l.MaxPosition["ETH"] = d("100") },
			req:   func(f *fixture) exchange.OrderRequest { return f.req(buy, "99", "21") },
			check: CheckMaxOrderNotional, limit: "2000", value: "2079",
		},
		{
			name: "notional falls back to *",
			edit: func(l *Limits) {
				delete(l.MaxOrderNotional, "USDT")
				l.MaxOrderNotional["*"] = d("50")
			},
			req:   func(f *fixture) exchange.OrderRequest { return f.req(buy, "99", "1") },
			check: CheckMaxOrderNotional, limit: "50", value: "99",
		},
		{
			name:  "position: open buys plus this buy over the limit",
			setup: func(f *fixture) { f.mustInsert(buy, "99", "2") },
			req:   func(f *fixture) exchange.OrderRequest { return f.req(buy, "99", "1.5") },
			check: CheckMaxPosition, limit: "3", value: "3.5",
		},
		{
			name:  "position: open sells do not offset buys",
			setup: func(f *fixture) { f.mustInsert(buy, "99", "2"); f.mustInsert(sell, "101", "3") },
			req:   func(f *fixture) exchange.OrderRequest { return f.req(buy, "99", "1.5") },
			check: CheckMaxPosition, limit: "3", value: "3.5",
		},
		{
			name:  "position: fills count",
			setup: func(f *fixture) { f.fill(sell, "100", "2.5") },
			req:   func(f *fixture) exchange.OrderRequest { return f.req(sell, "101", "1") },
			check: CheckMaxPosition, limit: "3", value: "-3.5",
		},
		{
			name:  "position: reducing order allowed beyond the limit",
			setup: func(f *fixture) { f.fill(buy, "100", "4") },
			req:   func(f *fixture) exchange.OrderRequest { return f.req(sell, "101", "1") },
		},
		{
			name:  "position: growing beyond the limit refused",
			setup: func(f *fixture) { f.fill(buy, "100", "4") },
			req:   func(f *fixture) exchange.OrderRequest { return f.req(buy, "99", "0.1") },
			check: CheckMaxPosition, limit: "3", value: "4.1",
		},
		{
			name: "position: an open order's fill is not counted twice",
			setup: func(f *fixture) {
				f.mustInsert(buy, "99", "2")
				f.g.OnFill(strat, exchange.Fill{TradeID: "T1", LocalID: "id1", Instrument: ethUSDT.ID, Side: buy,
					Price: d("99"), Volume: d("1")})
			},
			req: func(f *fixture) exchange.OrderRequest { return f.req(buy, "99", "1") },
		},
		{
			name: "open orders at the limit",
			edit: func(l *Limits) { l.MaxOpenOrders = 2 },
			setup: func(f *fixture) {
				f.mustInsert(buy, "99", "0.1")
				f.mustInsert(sell, "101", "0.1")
			},
			req:   func(f *fixture) exchange.OrderRequest { return f.req(buy, "98", "0.1") },
			check: CheckMaxOpenOrders, limit: "2", value: "3",
		},
		{
			name: "finished orders free the open-order budget",
			edit: func(l *Limits) { l.MaxOpenOrders = 2 },
			setup: func(f *fixture) {
				f.finish(f.mustInsert(buy, "99", "0.1").LocalID)
				f.mustInsert(sell, "101", "0.1")
			},
			req: func(f *fixture) exchange.OrderRequest { return f.req(buy, "98", "0.1") },
		},
		{
			name: "order rate",
			edit: func(l *Limits) { l.MaxOrdersPerSecond = 2 },
			setup: func(f *fixture) {
				f.mustInsert(buy, "99", "0.1")
				f.clock.Advance(500 * time.Millisecond)
				f.mustInsert(buy, "99", "0.1")
				f.clock.Advance(499 * time.Millisecond)
			},
			req:   func(f *fixture) exchange.OrderRequest { return f.req(buy, "98", "0.1") },
			check: CheckOrderRate, limit: "2/s", value: "3/s",
		},
		{
			name: "order rate window slides",
			edit: func(l *Limits) { l.MaxOrdersPerSecond = 2 },
			setup: func(f *fixture) {
				f.mustInsert(buy, "99", "0.1")
				f.clock.Advance(500 * time.Millisecond)
				f.mustInsert(buy, "99", "0.1")
				f.clock.Advance(500 * time.Millisecond)
				f.book(9990, 10010)
			},
			req: func(f *fixture) exchange.OrderRequest { return f.req(buy, "98", "0.1") },
		},
		{
			name: "daily order budget",
			edit: func(l *Limits) { l.DailyOrderBudget = 2 },
			setup: func(f *fixture) {
				f.finish(f.mustInsert(buy, "99", "0.1").LocalID)
				f.finish(f.mustInsert(buy, "99", "0.1").LocalID)
			},
			req:   func(f *fixture) exchange.OrderRequest { return f.req(buy, "98", "0.1") },
			check: CheckDailyOrderBudget, limit: "2", value: "3",
		},
		{
			name:  "reject backoff",
			setup: func(f *fixture) { f.g.OnInsertRejected(strat, f.mustInsert(buy, "99", "0.1").LocalID, 2011) },
			req:   func(f *fixture) exchange.OrderRequest { return f.req(buy, "98", "0.1") },
			check: CheckRejectBackoff, limit: "1s", value: "1 rejections, 1s left",
		},
		{
			name: "fill burst pulls the side",
			setup: func(f *fixture) {
				for range 5 {
					f.fill(buy, "99.9", "0.01")
				}
			},
			req:   func(f *fixture) exchange.OrderRequest { return f.req(buy, "99", "0.1") },
			check: CheckFillBurst, limit: "5 fills in 10s", value: "buy pulled for 30s",
		},
		{
			name: "fill burst leaves the other side",
			setup: func(f *fixture) {
				for range 5 {
					f.fill(buy, "99.9", "0.01")
				}
			},
			req: func(f *fixture) exchange.OrderRequest { return f.req(sell, "101", "0.1") },
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t, tc.edit).healthy()
			if tc.setup != nil {
				tc.setup(f)
			}
			before := len(f.sender.sent())
			refusedBefore := f.count("risk_refused")
			req := tc.req(f)
			sent, err := f.g.Insert(context.Background(), strat, req)
			if tc.check == "" {
				if err != nil {
					t.Fatalf("want approved, got %v", err)
				}
				got := f.sender.sent()
				if len(got) != before+1 || got[len(got)-1] != sent {
					t.Fatalf("sender got %v, want the approved %v", got, sent)
				}
				return
			}
			r := refusal(t, err, tc.check, tc.limit, tc.value)
			if len(f.sender.sent()) != before {
				t.Fatal("a refused order reached the sender")
			}
			// Every refusal is logged with the check, the limit and the value.
			logs := f.logs.FilterMessage("risk_refused").AllUntimed()
			if len(logs) != refusedBefore+1 {
				t.Fatalf("%d risk_refused lines, want %d", len(logs), refusedBefore+1)
			}
			ctx := logs[len(logs)-1].ContextMap()
			for k, want := range map[string]string{"check": r.Check, "limit": r.Limit, "value": r.Value,
				"strategy": strat, "instrument": ethUSDT.ID, "local_id": req.LocalID, "side": req.Side.String()} {
				if ctx[k] != want {
					t.Errorf("log field %s = %v, want %q", k, ctx[k], want)
				}
			}
			if c := f.g.Counters(); c.Refused[tc.check] == 0 {
				t.Errorf("counter for %s not incremented: %+v", tc.check, c)
			}
		})
	}
}

func TestUnknownStrategyRefused(t *testing.T) {
	f := newFixture(t, nil).healthy()
	_, err := f.g.Insert(context.Background(), "nobody", f.req(exchange.Buy, "99", "1"))
	refusal(t, err, CheckUnknownStrategy, "registered strategy", "nobody")
	if f.count("risk_refused") != 1 {
		t.Fatal("refusal not logged")
	}
	if s := f.g.Status("nobody"); s.State != Halted || s.BuyOK || s.SellOK {
		t.Fatalf("unknown strategy status %+v", s)
	}
}

func TestRounding(t *testing.T) {
	tests := []struct {
		side          exchange.Side
		price, volume string
		wantP, wantV  string
	}{
		{exchange.Buy, "99.999", "1.2349", "99.99", "1.234"},    // bid rounds down
		{exchange.Sell, "99.991", "1.2349", "100", "1.234"},     // ask rounds up
		{exchange.Buy, "99.5", "0.001", "99.5", "0.001"},        // already on the grid
		{exchange.Sell, "100.001", "0.0019", "100.01", "0.001"}, // volume always down
		{exchange.Buy, "-0", "1", "", ""},                       // refused: zero price
	}
	for _, tc := range tests {
		t.Run(tc.side.String()+" "+tc.price+" "+tc.volume, func(t *testing.T) {
			f := newFixture(t, nil).healthy()
			sent, err := f.insert(tc.side, tc.price, tc.volume)
			if tc.wantP == "" {
				refusal(t, err, CheckZeroPrice, "", "")
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !sent.Price.Equal(d(tc.wantP)) || !sent.Volume.Equal(d(tc.wantV)) {
				t.Fatalf("sent %s@%s, want %s@%s", sent.Volume, sent.Price, tc.wantV, tc.wantP)
			}
			if got := f.sender.sent()[0]; got != sent {
				t.Fatalf("sender got %+v, Insert returned %+v", got, sent)
			}
		})
	}
}

func TestSenderErrors(t *testing.T) {
	t.Run("rejection frees the order and starts the backoff", func(t *testing.T) {
		f := newFixture(t, func(l *Limits) { l.MaxOpenOrders = 1 }).healthy()
		rejected := errors.New("respCode 2011: insufficient balance")
		f.sender.errs = []error{rejected}
		_, err := f.insert(exchange.Buy, "99", "1")
		if !errors.Is(err, rejected) {
			t.Fatalf("err %v does not wrap the sender's", err)
		}
		var r *Refusal
		if errors.As(err, &r) {
			t.Fatal("a sender error is not a refusal")
		}
		_, err = f.insert(exchange.Buy, "99", "1")
		refusal(t, err, CheckRejectBackoff, "1s", "")
		f.wait(time.Second)
		f.mustInsert(exchange.Buy, "99", "1") // the open-order slot was freed
		if c := f.g.Counters(); c.SendErrors != 1 || c.Approved != 2 {
			t.Fatalf("counters %+v", c)
		}
	})
	t.Run("unknown outcome keeps counting the order, no backoff", func(t *testing.T) {
		f := newFixture(t, func(l *Limits) { l.MaxOpenOrders = 1 }).healthy()
		f.sender.errs = []error{fmt.Errorf("read: %w", exchange.ErrUnknownOutcome)}
		sent, err := f.insert(exchange.Buy, "99", "1")
		if !errors.Is(err, exchange.ErrUnknownOutcome) {
			t.Fatalf("err %v does not carry ErrUnknownOutcome", err)
		}
		if room := f.g.Status(strat).OrderRoom; room != 0 {
			t.Fatalf("OrderRoom %d with the one allowed order pending, want 0", room)
		}
		_, err = f.insert(exchange.Buy, "99", "1")
		refusal(t, err, CheckMaxOpenOrders, "1", "2")
		// The engine reconciles: the exchange never got it.
		f.g.OnOrder(strat, exchange.Order{LocalID: sent.LocalID, Status: exchange.StatusNewNotInBook})
		if room := f.g.Status(strat).OrderRoom; room != 1 {
			t.Fatalf("OrderRoom %d after the order settled, want 1", room)
		}
		f.mustInsert(exchange.Buy, "99", "1")
	})
	t.Run("an unsettled pending insert expires", func(t *testing.T) {
		f := newFixture(t, func(l *Limits) { l.MaxOpenOrders = 1 }).healthy()
		f.sender.errs = []error{exchange.ErrUnknownOutcome}
		f.insert(exchange.Buy, "99", "1")
		f.wait(pendingExpiry + time.Millisecond)
		f.mustInsert(exchange.Buy, "99", "1")
		if f.count("risk_pending_expired") != 1 {
			t.Fatal("expiry not logged")
		}
	})
}

func TestRejectBackoffGrowthAndReset(t *testing.T) {
	f := newFixture(t, func(l *Limits) {
		l.RejectBackoff = time.Second
		l.RejectBackoffMax = 5 * time.Second
	}).healthy()
	wants := []time.Duration{1 * time.Second, 2 * time.Second, 4 * time.Second, 5 * time.Second, 5 * time.Second}
	for i, want := range wants {
		sent := f.mustInsert(exchange.Buy, "99", "0.1")
		f.g.OnInsertRejected(strat, sent.LocalID, 1004)
		_, err := f.insert(exchange.Buy, "99", "0.1")
		refusal(t, err, CheckRejectBackoff, want.String(), fmt.Sprintf("%d rejections, %s left", i+1, want))
		f.wait(want - time.Millisecond)
		_, err = f.insert(exchange.Buy, "99", "0.1")
		refusal(t, err, CheckRejectBackoff, want.String(), "")
		f.wait(time.Millisecond)
	}
	// An acceptance resets the count: the next rejection backs off by RejectBackoff again.
	sent := f.mustInsert(exchange.Buy, "99", "0.1")
	f.g.OnOrder(strat, exchange.Order{LocalID: sent.LocalID, Instrument: ethUSDT.ID, Side: exchange.Buy,
		Price: d("99"), Volume: d("0.1"), Remaining: d("0.1"), Status: exchange.StatusNew})
	sent = f.mustInsert(exchange.Buy, "99", "0.1")
	f.g.OnInsertRejected(strat, sent.LocalID, 2011)
	_, err := f.insert(exchange.Buy, "99", "0.1")
	refusal(t, err, CheckRejectBackoff, "1s", "1 rejections, 1s left")
	if c := f.g.Counters(); c.Rejected != 6 {
		t.Fatalf("rejected counter %d, want 6", c.Rejected)
	}
}

func TestFillBurstCooldown(t *testing.T) {
	f := newFixture(t, nil).healthy() // 5 fills on one side within 10 s → that side pulled for 30 s
	buyOK := func(want bool, when string) {
		t.Helper()
		s := f.g.Status(strat)
		if s.BuyOK != want || !s.SellOK || s.State != Active {
			t.Fatalf("%s: %+v, want BuyOK %v and SellOK", when, s, want)
		}
	}
	// Fills at 0, 3, 6, 9 and 12 s: never five inside a 10 s window.
	for i := range 5 {
		if i > 0 {
			f.wait(3 * time.Second)
		}
		f.fill(exchange.Buy, "99.9", "0.01")
	}
	buyOK(true, "four fills per window")
	f.wait(time.Second)
	f.fill(exchange.Buy, "99.9", "0.01") // at 13 s: 6, 9, 12, 13 (3 s is exactly 10 s old: out)
	buyOK(true, "still four per window")
	f.wait(time.Second)
	f.fill(exchange.Buy, "99.9", "0.01") // at 14 s: 6, 9, 12, 13, 14
	buyOK(false, "burst")
	if f.count("risk_fill_burst") != 1 {
		t.Fatal("burst not logged once")
	}
	_, err := f.insert(exchange.Buy, "99", "0.1")
	refusal(t, err, CheckFillBurst, "5 fills in 10s", "buy pulled for 30s")
	f.mustInsert(exchange.Sell, "101", "0.1")

	f.wait(30*time.Second - time.Millisecond)
	buyOK(false, "cooldown not over")
	f.wait(time.Millisecond)
	buyOK(true, "cooldown over")
	// One fill after the cooldown does not re-trigger from the burst's fills.
	f.fill(exchange.Buy, "99.9", "0.01")
	buyOK(true, "one new fill")
}

func TestDuplicateAndLateMessages(t *testing.T) {
	f := newFixture(t, func(l *Limits) { l.MaxOpenOrders = 1 }).healthy()
	fill := exchange.Fill{TradeID: "T1", Instrument: ethUSDT.ID, Side: exchange.Buy, Price: d("99.9"), Volume: d("1"), Fee: d("0.001")}
	f.g.OnFill(strat, fill)
	f.g.OnFill(strat, fill)
	s := f.g.Status(strat)
	if !s.Position.Equal(d("1")) {
		t.Fatalf("duplicated fill counted: position %s", s.Position)
	}
	sent := f.mustInsert(exchange.Sell, "100.5", "1")
	done := exchange.Order{LocalID: sent.LocalID, Instrument: ethUSDT.ID, Side: exchange.Sell, Price: d("100.5"),
		Volume: d("1"), Remaining: d("0"), Traded: d("1"), Status: exchange.StatusFilled}
	f.g.OnOrder(strat, done)
	late := done
	late.Status, late.Remaining, late.Traded = exchange.StatusNew, d("1"), d("0")
	f.g.OnOrder(strat, late) // a late "new" after the order finished must not reopen it
	f.mustInsert(exchange.Sell, "100.5", "0.5")
}

func TestCancelNeverRefused(t *testing.T) {
	f := newFixture(t, nil) // not even healthy
	f.g.Halt("test")
	if err := f.g.CancelByLocalID(context.Background(), strat, "id9"); err != nil {
		t.Fatal(err)
	}
	if err := f.g.CancelBySysID(context.Background(), "someone-else", "S1"); err != nil {
		t.Fatal(err)
	}
	if got := f.sender.cancels; len(got) != 2 || got[0] != "local:id9" || got[1] != "sys:S1" {
		t.Fatalf("cancels %v", got)
	}
	if c := f.g.Counters(); c.Cancels != 2 {
		t.Fatalf("cancels counter %d", c.Cancels)
	}
}

func TestRegister(t *testing.T) {
	g, err := NewGate(Config{Sender: &recordingSender{}})
	if err != nil {
		t.Fatal(err)
	}
	bad := DefaultLimits()
	bad.MaxOpenOrders = 0
	noAsset := DefaultLimits()
	sol := exchange.Instrument{ID: "SOL-USDT", Base: "SOL", Quote: "USDT", PricePrecision: 2, VolumePrecision: 2}
	other := ethUSDT
	other.PricePrecision = 3
	tests := []struct {
		name, strategy string
		inst           exchange.Instrument
		lim            Limits
		want           string // substring of the error; "" = ok
	}{
		{"ok", "a", ethUSDT, testLimits(), ""},
		{"second strategy same instrument", "b", ethUSDT, testLimits(), ""},
		{"duplicate", "a", ethUSDT, testLimits(), "already registered"},
		{"empty name", "", ethUSDT, testLimits(), "empty name"},
		{"invalid limits", "c", ethUSDT, bad, "maxOpenOrders = 0"},
		{"asset not covered", "d", sol, noAsset, `maxPosition = SOL: no entry for SOL (instrument SOL-USDT) and no "*" entry`},
		{"instrument redefined", "e", other, testLimits(), "already registered as"},
		{"incomplete instrument", "f", exchange.Instrument{ID: "X"}, testLimits(), "incomplete instrument"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := g.Register(tc.strategy, tc.inst, tc.lim)
			if tc.want == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err %v, want it to contain %q", err, tc.want)
			}
		})
	}
	if _, err := NewGate(Config{}); err == nil {
		t.Fatal("NewGate without a Sender succeeded")
	}
}

// TestConcurrentInserts runs inserts and inputs from many goroutines (for -race) and checks
// the open-order limit holds even though the sender is called outside the lock.
func TestConcurrentInserts(t *testing.T) {
	f := newFixture(t, func(l *Limits) {
		l.MaxOpenOrders = 7
		l.MaxOrdersPerSecond = 1000
		l.MaxPosition["ETH"] = d("1000")
	}).healthy()
	var wg sync.WaitGroup
	for w := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 50 {
				req := exchange.OrderRequest{Instrument: ethUSDT.ID, Side: exchange.Buy, Price: d("99"), Volume: d("0.01"),
					LocalID: fmt.Sprintf("w%di%d", w, i)}
				f.g.Insert(context.Background(), strat, req)
				f.g.Status(strat)
			}
		}()
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		for range 100 {
			f.book(9990, 10010)
			f.g.OnClockOffset(0, true)
		}
	}()
	wg.Wait()
	if got := len(f.sender.sent()); got != 7 {
		t.Fatalf("%d orders sent, want exactly the 7 allowed open", got)
	}
}

var sinkStatus Status

func BenchmarkGateInsert(b *testing.B) {
	f := newFixtureAt(&testing.T{}, zapcore.InfoLevel, func(l *Limits) {
		l.MaxOrdersPerSecond = maxRateWindow
		l.DailyOrderBudget = 1 << 40
		l.MaxOpenOrders = 10
	})
	f.t = &testing.T{}
	f.healthy()
	// Recycle local IDs with a period longer than the remembered finished IDs.
	ids := make([]string, 2*recentCap+1)
	for i := range ids {
		ids[i] = fmt.Sprintf("b%d", i)
	}
	// Five resting orders, as a quoting strategy would have.
	for range 5 {
		f.mustInsert(exchange.Sell, "101", "0.1")
	}
	req := exchange.OrderRequest{Instrument: ethUSDT.ID, Side: exchange.Buy, Price: decimal.RequireFromString("99.123"),
		Volume: decimal.RequireFromString("0.1234")}
	ctx := context.Background()
	done := exchange.Order{Instrument: ethUSDT.ID, Status: exchange.StatusCancelled}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		f.clock.Advance(2 * time.Millisecond)
		req.LocalID = ids[i%len(ids)]
		if _, err := f.g.Insert(ctx, strat, req); err != nil {
			b.Fatal(err)
		}
		done.LocalID = req.LocalID
		f.g.OnOrder(strat, done)
		if i%256 == 0 {
			f.sender.inserted = f.sender.inserted[:0]
			f.book(9990, 10010)
		}
	}
}

func BenchmarkGateStatus(b *testing.B) {
	f := newFixtureAt(&testing.T{}, zapcore.InfoLevel, nil)
	f.healthy()
	f.fill(exchange.Buy, "99.9", "0.5")
	b.ReportAllocs()
	for b.Loop() {
		sinkStatus = f.g.Status(strat)
	}
}

func BenchmarkGateOnBook(b *testing.B) {
	f := newFixtureAt(&testing.T{}, zapcore.InfoLevel, nil)
	f.healthy()
	book := &exchange.BookSnapshot{Instrument: ethUSDT, Bids: []exchange.Level{{Price: 9990, Volume: 1}},
		Asks: []exchange.Level{{Price: 10010, Volume: 1}}}
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		f.clock.Advance(100 * time.Millisecond)
		book.Received = f.clock.Now()
		book.Bids[0].Price = 9990 + int64(i%7)
		f.g.OnBook(book)
	}
}

// TestMaxPositionPerInstrument: the max-position limit is per instrument, so a second strategy
// quoting the same instrument counts the first one's position and open orders; it may still
// send what shrinks the instrument's worst case.
func TestMaxPositionPerInstrument(t *testing.T) {
	f := newFixture(t, nil).healthy() // maxPosition ETH 3
	const other = "ladder-eth-2"
	if err := f.g.Register(other, ethUSDT, f.lim); err != nil {
		t.Fatal(err)
	}
	f.wait(f.lim.HealthyPeriod)
	f.fill(exchange.Buy, "100", "1.5")      // first strategy: long 1.5
	f.mustInsert(exchange.Buy, "99.5", "1") // and a bid of 1 open: worst case long 2.5
	ins := func(side exchange.Side, price, volume string) error {
		_, err := f.g.Insert(context.Background(), other, f.req(side, price, volume))
		return err
	}
	refusal(t, ins(exchange.Buy, "99.5", "1"), CheckMaxPosition, "3", "3.5")
	if err := ins(exchange.Buy, "99.5", "0.5"); err != nil {
		t.Fatalf("a bid up to the instrument's limit: %v", err)
	}
	if err := ins(exchange.Sell, "100.5", "2"); err != nil {
		t.Fatalf("an ask that reduces the instrument's position: %v", err)
	}
}

// OrderRoom is the least of what maxOpenOrders, the order rate and the day's budget still
// allow: an order manager inserting no more than it is never refused for those three.
func TestOrderRoom(t *testing.T) {
	f := newFixture(t, func(l *Limits) {
		l.MaxOpenOrders = 10
		l.MaxOrdersPerSecond = 3
		l.DailyOrderBudget = 5
	}).healthy()
	room := func() int { return f.g.Status(strat).OrderRoom }
	if got := room(); got != 3 {
		t.Fatalf("room %d at start, want 3 (the rate)", got)
	}
	for want := 2; want >= 0; want-- {
		f.mustInsert(exchange.Buy, "99", "0.1")
		if got := room(); got != want {
			t.Fatalf("room %d, want %d", got, want)
		}
	}
	_, err := f.insert(exchange.Buy, "99", "0.1")
	refusal(t, err, CheckOrderRate, "3/s", "4/s")
	f.wait(time.Second + time.Millisecond)
	if got := room(); got != 2 {
		t.Fatalf("room %d a second later, want 2 (the day's budget: 5 − 3)", got)
	}
	f.mustInsert(exchange.Buy, "99", "0.1")
	f.mustInsert(exchange.Buy, "99", "0.1")
	if got := room(); got != 0 {
		t.Fatalf("room %d with the budget spent, want 0", got)
	}
}

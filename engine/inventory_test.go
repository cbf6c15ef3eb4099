package engine

import (
	"fmt"
	"strings"
	"testing"

	"github.com/mmd-dev/mmd/exchange"
	"github.com/mmd-dev/mmd/risk"
	"github.com/mmd-dev/mmd/strategy"
)

// quotesOf parses "b 0.030987 0.05" / "a …" lines.
func quotesOf(lines []string) []strategy.Quote {
	var qs []strategy.Quote
	for _, l := range lines {
		f := strings.Fields(l)
		side := exchange.Buy
		if f[0] == "a" {
			side = exchange.Sell
		}
		qs = append(qs, strategy.Quote{Side: side, Price: dec(f[1]), Volume: dec(f[2])})
	}
	return qs
}

func TestRealisedAverageCost(t *testing.T) {
	type fl struct {
		side  exchange.Side
		price string
		vol   string
	}
	b := func(p, v string) fl { return fl{exchange.Buy, p, v} }
	s := func(p, v string) fl { return fl{exchange.Sell, p, v} }
	tests := []struct {
		name              string
		fills             []fl
		pos, avg, realise string
	}{
		{"one buy", []fl{b("10", "1")}, "1", "10", "0"},
		{"two buys average", []fl{b("10", "1"), b("13", "2")}, "3", "12", "0"},
		{"partial close long", []fl{b("10", "2"), s("12", "1")}, "1", "10", "2"},
		{"close to flat", []fl{b("10", "2"), s("9", "2")}, "0", "0", "-2"},
		{"through flat to short", []fl{b("10", "1"), s("11", "3")}, "-2", "11", "1"},
		{"short then cover at a loss", []fl{s("10", "2"), b("12", "1")}, "-1", "10", "-2"},
		{"short adds", []fl{s("10", "1"), s("7", "2")}, "-3", "8", "0"},
		{"short through flat to long", []fl{s("10", "1"), b("8", "2")}, "1", "8", "2"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var r Realised
			for _, f := range tt.fills {
				r.apply(f.side, dec(f.price), dec(f.vol))
			}
			if !r.Position.Equal(dec(tt.pos)) || !r.AvgCost.Equal(dec(tt.avg)) || !r.PnL.Equal(dec(tt.realise)) {
				t.Fatalf("got pos %s avg %s pnl %s, want %s %s %s", r.Position, r.AvgCost, r.PnL, tt.pos, tt.avg, tt.realise)
			}
		})
	}
}

func TestInventory(t *testing.T) {
	inv := newInventory()
	// 0.1 BTC of the exchange's frozen 0.3 is someone else's; ours is 0.2 (frozen before refresh).
	inv.addFrozen("BTC", dec("0.2"))
	inv.setBalances([]exchange.Balance{
		{Asset: "BTC", Balance: dec("1"), Available: dec("0.7")},
		{Asset: "ETH", Balance: dec("10"), Available: dec("10")},
	})
	check := func(asset, total, avail string) {
		t.Helper()
		h := inv.holding(asset)
		if !h.Total.Equal(dec(total)) || !h.Available.Equal(dec(avail)) {
			t.Fatalf("%s: %s/%s, want %s/%s", asset, h.Total, h.Available, total, avail)
		}
	}
	check("BTC", "1", "0.7")
	check("ETH", "10", "10")
	check("USDT", "0", "0")
	// A buy fill of 2 ETH at 0.03 with a 0.002 ETH fee; our order releases what it held.
	inv.applyFill(ethBTC, exchange.Fill{Side: exchange.Buy, Price: dec("0.03"), Volume: dec("2"), Fee: dec("0.002")})
	check("ETH", "11.998", "11.998")
	check("BTC", "0.94", "0.64") // total − 0.2 ours − 0.1 external
	inv.addFrozen("BTC", dec("-0.06"))
	check("BTC", "0.94", "0.7")
	// A sell fill: fee in the quote asset received.
	inv.applyFill(ethBTC, exchange.Fill{Side: exchange.Sell, Price: dec("0.04"), Volume: dec("1"), Fee: dec("0.00004")})
	check("ETH", "10.998", "10.998")
	check("BTC", "0.97996", "0.73996")
	r := inv.realised("ETH-BTC")
	if !r.Position.Equal(dec("1")) || !r.PnL.Equal(dec("0.01")) || !r.Fees.Equal(dec("0.0001")) {
		t.Fatalf("realised %+v", r)
	}
	// A refresh drops assets no longer listed and never lets available go negative.
	inv.addFrozen("ETH", dec("20"))
	check("ETH", "10.998", "0")
	inv.setBalances([]exchange.Balance{{Asset: "BTC", Balance: dec("1"), Available: dec("1")}})
	check("ETH", "0", "0")
}

func TestReduceOnlyFilter(t *testing.T) {
	ladder := []string{"b 0.030987 0.05", "b 0.030956 0.05", "a 0.031113 0.05", "a 0.031144 0.05"}
	tests := []struct {
		name string
		st   risk.Status
		in   []string
		want string
	}{
		{"active", risk.Status{State: risk.Active, BuyOK: true, SellOK: true}, ladder,
			"b 0.030987 0.05,b 0.030956 0.05,a 0.031113 0.05,a 0.031144 0.05"},
		{"buy side pulled", risk.Status{State: risk.Active, BuyOK: false, SellOK: true}, ladder,
			"a 0.031113 0.05,a 0.031144 0.05"},
		{"long: only sells, up to the position", risk.Status{State: risk.ReducingOnly, BuyOK: true, SellOK: true, Position: dec("0.07")}, ladder,
			"a 0.031113 0.05,a 0.031144 0.02"},
		{"short: only buys", risk.Status{State: risk.ReducingOnly, BuyOK: true, SellOK: true, Position: dec("-0.03")}, ladder,
			"b 0.030987 0.03"},
		{"flat: nothing", risk.Status{State: risk.ReducingOnly, BuyOK: true, SellOK: true}, ladder, ""},
		{"unrounded quotes are rounded, never more aggressive", risk.Status{State: risk.Active, BuyOK: true, SellOK: true},
			[]string{"b 0.0309879 0.0509", "a 0.0311121 0.0501"}, "b 0.030987 0.05,a 0.031113 0.05"},
		{"malformed dropped", risk.Status{State: risk.Active, BuyOK: true, SellOK: true},
			[]string{"b 0 0.05", "a 0.031113 0", "a 0.031113 0.0001"}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, oneStrategy(&quoter{}))
			r := h.eng.runners[0]
			got := r.filter(quotesOf(tt.in), tt.st)
			var parts []string
			for _, q := range got {
				s := "b"
				if q.Side == exchange.Sell {
					s = "a"
				}
				parts = append(parts, fmt.Sprintf("%s %s %s", s, q.Price, q.Volume))
			}
			if s := strings.Join(parts, ","); s != tt.want {
				t.Fatalf("got %q, want %q", s, tt.want)
			}
		})
	}
}

// BenchmarkDispatchBook is the router's hot path: one book to the gate and two strategies.
func BenchmarkDispatchBook(b *testing.B) {
	q := &quoter{}
	h := newHarness(b, harnessOpt{strategies: []Instance{
		{Name: "s1", Instrument: ethBTC, Strategy: q},
		{Name: "s2", Instrument: ethBTC, Strategy: q},
	}})
	book := &exchange.BookSnapshot{Instrument: ethBTC,
		Bids: []exchange.Level{{Price: 31000, Volume: 1000}}, Asks: []exchange.Level{{Price: 31100, Volume: 1000}}}
	ev := exchange.BookUpdate{Book: book}
	b.ReportAllocs()
	for b.Loop() {
		h.eng.dispatch(ev)
	}
}

// A balance snapshot fetched while a fill was applied may predate the fill: applying it would
// wipe the fill out (a buy lost until the next refresh). It is not applied; one fetched with
// no fill in between is.
func TestInventorySnapshotDuringFillNotApplied(t *testing.T) {
	inv := newInventory()
	inv.setBalances([]exchange.Balance{{Asset: "ETH", Balance: dec("10"), Available: dec("10")},
		{Asset: "BTC", Balance: dec("1"), Available: dec("1")}})
	asked := inv.fillCount() // the refresh's request leaves
	inv.applyFill(ethBTC, exchange.Fill{Side: exchange.Buy, Price: dec("0.03"), Volume: dec("2")})
	stale := []exchange.Balance{{Asset: "ETH", Balance: dec("10"), Available: dec("10")},
		{Asset: "BTC", Balance: dec("1"), Available: dec("1")}} // taken before the fill
	if inv.setBalancesUnless(stale, asked) {
		t.Fatal("a snapshot fetched across a fill was applied")
	}
	if h := inv.holding("ETH"); !h.Total.Equal(dec("12")) {
		t.Fatalf("ETH %s after the skipped snapshot, want 12", h.Total)
	}
	fresh := []exchange.Balance{{Asset: "ETH", Balance: dec("12.5"), Available: dec("12.5")},
		{Asset: "BTC", Balance: dec("0.94"), Available: dec("0.94")}}
	if !inv.setBalancesUnless(fresh, inv.fillCount()) {
		t.Fatal("a snapshot with no fill in between was not applied")
	}
	if h := inv.holding("ETH"); !h.Total.Equal(dec("12.5")) {
		t.Fatalf("ETH %s, want the snapshot's 12.5", h.Total)
	}
}

package ladder

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/shopspring/decimal"
	"gopkg.in/yaml.v3"

	"github.com/mmd-dev/mmd/exchange"
	"github.com/mmd-dev/mmd/strategy"
)

var ethBTC = exchange.Instrument{ID: "ETH-BTC", Base: "ETH", Quote: "BTC", PricePrecision: 6, VolumePrecision: 3}

var t0 = time.Date(2026, 3, 2, 10, 0, 0, 0, time.UTC)

func d(s string) decimal.Decimal { return decimal.RequireFromString(s) }

// book builds an ETH-BTC snapshot from "price:volume" strings (decimals).
func book(bids, asks []string) *exchange.BookSnapshot {
	conv := func(ls []string) []exchange.Level {
		out := make([]exchange.Level, 0, len(ls))
		for _, s := range ls {
			p, v, _ := strings.Cut(s, ":")
			out = append(out, exchange.Level{
				Price:  d(p).Shift(ethBTC.PricePrecision).IntPart(),
				Volume: d(v).Shift(ethBTC.VolumePrecision).IntPart(),
			})
		}
		return out
	}
	return &exchange.BookSnapshot{Instrument: ethBTC, Bids: conv(bids), Asks: conv(asks), Received: t0}
}

func hold(total, avail string) strategy.Holding {
	return strategy.Holding{Total: d(total), Available: d(avail)}
}

func order(side exchange.Side, price, remaining string) exchange.Order {
	return exchange.Order{Instrument: ethBTC.ID, Side: side, Price: d(price), Volume: d(remaining), Remaining: d(remaining), Status: exchange.StatusNew}
}

// quotes renders quotes as "b 0.030987 0.05" lines for comparison.
func quotes(qs []strategy.Quote) string {
	var b strings.Builder
	for _, q := range qs {
		s := "b"
		if q.Side == exchange.Sell {
			s = "a"
		}
		fmt.Fprintf(&b, "%s %s %s\n", s, q.Price, q.Volume)
	}
	return b.String()
}

func params(mod func(*Params)) Params {
	p := DefaultParams()
	p.Levels = 2
	p.SpreadBps = d("20")
	p.StepBps = d("10")
	p.Size = d("0.05")
	if mod != nil {
		mod(&p)
	}
	return p
}

func TestQuote(t *testing.T) {
	rich := func(v *strategy.View) { v.Base = hold("100", "100"); v.Quote = hold("10", "10") }
	std := book([]string{"0.031000:1", "0.030990:2"}, []string{"0.031100:3", "0.031200:1"})
	tests := []struct {
		name string
		p    Params
		view func(*strategy.View)
		want string
	}{
		{
			// mid 0.03105: 0.03105×0.998=0.0309879↓, ×0.997=0.03095685↓, ×1.002=0.0311121↑, ×1.003=0.03114315↑
			name: "mid two levels",
			p:    params(nil),
			view: rich,
			want: "b 0.030987 0.05\nb 0.030956 0.05\na 0.031113 0.05\na 0.031144 0.05\n",
		},
		{
			name: "size step",
			p:    params(func(p *Params) { p.SizeStep = d("0.025") }),
			view: rich,
			want: "b 0.030987 0.05\nb 0.030956 0.075\na 0.031113 0.05\na 0.031144 0.075\n",
		},
		{
			// microprice (0.031×3 + 0.0311×1)/4 = 0.031025
			name: "microprice",
			p:    params(func(p *Params) { p.Levels = 1; p.Reference = RefMicroprice }),
			view: rich,
			want: "b 0.030962 0.05\na 0.031088 0.05\n",
		},
		{
			name: "last inside the book",
			p:    params(func(p *Params) { p.Levels = 1; p.Reference = RefLast }),
			view: func(v *strategy.View) { rich(v); v.LastTrade = &exchange.Trade{Price: d("0.03102")} },
			want: "b 0.030957 0.05\na 0.031083 0.05\n",
		},
		{
			// a stale trade far above is clamped to the best ask 0.0311
			name: "last clamped to the book",
			p:    params(func(p *Params) { p.Levels = 1; p.Reference = RefLast }),
			view: func(v *strategy.View) { rich(v); v.LastTrade = &exchange.Trade{Price: d("0.05")} },
			want: "b 0.031037 0.05\na 0.031163 0.05\n",
		},
		{
			name: "last without a trade falls back to mid",
			p:    params(func(p *Params) { p.Levels = 1; p.Reference = RefLast }),
			view: rich,
			want: "b 0.030987 0.05\na 0.031113 0.05\n",
		},
		{
			name: "empty ask side: no mid, no quotes",
			p:    params(nil),
			view: func(v *strategy.View) { rich(v); v.Book = book([]string{"0.031000:1"}, nil) },
			want: "",
		},
		{
			// quote 0.002 BTC: level 0 costs 0.00154935, level 1 gets 0.00045065/0.030956 → 0.014
			// base 0.07 ETH: 0.05 then 0.02
			name: "sizes capped by available balance",
			p:    params(nil),
			view: func(v *strategy.View) { v.Base = hold("0.07", "0.07"); v.Quote = hold("0.002", "0.002") },
			want: "b 0.030987 0.05\nb 0.030956 0.014\na 0.031113 0.05\na 0.031144 0.02\n",
		},
		{
			// the strategy's own open orders' frozen funds count toward the budget
			name: "budget includes own open orders",
			p:    params(nil),
			view: func(v *strategy.View) {
				v.Base = hold("0.07", "0.02")
				v.Quote = hold("0.002", "0.00045065")
				v.Open = []exchange.Order{order(exchange.Buy, "0.030987", "0.05"), order(exchange.Sell, "0.031113", "0.05")}
			},
			want: "b 0.030987 0.05\nb 0.030956 0.014\na 0.031113 0.05\na 0.031144 0.02\n",
		},
		{
			name: "nothing available: no quotes",
			p:    params(nil),
			view: func(v *strategy.View) { v.Base = hold("1", "0"); v.Quote = hold("1", "0.0000001") },
			want: "",
		},
		{
			// base value 0.03105 of 0.05175 total = 0.6: skew 10×0.1/0.1 = 10 bps down, ref 0.03101895
			name: "skew: some excess base lowers both sides",
			p:    params(func(p *Params) { p.Levels = 1; p.SkewBps = d("10") }),
			view: func(v *strategy.View) { v.Base = hold("1", "1"); v.Quote = hold("0.0207", "0.0207") },
			want: "b 0.030956 0.05\na 0.031081 0.05\n",
		},
		{
			// ratio 0: skew −50 bps, ref 0.03120525: both bids would be at/through the ask 0.0311;
			// the first becomes ask − tick, the next one tick below it. No base: no asks.
			name: "skew: no base raises bids but never through the ask",
			p:    params(func(p *Params) { p.SkewBps = d("10") }),
			view: func(v *strategy.View) { v.Base = hold("0", "0"); v.Quote = hold("10", "10") },
			want: "b 0.031099 0.05\nb 0.031098 0.05\n",
		},
		{
			// ratio 1: skew +50 bps, ref 0.03089475: asks would be at/through the bid 0.031
			name: "skew: only base lowers asks but never through the bid",
			p:    params(func(p *Params) { p.SkewBps = d("10") }),
			view: func(v *strategy.View) { v.Base = hold("100", "100"); v.Quote = hold("0", "0") },
			want: "a 0.031001 0.05\na 0.031002 0.05\n",
		},
		{
			name: "skew with an empty account is no skew",
			p:    params(func(p *Params) { p.Levels = 1; p.SkewBps = d("10"); p.Size = d("0.0001") }),
			view: func(v *strategy.View) { v.Base = hold("0", "0"); v.Quote = hold("0", "0") },
			want: "",
		},
		{
			// a tick of 0.0001 BTC is ~32 bps: spread 1 bps and step 1 bps would stack all
			// three levels on one price; each further level steps one tick out instead.
			name: "coarse tick: levels never share a price",
			p:    params(func(p *Params) { p.Levels = 3; p.SpreadBps = d("1"); p.StepBps = d("1") }),
			view: func(v *strategy.View) {
				rich(v)
				v.Instrument.PricePrecision = 4
				v.Book = &exchange.BookSnapshot{
					Instrument: exchange.Instrument{ID: "ETH-BTC", PricePrecision: 4, VolumePrecision: 3},
					Bids:       []exchange.Level{{Price: 310, Volume: 1000}},
					Asks:       []exchange.Level{{Price: 312, Volume: 1000}},
				}
			},
			want: "b 0.031 0.05\nb 0.0309 0.05\nb 0.0308 0.05\na 0.0312 0.05\na 0.0313 0.05\na 0.0314 0.05\n",
		},
		{
			// ETH-BTC volumes have 3 decimals: 0.0555 rounds down to 0.055
			name: "volume rounds down to the lot",
			p:    params(func(p *Params) { p.Levels = 1; p.Size = d("0.0555") }),
			view: rich,
			want: "b 0.030987 0.055\na 0.031113 0.055\n",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l, err := NewLadder(tt.p)
			if err != nil {
				t.Fatal(err)
			}
			v := strategy.View{Now: t0, Instrument: ethBTC, Book: std}
			tt.view(&v)
			w := l.Quote(v)
			if got := quotes(w.Quotes); got != tt.want {
				t.Errorf("quotes:\n%s\nwant:\n%s", got, tt.want)
			}
			if !w.Tolerance.Equal(tt.p.ToleranceBps) {
				t.Errorf("tolerance %s, want %s", w.Tolerance, tt.p.ToleranceBps)
			}
			for _, q := range w.Quotes {
				if bb, _, ok := v.Book.BestBid(); ok && q.Side == exchange.Sell && q.Price.LessThanOrEqual(bb) {
					t.Errorf("ask %s at or through best bid %s", q.Price, bb)
				}
				if ba, _, ok := v.Book.BestAsk(); ok && q.Side == exchange.Buy && q.Price.GreaterThanOrEqual(ba) {
					t.Errorf("bid %s at or through best ask %s", q.Price, ba)
				}
			}
		})
	}
}

// TestMinRefresh walks one ladder through a sequence of books: inside minRefresh it keeps
// its open orders' prices unless a level crossed the book or drifted more than 4 tolerances.
func TestMinRefresh(t *testing.T) {
	l, err := NewLadder(params(func(p *Params) {
		p.Levels = 1
		p.MinRefresh = time.Second
		p.ToleranceBps = d("5")
	}))
	if err != nil {
		t.Fatal(err)
	}
	open := []exchange.Order{order(exchange.Buy, "0.030987", "0.05"), order(exchange.Sell, "0.031113", "0.05")}
	steps := []struct {
		name  string
		at    time.Duration
		bid   string
		ask   string
		open  []exchange.Order
		tol10 bool // widen the tolerance to 10 bps from this step on
		want  string
	}{
		{"first call is fresh", 0, "0.031000", "0.031100", nil, false,
			"b 0.030987 0.05\na 0.031113 0.05\n"},
		// mid 0.03108 (+10 bps): fresh 0.031017 / 0.031143 are ~9.7 bps from the open
		// orders, within 4×5 bps, so the open prices are held.
		{"small move inside the window is held", 500 * time.Millisecond, "0.031030", "0.031130", open, false,
			"b 0.030987 0.05\na 0.031113 0.05\n"},
		// a level whose order is gone (filled) takes its fresh price
		{"level without an order is fresh", 600 * time.Millisecond, "0.031030", "0.031130", open[:1], false,
			"b 0.030987 0.05\na 0.031143 0.05\n"},
		// mid 0.03115 (+32 bps): more than 4×5 bps away, both move at once
		{"large move inside the window moves", 700 * time.Millisecond, "0.031100", "0.031200", open, false,
			"b 0.031087 0.05\na 0.031213 0.05\n"},
		// with tolerance 10 (hold up to 40 bps) the bid 24 bps away is held, but the open ask
		// 0.031113 would be at/through the best bid 0.03112: it moves.
		{"crossing level moves, the other is held", 800 * time.Millisecond, "0.031120", "0.031130", open, true,
			"b 0.030987 0.05\na 0.031188 0.05\n"},
		{"window over: fresh again", time.Second, "0.031030", "0.031130", open, true,
			"b 0.031017 0.05\na 0.031143 0.05\n"},
		{"new window holds again", 1500 * time.Millisecond, "0.031000", "0.031100",
			[]exchange.Order{order(exchange.Buy, "0.031017", "0.05"), order(exchange.Sell, "0.031143", "0.05")}, true,
			"b 0.031017 0.05\na 0.031143 0.05\n"},
		{"clock stepped back: fresh", -time.Hour, "0.031000", "0.031100",
			[]exchange.Order{order(exchange.Buy, "0.031017", "0.05"), order(exchange.Sell, "0.031143", "0.05")}, true,
			"b 0.030987 0.05\na 0.031113 0.05\n"},
	}
	for _, s := range steps {
		if s.tol10 {
			l.p.ToleranceBps = d("10")
		}
		v := strategy.View{
			Now:        t0.Add(s.at),
			Instrument: ethBTC,
			Book:       book([]string{s.bid + ":1"}, []string{s.ask + ":1"}),
			Base:       hold("100", "100"),
			Quote:      hold("10", "10"),
			Open:       s.open,
		}
		if got := quotes(l.Quote(v).Quotes); got != s.want {
			t.Fatalf("%s: quotes:\n%s\nwant:\n%s", s.name, got, s.want)
		}
	}
}

// TestMinRefreshZeroTolerance: with tolerance 0 nothing can be held but an exact price.
func TestMinRefreshZeroTolerance(t *testing.T) {
	l, err := NewLadder(params(func(p *Params) { p.Levels = 1; p.MinRefresh = time.Minute }))
	if err != nil {
		t.Fatal(err)
	}
	v := strategy.View{Now: t0, Instrument: ethBTC, Book: book([]string{"0.031000:1"}, []string{"0.031100:1"}),
		Base: hold("1", "1"), Quote: hold("1", "1")}
	l.Quote(v)
	v.Now = t0.Add(time.Second)
	v.Book = book([]string{"0.031002:1"}, []string{"0.031102:1"})
	v.Open = []exchange.Order{order(exchange.Buy, "0.030987", "0.05"), order(exchange.Sell, "0.031113", "0.05")}
	// mid 0.031052: fresh bid 0.030989, ask 0.031115
	if got, want := quotes(l.Quote(v).Quotes), "b 0.030989 0.05\na 0.031115 0.05\n"; got != want {
		t.Fatalf("quotes:\n%s\nwant:\n%s", got, want)
	}
}

func TestValidate(t *testing.T) {
	tests := []struct {
		name string
		mod  func(*Params)
		keys []string // keys named by the errors, in order
		msgs []string // if set, the errors' exact texts, in order
	}{
		{"valid", nil, nil, nil},
		{"levels zero", func(p *Params) { p.Levels = 0 }, []string{"levels"}, nil},
		{"levels too many", func(p *Params) { p.Levels = MaxLevels + 1 }, []string{"levels"}, nil},
		// Zero is also a key left out: no "got 0" for a value nobody wrote.
		{"spread zero", func(p *Params) { p.SpreadBps = decimal.Zero }, []string{"spreadBps"}, []string{"spreadBps: must be > 0"}},
		{"spread negative", func(p *Params) { p.SpreadBps = d("-1") }, []string{"spreadBps"}, []string{"spreadBps: must be > 0, got -1"}},
		{"step negative", func(p *Params) { p.StepBps = d("-1") }, []string{"stepBps"}, nil},
		{"ladder through zero", func(p *Params) { p.Levels = 3; p.SpreadBps = d("5000"); p.StepBps = d("2500") }, []string{"stepBps"}, nil},
		{"spread alone through zero", func(p *Params) { p.Levels = 1; p.SpreadBps = d("10000") }, []string{"spreadBps"},
			[]string{"spreadBps: must be < 10000 (it puts the bid at or below zero), got 10000"}},
		{"spread through zero, step left at 0", func(p *Params) { p.Levels = 3; p.SpreadBps = d("12000"); p.StepBps = decimal.Zero }, []string{"spreadBps"}, nil},
		{"spread through zero with a step", func(p *Params) { p.Levels = 3; p.SpreadBps = d("12000"); p.StepBps = d("10") }, []string{"spreadBps"}, nil},
		{"size zero", func(p *Params) { p.Size = decimal.Zero }, []string{"size"}, []string{"size: must be > 0"}},
		{"size negative", func(p *Params) { p.Size = d("-0.5") }, []string{"size"}, []string{"size: must be > 0, got -0.5"}},
		{"size step negative", func(p *Params) { p.SizeStep = d("-0.01") }, []string{"sizeStep"}, nil},
		{"reference unknown", func(p *Params) { p.Reference = "vwap" }, []string{"reference"}, nil},
		{"tolerance negative", func(p *Params) { p.ToleranceBps = d("-1") }, []string{"toleranceBps"}, nil},
		{"min refresh negative", func(p *Params) { p.MinRefresh = -time.Second }, []string{"minRefresh"}, nil},
		{"skew negative", func(p *Params) { p.SkewBps = d("-1") }, []string{"skewBps"}, nil},
		{"target above one", func(p *Params) { p.TargetBaseRatio = d("1.5") }, []string{"targetBaseRatio"}, nil},
		{"several at once", func(p *Params) { p.Size = decimal.Zero; p.Reference = "" }, []string{"size", "reference"}, nil},
		{"defaults alone: spreadBps and size have none", func(p *Params) { *p = DefaultParams() }, []string{"spreadBps", "size"},
			[]string{"spreadBps: must be > 0", "size: must be > 0"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := params(tt.mod).Validate()
			var got, msgs []string
			if err != nil {
				for _, e := range err.(interface{ Unwrap() []error }).Unwrap() {
					var pe *strategy.ParamError
					if !errors.As(e, &pe) {
						t.Fatalf("%v is not a *strategy.ParamError", e)
					}
					if !strings.HasPrefix(e.Error(), pe.Key+": ") {
						t.Errorf("error %q does not start with its key", e)
					}
					got = append(got, pe.Key)
					msgs = append(msgs, e.Error())
				}
			}
			if fmt.Sprint(got) != fmt.Sprint(tt.keys) {
				t.Fatalf("keys %v, want %v (err %v)", got, tt.keys, err)
			}
			if tt.msgs != nil && strings.Join(msgs, "\n") != strings.Join(tt.msgs, "\n") {
				t.Fatalf("errors:\n%s\nwant:\n%s", strings.Join(msgs, "\n"), strings.Join(tt.msgs, "\n"))
			}
		})
	}
}

// strictDecode decodes like the config loader does: unknown keys are errors.
func strictDecode(doc string) func(any) error {
	return func(v any) error {
		dec := yaml.NewDecoder(strings.NewReader(doc))
		dec.KnownFields(true)
		return dec.Decode(v)
	}
}

func TestFactory(t *testing.T) {
	tests := []struct {
		name    string
		doc     string
		wantErr string
		check   func(t *testing.T, p Params)
	}{
		{
			name: "full",
			doc: `levels: 3
spreadBps: 20
stepBps: 10
size: "0.05"
sizeStep: 0.01
reference: microprice
toleranceBps: 5
minRefresh: 1s
skewBps: 10
targetBaseRatio: "0.4"
`,
			check: func(t *testing.T, p Params) {
				want := Params{Levels: 3, SpreadBps: d("20"), StepBps: d("10"), Size: d("0.05"), SizeStep: d("0.01"),
					Reference: RefMicroprice, ToleranceBps: d("5"), MinRefresh: time.Second, SkewBps: d("10"), TargetBaseRatio: d("0.4")}
				if fmt.Sprint(p) != fmt.Sprint(want) {
					t.Fatalf("params %+v, want %+v", p, want)
				}
			},
		},
		{
			name: "defaults fill the rest",
			doc:  "spreadBps: 15\nsize: 0.1\n",
			check: func(t *testing.T, p Params) {
				if p.Levels != 1 || p.Reference != RefMid || !p.TargetBaseRatio.Equal(d("0.5")) || !p.SpreadBps.Equal(d("15")) {
					t.Fatalf("params %+v", p)
				}
			},
		},
		{name: "unknown key", doc: "spreadBps: 15\nsize: 0.1\nspread: 3\n", wantErr: "field spread not found"},
		{name: "bad decimal", doc: "spreadBps: 15\nsize: abc\n", wantErr: "abc"},
		{name: "missing size", doc: "spreadBps: 15\n", wantErr: "size: must be > 0"},
		{name: "bad reference", doc: "spreadBps: 15\nsize: 1\nreference: best\n", wantErr: `reference: must be one of mid, microprice, last; got "best"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := New(strictDecode(tt.doc))
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err %v, want it to contain %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			tt.check(t, s.(*Ladder).Params())
		})
	}
}

func BenchmarkLadderQuote(b *testing.B) {
	l, err := NewLadder(params(func(p *Params) {
		p.Levels = 5
		p.SkewBps = d("10")
		p.MinRefresh = time.Second
		p.ToleranceBps = d("5")
	}))
	if err != nil {
		b.Fatal(err)
	}
	v := strategy.View{
		Now:        t0,
		Instrument: ethBTC,
		Book:       book([]string{"0.031000:1", "0.030990:2"}, []string{"0.031100:3", "0.031200:1"}),
		Base:       hold("10", "9"),
		Quote:      hold("0.3", "0.25"),
		Open:       []exchange.Order{order(exchange.Buy, "0.030987", "0.05"), order(exchange.Sell, "0.031113", "0.05")},
	}
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		v.Now = t0.Add(time.Duration(i) * 100 * time.Millisecond) // mixes fresh and held calls
		if w := l.Quote(v); len(w.Quotes) == 0 {
			b.Fatal("no quotes")
		}
	}
}

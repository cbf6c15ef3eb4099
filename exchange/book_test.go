package exchange_test

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/shopspring/decimal"

	"github.com/mmd-dev/mmd/exchange"
)

var ethBTC = exchange.Instrument{ID: "ETH-BTC", Base: "ETH", Quote: "BTC", PricePrecision: 6, VolumePrecision: 4}

var (
	t0 = time.Date(2018, 11, 13, 10, 13, 21, 56_000_000, time.UTC)
	t1 = t0.Add(3 * time.Millisecond)
)

func lv(p, v int64) exchange.Level { return exchange.Level{Price: p, Volume: v} }

type bookOp struct {
	side exchange.Side
	l    exchange.Level
}

func bid(p, v int64) bookOp { return bookOp{exchange.Buy, lv(p, v)} }
func ask(p, v int64) bookOp { return bookOp{exchange.Sell, lv(p, v)} }

func readyBook(t testing.TB, maxDepth int, bids, asks []exchange.Level) *exchange.Book {
	t.Helper()
	b := exchange.NewBook(ethBTC, maxDepth)
	if err := b.ApplySnapshot(bids, asks, t0, t1); err != nil {
		t.Fatalf("ApplySnapshot: %v", err)
	}
	return b
}

func TestBookApply(t *testing.T) {
	threeBids := []exchange.Level{lv(100, 1), lv(98, 2), lv(96, 3)}
	threeAsks := []exchange.Level{lv(101, 1), lv(103, 2), lv(105, 3)}
	tests := []struct {
		name               string
		maxDepth           int
		bids, asks         []exchange.Level
		ops                []bookOp
		wantBids, wantAsks []exchange.Level
	}{
		{
			name: "replace bid volume", maxDepth: 5, bids: threeBids, asks: threeAsks,
			ops:      []bookOp{bid(98, 7)},
			wantBids: []exchange.Level{lv(100, 1), lv(98, 7), lv(96, 3)}, wantAsks: threeAsks,
		},
		{
			name: "replace ask volume", maxDepth: 5, bids: threeBids, asks: threeAsks,
			ops:      []bookOp{ask(105, 9)},
			wantBids: threeBids, wantAsks: []exchange.Level{lv(101, 1), lv(103, 2), lv(105, 9)},
		},
		{
			name: "insert bid in the middle at full depth drops the worst", maxDepth: 5, bids: threeBids, asks: threeAsks,
			ops:      []bookOp{bid(99, 4)},
			wantBids: []exchange.Level{lv(100, 1), lv(99, 4), lv(98, 2)}, wantAsks: threeAsks,
		},
		{
			name: "insert new best bid at full depth", maxDepth: 5, bids: threeBids, asks: threeAsks,
			ops:      []bookOp{bid(1005, 4)}, // crosses the asks: the book applies it, Crossed() reports it
			wantBids: []exchange.Level{lv(1005, 4), lv(100, 1), lv(98, 2)}, wantAsks: threeAsks,
		},
		{
			name: "insert worse than worst at full depth falls off", maxDepth: 5, bids: threeBids, asks: threeAsks,
			ops:      []bookOp{bid(90, 4), ask(110, 4)},
			wantBids: threeBids, wantAsks: threeAsks,
		},
		{
			name: "insert ask in the middle at full depth drops the worst", maxDepth: 5, bids: threeBids, asks: threeAsks,
			ops:      []bookOp{ask(102, 4)},
			wantBids: threeBids, wantAsks: []exchange.Level{lv(101, 1), lv(102, 4), lv(103, 2)},
		},
		{
			name: "remove best bid and best ask", maxDepth: 5, bids: threeBids, asks: threeAsks,
			ops:      []bookOp{bid(100, 0), ask(101, 0)},
			wantBids: []exchange.Level{lv(98, 2), lv(96, 3)}, wantAsks: []exchange.Level{lv(103, 2), lv(105, 3)},
		},
		{
			name: "remove worst then insert worse refills the side", maxDepth: 5, bids: threeBids, asks: threeAsks,
			ops:      []bookOp{bid(96, 0), bid(90, 5), ask(105, 0), ask(110, 5)},
			wantBids: []exchange.Level{lv(100, 1), lv(98, 2), lv(90, 5)},
			wantAsks: []exchange.Level{lv(101, 1), lv(103, 2), lv(110, 5)},
		},
		{
			name: "remove absent price is a no-op", maxDepth: 5, bids: threeBids, asks: threeAsks,
			ops:      []bookOp{bid(99, 0), ask(104, 0), bid(1, 0), ask(1000, 0)},
			wantBids: threeBids, wantAsks: threeAsks,
		},
		{
			name: "remove everything then rebuild", maxDepth: 5, bids: threeBids, asks: threeAsks,
			ops: []bookOp{
				bid(100, 0), bid(98, 0), bid(96, 0), ask(101, 0), ask(103, 0), ask(105, 0),
				bid(50, 1), bid(60, 2), ask(70, 3),
			},
			wantBids: []exchange.Level{lv(60, 2), lv(50, 1)}, wantAsks: []exchange.Level{lv(70, 3)},
		},
		{
			name: "thin side grows to the longer side's depth", maxDepth: 5,
			bids: threeBids, asks: []exchange.Level{lv(101, 1)},
			ops:      []bookOp{ask(103, 2), ask(102, 5), ask(104, 1)},
			wantBids: threeBids, wantAsks: []exchange.Level{lv(101, 1), lv(102, 5), lv(103, 2)},
		},
		{
			name: "depth 1", maxDepth: 1, bids: []exchange.Level{lv(10, 1)}, asks: []exchange.Level{lv(20, 1)},
			ops:      []bookOp{bid(9, 1), bid(11, 2), ask(21, 1), ask(19, 3), ask(19, 4)},
			wantBids: []exchange.Level{lv(11, 2)}, wantAsks: []exchange.Level{lv(19, 4)},
		},
		{
			name: "snapshot longer than max depth is cut to the best", maxDepth: 2, bids: threeBids, asks: threeAsks,
			ops:      []bookOp{bid(97, 1)},
			wantBids: []exchange.Level{lv(100, 1), lv(98, 2)}, wantAsks: []exchange.Level{lv(101, 1), lv(103, 2)},
		},
		{
			name: "empty snapshot keeps nothing", maxDepth: 5,
			ops:      []bookOp{bid(97, 1), ask(98, 1)},
			wantBids: nil, wantAsks: nil,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := readyBook(t, tt.maxDepth, tt.bids, tt.asks)
			for i, op := range tt.ops {
				if err := b.Apply(op.side, op.l); err != nil {
					t.Fatalf("op %d %v %+v: %v", i, op.side, op.l, err)
				}
			}
			s := b.Snapshot()
			if !slices.Equal(s.Bids, tt.wantBids) {
				t.Errorf("bids = %v, want %v", s.Bids, tt.wantBids)
			}
			if !slices.Equal(s.Asks, tt.wantAsks) {
				t.Errorf("asks = %v, want %v", s.Asks, tt.wantAsks)
			}
		})
	}
}

func TestBookApplySnapshotDepth(t *testing.T) {
	b := exchange.NewBook(ethBTC, 4)
	if err := b.ApplySnapshotDepth([]exchange.Level{lv(10, 1)}, nil, 50, t0, t1); err != nil {
		t.Fatal(err)
	}
	if b.Depth() != 4 {
		t.Fatalf("Depth() = %d, want 4 (channel depth 50 capped at max 4)", b.Depth())
	}
	for p := int64(1); p <= 6; p++ {
		if err := b.Apply(exchange.Buy, lv(p, p)); err != nil {
			t.Fatal(err)
		}
		if err := b.Apply(exchange.Sell, lv(100+p, p)); err != nil {
			t.Fatal(err)
		}
	}
	s := b.Snapshot()
	if want := []exchange.Level{lv(10, 1), lv(6, 6), lv(5, 5), lv(4, 4)}; !slices.Equal(s.Bids, want) {
		t.Errorf("bids = %v, want %v", s.Bids, want)
	}
	if want := []exchange.Level{lv(101, 1), lv(102, 2), lv(103, 3), lv(104, 4)}; !slices.Equal(s.Asks, want) {
		t.Errorf("asks = %v, want %v", s.Asks, want)
	}

	// Without a channel depth an empty snapshot leaves no room: nothing known to be kept.
	if err := b.ApplySnapshot(nil, nil, t0, t1); err != nil {
		t.Fatal(err)
	}
	if b.Depth() != 0 {
		t.Fatalf("Depth() = %d after empty snapshot, want 0", b.Depth())
	}
}

func TestBookSnapshotInvalid(t *testing.T) {
	good := []exchange.Level{lv(100, 1), lv(99, 1)}
	goodAsks := []exchange.Level{lv(101, 1), lv(102, 1)}
	tests := []struct {
		name       string
		bids, asks []exchange.Level
	}{
		{"bids ascending", []exchange.Level{lv(99, 1), lv(100, 1)}, goodAsks},
		{"asks descending", good, []exchange.Level{lv(102, 1), lv(101, 1)}},
		{"duplicate bid", []exchange.Level{lv(100, 1), lv(100, 2)}, goodAsks},
		{"duplicate ask", good, []exchange.Level{lv(101, 1), lv(101, 1)}},
		{"zero bid volume", []exchange.Level{lv(100, 0)}, goodAsks},
		{"negative ask volume", good, []exchange.Level{lv(101, -1)}},
		{"zero price", []exchange.Level{lv(100, 1), lv(0, 1)}, goodAsks},
		{"negative price", good, []exchange.Level{lv(-101, 1)}},
		{"unsorted deep in the side", []exchange.Level{lv(100, 1), lv(99, 1), lv(98, 1), lv(99, 1)}, goodAsks},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := readyBook(t, 10, good, goodAsks)
			err := b.ApplySnapshot(tt.bids, tt.asks, t0, t1)
			if err == nil {
				t.Fatal("ApplySnapshot accepted an invalid snapshot")
			}
			if b.Ready() {
				t.Fatal("book still Ready after an invalid snapshot")
			}
			if _, ok := b.BestBid(); ok {
				t.Fatal("book kept levels after an invalid snapshot")
			}
			if err := b.Apply(exchange.Buy, lv(100, 1)); !errors.Is(err, exchange.ErrBookNotReady) {
				t.Fatalf("Apply after invalid snapshot: %v, want ErrBookNotReady", err)
			}
		})
	}
}

func TestBookApplyErrors(t *testing.T) {
	b := exchange.NewBook(ethBTC, 5)
	if b.Ready() {
		t.Fatal("new book is Ready")
	}
	if err := b.Apply(exchange.Buy, lv(100, 1)); !errors.Is(err, exchange.ErrBookNotReady) {
		t.Fatalf("Apply on new book: %v, want ErrBookNotReady", err)
	}
	b = readyBook(t, 5, []exchange.Level{lv(100, 1)}, []exchange.Level{lv(101, 1)})
	tests := []struct {
		name string
		side exchange.Side
		l    exchange.Level
		want error
	}{
		{"no side", 0, lv(100, 1), exchange.ErrBookSide},
		{"bad side", 7, lv(100, 1), exchange.ErrBookSide},
		{"zero price", exchange.Buy, lv(0, 1), exchange.ErrBookLevel},
		{"negative price", exchange.Sell, lv(-5, 1), exchange.ErrBookLevel},
		{"negative volume", exchange.Buy, lv(100, -1), exchange.ErrBookLevel},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := b.Apply(tt.side, tt.l); !errors.Is(err, tt.want) {
				t.Fatalf("Apply = %v, want %v", err, tt.want)
			}
		})
	}
	if s := b.Snapshot(); !slices.Equal(s.Bids, []exchange.Level{lv(100, 1)}) || !slices.Equal(s.Asks, []exchange.Level{lv(101, 1)}) {
		t.Fatalf("rejected updates changed the book: %v / %v", s.Bids, s.Asks)
	}
	b.Reset()
	if b.Ready() {
		t.Fatal("Ready after Reset")
	}
	if err := b.Apply(exchange.Buy, lv(100, 1)); !errors.Is(err, exchange.ErrBookNotReady) {
		t.Fatalf("Apply after Reset: %v, want ErrBookNotReady", err)
	}
	if s := b.Snapshot(); len(s.Bids)+len(s.Asks) != 0 || !s.Received.IsZero() {
		t.Fatalf("Reset kept state: %+v", s)
	}
}

func TestBookCrossed(t *testing.T) {
	tests := []struct {
		name       string
		bids, asks []exchange.Level
		ops        []bookOp
		want       bool
	}{
		{"normal", []exchange.Level{lv(100, 1)}, []exchange.Level{lv(101, 1)}, nil, false},
		{"empty", nil, nil, nil, false},
		{"one side empty", []exchange.Level{lv(100, 1)}, nil, nil, false},
		{"snapshot crossed", []exchange.Level{lv(102, 1)}, []exchange.Level{lv(101, 1)}, nil, true},
		{"snapshot locked", []exchange.Level{lv(101, 1)}, []exchange.Level{lv(101, 1)}, nil, true},
		{"bid update locks", []exchange.Level{lv(100, 1)}, []exchange.Level{lv(101, 1)}, []bookOp{bid(101, 1)}, true},
		{"ask update crosses", []exchange.Level{lv(100, 1)}, []exchange.Level{lv(101, 1)}, []bookOp{ask(99, 1)}, true},
		{"cross cleared by removal", []exchange.Level{lv(100, 1)}, []exchange.Level{lv(101, 1)}, []bookOp{ask(99, 1), ask(99, 0)}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := readyBook(t, 5, tt.bids, tt.asks)
			for _, op := range tt.ops {
				if err := b.Apply(op.side, op.l); err != nil {
					t.Fatal(err)
				}
			}
			if got := b.Crossed(); got != tt.want {
				t.Errorf("Book.Crossed() = %v, want %v", got, tt.want)
			}
			if got := b.Snapshot().Crossed(); got != tt.want {
				t.Errorf("BookSnapshot.Crossed() = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestBookSnapshotImmutable(t *testing.T) {
	b := readyBook(t, 5, []exchange.Level{lv(100, 1), lv(99, 2)}, []exchange.Level{lv(101, 3), lv(102, 4)})
	s := b.Snapshot()
	wantBids := slices.Clone(s.Bids)
	wantAsks := slices.Clone(s.Asks)

	for _, op := range []bookOp{bid(100, 9), bid(99, 0), bid(100_0, 1), ask(101, 0), ask(100_5, 7), ask(102, 8)} {
		if err := b.Apply(op.side, op.l); err != nil {
			t.Fatal(err)
		}
	}
	b.Stamp(t1.Add(time.Second), t1.Add(2*time.Second))
	if err := b.ApplySnapshot([]exchange.Level{lv(1, 1)}, []exchange.Level{lv(2, 2)}, t0, t0); err != nil {
		t.Fatal(err)
	}
	b.Reset()

	if !slices.Equal(s.Bids, wantBids) || !slices.Equal(s.Asks, wantAsks) {
		t.Fatalf("snapshot changed with the book: %v / %v, want %v / %v", s.Bids, s.Asks, wantBids, wantAsks)
	}
	if !s.ExchangeTime.Equal(t0) || !s.Received.Equal(t1) {
		t.Fatalf("snapshot times changed: %v %v", s.ExchangeTime, s.Received)
	}
	// Bids and Asks share one buffer; appending to Bids must not write into Asks.
	_ = append(s.Bids, lv(1, 1))
	if !slices.Equal(s.Asks, wantAsks) {
		t.Fatalf("append to Bids overwrote Asks: %v", s.Asks)
	}
}

func TestBookSnapshotInto(t *testing.T) {
	b := readyBook(t, 5, []exchange.Level{lv(100, 1), lv(99, 2)}, []exchange.Level{lv(101, 3)})
	var s exchange.BookSnapshot
	b.SnapshotInto(&s)
	if !slices.Equal(s.Bids, []exchange.Level{lv(100, 1), lv(99, 2)}) || !slices.Equal(s.Asks, []exchange.Level{lv(101, 3)}) {
		t.Fatalf("SnapshotInto = %v / %v", s.Bids, s.Asks)
	}
	if s.Instrument != ethBTC || !s.ExchangeTime.Equal(t0) || !s.Received.Equal(t1) {
		t.Fatalf("SnapshotInto header = %+v", s)
	}
	// Once s has grown to the book's size, refreshing it reuses its buffers.
	s.Bids = slices.Grow(s.Bids[:0], 5)
	s.Asks = slices.Grow(s.Asks[:0], 5)
	allocs := testing.AllocsPerRun(100, func() {
		_ = b.Apply(exchange.Sell, lv(102, 1))
		b.SnapshotInto(&s)
		_ = b.Apply(exchange.Sell, lv(102, 0))
		b.SnapshotInto(&s)
	})
	if allocs != 0 {
		t.Fatalf("SnapshotInto allocates %v times, want 0", allocs)
	}
	// A snapshot from Snapshot() can be refreshed in place too, without clobbering.
	s2 := b.Snapshot()
	if err := b.Apply(exchange.Buy, lv(99, 5)); err != nil {
		t.Fatal(err)
	}
	if err := b.Apply(exchange.Sell, lv(102, 4)); err != nil {
		t.Fatal(err)
	}
	b.SnapshotInto(s2)
	if !slices.Equal(s2.Bids, []exchange.Level{lv(100, 1), lv(99, 5)}) || !slices.Equal(s2.Asks, []exchange.Level{lv(101, 3), lv(102, 4)}) {
		t.Fatalf("SnapshotInto over Snapshot() = %v / %v", s2.Bids, s2.Asks)
	}
}

func TestBookBest(t *testing.T) {
	b := readyBook(t, 5, []exchange.Level{lv(100, 1)}, nil)
	if l, ok := b.BestBid(); !ok || l != lv(100, 1) {
		t.Fatalf("BestBid = %v, %v", l, ok)
	}
	if l, ok := b.BestAsk(); ok {
		t.Fatalf("BestAsk on empty side = %v, true", l)
	}
	if b.Instrument() != ethBTC {
		t.Fatalf("Instrument = %+v", b.Instrument())
	}
}

func dec(s string) decimal.Decimal { return decimal.RequireFromString(s) }

func TestBookSnapshotDecimal(t *testing.T) {
	inst := exchange.Instrument{ID: "ETH-BTC", PricePrecision: 2, VolumePrecision: 3}
	s := &exchange.BookSnapshot{
		Instrument: inst,
		Bids:       []exchange.Level{lv(100, 2000), lv(99, 500), lv(98, 1)},
		Asks:       []exchange.Level{lv(101, 6000), lv(103, 250)},
		Received:   t1,
	}
	p, v, ok := s.BestBid()
	if !ok || !p.Equal(dec("1.00")) || !v.Equal(dec("2")) {
		t.Errorf("BestBid = %s %s %v", p, v, ok)
	}
	p, v, ok = s.BestAsk()
	if !ok || !p.Equal(dec("1.01")) || !v.Equal(dec("6")) {
		t.Errorf("BestAsk = %s %s %v", p, v, ok)
	}
	if m, ok := s.Mid(); !ok || !m.Equal(dec("1.005")) {
		t.Errorf("Mid = %s %v", m, ok)
	}
	// (1.00*6 + 1.01*2) / 8 = 1.0025: leans toward the thinner ask.
	if m, ok := s.Microprice(); !ok || !m.Equal(dec("1.0025")) {
		t.Errorf("Microprice = %s %v", m, ok)
	}
	if sp, ok := s.Spread(); !ok || !sp.Equal(dec("0.01")) {
		t.Errorf("Spread = %s %v", sp, ok)
	}
	volTests := []struct {
		side   exchange.Side
		levels int
		want   string
	}{
		{exchange.Buy, 1, "2"}, {exchange.Buy, 2, "2.5"}, {exchange.Buy, 3, "2.501"}, {exchange.Buy, 50, "2.501"},
		{exchange.Sell, 2, "6.25"}, {exchange.Sell, 0, "0"}, {exchange.Sell, -1, "0"}, {0, 5, "0"},
	}
	for _, tt := range volTests {
		if got := s.VolumeTo(tt.side, tt.levels); !got.Equal(dec(tt.want)) {
			t.Errorf("VolumeTo(%v, %d) = %s, want %s", tt.side, tt.levels, got, tt.want)
		}
	}
	if got := s.Age(t1.Add(1500 * time.Millisecond)); got != 1500*time.Millisecond {
		t.Errorf("Age = %v", got)
	}
	if got := s.Price(31200); !got.Equal(dec("312")) {
		t.Errorf("Price(31200) = %s", got)
	}
	if got := s.Volume(1); !got.Equal(dec("0.001")) {
		t.Errorf("Volume(1) = %s", got)
	}

	// A microprice that does not divide evenly is rounded far below a tick.
	s3 := &exchange.BookSnapshot{Instrument: inst, Bids: []exchange.Level{lv(100, 1)}, Asks: []exchange.Level{lv(101, 2)}}
	if m, _ := s3.Microprice(); !m.Equal(dec("1.0033333333")) {
		t.Errorf("Microprice = %s, want 1.0033333333", m)
	}

	// VolumeTo does not wrap around int64.
	big := &exchange.BookSnapshot{Instrument: inst, Bids: []exchange.Level{lv(2, math.MaxInt64), lv(1, 1)}}
	want := decimal.NewFromInt(math.MaxInt64).Add(decimal.NewFromInt(1)).Shift(-3)
	if got := big.VolumeTo(exchange.Buy, 2); !got.Equal(want) {
		t.Errorf("VolumeTo overflow = %s, want %s", got, want)
	}

	empty := &exchange.BookSnapshot{Instrument: inst, Bids: []exchange.Level{lv(100, 1)}}
	if _, _, ok := empty.BestAsk(); ok {
		t.Error("BestAsk ok on empty side")
	}
	if _, ok := empty.Mid(); ok {
		t.Error("Mid ok with one side empty")
	}
	if _, ok := empty.Microprice(); ok {
		t.Error("Microprice ok with one side empty")
	}
	if _, ok := empty.Spread(); ok {
		t.Error("Spread ok with one side empty")
	}
	if empty.Crossed() {
		t.Error("Crossed with one side empty")
	}
}

// refBook is the obvious, slow model of a book: a map per side, trimmed to depth by
// dropping the worst prices.
type refBook struct {
	depth      int
	bids, asks map[int64]int64
}

func newRefBook(depth int) *refBook {
	return &refBook{depth: depth, bids: map[int64]int64{}, asks: map[int64]int64{}}
}

func (r *refBook) apply(side exchange.Side, l exchange.Level) {
	m := r.bids
	if side == exchange.Sell {
		m = r.asks
	}
	if l.Volume == 0 {
		delete(m, l.Price)
		return
	}
	m[l.Price] = l.Volume
	for len(m) > r.depth {
		ls := r.levels(side)
		delete(m, ls[len(ls)-1].Price)
	}
}

func (r *refBook) levels(side exchange.Side) []exchange.Level {
	m := r.bids
	if side == exchange.Sell {
		m = r.asks
	}
	var ls []exchange.Level
	for p, v := range m {
		ls = append(ls, lv(p, v))
	}
	slices.SortFunc(ls, func(a, b exchange.Level) int {
		if side == exchange.Buy {
			return int(b.Price - a.Price)
		}
		return int(a.Price - b.Price)
	})
	return ls
}

func checkAgainstRef(t *testing.T, b *exchange.Book, r *refBook, step int) {
	t.Helper()
	s := b.Snapshot()
	if want := r.levels(exchange.Buy); !slices.Equal(s.Bids, want) {
		t.Fatalf("step %d: bids = %v, reference %v", step, s.Bids, want)
	}
	if want := r.levels(exchange.Sell); !slices.Equal(s.Asks, want) {
		t.Fatalf("step %d: asks = %v, reference %v", step, s.Asks, want)
	}
}

// TestBookMatchesReference drives random updates through the book and the map model.
func TestBookMatchesReference(t *testing.T) {
	for _, depth := range []int{1, 2, 5, 20, 50} {
		for seed := uint64(1); seed <= 5; seed++ {
			t.Run(fmt.Sprintf("depth=%d/seed=%d", depth, seed), func(t *testing.T) {
				rng := rand.New(rand.NewPCG(seed, uint64(depth)))
				b := exchange.NewBook(ethBTC, depth)
				if err := b.ApplySnapshotDepth(nil, nil, depth, t0, t1); err != nil {
					t.Fatal(err)
				}
				r := newRefBook(depth)
				band := int64(depth*2 + 3) // prices range wider than the depth so levels fall off
				for step := range 2000 {
					side := exchange.Buy
					if rng.IntN(2) == 1 {
						side = exchange.Sell
					}
					p := 1 + rng.Int64N(band)
					v := int64(0)
					if rng.IntN(3) > 0 {
						v = 1 + rng.Int64N(1000)
					}
					if err := b.Apply(side, lv(p, v)); err != nil {
						t.Fatalf("step %d: %v", step, err)
					}
					r.apply(side, lv(p, v))
					checkAgainstRef(t, b, r, step)
				}
			})
		}
	}
}

func TestBookApplyAllocs(t *testing.T) {
	b := benchBook(50)
	ops := benchOps(50, 256)
	i := 0
	allocs := testing.AllocsPerRun(1000, func() {
		op := ops[i%len(ops)]
		_ = b.Apply(op.side, op.l)
		_ = b.Crossed()
		i++
	})
	if allocs != 0 {
		t.Fatalf("Apply allocates %v times per update, want 0", allocs)
	}
}

// FuzzBookApply turns bytes into a depth and a sequence of updates and checks the book
// against the reference model and its own invariants after each.
func FuzzBookApply(f *testing.F) {
	f.Add([]byte{3, 0, 5, 1, 1, 6, 2, 0, 4, 3, 1, 7, 0})
	f.Add([]byte{1, 0, 1, 1, 0, 2, 1, 0, 1, 0})
	f.Add([]byte{8, 0, 1, 1, 0, 2, 1, 0, 3, 1, 0, 4, 1, 0, 5, 1, 0, 6, 1, 0, 7, 1, 0, 8, 1, 0, 9, 1, 0, 10, 1})
	f.Add([]byte{2, 2, 9, 0, 0, 9, 0, 1, 9, 1, 1, 9, 0})
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) == 0 {
			return
		}
		depth := 1 + int(data[0]%8)
		b := exchange.NewBook(ethBTC, depth)
		if err := b.ApplySnapshotDepth(nil, nil, depth, t0, t1); err != nil {
			t.Fatal(err)
		}
		r := newRefBook(depth)
		data = data[1:]
		for step := 0; len(data) >= 3; step++ {
			op, p, v := data[0], int64(data[1]%24)+1, int64(data[2]%4)
			data = data[3:]
			side := exchange.Buy
			if op&1 == 1 {
				side = exchange.Sell
			}
			if op&2 == 2 { // now and then, rebuild from a snapshot of the reference
				if err := b.ApplySnapshotDepth(r.levels(exchange.Buy), r.levels(exchange.Sell), depth, t0, t1); err != nil {
					t.Fatalf("step %d: snapshot of reference rejected: %v", step, err)
				}
			}
			if err := b.Apply(side, lv(p, v)); err != nil {
				t.Fatalf("step %d: %v", step, err)
			}
			r.apply(side, lv(p, v))
			checkAgainstRef(t, b, r, step)
			s := b.Snapshot()
			for _, ls := range [][]exchange.Level{s.Bids, s.Asks} {
				if len(ls) > depth {
					t.Fatalf("step %d: %d levels > depth %d", step, len(ls), depth)
				}
				for _, l := range ls {
					if l.Volume <= 0 || l.Price <= 0 {
						t.Fatalf("step %d: bad level %v", step, l)
					}
				}
			}
			if got, want := b.Crossed(), s.Crossed(); got != want {
				t.Fatalf("step %d: Book.Crossed %v, snapshot %v", step, got, want)
			}
		}
	})
}

// benchBook is a full book of the given depth around a fixed price.
func benchBook(depth int) *exchange.Book {
	const mid = 1_000_000
	bids := make([]exchange.Level, depth)
	asks := make([]exchange.Level, depth)
	for i := range depth {
		bids[i] = lv(mid-1-int64(2*i), 100+int64(i))
		asks[i] = lv(mid+1+int64(2*i), 100+int64(i))
	}
	b := exchange.NewBook(ethBTC, depth)
	if err := b.ApplySnapshot(bids, asks, t0, t1); err != nil {
		panic(err)
	}
	return b
}

// benchOps is a fixed sequence of updates near the touch that mixes replacing volumes,
// inserting new prices (pushing the worst level out) and removing levels, about a third each.
func benchOps(depth, n int) []bookOp {
	const mid = 1_000_000
	rng := rand.New(rand.NewPCG(42, uint64(depth)))
	ops := make([]bookOp, n)
	for i := range ops {
		off := 1 + rng.Int64N(int64(2*depth)) // the book's prices span 2*depth ticks a side
		v := int64(0)
		if rng.IntN(3) > 0 {
			v = 1 + rng.Int64N(1000)
		}
		if rng.IntN(2) == 0 {
			ops[i] = bid(mid-off, v)
		} else {
			ops[i] = ask(mid+off, v)
		}
	}
	return ops
}

func BenchmarkBookApply(b *testing.B) {
	for _, depth := range []int{20, 50} {
		b.Run("depth="+strconv.Itoa(depth), func(b *testing.B) {
			book := benchBook(depth)
			ops := benchOps(depth, 4096)
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				op := ops[i&(len(ops)-1)]
				if err := book.Apply(op.side, op.l); err != nil {
					b.Fatal(err)
				}
				i++
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "updates/s")
		})
	}
}

func BenchmarkBookSnapshot(b *testing.B) {
	book := benchBook(50)
	b.ReportAllocs()
	for b.Loop() {
		_ = book.Snapshot()
	}
}

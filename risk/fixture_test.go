package risk

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/shopspring/decimal"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/mmd-dev/mmd/exchange"
)

// testClock is the injected clock: it moves only when a test says so.
type testClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *testClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *testClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

// recordingSender is a test double of the exchange boundary (the signed order client): it
// records what the gate sent and answers with the next queued error, if any.
type recordingSender struct {
	mu       sync.Mutex
	inserted []exchange.OrderRequest
	cancels  []string
	errs     []error // answers for the next inserts; nil entries succeed
}

func (s *recordingSender) Insert(_ context.Context, a Approved) error {
	req, ok := a.Order()
	if !ok {
		return errors.New("zero Approved refused")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.inserted = append(s.inserted, req)
	if len(s.errs) > 0 {
		err := s.errs[0]
		s.errs = s.errs[1:]
		return err
	}
	return nil
}

func (s *recordingSender) CancelByLocalID(_ context.Context, localID string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.cancels = append(s.cancels, "local:"+localID)
	return nil
}

func (s *recordingSender) CancelBySysID(_ context.Context, sysID string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.cancels = append(s.cancels, "sys:"+sysID)
	return nil
}

func (s *recordingSender) sent() []exchange.OrderRequest {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]exchange.OrderRequest(nil), s.inserted...)
}

// ethUSDT is the test instrument: prices in cents, volumes in thousandths.
var ethUSDT = exchange.Instrument{ID: "ETH-USDT", Base: "ETH", Quote: "USDT", PricePrecision: 2, VolumePrecision: 3}

// t0 is 2024-03-01 10:00 UTC = 18:00 UTC+8, well inside an exchange day.
var t0 = time.Date(2024, 3, 1, 10, 0, 0, 0, time.UTC)

const strat = "ladder-eth"

type fixture struct {
	t      *testing.T
	g      *Gate
	clock  *testClock
	sender *recordingSender
	logs   *observer.ObservedLogs
	lim    Limits
	seq    int
	bid    int64 // market prices in cents (see wait)
	ask    int64
}

func d(s string) decimal.Decimal { return decimal.RequireFromString(s) }

// testLimits are the defaults with round numbers that make the expected values easy to read.
func testLimits() Limits {
	l := DefaultLimits()
	l.MaxPosition["ETH"] = d("3")
	l.MaxOrderNotional["USDT"] = d("2000")
	l.DailyLossLimit["USDT"] = d("10")
	l.DrawdownLimit["USDT"] = d("1000")
	return l
}

// newFixture registers one strategy on ETH-USDT with the limits edit makes to testLimits.
func newFixture(t *testing.T, edit func(*Limits)) *fixture {
	t.Helper()
	return newFixtureAt(t, zapcore.DebugLevel, edit)
}

// newFixtureAt is newFixture with the log level to record (benchmarks run at Info, as
// production does, so debug lines cost only their level check).
func newFixtureAt(t *testing.T, level zapcore.Level, edit func(*Limits)) *fixture {
	t.Helper()
	core, logs := observer.New(level)
	f := &fixture{t: t, clock: &testClock{now: t0}, sender: &recordingSender{}, logs: logs, lim: testLimits(),
		bid: 9990, ask: 10010}
	if edit != nil {
		edit(&f.lim)
	}
	g, err := NewGate(Config{Sender: f.sender, Clock: f.clock.Now, Logger: zap.New(core)})
	if err != nil {
		t.Fatal(err)
	}
	f.g = g
	if err := g.Register(strat, ethUSDT, f.lim); err != nil {
		t.Fatal(err)
	}
	return f
}

// healthy feeds a good world (private stream up, clock known, book at mid 100) and waits out
// the healthy period, so the strategy is active.
func (f *fixture) healthy() *fixture {
	f.t.Helper()
	f.g.OnStream(exchange.StreamStatus{Stream: exchange.PrivateStream, Up: true})
	f.g.OnClockOffset(10*time.Millisecond, true)
	f.book(9990, 10010)
	f.clock.Advance(f.lim.HealthyPeriod)
	f.book(9990, 10010)
	if s := f.g.Status(strat); s.State != Active {
		f.t.Fatalf("fixture not active: %+v", s)
	}
	return f
}

// wait lets d pass in a live market: the clock moves in steps of at most two seconds with a
// fresh book at the market prices (f.bid, f.ask) after each, so the book never goes stale.
func (f *fixture) wait(d time.Duration) {
	for d > 0 {
		step := min(d, 2*time.Second)
		f.clock.Advance(step)
		d -= step
		f.book(f.bid, f.ask)
	}
}

// market sets the market prices wait feeds, and feeds them now.
func (f *fixture) market(bid, ask int64) {
	f.bid, f.ask = bid, ask
	f.book(bid, ask)
}

// book feeds a one-level book with bid and ask in cents, received now.
func (f *fixture) book(bid, ask int64) {
	b := &exchange.BookSnapshot{Instrument: ethUSDT, Received: f.clock.Now()}
	if bid > 0 {
		b.Bids = []exchange.Level{{Price: bid, Volume: 1000}}
	}
	if ask > 0 {
		b.Asks = []exchange.Level{{Price: ask, Volume: 1000}}
	}
	f.g.OnBook(b)
}

func (f *fixture) nextID() string {
	f.seq++
	return "id" + decimal.NewFromInt(int64(f.seq)).String()
}

func (f *fixture) req(side exchange.Side, price, volume string) exchange.OrderRequest {
	return exchange.OrderRequest{Instrument: ethUSDT.ID, Side: side, Price: d(price), Volume: d(volume), LocalID: f.nextID()}
}

func (f *fixture) insert(side exchange.Side, price, volume string) (exchange.OrderRequest, error) {
	return f.g.Insert(context.Background(), strat, f.req(side, price, volume))
}

// mustInsert inserts and fails the test on any error.
func (f *fixture) mustInsert(side exchange.Side, price, volume string) exchange.OrderRequest {
	f.t.Helper()
	sent, err := f.insert(side, price, volume)
	if err != nil {
		f.t.Fatalf("insert %s %s@%s: %v", side, volume, price, err)
	}
	return sent
}

// finish tells the gate an order is done (cancelled).
func (f *fixture) finish(localID string) {
	f.g.OnOrder(strat, exchange.Order{LocalID: localID, Instrument: ethUSDT.ID, Status: exchange.StatusCancelled})
}

// fill books a fill of side volume at price with no fee, as the maker.
func (f *fixture) fill(side exchange.Side, price, volume string) {
	f.seq++
	f.g.OnFill(strat, exchange.Fill{TradeID: "t" + decimal.NewFromInt(int64(f.seq)).String(), Instrument: ethUSDT.ID,
		Side: side, Price: d(price), Volume: d(volume), Fee: decimal.Zero, PriceSource: side, Time: f.clock.Now()})
}

// messages lists the msg of every log entry with the given name prefix... or all when empty.
func (f *fixture) count(msg string) int { return f.logs.FilterMessage(msg).Len() }

// refusal asserts err is a *Refusal with the given check (and limit/value when not empty).
func refusal(t *testing.T, err error, check, limit, value string) *Refusal {
	t.Helper()
	var r *Refusal
	if !errors.As(err, &r) {
		t.Fatalf("want refusal %s, got %v", check, err)
	}
	if r.Check != check || (limit != "" && r.Limit != limit) || (value != "" && r.Value != value) {
		t.Fatalf("refusal = check %q limit %q value %q; want %q %q %q", r.Check, r.Limit, r.Value, check, limit, value)
	}
	return r
}

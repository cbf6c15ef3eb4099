package engine

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/shopspring/decimal"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/mmd-dev/mmd/exchange"
	"github.com/mmd-dev/mmd/risk"
	"github.com/mmd-dev/mmd/strategy"
)

// This file holds the test double of the exchange boundary (the order client the gate holds,
// the account queries and the private stream) and the harness that runs a real engine with a
// real gate against it. Waiting is event-driven: every engine log line and every venue call
// wakes the waiter, which re-checks its condition until a deadline.

var ethBTC = exchange.Instrument{ID: "ETH-BTC", Base: "ETH", Quote: "BTC", PricePrecision: 6, VolumePrecision: 3}

var t0 = time.Date(2026, 3, 2, 10, 0, 0, 0, time.UTC)

func dec(s string) decimal.Decimal { return decimal.RequireFromString(s) }

// fakeClock is a settable clock shared by the gate and the engine.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

// signal is a wake-up for waiters: every poke makes the next wait return.
type signal struct{ ch chan struct{} }

func newSignal() *signal { return &signal{ch: make(chan struct{}, 1)} }

func (s *signal) poke() {
	select {
	case s.ch <- struct{}{}:
	default:
	}
}

// notifyCore passes entries on and pokes a signal after each one.
type notifyCore struct {
	zapcore.Core
	sig *signal
}

func (c notifyCore) With(f []zapcore.Field) zapcore.Core {
	return notifyCore{Core: c.Core.With(f), sig: c.sig}
}

func (c notifyCore) Check(e zapcore.Entry, ce *zapcore.CheckedEntry) *zapcore.CheckedEntry {
	if c.Enabled(e.Level) {
		return ce.AddCore(e, c)
	}
	return ce
}

func (c notifyCore) Write(e zapcore.Entry, f []zapcore.Field) error {
	err := c.Core.Write(e, f)
	c.sig.poke()
	return err
}

// venue is the exchange as the engine and gate see it: it records what it is sent, keeps
// orders, and answers on the event channel like the private stream would.
type venue struct {
	mu       sync.Mutex
	sig      *signal
	clock    func() time.Time
	events   chan exchange.Event
	orders   map[string]*exchange.Order // by local ID, every order ever placed
	bySys    map[string]string
	balances []exchange.Balance
	seq      int

	inserts []exchange.OrderRequest
	cancels []string // local IDs
	queries int
	fetches int             // OpenOrders calls for one instrument (a strategy's reconcile)
	fills   []exchange.Fill // every fill executed, for Fills

	// Behaviour knobs.
	silentInserts  bool                                                    // no order_return on insert
	silentCancels  bool                                                    // no order_return on cancel
	refuseCancels  bool                                                    // cancels fail and do nothing
	asyncCancelRej bool                                                    // a cancel of an order not open is answered by order_cancel_rsp 2014
	dropPrivate    bool                                                    // private messages are lost (stream down)
	insertHook     func(req exchange.OrderRequest) (place bool, err error) // nil: place, no error
	balancesErr    error
	fillsErr       error // Fills fails with it
}

func newVenue(sig *signal, clock func() time.Time) *venue {
	return &venue{
		sig:    sig,
		clock:  clock,
		events: make(chan exchange.Event, 1024),
		orders: make(map[string]*exchange.Order),
		bySys:  make(map[string]string),
		balances: []exchange.Balance{
			{Asset: "ETH", Balance: dec("10"), Available: dec("10")},
			{Asset: "BTC", Balance: dec("1"), Available: dec("1")},
		},
	}
}

func (v *venue) emit(ev exchange.Event) {
	switch ev.(type) {
	case exchange.OrderUpdate, exchange.FillEvent, exchange.InsertRejected, exchange.CancelRejected:
		v.mu.Lock()
		drop := v.dropPrivate
		v.mu.Unlock()
		if drop {
			return
		}
	}
	v.events <- ev
	v.sig.poke()
}

func (v *venue) Insert(ctx context.Context, a risk.Approved) error {
	req, ok := a.Order()
	if !ok {
		return errors.New("venue: unapproved order")
	}
	v.mu.Lock()
	v.inserts = append(v.inserts, req)
	place, err := true, error(nil)
	if v.insertHook != nil {
		place, err = v.insertHook(req)
	}
	var ack *exchange.Order
	if place {
		ack = v.placeLocked(req)
		if v.silentInserts {
			ack = nil
		}
	}
	v.mu.Unlock()
	if ack != nil {
		v.emit(exchange.OrderUpdate{Order: *ack, Received: v.clock()})
	}
	v.sig.poke()
	return err
}

func (v *venue) placeLocked(req exchange.OrderRequest) *exchange.Order {
	v.seq++
	o := &exchange.Order{
		SysID: fmt.Sprintf("S%d", v.seq), LocalID: req.LocalID, Instrument: req.Instrument, Side: req.Side,
		Price: req.Price, Volume: req.Volume, Remaining: req.Volume, Traded: decimal.Zero,
		Status: exchange.StatusNew, Updated: v.clock(), Inserted: v.clock(),
	}
	v.orders[req.LocalID] = o
	v.bySys[o.SysID] = req.LocalID
	c := *o
	return &c
}

func (v *venue) cancel(localID string) error {
	v.mu.Lock()
	v.cancels = append(v.cancels, localID)
	o := v.orders[localID]
	var upd *exchange.Order
	var rej *exchange.CancelRejected
	var err error
	switch {
	case v.refuseCancels:
		err = errors.New("venue: cancel refused")
	case v.asyncCancelRej && (o == nil || !o.Status.Open()):
		rej = &exchange.CancelRejected{LocalID: localID, Code: 2014, Message: "order already filled", Received: v.clock()}
		if o != nil {
			rej.SysID = o.SysID
		}
	case o == nil || !o.Status.Open():
		err = fmt.Errorf("venue: respCode 2004 (order ID does not exist) %s: %w", localID, exchange.ErrOrderDone)
	default:
		o.Status = exchange.StatusCancelled
		if o.Traded.IsPositive() {
			o.Status = exchange.StatusPartCancelled
		}
		o.Updated = o.Updated.Add(time.Millisecond)
		if !v.silentCancels {
			c := *o
			upd = &c
		}
	}
	v.mu.Unlock()
	if upd != nil {
		v.emit(exchange.OrderUpdate{Order: *upd, Received: v.clock()})
	}
	if rej != nil {
		v.emit(*rej)
	}
	v.sig.poke()
	return err
}

// set changes venue state under its lock.
func (v *venue) set(f func(v *venue)) {
	v.mu.Lock()
	f(v)
	v.mu.Unlock()
}

// order returns a copy of one order as the venue has it.
func (v *venue) order(localID string) exchange.Order {
	v.mu.Lock()
	defer v.mu.Unlock()
	return *v.orders[localID]
}

func (v *venue) CancelByLocalID(ctx context.Context, localID string) error { return v.cancel(localID) }

func (v *venue) CancelBySysID(ctx context.Context, sysID string) error {
	v.mu.Lock()
	id := v.bySys[sysID]
	v.mu.Unlock()
	return v.cancel(id)
}

func (v *venue) Balances(ctx context.Context) ([]exchange.Balance, error) {
	v.mu.Lock()
	defer v.mu.Unlock()
	defer v.sig.poke()
	return slices.Clone(v.balances), v.balancesErr
}

func (v *venue) OpenOrders(ctx context.Context, instrumentID string) ([]exchange.Order, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	if instrumentID != "" {
		v.fetches++
		defer v.sig.poke()
	}
	var out []exchange.Order
	for _, id := range slices.Sorted(maps.Keys(v.orders)) {
		o := v.orders[id]
		if o.Status.Open() && (instrumentID == "" || o.Instrument == instrumentID) {
			out = append(out, *o)
		}
	}
	return out, nil
}

func (v *venue) Fills(ctx context.Context, instrumentID string, since time.Time) ([]exchange.Fill, error) {
	v.mu.Lock()
	defer v.mu.Unlock()
	defer v.sig.poke()
	if v.fillsErr != nil {
		return nil, v.fillsErr
	}
	var out []exchange.Fill
	for _, f := range v.fills {
		if !f.Time.Before(since) && (instrumentID == "" || f.Instrument == instrumentID) {
			out = append(out, f)
		}
	}
	return out, nil
}

func (v *venue) OrderByLocalID(ctx context.Context, localID string) (*exchange.Order, error) {
	v.mu.Lock()
	defer v.mu.Unlock()
	v.queries++
	defer v.sig.poke()
	if o := v.orders[localID]; o != nil && o.Status.Open() {
		c := *o
		return &c, nil
	}
	return nil, nil
}

// fill executes vol of an order at its price: a trade_return, then an order_return.
func (v *venue) fill(localID, vol, fee string) (exchange.Fill, exchange.Order) {
	v.mu.Lock()
	o := v.orders[localID]
	v.seq++
	f := exchange.Fill{TradeID: fmt.Sprintf("T%d", v.seq), SysID: o.SysID, LocalID: localID, Instrument: o.Instrument,
		Side: o.Side, Price: o.Price, Volume: dec(vol), Fee: dec(fee), PriceSource: o.Side, Time: v.clock()}
	o.Traded = o.Traded.Add(f.Volume)
	o.Remaining = o.Volume.Sub(o.Traded)
	o.Status = exchange.StatusPartFilled
	if o.Remaining.IsZero() {
		o.Status = exchange.StatusFilled
	}
	o.Updated = o.Updated.Add(time.Millisecond)
	c := *o
	v.fills = append(v.fills, f)
	v.mu.Unlock()
	return f, c
}

// place puts an order on the venue that the engine did not send (a human's).
func (v *venue) place(req exchange.OrderRequest) exchange.Order {
	v.mu.Lock()
	defer v.mu.Unlock()
	return *v.placeLocked(req)
}

func (v *venue) openLocalIDs() []string {
	v.mu.Lock()
	defer v.mu.Unlock()
	var ids []string
	for id, o := range v.orders {
		if o.Status.Open() {
			ids = append(ids, id)
		}
	}
	slices.Sort(ids)
	return ids
}

func (v *venue) openQuotes() string {
	v.mu.Lock()
	defer v.mu.Unlock()
	var lines []string
	for _, o := range v.orders {
		if o.Status.Open() {
			lines = append(lines, fmt.Sprintf("%s %s %s", o.Side, o.Price, o.Remaining))
		}
	}
	slices.Sort(lines)
	return strings.Join(lines, "\n")
}

func (v *venue) counts() (inserts, cancels, queries int) {
	v.mu.Lock()
	defer v.mu.Unlock()
	return len(v.inserts), len(v.cancels), v.queries
}

// harness runs an engine with a real gate against a venue.
type harness struct {
	t      testing.TB
	clock  *fakeClock
	sig    *signal
	venue  *venue
	gate   *risk.Gate
	eng    *Engine
	logs   *observer.ObservedLogs
	ticks  chan time.Time
	cancel context.CancelFunc
	done   chan error
}

type harnessOpt struct {
	strategies []Instance
	limits     func(*risk.Limits)
	venue      func(*venue)
	engine     func(*Engine)
	cfg        func(*Config)
}

func testLimits() risk.Limits {
	l := risk.DefaultLimits()
	l.HealthyPeriod = time.Second
	l.MaxBookAge = time.Hour
	l.MaxOrdersPerSecond = 1000
	l.FillBurstCount = 1000
	return l
}

func newHarness(t testing.TB, opt harnessOpt) *harness {
	t.Helper()
	h := &harness{t: t, clock: &fakeClock{now: t0}, sig: newSignal(), ticks: make(chan time.Time)}
	h.venue = newVenue(h.sig, h.clock.Now)
	if opt.venue != nil {
		opt.venue(h.venue)
	}
	core, logs := observer.New(zapcore.DebugLevel)
	h.logs = logs
	log := zap.New(notifyCore{Core: core, sig: h.sig})
	g, err := risk.NewGate(risk.Config{Sender: h.venue, Clock: h.clock.Now, Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	h.gate = g
	for _, s := range opt.strategies {
		l := testLimits()
		if opt.limits != nil {
			opt.limits(&l)
		}
		if err := g.Register(s.Name, s.Instrument, l); err != nil {
			t.Fatal(err)
		}
	}
	cfg := Config{
		Gate: g, Account: h.venue, Events: h.venue.events, Strategies: opt.strategies,
		IDs: NewLocalIDs(0, h.clock.Now), Clock: h.clock.Now, Logger: log,
		ShutdownTimeout: 5 * time.Second,
	}
	if opt.cfg != nil {
		opt.cfg(&cfg)
	}
	e, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	e.healthTicks = h.ticks
	e.shutdownPoll = 10 * time.Millisecond
	e.afterDecision = h.sig.poke
	if opt.engine != nil {
		opt.engine(e)
	}
	h.eng = e
	return h
}

func (h *harness) start() {
	ctx, cancel := context.WithCancel(context.Background())
	h.cancel = cancel
	h.done = make(chan error, 1)
	go func() { h.done <- h.eng.Run(ctx) }()
	h.waitFor("engine_started", func() bool { return len(h.logged("engine_started")) == 1 })
	h.t.Cleanup(func() {
		cancel()
		select {
		case <-h.done:
		case <-time.After(10 * time.Second):
			h.t.Error("engine did not stop")
		}
	})
}

// stop cancels the engine and returns Run's result.
func (h *harness) stop() error {
	h.t.Helper()
	h.cancel()
	select {
	case err := <-h.done:
		h.done <- err // for Cleanup
		return err
	case <-time.After(10 * time.Second):
		h.t.Fatal("engine did not stop")
		return nil
	}
}

// waitFor waits until cond holds, waking on every log line and venue call.
func (h *harness) waitFor(what string, cond func() bool) {
	h.t.Helper()
	deadline := time.NewTimer(20 * time.Second)
	defer deadline.Stop()
	for !cond() {
		select {
		case <-h.sig.ch:
		case <-deadline.C:
			h.t.Fatalf("timed out waiting for %s\nlogs:\n%s", what, h.dump())
		}
	}
}

func (h *harness) dump() string {
	var b strings.Builder
	for _, e := range h.logs.All() {
		fmt.Fprintf(&b, "  %s %v\n", e.Message, e.ContextMap())
	}
	return b.String()
}

func (h *harness) logged(msg string) []observer.LoggedEntry {
	return h.logs.FilterMessage(msg).All()
}

// tick advances the clock and delivers one health tick (it returns once the engine took it).
func (h *harness) tick(d time.Duration) {
	h.t.Helper()
	h.clock.Advance(d)
	select {
	case h.ticks <- h.clock.Now():
	case <-time.After(20 * time.Second):
		h.t.Fatal("health tick not taken")
	}
}

// book sends a one-level ETH-BTC book "bid/ask".
func (h *harness) book(bid, ask string) *exchange.BookSnapshot {
	b := &exchange.BookSnapshot{
		Instrument:   ethBTC,
		Bids:         []exchange.Level{{Price: dec(bid).Shift(6).IntPart(), Volume: 1000}},
		Asks:         []exchange.Level{{Price: dec(ask).Shift(6).IntPart(), Volume: 1000}},
		ExchangeTime: h.clock.Now(),
		Received:     h.clock.Now(),
	}
	h.venue.emit(exchange.BookUpdate{Book: b, Received: h.clock.Now()})
	return b
}

// goLive brings the streams up, sends a book and lets the healthy period pass, so the gate
// is active.
func (h *harness) goLive(bid, ask string) {
	h.t.Helper()
	h.book(bid, ask)
	h.venue.emit(exchange.StreamStatus{Stream: exchange.PublicStream, Up: true, Received: h.clock.Now()})
	h.venue.emit(exchange.StreamStatus{Stream: exchange.PrivateStream, Up: true, Received: h.clock.Now()})
	// Once both are logged the router has handed the book to the gate too.
	h.waitFor("stream_up logged", func() bool { return len(h.logged("stream_up")) == 2 })
	h.clock.Advance(2 * time.Second)
	h.book(bid, ask)
	h.tick(0)
}

// quoter is a test strategy that wants a fixed set of quotes (changeable between calls) and
// records every view it is shown.
type quoter struct {
	mu     sync.Mutex
	want   strategy.Wanted
	views  []strategy.View
	block  chan struct{} // if set, Quote waits on it (conflation test)
	inside chan struct{} // if set, Quote signals entry
	panics bool
}

func (q *quoter) Quote(v strategy.View) strategy.Wanted {
	if q.inside != nil {
		q.inside <- struct{}{}
	}
	if q.block != nil {
		<-q.block
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	q.views = append(q.views, v)
	if q.panics {
		panic("quoter told to panic")
	}
	return strategy.Wanted{Quotes: slices.Clone(q.want.Quotes), Tolerance: q.want.Tolerance}
}

func (q *quoter) set(tol string, qs ...strategy.Quote) {
	q.mu.Lock()
	q.want = strategy.Wanted{Quotes: qs, Tolerance: dec(tol)}
	q.mu.Unlock()
}

func (q *quoter) seen() []strategy.View {
	q.mu.Lock()
	defer q.mu.Unlock()
	return slices.Clone(q.views)
}

func bid(p, v string) strategy.Quote {
	return strategy.Quote{Side: exchange.Buy, Price: dec(p), Volume: dec(v)}
}

func ask(p, v string) strategy.Quote {
	return strategy.Quote{Side: exchange.Sell, Price: dec(p), Volume: dec(v)}
}

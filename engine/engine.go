// Package engine runs the strategies: it fans market data out to one goroutine per strategy
// instance (conflated: a busy strategy only ever sees the newest book), turns each
// strategy's wanted quotes into inserts and cancels through the risk gate (the order
// manager), follows every order through its life on the private stream, keeps the
// inventory, and on shutdown cancels everything and waits for the exchange to confirm.
//
// Goroutines, all owned and waited for by Run: one router reading the adapter's events, one
// per strategy instance, one health ticker (re-evaluation without new data, clock-offset
// polling) and one balance refresher.
//
// Orders whose local IDs the engine did not hand out — a human's, another installation's,
// those left by a previous run — are logged once (foreign_order) and left alone: the engine
// never cancels an order it does not own.
package engine

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"

	"github.com/mmd-dev/mmd/exchange"
	"github.com/mmd-dev/mmd/risk"
	"github.com/mmd-dev/mmd/strategy"
)

// Instance is one strategy instance to run. Register it with the gate (same Name, same
// instrument, its limits) before Run.
type Instance struct {
	Name        string
	Instrument  exchange.Instrument
	Strategy    strategy.Strategy
	MinInterval time.Duration // least time between two decisions; 0 = decide on every change
}

// Config is what the engine runs with.
type Config struct {
	Gate    *risk.Gate
	Account exchange.Account
	Events  <-chan exchange.Event // the adapter's stream; keep it running until Run returns
	// ClockOffset is polled every HealthInterval and fed to the gate. nil means there is no
	// offset source: the gate is told once that the local clock is right (offset 0, known).
	ClockOffset     func() (time.Duration, bool)
	Strategies      []Instance
	IDs             *LocalIDs
	Clock           func() time.Time // decisions and order deadlines; default time.Now
	Logger          *zap.Logger      // default: no logging
	ShutdownTimeout time.Duration    // bound on waiting for cancel confirmations, default 10s
	HealthInterval  time.Duration    // re-evaluation without new data, default 250ms
}

// Defaults.
const (
	DefaultShutdownTimeout = 10 * time.Second
	DefaultHealthInterval  = 250 * time.Millisecond
	balanceRefresh         = 30 * time.Second       // drift correction of the inventory
	shutdownPoll           = time.Second            // lookups while waiting for cancel confirmations
	maxForeignRemembered   = 10_000                 // foreign order IDs remembered for log-once
	fillLookback           = time.Minute            // fills are recovered from this long before a private-stream gap
	reconcileSpacing       = time.Second            // least time between two reconciles after private-stream gaps
	stuckGrace             = 250 * time.Millisecond // after the runners' deadline, before one counts as stuck
)

// Engine runs strategies against one exchange account.
type Engine struct {
	cfg     Config
	log     *zap.Logger
	inv     *inventory
	routes  *routes
	runners []*runner
	byInst  map[string][]*runner
	stats   counters
	timing  timing

	// Tunables that tests shorten.
	healthTicks  <-chan time.Time // nil: a ticker of HealthInterval
	balanceEvery time.Duration
	shutdownPoll time.Duration
	// afterDecision, if set, runs at the end of every decision (tests wait on it).
	afterDecision func()

	foreignMu sync.Mutex
	foreign   map[string]struct{}

	privateDown bool      // router-owned: the private stream is (or has not yet been seen) up
	downSince   time.Time // router-owned: when the private stream went down (start time before it was ever up)

	running   atomic.Bool
	shutdown  chan struct{}   // closed when shutdown starts; runnerCtx is set before
	runnerCtx context.Context // bounds the runners' wait for cancel confirmations
	stopped   chan struct{}   // closed when every runner has returned, or one is given up as stuck
}

// New checks cfg and builds an engine.
func New(cfg Config) (*Engine, error) {
	var errs []error
	if cfg.Gate == nil {
		errs = append(errs, errors.New("no risk gate"))
	}
	if cfg.Account == nil {
		errs = append(errs, errors.New("no exchange account"))
	}
	if cfg.Events == nil {
		errs = append(errs, errors.New("no event channel"))
	}
	if cfg.IDs == nil {
		errs = append(errs, errors.New("no local ID generator"))
	}
	if cfg.ShutdownTimeout < 0 || cfg.HealthInterval < 0 {
		errs = append(errs, errors.New("negative shutdown timeout or health interval"))
	}
	names := make(map[string]bool, len(cfg.Strategies))
	for i, s := range cfg.Strategies {
		switch {
		case s.Name == "":
			errs = append(errs, fmt.Errorf("strategy %d: no name", i))
		case names[s.Name]:
			errs = append(errs, fmt.Errorf("strategy %q: name used twice", s.Name))
		case s.Strategy == nil:
			errs = append(errs, fmt.Errorf("strategy %q: no strategy", s.Name))
		case s.Instrument.ID == "" || s.Instrument.Base == "" || s.Instrument.Quote == "":
			errs = append(errs, fmt.Errorf("strategy %q: instrument %q lacks an ID or an asset", s.Name, s.Instrument.ID))
		case s.MinInterval < 0:
			errs = append(errs, fmt.Errorf("strategy %q: negative min interval %s", s.Name, s.MinInterval))
		}
		names[s.Name] = true
	}
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("engine config: %w", err)
	}
	if cfg.Clock == nil {
		cfg.Clock = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = zap.NewNop()
	}
	if cfg.ShutdownTimeout == 0 {
		cfg.ShutdownTimeout = DefaultShutdownTimeout
	}
	if cfg.HealthInterval == 0 {
		cfg.HealthInterval = DefaultHealthInterval
	}
	e := &Engine{
		cfg:          cfg,
		log:          cfg.Logger,
		inv:          newInventory(),
		routes:       newRoutes(),
		byInst:       make(map[string][]*runner),
		timing:       defaultTiming(),
		balanceEvery: balanceRefresh,
		shutdownPoll: shutdownPoll,
		foreign:      make(map[string]struct{}),
		privateDown:  true,
		downSince:    cfg.Clock(), // before start counts as a gap: fills since are recovered
		shutdown:     make(chan struct{}),
		stopped:      make(chan struct{}),
	}
	for i, s := range cfg.Strategies {
		r := &runner{e: e, inst: s, wake: make(chan struct{}, 1)}
		r.m = newManager(s.Name, s.Instrument, i, e)
		e.runners = append(e.runners, r)
		e.byInst[s.Instrument.ID] = append(e.byInst[s.Instrument.ID], r)
	}
	return e, nil
}

// Run trades until ctx is done, then shuts down: it stops deciding, cancels every order out
// (pending inserts included), waits for the exchange to confirm through the private stream
// (with lookups in case the stream is gone), and finally lists the exchange's open orders to
// verify that none of ours is left, re-cancelling any that is. The whole shutdown is bounded
// by ShutdownTimeout. It logs shutdown_started and shutdown_complete{open_orders}; it returns
// nil after a clean shutdown and an error if orders remain open or could not be verified.
// Start-up fails (with an error, before any order) if balances or open orders cannot be read.
func (e *Engine) Run(ctx context.Context) error {
	if !e.running.CompareAndSwap(false, true) {
		return errors.New("engine: Run called twice")
	}
	bals, err := e.cfg.Account.Balances(ctx)
	if err != nil {
		return fmt.Errorf("engine start: balances: %w", err)
	}
	e.inv.setBalances(bals)
	open, err := e.cfg.Account.OpenOrders(ctx, "")
	if err != nil {
		return fmt.Errorf("engine start: open orders: %w", err)
	}
	e.noteForeignOrders(open) // nothing is ours yet: all of them are left alone
	e.pollClockOffset(true)

	var bg sync.WaitGroup // router, health ticker, balance refresher
	routerCtx, stopRouter := context.WithCancel(context.WithoutCancel(ctx))
	defer stopRouter()
	bg.Go(func() { e.route(routerCtx) })
	bg.Go(func() { e.healthLoop(ctx) })
	bg.Go(func() { e.balanceLoop(ctx) })
	var rg sync.WaitGroup
	for _, r := range e.runners {
		rg.Go(func() { r.run(ctx) })
	}
	e.log.Info("engine_started", zap.Int("strategies", len(e.runners)), zap.Int("foreign_open_orders", len(open)))

	<-ctx.Done()
	e.log.Info("shutdown_started", zap.Int("open_orders", e.OpenOrders()), zap.Duration("timeout", e.cfg.ShutdownTimeout))
	// The runners wait for confirmations until ShutdownTimeout less a reserve; the final
	// verification then gets the reserve, counted from when the runners are done, so it always
	// has one real attempt even if a runner overran.
	reserve := min(2*time.Second, e.cfg.ShutdownTimeout/4)
	rctx, rcancel := context.WithTimeout(context.WithoutCancel(ctx), e.cfg.ShutdownTimeout-reserve)
	defer rcancel()
	e.runnerCtx = rctx
	close(e.shutdown)
	// A runner stuck in its strategy must not keep the orders out: past the deadline (and a
	// moment for runners that are only now seeing it) the verification below goes on without it.
	runnersDone := make(chan struct{})
	go func() { rg.Wait(); close(runnersDone) }()
	select {
	case <-runnersDone:
	case <-rctx.Done():
		grace := time.NewTimer(stuckGrace)
		select {
		case <-runnersDone:
		case <-grace.C:
			e.log.Error("runner_stuck", zap.Duration("waited", e.cfg.ShutdownTimeout-reserve+stuckGrace))
		}
		grace.Stop()
	}
	close(e.stopped)

	vctx, vcancel := context.WithTimeout(context.WithoutCancel(ctx), reserve)
	defer vcancel()
	left, verr := e.verify(vctx)
	stopRouter()
	bg.Wait()
	e.log.Info("shutdown_complete", zap.Int("open_orders", left), zap.Bool("verified", verr == nil))
	if verr != nil {
		return fmt.Errorf("engine shutdown: could not verify open orders (%d believed open): %w", left, verr)
	}
	if left > 0 {
		return fmt.Errorf("engine shutdown: %d orders still open", left)
	}
	return nil
}

// verify lists the exchange's open orders until none of ours is left, re-cancelling those
// that are, until ctx ends. It returns how many of ours were open at the last answer, and an
// error only if the exchange never answered.
func (e *Engine) verify(ctx context.Context) (int, error) {
	var lastErr error
	answered := false
	left := e.OpenOrders()
	for {
		open, err := e.cfg.Account.OpenOrders(ctx, "")
		switch {
		case err != nil:
			lastErr = err
		default:
			answered = true
			left = 0
			for _, o := range open {
				idx, ours := e.routes.lookup(o.LocalID, o.SysID)
				if !ours {
					continue
				}
				left++
				e.recancel(ctx, e.runners[idx].inst.Name, o)
			}
			if left == 0 {
				return 0, nil
			}
		}
		t := time.NewTimer(e.shutdownPoll)
		select {
		case <-ctx.Done():
			t.Stop()
			if answered {
				return left, nil
			}
			return left, lastErr
		case <-t.C:
		}
	}
}

// recancel cancels one of our orders that is still open at shutdown.
func (e *Engine) recancel(ctx context.Context, strategy string, o exchange.Order) {
	var err error
	if o.SysID != "" {
		err = e.cfg.Gate.CancelBySysID(ctx, strategy, o.SysID)
	} else {
		err = e.cfg.Gate.CancelByLocalID(ctx, strategy, o.LocalID)
	}
	e.stats.cancels.Add(1)
	e.log.Warn("cancel_sent", zap.String("strategy", strategy), zap.String("instrument", o.Instrument),
		zap.String("side", o.Side.String()), zap.Stringer("price", o.Price), zap.Stringer("volume", o.Volume),
		zap.String("local_id", o.LocalID), zap.String("sys_id", o.SysID), zap.String("reason", "still_open_at_shutdown"),
		zap.NamedError("cancel_error", err))
}

// Reconcile tells the order managers which orders the exchange says are open now: ours are
// adopted, our live orders missing from the list are looked up one by one and marked done
// (or lost) if the exchange no longer has them, foreign ones are logged once and left alone.
// The engine does this itself at start-up and after every private-stream gap; this entry is
// for other sources (a journal replay). It waits until every strategy has applied the list.
func (e *Engine) Reconcile(ctx context.Context, open []exchange.Order) error {
	if !e.running.Load() {
		return errors.New("engine: Reconcile before Run")
	}
	asOf := e.cfg.Clock()
	e.noteForeignOrders(open)
	dones := make([]chan struct{}, len(e.runners))
	for i, r := range e.runners {
		dones[i] = make(chan struct{})
		r.push(reconcileMsg{open: open, asOf: asOf, done: dones[i]})
	}
	for _, d := range dones {
		select {
		case <-d:
		case <-ctx.Done():
			return ctx.Err()
		case <-e.stopped:
			return errors.New("engine: stopped before reconcile finished")
		}
	}
	return nil
}

// OpenOrders counts our live orders (sent and not yet known to be done).
func (e *Engine) OpenOrders() int {
	n := 0
	for _, r := range e.runners {
		n += int(r.m.liveCount.Load())
	}
	return n
}

// Inventory returns one asset's holding as the engine tracks it.
func (e *Engine) Inventory(asset string) strategy.Holding { return e.inv.holding(asset) }

// Realised returns an instrument's average-cost position and realised PnL from our fills.
func (e *Engine) Realised(instrumentID string) Realised { return e.inv.realised(instrumentID) }

// Stats returns the running totals.
func (e *Engine) Stats() Stats { return e.stats.snapshot() }

// gapsBegun counts the private-stream gaps begun so far, over every strategy: a balance
// snapshot fetched while it changed may hold fills a recovery has applied since.
func (e *Engine) gapsBegun() uint64 {
	var n uint64
	for _, r := range e.runners {
		n += r.gapsBegun.Load()
	}
	return n
}

// fillsUnsettled reports whether some strategy may still recover fills of a private-stream gap.
func (e *Engine) fillsUnsettled() bool {
	for _, r := range e.runners {
		if r.gapsSettled.Load() != r.gapsBegun.Load() {
			return true
		}
	}
	return false
}

// route reads the adapter's events and hands each to the gate and to whom it concerns.
func (e *Engine) route(ctx context.Context) {
	events := e.cfg.Events
	for {
		select {
		case <-ctx.Done():
			return
		case ev, ok := <-events:
			if !ok {
				// The adapter stopped: nothing more will be confirmed by stream. Fail closed.
				events = nil
				e.dispatch(exchange.StreamStatus{Stream: exchange.PrivateStream, Reason: "event channel closed", Received: e.cfg.Clock()})
				e.dispatch(exchange.StreamStatus{Stream: exchange.PublicStream, Reason: "event channel closed", Received: e.cfg.Clock()})
				continue
			}
			e.dispatch(ev)
		}
	}
}

func (e *Engine) dispatch(ev exchange.Event) {
	g := e.cfg.Gate
	switch ev := ev.(type) {
	case exchange.BookUpdate:
		if ev.Book == nil {
			return
		}
		g.OnBook(ev.Book)
		for _, r := range e.byInst[ev.Book.Instrument.ID] {
			r.setBook(ev.Book, "")
		}
	case exchange.BookInvalid:
		g.OnBookInvalid(ev.Instrument, ev.Reason)
		for _, r := range e.byInst[ev.Instrument] {
			r.setBook(nil, ev.Reason)
		}
	case exchange.TradeEvent:
		t := ev.Trade
		for _, r := range e.byInst[t.Instrument] {
			r.setTrade(&t)
		}
	case exchange.OrderUpdate:
		e.toOwner(ev, ev.Order.LocalID, ev.Order.SysID, ev.Order.Instrument)
	case exchange.FillEvent:
		e.toOwner(ev, ev.Fill.LocalID, ev.Fill.SysID, ev.Fill.Instrument)
	case exchange.InsertRejected:
		e.toOwner(ev, ev.LocalID, "", "")
	case exchange.CancelRejected:
		e.toOwner(ev, ev.LocalID, ev.SysID, "")
	case exchange.StreamStatus:
		g.OnStream(ev)
		if ev.Up {
			e.log.Info("stream_up", zap.Stringer("stream", ev.Stream))
		} else {
			e.log.Warn("stream_down", zap.Stringer("stream", ev.Stream), zap.String("reason", ev.Reason))
		}
		for _, r := range e.runners {
			r.poke() // the gate's verdict may have changed: decide now, not at the next tick
		}
		if ev.Stream != exchange.PrivateStream {
			return
		}
		if !ev.Up {
			if !e.privateDown {
				for _, r := range e.runners {
					r.push(gapMsg{seq: r.gapsBegun.Add(1)}) // counted before it is queued
				}
				e.downSince = ev.Received
				if e.downSince.IsZero() { // unstamped: now is a safe (later) bound
					e.downSince = e.cfg.Clock()
				}
			}
			e.privateDown = true
			return
		}
		if e.privateDown {
			// Orders' fates and fills may have been missed during the gap: reconcile before
			// trusting our view. Fills are asked for from a little before the gap (the
			// exchange's clock may differ from ours); repeats are ignored by trade ID.
			e.privateDown = false
			var since time.Time
			if !e.downSince.IsZero() {
				since = e.downSince.Add(-fillLookback)
			}
			for _, r := range e.runners {
				r.push(reconcileMsg{fetch: true, since: since})
			}
		}
	}
}

// toOwner queues a private message for the strategy that owns the order, or logs a foreign
// order once.
func (e *Engine) toOwner(ev exchange.Event, localID, sysID, instrument string) {
	idx, ok := e.routes.lookup(localID, sysID)
	if !ok {
		e.noteForeign(localID, sysID, instrument, nil)
		return
	}
	e.routes.addSys(sysID, idx)
	e.runners[idx].push(ev)
}

func (e *Engine) noteForeignOrders(open []exchange.Order) {
	for _, o := range open {
		if _, ours := e.routes.lookup(o.LocalID, o.SysID); !ours {
			e.noteForeign(o.LocalID, o.SysID, o.Instrument, &o)
		}
	}
}

// noteForeign logs an order that is not ours, once per ID. One resting in the book (o open)
// is a warning with its terms: it may be a human's, or a crashed earlier run's that nothing
// manages now, and an operator should look.
func (e *Engine) noteForeign(localID, sysID, instrument string, o *exchange.Order) {
	key := "l:" + localID
	if localID == "" {
		key = "s:" + sysID
	}
	e.foreignMu.Lock()
	_, seen := e.foreign[key]
	if !seen {
		if len(e.foreign) >= maxForeignRemembered {
			clear(e.foreign)
		}
		e.foreign[key] = struct{}{}
	}
	e.foreignMu.Unlock()
	if seen {
		return
	}
	e.stats.foreign.Add(1)
	fields := []zap.Field{zap.String("local_id", localID), zap.String("sys_id", sysID),
		zap.String("instrument", instrument), zap.String("action", "left_alone")}
	if o == nil || !o.Status.Open() {
		e.log.Info("foreign_order", fields...)
		return
	}
	e.log.Warn("foreign_order", append(fields, zap.Stringer("side", o.Side), zap.Stringer("price", o.Price),
		zap.Stringer("volume", o.Volume), zap.Stringer("remaining", o.Remaining))...)
}

// healthLoop re-evaluates every strategy each HealthInterval (so time-driven gate states
// show without new data) and feeds the gate the clock offset.
func (e *Engine) healthLoop(ctx context.Context) {
	ticks := e.healthTicks
	if ticks == nil {
		t := time.NewTicker(e.cfg.HealthInterval)
		defer t.Stop()
		ticks = t.C
	}
	for {
		select {
		case <-ctx.Done():
			return
		case <-ticks:
			e.pollClockOffset(false)
			for _, r := range e.runners {
				r.tick()
			}
		}
	}
}

func (e *Engine) pollClockOffset(first bool) {
	if e.cfg.ClockOffset == nil {
		if first {
			e.cfg.Gate.OnClockOffset(0, true)
		}
		return
	}
	d, known := e.cfg.ClockOffset()
	e.cfg.Gate.OnClockOffset(d, known)
}

// balanceLoop refreshes the inventory from the exchange's balances every balanceEvery to
// correct drift. A snapshot is applied only when it cannot count a fill twice or lose one: not
// while a private-stream gap's fills are unsettled (it may already hold fills the recovery is
// about to add), and not if a fill was applied while it was being fetched (it may not hold it,
// and would wipe it out). A skipped refresh waits for the next.
func (e *Engine) balanceLoop(ctx context.Context) {
	t := time.NewTicker(e.balanceEvery)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		gaps, fills := e.gapsBegun(), e.inv.fillCount()
		if e.fillsUnsettled() {
			continue
		}
		bals, err := e.cfg.Account.Balances(ctx)
		if err != nil {
			if ctx.Err() == nil {
				e.log.Warn("balance_refresh_failed", zap.Error(err))
			}
			continue
		}
		if e.fillsUnsettled() || e.gapsBegun() != gaps {
			continue
		}
		e.inv.setBalancesUnless(bals, fills)
	}
}

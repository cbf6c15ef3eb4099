package engine

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/shopspring/decimal"
	"go.uber.org/zap"

	"github.com/mmd-dev/mmd/exchange"
	"github.com/mmd-dev/mmd/risk"
	"github.com/mmd-dev/mmd/strategy"
)

// runner is one strategy instance's goroutine: it owns the strategy and its order manager.
// Market data reaches it conflated (a slot holding only the newest book and trade); private
// messages through an unbounded queue, so none is ever dropped.
//
// A private-stream gap, in the runner's terms: it begins with a gapMsg (gapOpen; pruning of
// ended orders is held so a fill recovered later still finds its order) and its stream-up
// reconcile ends it. That reconcile first recovers the fills since the gap (a failure leaves
// fillsOwed, retried each second), then lists the open orders; if it comes within
// reconcileSpacing of the last one it is owed instead (gapsOwed, gapSince) and paid at a
// health tick or at shutdown. While fills are owed in any form nothing is quoted
// (whyPull), and balance snapshots are not applied (gapsSettled lags gapsBegun), since a
// snapshot may already hold the fills the recovery is about to add.
type runner struct {
	e    *Engine
	inst Instance
	m    *manager

	book  atomic.Pointer[bookSlot]
	trade atomic.Pointer[exchange.Trade]
	wake  chan struct{} // capacity 1: "something is new"

	mu    sync.Mutex
	queue []any // exchange.Event (order, fill, rejects) or reconcileMsg
	spare []any

	health atomic.Bool // a health tick arrived
	// Private-stream gaps begun (counted by the router before it queues the gapMsg) and
	// the last of them whose fills are all recovered (by the runner). While they differ,
	// balance snapshots are not applied: they may already hold fills still to be recovered.
	gapsBegun, gapsSettled atomic.Uint64
	gapSeen                uint64 // runner-owned: the newest gapMsg drained

	// Owned by the runner goroutine.
	lastDecision time.Time
	quotes       []strategy.Quote
	// A fill recovery after a private-stream gap that failed is owed from fillsOwed (zero:
	// none) and retried at health ticks from fillsRetryAt: a fill missed in a gap is
	// otherwise never counted (lookups conclude its order without it).
	fillsOwed, fillsRetryAt time.Time
	// Reconciles after private-stream gaps are at least reconcileSpacing apart: a flood of gaps
	// (say, an exchange message we cannot read, repeated) must not become a flood of queries
	// competing with cancels for the rate limit. Gaps in between are owed (gapsOwed of them,
	// fills recovered from gapSince) and covered by one reconcile at a health tick once due;
	// meanwhile the gate keeps the strategy paused, as for any private-stream gap.
	lastFetch time.Time
	gapOpen   bool // a private-stream gap began and the stream has not come back since: prune nothing
	gapsOwed  int
	gapSince  time.Time
}

// bookSlot is the newest book of the runner's instrument, or why there is none usable.
type bookSlot struct {
	book    *exchange.BookSnapshot // nil when invalid
	invalid string
}

// gapMsg tells a runner a private-stream gap began; seq numbers the runner's gaps.
type gapMsg struct{ seq uint64 }

// reconcileMsg asks a runner to reconcile with the orders the exchange says are open. With
// fetch set the runner asks the exchange itself (after a private-stream gap).
type reconcileMsg struct {
	open  []exchange.Order
	asOf  time.Time
	fetch bool
	since time.Time // with fetch: recover fills from here first (zero: none to recover)
	// owed marks the runner's own reconcile of owed gaps (at a health tick, at shutdown):
	// unlike the router's, sent when the stream came back, it ends no gap, so a gap that
	// began since (the stream may be down again) stays open.
	owed bool
	done chan struct{}
}

func (r *runner) poke() {
	select {
	case r.wake <- struct{}{}:
	default:
	}
}

func (r *runner) setBook(b *exchange.BookSnapshot, invalid string) {
	r.book.Store(&bookSlot{book: b, invalid: invalid})
	r.poke()
}

func (r *runner) setTrade(t *exchange.Trade) {
	r.trade.Store(t)
	r.poke()
}

func (r *runner) push(msg any) {
	r.mu.Lock()
	r.queue = append(r.queue, msg)
	r.mu.Unlock()
	r.poke()
}

func (r *runner) tick() {
	r.health.Store(true)
	r.poke()
}

// run decides on every wake-up (new book, trade, private message, health tick), at most once
// per MinInterval, until the engine starts shutting down; then it cancels its orders and
// waits for them to be confirmed gone.
func (r *runner) run(ctx context.Context) {
	var later <-chan time.Time // armed while a decision waits for MinInterval
	for {
		select {
		case <-r.e.shutdown:
			r.shutdown(r.e.runnerCtx)
			return
		case <-r.wake:
		case <-later:
			later = nil
		}
		r.drain(ctx)
		if r.health.Swap(false) {
			if r.gapsOwed > 0 && r.e.cfg.Clock().Sub(r.lastFetch) >= reconcileSpacing {
				r.m.log.Info("reconcile_coalesced", zap.Int("gaps", r.gapsOwed))
				r.reconcile(ctx, reconcileMsg{fetch: true, since: r.gapSince, owed: true})
			}
			if !r.fillsOwed.IsZero() && !r.e.cfg.Clock().Before(r.fillsRetryAt) {
				r.recoverFills(ctx, r.fillsOwed)
			}
			r.m.resolve(ctx, false, r.holdPrune())
		}
		if ctx.Err() != nil {
			continue // shutdown follows at once
		}
		if wait := r.untilDecision(); wait > 0 && !r.mustPull() {
			if later == nil {
				later = time.After(wait)
			}
			continue
		}
		later = nil
		r.decide(ctx)
	}
}

// untilDecision is how long MinInterval still holds the next decision back.
func (r *runner) untilDecision() time.Duration {
	if r.inst.MinInterval <= 0 || r.lastDecision.IsZero() {
		return 0
	}
	return r.inst.MinInterval - r.e.cfg.Clock().Sub(r.lastDecision)
}

// mustPull reports whether orders are out that must go now (halted, a side disallowed, no
// usable book, a gap's fills unrecovered or its reconcile owed, more reducing-only volume
// than the position). MinInterval throttles re-quoting, never failing closed, so such a
// decision is not held back.
func (r *runner) mustPull() bool {
	st := r.e.cfg.Gate.Status(r.inst.Name)
	all := r.whyPull(st, r.book.Load()) != ""
	reducing := decimal.Zero // reducing-only: open volume on the side that reduces the position
	for _, o := range r.m.live {
		if o.cancelling() || o.phase != phaseOpen {
			continue
		}
		if all || (o.side == exchange.Buy && !st.BuyOK) || (o.side == exchange.Sell && !st.SellOK) {
			return true
		}
		if st.State == risk.ReducingOnly {
			reducing = reducing.Add(o.remaining())
		}
	}
	// More than the position on the reducing side could flip it: cap it now.
	return reducing.GreaterThan(st.Position.Abs())
}

// drain applies every queued private message.
func (r *runner) drain(ctx context.Context) {
	r.mu.Lock()
	q := r.queue
	r.queue, r.spare = r.spare[:0], nil
	r.mu.Unlock()
	for i, msg := range q {
		switch msg := msg.(type) {
		case exchange.Event:
			r.m.handle(msg)
		case reconcileMsg:
			r.reconcile(ctx, msg)
		case gapMsg:
			r.gapOpen = true
			r.gapSeen = msg.seq
		}
		q[i] = nil
	}
	r.mu.Lock()
	if r.spare == nil {
		r.spare = q[:0]
	}
	r.mu.Unlock()
}

func (r *runner) reconcile(ctx context.Context, msg reconcileMsg) {
	defer func() {
		if msg.done != nil {
			close(msg.done)
		}
	}()
	if !msg.fetch {
		r.m.reconcile(ctx, msg.open, msg.asOf)
		return
	}
	now := r.e.cfg.Clock()
	if r.gapsOwed > 0 && !r.gapSince.IsZero() && (msg.since.IsZero() || r.gapSince.Before(msg.since)) {
		msg.since = r.gapSince // cover the owed gaps' fills too
	}
	if !msg.owed {
		// The stream is back: this gap's fills are recovered now or owed (gapsOwed).
		r.gapOpen = false
	}
	if !r.lastFetch.IsZero() && now.Sub(r.lastFetch) < reconcileSpacing {
		r.gapsOwed++
		r.gapSince = msg.since
		r.m.log.Debug("reconcile_deferred", zap.Int("gaps", r.gapsOwed))
		return
	}
	r.lastFetch, r.gapsOwed, r.gapSince = now, 0, time.Time{}
	// Fills first: an order that filled during the gap must be settled as filled before a
	// lookup that no longer finds it open would conclude it cancelled.
	if !msg.since.IsZero() {
		r.recoverFills(ctx, msg.since)
	}
	r.noteSettled()
	asOf := r.e.cfg.Clock()
	open, err := r.e.cfg.Account.OpenOrders(ctx, r.inst.Instrument.ID)
	if err != nil {
		// Fall back to looking up each live order on its own.
		r.m.log.Warn("reconcile_failed", zap.Error(err))
		open = nil
	} else {
		r.e.noteForeignOrders(open)
	}
	r.m.reconcile(ctx, open, asOf)
}

// recoverFills applies the fills the exchange lists since since (repeats are ignored by
// trade ID). If the exchange cannot be asked, the recovery is owed and retried later.
func (r *runner) recoverFills(ctx context.Context, since time.Time) {
	if !r.fillsOwed.IsZero() && r.fillsOwed.Before(since) {
		since = r.fillsOwed // an earlier recovery failed: cover its gap too
	}
	fills, err := r.e.cfg.Account.Fills(ctx, r.inst.Instrument.ID, since)
	if err != nil {
		r.fillsOwed, r.fillsRetryAt = since, r.e.cfg.Clock().Add(r.m.t.retryDelay)
		r.m.log.Warn("fills_recovery_failed", zap.Error(err), zap.Time("since", since))
		return
	}
	r.fillsOwed = time.Time{}
	recovered := 0
	for _, f := range fills {
		if r.m.onFill(f) {
			recovered++
		}
	}
	if recovered > 0 {
		r.m.log.Warn("fills_recovered", zap.Int("count", recovered), zap.Time("since", since))
	}
	r.noteSettled()
}

// noteSettled records that the fills of every gap drained so far are recovered, once none
// is left to recover (a gap still queued keeps gapsSettled below gapsBegun).
func (r *runner) noteSettled() {
	if !r.gapOpen && r.gapsOwed == 0 && r.fillsOwed.IsZero() {
		r.gapsSettled.Store(r.gapSeen)
	}
}

// holdPrune: fills of ended orders may still be recovered.
func (r *runner) holdPrune() bool { return r.gapOpen || r.gapsOwed > 0 || !r.fillsOwed.IsZero() }

// whyPull says why every order must be pulled now, or "": the gate's and the book's reasons
// (pullReason), and fills a private-stream gap may have hidden that are not recovered yet
// (a failed recovery, or a reconcile owed under reconcileSpacing): until they are, the
// position the gate and the strategy see may be wrong, so nothing is quoted on it.
func (r *runner) whyPull(st risk.Status, slot *bookSlot) string {
	if reason := pullReason(st, slot); reason != "" {
		return reason
	}
	switch {
	case !r.fillsOwed.IsZero():
		return "fills_unrecovered"
	case r.gapsOwed > 0:
		return "reconcile_owed"
	}
	return ""
}

// pullReason says why every order must be pulled now (halted, no usable book), or "".
func pullReason(st risk.Status, slot *bookSlot) string {
	switch {
	case st.State == risk.Halted:
		if st.Reason != "" {
			return "halted: " + st.Reason
		}
		return "halted"
	case slot == nil:
		return "no_book"
	case slot.book == nil:
		return "book_invalid: " + slot.invalid
	case slot.book.Crossed():
		return "book_crossed"
	}
	return ""
}

// decide is one decision: check the gate, show the strategy its view, diff its answer
// against the live orders.
func (r *runner) decide(ctx context.Context) {
	start := time.Now()
	defer func() {
		r.e.stats.decision(time.Since(start))
		if r.e.afterDecision != nil {
			r.e.afterDecision()
		}
	}()
	now := r.e.cfg.Clock()
	r.lastDecision = now
	st := r.e.cfg.Gate.Status(r.inst.Name)
	slot := r.book.Load()
	if reason := r.whyPull(st, slot); reason != "" {
		r.pull(ctx, reason)
		return
	}
	inst := r.inst.Instrument
	v := strategy.View{
		Now:        now,
		Instrument: inst,
		Book:       slot.book,
		LastTrade:  r.trade.Load(),
		Base:       r.e.inv.holding(inst.Base),
		Quote:      r.e.inv.holding(inst.Quote),
		Open:       r.m.openView(),
	}
	w, ok := r.quote(v)
	if !ok {
		r.pull(ctx, "strategy_error")
		return
	}
	r.m.sync(ctx, r.filter(w.Quotes, st), w.Tolerance, st)
}

// pull cancels the strategy's orders (the gate logs quoting_paused; this logs what was pulled).
func (r *runner) pull(ctx context.Context, reason string) {
	if n := r.m.pullAll(ctx, false); n > 0 {
		r.m.log.Warn("orders_pulled", zap.Int("count", n), zap.String("reason", reason))
	}
}

// quote calls the strategy, turning a panic into a strategy_error.
func (r *runner) quote(v strategy.View) (w strategy.Wanted, ok bool) {
	defer func() {
		if p := recover(); p != nil {
			r.strategyError(fmt.Sprint(p), zap.Stack("stack"))
			ok = false
		}
	}()
	start := time.Now()
	w = r.inst.Strategy.Quote(v)
	r.e.stats.quoteNanos.Add(int64(time.Since(start)))
	if w.Tolerance.IsNegative() {
		r.strategyError("negative tolerance", zap.Stringer("tolerance", w.Tolerance))
		w.Tolerance = decimal.Zero
	}
	return w, true
}

func (r *runner) strategyError(msg string, fields ...zap.Field) {
	r.e.stats.strategyErrors.Add(1)
	r.m.log.Error("strategy_error", append([]zap.Field{zap.String("error", msg)}, fields...)...)
}

// filter keeps the quotes the engine may act on: well-formed, rounded to the instrument
// (never more aggressive), on a side the gate allows now, and in reducing-only state only
// what brings |position| toward zero and no further.
func (r *runner) filter(qs []strategy.Quote, st risk.Status) []strategy.Quote {
	inst := r.inst.Instrument
	out := r.quotes[:0]
	bad := 0
	for _, q := range qs {
		if (q.Side != exchange.Buy && q.Side != exchange.Sell) || !q.Price.IsPositive() || !q.Volume.IsPositive() {
			bad++
			continue
		}
		if (q.Side == exchange.Buy && !st.BuyOK) || (q.Side == exchange.Sell && !st.SellOK) {
			continue
		}
		q.Price = inst.RoundPrice(q.Side, q.Price)
		q.Volume = inst.RoundVolume(q.Volume)
		if q.Price.IsPositive() && q.Volume.IsPositive() {
			out = append(out, q)
		}
	}
	if bad > 0 {
		r.strategyError("malformed quotes dropped", zap.Int("count", bad))
	}
	if st.State == risk.ReducingOnly {
		out = reduceOnly(out, st.Position, inst)
	}
	r.quotes = out
	return out
}

// reduceOnly keeps only quotes on the side that reduces |pos|, in order, their total volume
// capped at |pos|. It filters qs in place.
func reduceOnly(qs []strategy.Quote, pos decimal.Decimal, inst exchange.Instrument) []strategy.Quote {
	var side exchange.Side
	switch pos.Sign() {
	case 1:
		side = exchange.Sell
	case -1:
		side = exchange.Buy
	default:
		return qs[:0]
	}
	room := pos.Abs()
	out := qs[:0]
	for _, q := range qs {
		if q.Side != side || !room.IsPositive() {
			continue
		}
		if q.Volume.GreaterThan(room) {
			q.Volume = inst.RoundVolume(room)
		}
		if !q.Volume.IsPositive() {
			continue
		}
		room = room.Sub(q.Volume)
		out = append(out, q)
	}
	return out
}

// shutdown cancels every order (pending inserts too) and waits until the exchange confirms
// them gone: through the private stream, and by looking each one up every shutdownPoll in
// case the stream is gone. It gives up when ctx ends.
func (r *runner) shutdown(ctx context.Context) {
	r.m.closing = true
	r.drain(ctx)
	r.payOwed(ctx)
	r.m.pullAll(ctx, true)
	poll := time.NewTicker(r.e.shutdownPoll)
	defer poll.Stop()
	for r.m.liveCount.Load() > 0 {
		select {
		case <-ctx.Done():
			return
		case <-r.wake:
			r.drain(ctx)
		case <-poll.C:
			// A gap during the wait: no health tick pays its reconcile, and the lookups below
			// would conclude an order that filled in it cancelled.
			r.payOwed(ctx)
			r.m.resolve(ctx, true, true)
		}
		r.m.pullAll(ctx, true) // re-cancel what a lookup found still open
	}
}

// payOwed runs, at shutdown, the reconcile and fill recovery still owed, without waiting for
// reconcileSpacing or a health tick: fills a gap hid must be counted before the shutdown
// lookups conclude their orders cancelled.
func (r *runner) payOwed(ctx context.Context) {
	if r.gapsOwed > 0 {
		r.lastFetch = time.Time{}
		r.reconcile(ctx, reconcileMsg{fetch: true, since: r.gapSince, owed: true})
	}
	if !r.fillsOwed.IsZero() {
		r.recoverFills(ctx, r.fillsOwed)
	}
}

package engine

import (
	"context"
	"errors"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"github.com/shopspring/decimal"
	"go.uber.org/zap"

	"github.com/mmd-dev/mmd/exchange"
	"github.com/mmd-dev/mmd/risk"
	"github.com/mmd-dev/mmd/strategy"
)

// timing holds the order manager's own deadlines, measured on the injected clock.
type timing struct {
	insertTimeout time.Duration // a pending insert with no answer this long is looked up
	unknownDelay  time.Duration // after an unknown outcome, give the exchange this long before looking
	cancelTimeout time.Duration // a cancel with no answer this long is looked up
	retryDelay    time.Duration // after a failed lookup or cancel call
	refusalPause  time.Duration // after a gate refusal, no inserts on that side for this long
	lateWatch     time.Duration // a lost order is kept this long in case a late order_return adopts it
	doneRetention time.Duration // a done order is kept this long to absorb late duplicates
}

func defaultTiming() timing {
	return timing{
		insertTimeout: 5 * time.Second,
		unknownDelay:  time.Second,
		cancelTimeout: 5 * time.Second,
		retryDelay:    time.Second,
		refusalPause:  time.Second,
		lateWatch:     2 * time.Minute,
		doneRetention: 10 * time.Minute,
	}
}

// manager is one strategy instance's order manager: it turns wanted quotes into inserts and
// cancels through the gate and tracks each order from the private stream. It is owned by the
// strategy's goroutine (not safe for concurrent use) except liveCount, which others read.
type manager struct {
	name   string
	inst   exchange.Instrument
	idx    int // route target: the runner's index
	gate   *risk.Gate
	acct   exchange.Account
	inv    *inventory
	ids    *LocalIDs
	routes *routes
	clock  func() time.Time
	log    *zap.Logger
	stats  *counters
	t      timing

	all          map[string]*order // by local ID: live, and ended ones until pruned
	bySys        map[string]*order
	live         []*order // pending and open, in local-ID order
	ended        []*order // done and lost, in the order they ended: the pruning queue
	refusedUntil [3]time.Time
	liveCount    atomic.Int64
	plan         plan
	// closing: the runner is shutting down. No one will be left to see a received insert
	// accepted, so no lookup (a reconcile's included) concludes a young pending one.
	closing bool
}

// newManager makes an order manager. Dependencies may be nil only in tests that never reach
// them.
func newManager(name string, inst exchange.Instrument, idx int, e *Engine) *manager {
	return &manager{
		name:   name,
		inst:   inst,
		idx:    idx,
		gate:   e.cfg.Gate,
		acct:   e.cfg.Account,
		inv:    e.inv,
		ids:    e.cfg.IDs,
		routes: e.routes,
		clock:  e.cfg.Clock,
		log:    e.log.With(zap.String("strategy", name), zap.String("instrument", inst.ID)),
		stats:  &e.stats,
		t:      e.timing,
		all:    make(map[string]*order),
		bySys:  make(map[string]*order),
	}
}

func (m *manager) find(localID, sysID string) *order {
	if o := m.all[localID]; o != nil && localID != "" {
		return o
	}
	if sysID != "" {
		return m.bySys[sysID]
	}
	return nil
}

func (m *manager) fields(o *order, extra ...zap.Field) []zap.Field {
	return append([]zap.Field{
		zap.String("side", o.side.String()),
		zap.Stringer("price", o.price),
		zap.Stringer("volume", o.volume),
		zap.String("local_id", o.localID),
		zap.String("sys_id", o.sysID),
	}, extra...)
}

// asset is the asset an order on side s holds while live.
func (m *manager) asset(s exchange.Side) string {
	if s == exchange.Buy {
		return m.inst.Quote
	}
	return m.inst.Base
}

// settle brings the bookkeeping around o in line after its state changed from before.
func (m *manager) settle(o *order, before phase) {
	if want := o.wantFrozen(); !want.Equal(o.frozen) {
		m.inv.addFrozen(m.asset(o.side), want.Sub(o.frozen))
		o.frozen = want
	}
	if o.sysID != "" && m.bySys[o.sysID] == nil {
		m.bySys[o.sysID] = o
		m.routes.addSys(o.sysID, m.idx)
	}
	wasLive := before == phasePending || before == phaseOpen
	switch {
	case wasLive && !o.live():
		m.live = slices.DeleteFunc(m.live, func(x *order) bool { return x == o })
		o.endedAt, o.cancelAt, o.checkAt = m.clock(), time.Time{}, time.Time{}
		m.ended = append(m.ended, o)
	case !wasLive && o.live():
		i, _ := slices.BinarySearchFunc(m.live, o, compareLocalIDs)
		m.live = slices.Insert(m.live, i, o)
		o.orphan = before == phaseLost
	case before == phasePending && o.phase == phaseOpen && !o.cancelling():
		o.checkAt = time.Time{} // answered: nothing to look up
	}
	m.liveCount.Store(int64(len(m.live)))
}

// compareLocalIDs orders numeric IDs by value (shorter is smaller), others after them.
func compareLocalIDs(a, b *order) int {
	if c := len(a.localID) - len(b.localID); c != 0 {
		return c
	}
	return strings.Compare(a.localID, b.localID)
}

// forget drops an order that never reached the exchange.
func (m *manager) forget(o *order) {
	before := o.phase
	o.phase = phaseDone
	m.settle(o, before)
	m.ended = slices.DeleteFunc(m.ended, func(x *order) bool { return x == o })
	delete(m.all, o.localID)
	m.routes.remove(o.localID, "")
}

// handle applies one private-stream event routed to this strategy.
func (m *manager) handle(ev exchange.Event) {
	switch ev := ev.(type) {
	case exchange.OrderUpdate:
		m.onReport(ev.Order, "order_return")
	case exchange.FillEvent:
		m.onFill(ev.Fill)
	case exchange.InsertRejected:
		m.onInsertRejected(ev)
	case exchange.CancelRejected:
		m.onCancelRejected(ev)
	}
}

// onReport merges an order's state from the stream, a lookup or a reconcile.
func (m *manager) onReport(u exchange.Order, source string) {
	o := m.find(u.LocalID, u.SysID)
	if o == nil {
		return
	}
	before, wasReported := o.phase, o.reported
	if !o.applyReport(u) {
		return
	}
	m.settle(o, before)
	if !wasReported {
		m.stats.accepted.Add(1)
		m.log.Info("order_accepted", m.fields(o, zap.Stringer("status", o.status), zap.String("source", source))...)
	}
	if before == phaseLost || (source != "order_return" && before != o.phase) {
		m.stats.reconciled.Add(1)
		m.log.Info("order_reconciled", m.fields(o, zap.String("reason", source), zap.Stringer("from", before), zap.Stringer("to", o.phase), zap.Stringer("status", o.status))...)
	}
	if o.phase == phaseDone && o.status != exchange.StatusFilled {
		m.log.Info("order_cancelled", m.fields(o, zap.Stringer("status", o.status), zap.Stringer("traded", o.traded))...)
	}
	m.gate.OnOrder(m.name, o.view(m.inst.ID))
}

func (m *manager) onFill(f exchange.Fill) bool {
	o := m.find(f.LocalID, f.SysID)
	if o == nil {
		return false
	}
	key := f.TradeID
	if key == "" { // cannot happen on a well-formed trade_return; still never count one twice
		key = f.SysID + "|" + f.Time.String() + "|" + f.Price.String() + "|" + f.Volume.String()
	}
	f.Side, f.LocalID, f.Instrument = o.side, o.localID, m.inst.ID // ours is the trusted copy
	if f.SysID == "" {
		f.SysID = o.sysID
	}
	before := o.phase
	if !o.applyFill(f, key) {
		return false
	}
	m.inv.applyFill(m.inst, f)
	m.gate.OnFill(m.name, f)
	m.stats.fills.Add(1)
	m.settle(o, before)
	m.log.Info("order_filled", m.fields(o,
		zap.String("trade_id", f.TradeID),
		zap.Stringer("fill_price", f.Price),
		zap.Stringer("fill_volume", f.Volume),
		zap.Stringer("fee", f.Fee),
		zap.Bool("maker", f.Maker()),
		zap.Stringer("traded", o.traded),
		zap.Stringer("remaining", o.remaining()))...)
	if o.phase != before {
		m.gate.OnOrder(m.name, o.view(m.inst.ID))
	}
	return true
}

func (m *manager) onInsertRejected(ev exchange.InsertRejected) {
	o := m.all[ev.LocalID]
	if o == nil || o.reported || o.phase == phaseDone {
		return // accepted already, or concluded: a stray duplicate
	}
	before := o.phase
	o.phase, o.status = phaseDone, exchange.StatusNewNotInBook
	m.settle(o, before)
	m.stats.rejected.Add(1)
	m.log.Warn("order_rejected", m.fields(o, zap.Int("code", ev.Code), zap.String("message", ev.Message))...)
	m.gate.OnInsertRejected(m.name, o.localID, ev.Code)
}

// Cancel rejections whose order is gone already: look it up rather than retry.
const (
	codeOrderNotFound   = 2004
	codeAlreadyFilled   = 2014
	codeAlreadyCanceled = 2015
)

func (m *manager) onCancelRejected(ev exchange.CancelRejected) {
	o := m.find(ev.LocalID, ev.SysID)
	if o == nil {
		return
	}
	m.stats.cancelRejects.Add(1)
	m.log.Warn("cancel_rejected", m.fields(o, zap.Int("code", ev.Code), zap.String("message", ev.Message))...)
	if !o.live() {
		return
	}
	now := m.clock()
	switch ev.Code {
	case codeOrderNotFound, codeAlreadyFilled, codeAlreadyCanceled:
		o.checkAt = now
	default:
		o.checkAt = now.Add(m.t.retryDelay)
	}
}

// insert sends one new order through the gate.
func (m *manager) insert(ctx context.Context, q strategy.Quote) {
	now := m.clock()
	id := m.ids.Next()
	o := &order{localID: id, side: q.Side, price: q.Price, volume: q.Volume, phase: phasePending,
		sentAt: now, checkAt: now.Add(m.t.insertTimeout)}
	// Route and book the order before sending: its order_return may beat the REST answer.
	m.all[id] = o
	m.routes.add(id, m.idx)
	m.live = append(m.live, o) // the newest ID sorts last
	m.settle(o, o.phase)
	req := exchange.OrderRequest{Instrument: m.inst.ID, Side: q.Side, Price: q.Price, Volume: q.Volume, LocalID: id}
	start := time.Now()
	sent, err := m.gate.Insert(ctx, m.name, req)
	m.stats.insertNanos.Add(int64(time.Since(start)))
	var refusal *risk.Refusal
	switch {
	case err == nil:
		if sent.LocalID == id && sent.Price.IsPositive() && sent.Volume.IsPositive() {
			o.price, o.volume = sent.Price, sent.Volume // as rounded by the gate
			m.settle(o, o.phase)
		}
		m.stats.sent.Add(1)
		m.log.Info("order_sent", m.fields(o)...)
	case errors.As(err, &refusal):
		// Never sent; the gate has logged risk_refused with the check, limit and value.
		m.forget(o)
		m.stats.refused.Add(1)
		m.refusedUntil[q.Side] = now.Add(m.t.refusalPause)
	case errors.Is(err, exchange.ErrUnknownOutcome) || ctx.Err() != nil:
		// The exchange may have it: keep the slot taken and look it up, never resend.
		o.checkAt = now.Add(m.t.unknownDelay)
		m.stats.unknown.Add(1)
		m.log.Warn("order_unknown_outcome", m.fields(o, zap.Error(err))...)
	default:
		// Refused by the exchange. Watched as lost in case an order_return says otherwise.
		before := o.phase
		o.phase, o.status = phaseLost, exchange.StatusNewNotInBook
		m.settle(o, before)
		m.stats.rejected.Add(1)
		m.log.Warn("order_rejected", m.fields(o, zap.Error(err))...)
	}
}

// cancel asks the gate to cancel o unless a cancel is already in flight. It reports whether
// a cancel was sent.
func (m *manager) cancel(ctx context.Context, o *order) bool {
	if o.cancelling() || !o.live() {
		return false
	}
	now := m.clock()
	o.cancelAt, o.checkAt = now, now.Add(m.t.cancelTimeout)
	var err error
	if o.sysID != "" {
		err = m.gate.CancelBySysID(ctx, m.name, o.sysID)
	} else {
		err = m.gate.CancelByLocalID(ctx, m.name, o.localID)
	}
	m.stats.cancels.Add(1)
	if err != nil {
		// Maybe already gone (filled or cancelled first: a race, logged at info), maybe not
		// sent: look it up soon either way.
		o.checkAt = now.Add(m.t.retryDelay)
		if errors.Is(err, exchange.ErrOrderDone) {
			m.log.Info("cancel_sent", m.fields(o, zap.String("outcome", "already_done"), zap.Error(err))...)
		} else {
			m.log.Warn("cancel_sent", m.fields(o, zap.Error(err))...)
		}
		return true
	}
	m.log.Info("cancel_sent", m.fields(o)...)
	return true
}

// pullAll cancels every live order that has no cancel in flight; pending inserts too when
// includePending (at shutdown; otherwise they are cancelled once accepted, which avoids
// cancels the exchange answers with 2004). It returns how many cancels it sent.
func (m *manager) pullAll(ctx context.Context, includePending bool) int {
	n := 0
	for _, o := range slices.Clone(m.live) {
		if o.phase == phasePending && !includePending {
			continue
		}
		if m.cancel(ctx, o) {
			n++
		}
	}
	return n
}

// sync makes the live orders match the wanted quotes: cancels first, then inserts.
//
// st.OrderRoom is how many more orders the gate lets the strategy have open now (cancels in
// flight still count): a replacement waits for its predecessor's cancel to be confirmed (a
// decision follows it) instead of running into a max_open_orders refusal. Likewise in
// reducing-only state, where the gate counts the orders being cancelled against the
// position. An insert the available balance cannot pay for is not sent: the exchange would
// reject it and the gate back off every insert.
func (m *manager) sync(ctx context.Context, quotes []strategy.Quote, tolBps decimal.Decimal, st risk.Status) {
	m.plan.build(m.live, quotes, tolBps)
	for _, o := range m.plan.cancels {
		m.cancel(ctx, o)
	}
	now := m.clock()
	room := st.OrderRoom
	for _, q := range m.plan.inserts {
		if ctx.Err() != nil {
			return
		}
		if room <= 0 {
			return
		}
		if now.Before(m.refusedUntil[q.Side]) {
			continue
		}
		// Never send what the balance cannot pay for (a kept order may hold more than the
		// strategy charged for it, a cancel may not have freed its funds yet): the exchange
		// would reject it and the gate back off every insert. A confirmation, a fill or a
		// health tick brings the next decision.
		if !m.affordable(q) {
			continue
		}
		if st.State == risk.ReducingOnly && m.sideVolume(q.Side).Add(q.Volume).GreaterThan(st.Position.Abs()) {
			continue
		}
		m.insert(ctx, q)
		room--
	}
}

// sideVolume is the remaining volume of the live orders on one side, cancels in flight
// included: what the gate counts against a reducing-only position.
func (m *manager) sideVolume(s exchange.Side) decimal.Decimal {
	sum := decimal.Zero
	for _, o := range m.live {
		if o.side == s {
			sum = sum.Add(o.remaining())
		}
	}
	return sum
}

func (m *manager) affordable(q strategy.Quote) bool {
	avail := m.inv.holding(m.asset(q.Side)).Available
	if q.Side == exchange.Buy {
		return avail.GreaterThanOrEqual(q.Price.Mul(q.Volume))
	}
	return avail.GreaterThanOrEqual(q.Volume)
}

// resolve looks up the live orders whose check is due (all of them when force) and prunes
// ended orders past their retention.
func (m *manager) resolve(ctx context.Context, force, holdPrune bool) {
	now := m.clock()
	for _, o := range slices.Clone(m.live) {
		if ctx.Err() != nil {
			return
		}
		if force || (!o.checkAt.IsZero() && !now.Before(o.checkAt)) {
			m.lookup(ctx, o)
		}
	}
	if !holdPrune {
		m.prune(now)
	}
}

// lookup asks the exchange about one order and applies the answer.
func (m *manager) lookup(ctx context.Context, o *order) {
	got, err := m.acct.OrderByLocalID(ctx, o.localID)
	now := m.clock()
	if err != nil {
		o.checkAt = now.Add(m.t.retryDelay)
		m.log.Warn("order_query_failed", m.fields(o, zap.Error(err))...)
		return
	}
	o.checkAt = time.Time{}
	if got != nil {
		m.onReport(*got, "query")
		if o.live() && o.cancelling() {
			o.cancelAt = time.Time{} // still open: the cancel did not take; the next decision may send another
		}
		return
	}
	if m.closing && o.phase == phasePending && now.Before(o.sentAt.Add(m.t.insertTimeout)) {
		// Received, perhaps not accepted yet: nobody would be left to see it accepted.
		o.checkAt = now.Add(m.t.retryDelay)
		o.cancelAt = time.Time{} // cancel again once it shows
		return
	}
	// Not open on the exchange: done (or, if it was never acknowledged, presumed not placed).
	before := o.phase
	o.conclude()
	m.settle(o, before)
	m.stats.reconciled.Add(1)
	m.log.Info("order_reconciled", m.fields(o, zap.String("reason", "not_open_on_exchange"),
		zap.Stringer("from", before), zap.Stringer("to", o.phase), zap.Stringer("status", o.status))...)
	m.gate.OnOrder(m.name, o.view(m.inst.ID))
}

// prune forgets ended orders past their retention, oldest first.
func (m *manager) prune(now time.Time) {
	n := 0
	for _, o := range m.ended {
		if o.live() { // adopted again by a late report: it re-enters the queue when it ends
			n++
			continue
		}
		keep := m.t.doneRetention
		if o.phase == phaseLost {
			keep = m.t.lateWatch
		}
		if now.Sub(o.endedAt) < keep {
			break
		}
		delete(m.all, o.localID)
		if o.sysID != "" {
			delete(m.bySys, o.sysID)
		}
		m.routes.remove(o.localID, o.sysID)
		n++
	}
	if n > 0 {
		m.ended = slices.Delete(m.ended, 0, n)
	}
}

// reconcile applies a list of the orders the exchange says are open (taken at asOf): ours
// are adopted, and our live orders sent before asOf that it leaves out are looked up.
func (m *manager) reconcile(ctx context.Context, open []exchange.Order, asOf time.Time) {
	listed := make(map[*order]bool, len(open))
	for _, u := range open {
		if u.Instrument != m.inst.ID {
			continue
		}
		o := m.find(u.LocalID, u.SysID)
		if o == nil {
			continue
		}
		listed[o] = true
		m.onReport(u, "reconcile")
	}
	now := m.clock()
	for _, o := range m.live {
		// An accepted order the exchange no longer lists is looked up now. A pending insert
		// keeps its own deadline (insertTimeout): a list taken a moment after the insert left
		// says nothing yet, and concluding it lost would only re-quote that slot twice.
		if !listed[o] && !o.sentAt.After(asOf) && o.phase != phasePending {
			o.checkAt = now
		}
	}
	m.resolve(ctx, false, true) // the caller prunes at its next health tick
}

// openView lists the live orders without a cancel in flight, for the strategy's View.
func (m *manager) openView() []exchange.Order {
	out := make([]exchange.Order, 0, len(m.live))
	for _, o := range m.live {
		if !o.cancelling() {
			out = append(out, o.view(m.inst.ID))
		}
	}
	return out
}

// plan is one diff's outcome; its slices are reused between decisions.
type plan struct {
	cancels []*order
	inserts []strategy.Quote
	used    []bool
	rem     []decimal.Decimal // remaining volume of live[j]
	missing []strategy.Quote
	sideQ   []int   // indices in want of this side's quotes
	cand    [][]int // per side quote: live orders it may keep, nearest first
	owner   []int   // per live order: the side quote (index in sideQ) keeping it, −1 none
	seen    []bool  // augment's visited orders
}

// augment finds an order for side quote k, moving earlier quotes to other orders of their
// bands where that frees one (Kuhn's augmenting path). It reports whether k got one.
func (p *plan) augment(k int) bool {
	for _, j := range p.cand[k] {
		if p.seen[j] {
			continue
		}
		p.seen[j] = true
		if p.owner[j] < 0 || p.augment(p.owner[j]) {
			p.owner[j] = k
			return true
		}
	}
	return false
}

// build diffs wanted quotes against live orders, side by side.
//
// An order is kept for a wanted quote of its side when its price is within tolBps of the
// quote's price (|p − q| ≤ q·tol/10⁴; nearest first) and remaining ≤ wanted volume ≤
// original volume: it was placed for this size, and a partial fill alone does not trigger a
// top-up (the order's place in the queue is worth more), while a wish for more than it was
// placed with, or for less than it still shows, replaces it. Orders with a cancel in flight
// are going away and match nothing.
//
// Unmatched open orders are cancelled. Unmatched pending inserts are left alone until
// accepted (a cancel before then would only meet 2004) and keep their slot: the inserts
// planned for a side are at most (wanted − matched − unmatched pending), so there is never
// more than one insert in flight per wanted quote, however fast the quotes move. Orphans
// (orders given up as lost that turned up after all) are never kept: they are cancelled.
func (p *plan) build(live []*order, want []strategy.Quote, tolBps decimal.Decimal) {
	p.cancels, p.inserts = p.cancels[:0], p.inserts[:0]
	for _, side := range [2]exchange.Side{exchange.Buy, exchange.Sell} {
		p.side(live, want, tolBps, side)
	}
}

func (p *plan) side(live []*order, want []strategy.Quote, tolBps decimal.Decimal, side exchange.Side) {
	p.used = slices.Grow(p.used[:0], len(live))[:len(live)]
	clear(p.used)
	p.rem = slices.Grow(p.rem[:0], len(live))[:len(live)]
	for j, o := range live {
		if o.side != side {
			continue
		}
		if o.traded.IsZero() {
			p.rem[j] = o.volume // the same value as remaining(), without the subtraction
		} else {
			p.rem[j] = o.remaining()
		}
	}
	p.missing = p.missing[:0]
	p.sideQ = p.sideQ[:0]
	for i, q := range want {
		if q.Side == side {
			p.sideQ = append(p.sideQ, i)
		}
	}
	wanted := len(p.sideQ)
	// cand[k]: the orders quote sideQ[k] may keep, nearest first.
	p.cand = slices.Grow(p.cand[:0], wanted)[:wanted]
	for k, qi := range p.sideQ {
		q := want[qi]
		c := p.cand[k][:0]
		// An order is within tolerance when q − maxDist ≤ price ≤ q + maxDist. Both prices
		// are whole multiples of 10^e (e the smaller exponent of the two), and so is their
		// difference, which is therefore ≤ maxDist exactly when it is ≤ maxDist floored to
		// 10^e: the band [lo, hi] is built with that floored distance, on the prices' own
		// exponent, where decimal comparisons do not allocate. Rebuilt only if e changes.
		maxDist := tolBps.Mul(q.Price).Shift(-4)
		var lo, hi decimal.Decimal
		bandExp, bandSet := int32(0), false
		for j, o := range live {
			if o.side != side || !o.keepable() {
				continue
			}
			if q.Volume.GreaterThan(o.volume) || p.rem[j].GreaterThan(q.Volume) {
				continue
			}
			if e := min(o.price.Exponent(), q.Price.Exponent()); !bandSet || e != bandExp {
				m := maxDist.RoundFloor(-e)
				lo, hi, bandExp, bandSet = q.Price.Sub(m), q.Price.Add(m), e, true
			}
			if o.price.LessThan(lo) || o.price.GreaterThan(hi) {
				continue
			}
			c = append(c, j)
		}
		if len(c) > 1 {
			slices.SortStableFunc(c, func(a, b int) int {
				return live[a].price.Sub(q.Price).Abs().Cmp(live[b].price.Sub(q.Price).Abs())
			})
		}
		p.cand[k] = c
	}
	// Each quote, best first, takes its nearest free order; if every order in its band is
	// taken, an earlier quote may move to another order of its own band (an augmenting
	// path), so that as many orders as possible are kept: the nearest order alone would let
	// the best quote take the next level's order and churn that level.
	p.owner = slices.Grow(p.owner[:0], len(live))[:len(live)]
	for j := range p.owner {
		p.owner[j] = -1
	}
	p.seen = slices.Grow(p.seen[:0], len(live))[:len(live)]
	matched := 0
	for k, qi := range p.sideQ {
		clear(p.seen)
		if p.augment(k) {
			matched++
		} else {
			p.missing = append(p.missing, want[qi])
		}
	}
	for j, k := range p.owner {
		if k >= 0 {
			p.used[j] = true
		}
	}
	inflight := 0
	for j, o := range live {
		if o.side != side || p.used[j] {
			continue
		}
		if o.phase == phasePending {
			inflight++
			continue
		}
		if !o.cancelling() {
			p.cancels = append(p.cancels, o)
		}
	}
	if free := wanted - matched - inflight; free > 0 {
		p.inserts = append(p.inserts, p.missing[:min(free, len(p.missing))]...)
	}
}

// Package risk is the gate between the strategies and the exchange, modelled on Nautilus
// Trader's RiskEngine: the one choke point every order passes, with trading states (active,
// reducing-only, halted). It is the only holder of the signed order client (Sender), and only
// it can mint the Approved token the client requires, so no order can leave without a gate
// decision, and no decision is made without a log line.
//
// The gate checks each insert against its strategy's Limits (price band, notional, worst-case
// position, open orders, order rate, daily budget, reject backoff, fill bursts), keeps each
// instrument fail-closed on bad market data, a lost private stream or a bad clock, and keeps
// each strategy's PnL for the loss-limit ladder. Every decision is a function of the inputs the
// engine feeds and the injected clock, so tests and replays are deterministic.
package risk

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/shopspring/decimal"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/mmd-dev/mmd/exchange"
)

// Config is what a Gate needs. Sender is required; Clock defaults to time.Now and Logger to a
// no-op logger.
type Config struct {
	Sender Sender
	Clock  func() time.Time
	Logger *zap.Logger
}

// Gate is the risk gate. All methods are safe for concurrent use. Insert holds the gate's lock
// only for the checks, never while the Sender talks to the exchange.
type Gate struct {
	sender Sender
	clock  func() time.Time
	log    *zap.Logger

	mu          sync.Mutex
	halted      bool // global operator halt
	haltReason  string
	privUp      bool // the private stream is up; false until it first says so
	privReason  string
	pubDown     bool
	pubReason   string
	clockKnown  bool
	clockOffset time.Duration
	instruments map[string]*instrumentState
	strategies  map[string]*strategyState
	list        []*strategyState // in registration order, for deterministic logs
	count       Counters
}

// instrumentState is the market-data view of one instrument, shared by its strategies.
type instrumentState struct {
	inst       exchange.Instrument
	strategies []*strategyState
	hasBook    bool
	bookAt     time.Time // local receive time of the newest book
	bid, ask   int64     // best prices in ticks of bookPrec
	bookPrec   int32
	twoSided   bool
	crossed    bool
	invalid    bool
	invReason  string
	marks      markSamples
	markKeep   time.Duration // the longest MarkWindow of the instrument's strategies

	// exchangeMax at the exponents of a rounded price and volume: decimals with equal
	// exponents compare without allocating.
	maxPrice, maxVolume decimal.Decimal
}

// rawMid is the newest usable mid, for the price band and spread capture.
func (in *instrumentState) rawMid() (decimal.Decimal, bool) {
	if !in.hasBook || !in.twoSided || in.crossed || in.invalid {
		return decimal.Decimal{}, false
	}
	return halfTicks(in.bid+in.ask, in.bookPrec), true
}

// openOrder is one of a strategy's orders that may rest in the book: sent and not yet
// acknowledged (pending), or acknowledged open.
type openOrder struct {
	side      exchange.Side
	remaining decimal.Decimal
	traded    decimal.Decimal // the most the exchange (reports or fills) says has traded
	filled    decimal.Decimal // the sum of the fills seen for it
	pending   bool
	sentAt    time.Time
}

// pendingExpiry is how long an insert with an unknown outcome keeps counting as open when
// neither an order update nor a rejection arrives (the engine resolves such inserts by querying
// the exchange and reports the answer through OnOrder; this is the backstop so a lost answer
// cannot block the strategy's open-order budget for ever).
const pendingExpiry = time.Minute

// recentCap bounds the remembered finished local IDs and trade IDs per strategy, used to drop
// duplicated and late private-stream messages.
const recentCap = 1024

// strategyState is everything the gate keeps for one strategy instance.
type strategyState struct {
	name string
	in   *instrumentState
	lim  Limits

	// Limits resolved for the instrument's assets at Register.
	maxNotional, maxPosition   decimal.Decimal
	notionalCap                decimal.Decimal // maxNotional, at a notional's exponent if exact
	bandUp, bandDown           decimal.Decimal // 1 ± band/10⁴
	dailyHalt, dailyReduce     decimal.Decimal
	dailyResume                decimal.Decimal
	ddHalt, ddReduce, ddResume decimal.Decimal

	// Fail-closed health: paused while a condition holds and for HealthyPeriod after.
	paused      bool
	bad         bool // a condition held at the last evaluation
	pauseReason string
	lastBad     time.Time // the last instant a fail-closed condition was seen to hold
	lastBadWhy  string
	// While paused, the log names the condition that keeps the strategy paused: a new kind
	// of condition (badKind, holding since badSince) is logged once it has held for
	// reasonSettle (loggedKind is the last logged), so start-up's quick succession of
	// conditions does not fill the log but a stuck one is never hidden behind the first.
	badKind, loggedKind string
	badSince            time.Time

	// Loss ladder.
	lossState  State
	lossReason string
	position   decimal.Decimal
	spread     decimal.Decimal // Σ signed volume × (mid at fill − price)
	costAtMid  decimal.Decimal // Σ signed volume × mid at fill
	fees       decimal.Decimal
	lastMid    decimal.Decimal // mid at the newest fill: the mark before any book
	peak       decimal.Decimal // highest total PnL since start or re-arm
	dayStart   decimal.Decimal // total PnL at the start of the exchange day (or re-arm)
	day        int64

	fillCount uint64
	epoch     uint64 // baselines reset count (Rearm)
	lossKey   lossKey
	lossKeyOK bool

	// The PnL last computed for Status, and what it depends on: Status runs before every
	// decision, and the PnL changes only with a fill or the mark.
	pnlCache PnL
	pnlKey   pnlKey
	pnlOK    bool

	ordersToday int
	orders      map[string]*openOrder
	done        recentSet // local IDs of finished orders
	trades      recentSet // trade IDs already counted

	rate ring // times of the last MaxOrdersPerSecond inserts

	fills       [2]ring // by sideIndex: times of the last FillBurstCount fills
	pulledUntil [2]time.Time

	rejects      int // consecutive insert rejections
	backoff      time.Duration
	backoffUntil time.Time
}

// NewGate makes a gate with nothing registered. Until the private stream reports up and a clock
// offset is known, every instrument is halted (fail closed).
func NewGate(cfg Config) (*Gate, error) {
	if cfg.Sender == nil {
		return nil, errors.New("new risk gate: Sender is required")
	}
	g := &Gate{
		sender:      cfg.Sender,
		clock:       cfg.Clock,
		log:         cfg.Logger,
		instruments: make(map[string]*instrumentState),
		strategies:  make(map[string]*strategyState),
		count:       Counters{Refused: make(map[string]uint64)},
	}
	if g.clock == nil {
		g.clock = time.Now
	}
	if g.log == nil {
		g.log = zap.NewNop()
	}
	return g, nil
}

// Register adds a strategy instance trading one instrument with its (already merged) limits.
// It fails if the limits are invalid or do not cover the instrument's assets, if the name is
// taken, or if the instrument was registered before with a different definition. A new
// strategy starts paused: it resumes after its instrument has been healthy for HealthyPeriod.
func (g *Gate) Register(strategy string, inst exchange.Instrument, l Limits) error {
	if strategy == "" {
		return errors.New("register strategy: empty name")
	}
	if inst.ID == "" || inst.Base == "" || inst.Quote == "" || inst.PricePrecision < 0 || inst.VolumePrecision < 0 {
		return fmt.Errorf("register strategy %s: incomplete instrument %+v", strategy, inst)
	}
	if err := l.Validate(); err != nil {
		return fmt.Errorf("register strategy %s: %w", strategy, err)
	}
	l = l.Clone()
	st := &strategyState{
		name:   strategy,
		lim:    l,
		orders: make(map[string]*openOrder),
		done:   newRecentSet(recentCap),
		trades: newRecentSet(recentCap),
		rate:   newRing(l.MaxOrdersPerSecond),
		fills:  [2]ring{newRing(l.FillBurstCount), newRing(l.FillBurstCount)},
	}
	var errs []error
	need := func(field string, m map[string]decimal.Decimal, asset string) decimal.Decimal {
		v, ok := assetLimit(m, asset)
		if !ok {
			errs = append(errs, &LimitError{Field: field, Value: asset,
				Reason: fmt.Sprintf(`no entry for %s (instrument %s) and no "*" entry`, asset, inst.ID)})
		}
		return v
	}
	st.maxNotional = need("maxOrderNotional", l.MaxOrderNotional, inst.Quote)
	st.maxPosition = need("maxPosition", l.MaxPosition, inst.Base)
	daily := need("dailyLossLimit", l.DailyLossLimit, inst.Quote)
	dd := need("drawdownLimit", l.DrawdownLimit, inst.Quote)
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("register strategy %s: %w", strategy, err)
	}
	// A notional (rounded price × rounded volume) has exponent −(price + volume precision);
	// maxNotional is compared at that exponent when it has no finer digits (the same value,
	// so the same outcome, and equal exponents compare without allocating).
	st.notionalCap = st.maxNotional
	if places := inst.PricePrecision + inst.VolumePrecision; st.maxNotional.Exponent() >= -places {
		st.notionalCap = st.maxNotional.RoundFloor(places)
	}
	band := l.PriceBandBps.Shift(-4)
	st.bandUp = one.Add(band)
	st.bandDown = one.Sub(band)
	st.dailyHalt, st.dailyReduce, st.dailyResume = daily, daily.Mul(l.ReduceAt), daily.Mul(l.ReduceAt).Mul(resumeFraction)
	st.ddHalt, st.ddReduce, st.ddResume = dd, dd.Mul(l.ReduceAt), dd.Mul(l.ReduceAt).Mul(resumeFraction)

	g.mu.Lock()
	defer g.mu.Unlock()
	if _, dup := g.strategies[strategy]; dup {
		return fmt.Errorf("register strategy %s: already registered", strategy)
	}
	in := g.instruments[inst.ID]
	if in == nil {
		in = &instrumentState{inst: inst,
			// Exact: rounding an integer to ≥ 0 places only appends zeros.
			maxPrice:  exchangeMax.RoundFloor(inst.PricePrecision),
			maxVolume: exchangeMax.RoundFloor(inst.VolumePrecision)}
		g.instruments[inst.ID] = in
	} else if in.inst != inst {
		return fmt.Errorf("register strategy %s: instrument %s already registered as %+v, now %+v", strategy, inst.ID, in.inst, inst)
	}
	st.in = in
	in.strategies = append(in.strategies, st)
	in.markKeep = max(in.markKeep, l.MarkWindow)
	g.strategies[strategy] = st
	g.list = append(g.list, st)

	now := g.clock()
	st.day = exchangeDay(now)
	reason := g.badReason(st, now)
	if reason == "" {
		reason = "starting"
	}
	st.paused, st.pauseReason = true, reason
	st.lastBad, st.lastBadWhy = now, reason
	st.badKind, st.loggedKind, st.badSince = reasonKind(reason), reasonKind(reason), now
	g.log.Info("risk_registered", zap.String("strategy", strategy), zap.String("instrument", inst.ID),
		zap.String("max_order_notional", st.maxNotional.String()), zap.String("max_position", st.maxPosition.String()),
		zap.String("daily_loss_limit", daily.String()), zap.String("drawdown_limit", dd.String()))
	g.log.Warn("quoting_paused", zap.String("strategy", strategy), zap.String("instrument", inst.ID), zap.String("reason", reason))
	return nil
}

var (
	one = decimal.NewFromInt(1)
	// resumeFraction is the hysteresis of the reducing-only rung: it is entered at ReduceAt ×
	// limit and left only when the loss is back below resumeFraction × ReduceAt × limit, so a
	// PnL hovering at the threshold does not flap the state.
	resumeFraction = decimal.RequireFromString("0.8")
	exchangeMax    = decimal.NewFromInt(10_000_000) // price and volume must be below this
)

// maxLocalID is the exchange's limit on orderLocalID length.
const maxLocalID = 20

// Insert checks req for strategy, rounds price (bids down, asks up) and volume (down) to the
// instrument's precision, and if every check passes sends it through Sender.Insert. It returns
// the request as sent (rounded); on a refusal, the request as far as it was checked. A refusal
// is a *Refusal; a Sender error is returned wrapped (errors.Is(err, exchange.ErrUnknownOutcome)
// when the answer was lost: reconcile by local ID, never resend).
func (g *Gate) Insert(ctx context.Context, strategy string, req exchange.OrderRequest) (exchange.OrderRequest, error) {
	g.mu.Lock()
	now := g.clock()
	st := g.strategies[strategy]
	if st == nil {
		g.mu.Unlock()
		return req, g.refuse(strategy, req, CheckUnknownStrategy, "registered strategy", strategy)
	}
	g.refresh(st, now)
	req, ref := g.check(st, req, now)
	if ref != nil {
		g.count.Refused[ref.Check]++
		g.mu.Unlock()
		g.logRefusal(ref, req)
		return req, ref
	}
	// Reserve before sending, so concurrent inserts and the order's own updates (which may
	// overtake the Sender's answer) see it.
	st.orders[req.LocalID] = &openOrder{side: req.Side, remaining: req.Volume, pending: true, sentAt: now}
	st.rate.push(now)
	st.ordersToday++
	g.count.Approved++
	g.mu.Unlock()

	if ce := g.log.Check(zapcore.DebugLevel, "risk_approved"); ce != nil {
		ce.Write(zap.String("strategy", strategy), zap.String("instrument", req.Instrument),
			zap.Stringer("side", req.Side), zap.Stringer("price", req.Price), zap.Stringer("volume", req.Volume),
			zap.String("local_id", req.LocalID))
	}
	err := g.sender.Insert(ctx, Approved{req: req, ok: true})
	if err == nil {
		return req, nil
	}
	g.mu.Lock()
	g.count.SendErrors++
	unknown := errors.Is(err, exchange.ErrUnknownOutcome) || ctx.Err() != nil
	if !unknown {
		// The exchange (or the client before it) refused the order: it is not open, and it
		// counts toward the reject backoff.
		delete(st.orders, req.LocalID)
		st.done.add(req.LocalID)
		g.registerReject(st, g.clock(), req.LocalID, 0, err)
	}
	// With the outcome unknown the order keeps counting as open until an update, a
	// rejection or pendingExpiry settles it: the worst case is that it rests in the book.
	g.mu.Unlock()
	return req, err // the client's error names the insert and its local ID already
}

// check runs every check for an insert, rounding on the way. Called with g.mu held.
func (g *Gate) check(st *strategyState, req exchange.OrderRequest, now time.Time) (exchange.OrderRequest, *Refusal) {
	in := st.in
	refuse := func(check, limit, value string) *Refusal {
		return &Refusal{Strategy: st.name, Instrument: in.inst.ID, Check: check, Limit: limit, Value: value}
	}
	if req.Instrument != in.inst.ID {
		return req, refuse(CheckUnknownInstrument, in.inst.ID, req.Instrument)
	}
	if req.Side != exchange.Buy && req.Side != exchange.Sell {
		return req, refuse(CheckSide, "buy|sell", req.Side.String())
	}
	if req.LocalID == "" || len(req.LocalID) > maxLocalID {
		return req, refuse(CheckLocalID, fmt.Sprintf("1..%d characters", maxLocalID), fmt.Sprintf("%q", req.LocalID))
	}
	if _, open := st.orders[req.LocalID]; open || st.done.has(req.LocalID) {
		return req, refuse(CheckLocalID, "unused local ID", "duplicate "+req.LocalID)
	}
	state, reason := g.effective(st, now)
	if state == Halted {
		return req, refuse(CheckState, "active", "halted: "+reason)
	}

	req.Price = in.inst.RoundPrice(req.Side, req.Price)
	req.Volume = in.inst.RoundVolume(req.Volume)
	if !req.Volume.IsPositive() {
		return req, refuse(CheckZeroVolume, "lot "+in.inst.LotSize().String(), req.Volume.String())
	}
	if !req.Price.IsPositive() {
		return req, refuse(CheckZeroPrice, "tick "+in.inst.TickSize().String(), req.Price.String())
	}
	if req.Price.GreaterThanOrEqual(in.maxPrice) {
		return req, refuse(CheckExchangeBounds, "price < "+exchangeMax.String(), req.Price.String())
	}
	if req.Volume.GreaterThanOrEqual(in.maxVolume) {
		return req, refuse(CheckExchangeBounds, "volume < "+exchangeMax.String(), req.Volume.String())
	}

	var buys, sells decimal.Decimal
	for _, o := range st.orders {
		if o.side == exchange.Buy {
			buys = buys.Add(o.remaining)
		} else {
			sells = sells.Add(o.remaining)
		}
	}
	if state == ReducingOnly {
		// Only the side that brings |position| toward zero, and all of that side's orders
		// together no further than zero.
		pos := st.position
		switch {
		case pos.IsZero():
			return req, refuse(CheckState, "reducing_only", "flat position, "+req.Side.String()+" would open one: "+reason)
		case pos.IsPositive() && req.Side == exchange.Buy, pos.IsNegative() && req.Side == exchange.Sell:
			return req, refuse(CheckState, "reducing_only", req.Side.String()+" grows position "+pos.String()+": "+reason)
		}
		same := buys
		if req.Side == exchange.Sell {
			same = sells
		}
		if total := same.Add(req.Volume); total.GreaterThan(pos.Abs()) {
			return req, refuse(CheckState, "reducing_only up to "+pos.Abs().String(), total.String())
		}
	}
	if now.Before(st.pulledUntil[sideIndex(req.Side)]) {
		return req, refuse(CheckFillBurst, fmt.Sprintf("%d fills in %s", st.lim.FillBurstCount, st.lim.FillBurstWindow),
			req.Side.String()+" pulled for "+st.pulledUntil[sideIndex(req.Side)].Sub(now).String())
	}
	if now.Before(st.backoffUntil) {
		return req, refuse(CheckRejectBackoff, st.backoff.String(),
			fmt.Sprintf("%d rejections, %s left", st.rejects, st.backoffUntil.Sub(now)))
	}
	mid, ok := in.rawMid()
	if !ok {
		return req, refuse(CheckPriceBand, st.lim.PriceBandBps.String()+" bps", "no mark")
	}
	if req.Side == exchange.Buy {
		if bound := mid.Mul(st.bandUp); req.Price.GreaterThan(bound) {
			return req, refuse(CheckPriceBand, "bid <= "+bound.String(), req.Price.String())
		}
	} else if bound := mid.Mul(st.bandDown); req.Price.LessThan(bound) {
		return req, refuse(CheckPriceBand, "ask >= "+bound.String(), req.Price.String())
	}
	if notional := req.Price.Mul(req.Volume); notional.GreaterThan(st.notionalCap) {
		return req, refuse(CheckMaxOrderNotional, st.maxNotional.String(), notional.String())
	}
	// Worst case of all open orders on this order's side filling. Only this side's worst case
	// can change, and an order that shrinks it is allowed even beyond the limit (the position
	// may have got there by fills), so the gate never blocks a way back. The limit is per
	// instrument: every strategy quoting it counts, or two strategies would each get all of it.
	pos, instBuys, instSells := st.position, buys, sells
	for _, other := range in.strategies {
		if other == st {
			continue
		}
		pos = pos.Add(other.position)
		for _, o := range other.orders {
			if o.side == exchange.Buy {
				instBuys = instBuys.Add(o.remaining)
			} else {
				instSells = instSells.Add(o.remaining)
			}
		}
	}
	var before, after decimal.Decimal
	if req.Side == exchange.Buy {
		before = pos.Add(instBuys)
		after = before.Add(req.Volume)
	} else {
		before = pos.Sub(instSells)
		after = before.Sub(req.Volume)
	}
	// "Shrinks" means toward zero on the same side: an order that flips a position beyond the
	// limit to the other side beyond it is new exposure, however the sizes compare.
	if a := after.Abs(); a.GreaterThan(st.maxPosition) && (a.GreaterThan(before.Abs()) || after.Sign() != before.Sign()) {
		return req, refuse(CheckMaxPosition, st.maxPosition.String(), after.String())
	}
	// Open orders, order rate and daily budget are per instrument, like the position.
	since := now.Add(-time.Second)
	oOpen, oRecent, oToday := st.others(since)
	if n := len(st.orders) + oOpen; n >= st.lim.MaxOpenOrders {
		return req, refuse(CheckMaxOpenOrders, fmt.Sprint(st.lim.MaxOpenOrders), fmt.Sprint(n+1))
	}
	// Alone on the instrument (the usual case), the ring answers in O(1).
	if (oRecent == 0 && st.rate.full(since)) || (oRecent > 0 && oRecent+st.rate.count(since) >= st.lim.MaxOrdersPerSecond) {
		return req, refuse(CheckOrderRate, fmt.Sprintf("%d/s", st.lim.MaxOrdersPerSecond), fmt.Sprintf("%d/s", st.lim.MaxOrdersPerSecond+1))
	}
	if n := st.ordersToday + oToday; n >= st.lim.DailyOrderBudget {
		return req, refuse(CheckDailyOrderBudget, fmt.Sprint(st.lim.DailyOrderBudget), fmt.Sprint(n+1))
	}
	return req, nil
}

// others counts the open orders, the inserts since since and the inserts this exchange day of
// the other strategies quoting st's instrument: maxOpenOrders, maxOrdersPerSecond and
// dailyOrderBudget are per instrument (like maxPosition), or two strategies on one instrument
// would each get all of them. Another strategy's ring holds all its inserts of the last second
// (its own rate limit keeps them within the ring's size). Called with g.mu held.
func (st *strategyState) others(since time.Time) (open, recent, today int) {
	for _, other := range st.in.strategies {
		if other == st {
			continue
		}
		open += len(other.orders)
		recent += other.rate.count(since)
		if other.day == st.day { // not rolled yet: its count is the previous day's
			today += other.ordersToday
		}
	}
	return open, recent, today
}

// refuse builds, counts and logs a refusal made outside check (unknown strategy).
func (g *Gate) refuse(strategy string, req exchange.OrderRequest, check, limit, value string) *Refusal {
	ref := &Refusal{Strategy: strategy, Instrument: req.Instrument, Check: check, Limit: limit, Value: value}
	g.mu.Lock()
	g.count.Refused[check]++
	g.mu.Unlock()
	g.logRefusal(ref, req)
	return ref
}

func (g *Gate) logRefusal(ref *Refusal, req exchange.OrderRequest) {
	g.log.Warn("risk_refused", zap.String("strategy", ref.Strategy), zap.String("instrument", ref.Instrument),
		zap.String("check", ref.Check), zap.String("limit", ref.Limit), zap.String("value", ref.Value),
		zap.Stringer("side", req.Side), zap.Stringer("price", req.Price), zap.Stringer("volume", req.Volume),
		zap.String("local_id", req.LocalID))
}

// CancelByLocalID sends a cancel. Cancels are never refused: cancelling only reduces risk.
func (g *Gate) CancelByLocalID(ctx context.Context, strategy, localID string) error {
	g.logCancel(strategy, "local_id", localID)
	if err := g.sender.CancelByLocalID(ctx, localID); err != nil {
		return fmt.Errorf("cancel local ID %s: %w", localID, err)
	}
	return nil
}

// CancelBySysID sends a cancel by the exchange's order ID. Never refused.
func (g *Gate) CancelBySysID(ctx context.Context, strategy, sysID string) error {
	g.logCancel(strategy, "sys_id", sysID)
	if err := g.sender.CancelBySysID(ctx, sysID); err != nil {
		return fmt.Errorf("cancel sys ID %s: %w", sysID, err)
	}
	return nil
}

func (g *Gate) logCancel(strategy, key, id string) {
	g.mu.Lock()
	g.count.Cancels++
	g.mu.Unlock()
	if ce := g.log.Check(zapcore.DebugLevel, "risk_cancel"); ce != nil {
		ce.Write(zap.String("strategy", strategy), zap.String(key, id))
	}
}

// Status is the strategy's effective state now. An unknown strategy is halted.
func (g *Gate) Status(strategy string) Status {
	g.mu.Lock()
	defer g.mu.Unlock()
	st := g.strategies[strategy]
	if st == nil {
		return Status{State: Halted, Reason: "unknown_strategy"}
	}
	now := g.clock()
	g.refresh(st, now)
	state, reason := g.effective(st, now)
	s := Status{State: state, Reason: reason, Position: st.position, PnL: st.pnlNow(now)}
	if state == Halted {
		return s
	}
	since := now.Add(-time.Second)
	oOpen, oRecent, oToday := st.others(since)
	s.OrderRoom = max(0, min(st.lim.MaxOpenOrders-len(st.orders)-oOpen,
		st.lim.MaxOrdersPerSecond-st.rate.count(since)-oRecent,
		st.lim.DailyOrderBudget-st.ordersToday-oToday))
	s.BuyOK = !now.Before(st.pulledUntil[sideIndex(exchange.Buy)])
	s.SellOK = !now.Before(st.pulledUntil[sideIndex(exchange.Sell)])
	if state == ReducingOnly {
		s.BuyOK = s.BuyOK && st.position.IsNegative()
		s.SellOK = s.SellOK && st.position.IsPositive()
	}
	return s
}

// pnlKey is everything pnlNow's result depends on besides the fill-driven fields, which
// change only together with fillCount (applyFill).
type pnlKey struct {
	mid2  int64
	marks bool // mid2 is a mark (else lastMid is)
	prec  int32
	fills uint64
}

// pnlNow is st.pnl(st.mark(now)), recomputed only when the mark or the fills changed (decimal
// arithmetic allocates). Called with g.mu held.
func (st *strategyState) pnlNow(now time.Time) PnL {
	mid2, ok := st.in.marks.median(now.UnixNano(), st.lim.MarkWindow)
	key := pnlKey{mid2: mid2, marks: ok, prec: st.in.bookPrec, fills: st.fillCount}
	if st.pnlOK && key == st.pnlKey {
		return st.pnlCache
	}
	st.pnlCache, st.pnlKey, st.pnlOK = st.pnl(st.markOf(mid2, ok)), key, true
	return st.pnlCache
}

// effective is the worst of the global, instrument (health) and strategy (loss) states, with
// the reason of the worst. Called with g.mu held, after refresh.
func (g *Gate) effective(st *strategyState, now time.Time) (State, string) {
	switch {
	case g.halted:
		return Halted, "operator_halt " + g.haltReason
	case st.lossState == Halted:
		return Halted, st.lossReason
	case st.paused:
		if st.bad {
			return Halted, st.pauseReason
		}
		return Halted, fmt.Sprintf("healthy_period clear=%s need=%s after %s", now.Sub(st.lastBad), st.lim.HealthyPeriod, st.lastBadWhy)
	case st.lossState == ReducingOnly:
		return ReducingOnly, st.lossReason
	}
	return Active, ""
}

// Halt stops every insert of every strategy until Resume (the operator's kill switch; the
// engine sees Halted and cancels).
func (g *Gate) Halt(reason string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	from := Active
	if g.halted {
		from = Halted
	}
	g.halted, g.haltReason = true, reason
	g.log.Error("risk_halted", zap.String("scope", "global"), zap.String("reason", reason))
	if from != Halted {
		g.log.Warn("risk_state_changed", zap.String("scope", "global"), zap.Stringer("from", from),
			zap.Stringer("to", Halted), zap.String("reason", reason))
	}
}

// Resume lifts a global Halt. Instrument pauses and loss halts stay as they are.
func (g *Gate) Resume() {
	g.mu.Lock()
	defer g.mu.Unlock()
	if !g.halted {
		return
	}
	g.halted, g.haltReason = false, ""
	g.log.Warn("risk_state_changed", zap.String("scope", "global"), zap.Stringer("from", Halted),
		zap.Stringer("to", Active), zap.String("reason", "operator_resume"))
}

// Rearm clears a strategy's loss state. It also re-baselines the loss limits at the current
// PnL (the day's start and the drawdown peak), because the loss that tripped the halt is still
// there: re-arming means the operator accepts it and gives the strategy a fresh budget.
func (g *Gate) Rearm(strategy string) error {
	g.mu.Lock()
	defer g.mu.Unlock()
	st := g.strategies[strategy]
	if st == nil {
		return fmt.Errorf("rearm %s: unknown strategy", strategy)
	}
	now := g.clock()
	g.refresh(st, now)
	total := st.pnl(st.mark(now)).Total
	st.peak, st.dayStart = total, total
	st.epoch++
	from := st.lossState
	st.lossState, st.lossReason = Active, ""
	g.log.Warn("risk_rearmed", zap.String("strategy", strategy), zap.String("instrument", st.in.inst.ID),
		zap.Stringer("from", from), zap.String("pnl", total.String()))
	if from != Active {
		g.log.Warn("risk_state_changed", zap.String("scope", "strategy"), zap.String("strategy", strategy),
			zap.String("instrument", st.in.inst.ID), zap.Stringer("from", from), zap.Stringer("to", Active),
			zap.String("reason", "rearm"))
	}
	return nil
}

// RearmHalted re-arms every strategy a loss limit has halted, and only those (re-arming an
// active strategy would hand it a fresh loss budget), and returns their names: the operator's
// "I have looked at the losses; carry on". Pauses for health clear by themselves.
func (g *Gate) RearmHalted() []string {
	g.mu.Lock()
	now := g.clock()
	var halted []string
	for name, st := range g.strategies {
		g.refresh(st, now)
		if st.lossState == Halted {
			halted = append(halted, name)
		}
	}
	g.mu.Unlock()
	slices.Sort(halted)
	for _, name := range halted {
		_ = g.Rearm(name) // registered strategies only: cannot fail
	}
	return halted
}

// Counters returns a copy of the running totals.
func (g *Gate) Counters() Counters {
	g.mu.Lock()
	defer g.mu.Unlock()
	c := g.count
	c.Refused = make(map[string]uint64, len(g.count.Refused))
	for k, v := range g.count.Refused {
		c.Refused[k] = v
	}
	return c
}

// refresh brings a strategy's time-driven state up to now: expired pending inserts, the
// exchange day, the fail-closed health and the loss ladder. Called with g.mu held.
func (g *Gate) refresh(st *strategyState, now time.Time) {
	// A deadline further ahead than the period that set it was set before the wall clock
	// stepped back (after a mistaken step forward): it restarts now, or it would hold until
	// the wall clock caught up with the mistaken reading.
	for i := range st.pulledUntil {
		if st.pulledUntil[i].Sub(now) > st.lim.FillBurstCooldown {
			st.pulledUntil[i] = now.Add(st.lim.FillBurstCooldown)
		}
	}
	if st.backoffUntil.Sub(now) > st.backoff {
		st.backoffUntil = now.Add(st.backoff)
	}
	for id, o := range st.orders {
		if o.pending && o.sentAt.After(now) {
			o.sentAt = now
		}
		if o.pending && now.Sub(o.sentAt) > pendingExpiry {
			delete(st.orders, id)
			g.log.Warn("risk_pending_expired", zap.String("strategy", st.name), zap.String("local_id", id),
				zap.Duration("after", now.Sub(o.sentAt)))
		}
	}
	g.touchHealth(st, now)
	g.touchLoss(st, now)
}

func sideIndex(s exchange.Side) int {
	if s == exchange.Sell {
		return 1
	}
	return 0
}

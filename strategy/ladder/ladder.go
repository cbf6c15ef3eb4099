// Package ladder is a fixed-spread ladder: a few bids below and a few asks above a
// reference price, at fixed distances in basis points, with sizes capped by what the account
// can pay for and both sides shifted to steer inventory toward a target share.
//
// Prices, for level i = 0 … levels−1 on each side:
//
//	ref'  = ref × (1 − skew/10⁴)                     (skew below; 0 when skewBps is 0)
//	bid_i = ref' × (1 − (spreadBps + i·stepBps)/10⁴)  rounded down to the tick
//	ask_i = ref' × (1 + (spreadBps + i·stepBps)/10⁴)  rounded up to the tick
//
// A bid is never at or above the best ask (it becomes best ask − 1 tick) and an ask never at
// or below the best bid; each further level is at least one tick worse than the one before,
// so coarse ticks never stack two levels on one price. A bid that would be ≤ 0 ends the side.
//
// Reference: "mid" (best bid + best ask)/2; "microprice" the volume-weighted mid; "last" the
// last public trade clamped into [best bid, best ask] (so a stale trade cannot drag the ladder
// through the book), or the mid until a trade has been seen. With an empty book side, mid and
// microprice are undefined and the ladder quotes nothing (fail closed: its orders are pulled).
//
// Skew: baseRatio = base.Total·ref / (base.Total·ref + quote.Total), the share of the
// account's value (in these two assets) held in base. skew = skewBps × (baseRatio −
// targetBaseRatio) / 0.1, in bps: every 10 percentage points of excess base lowers both sides
// by skewBps (too much base → cheaper asks sell it, lower bids buy less); a shortfall raises
// them. With skewBps 10 and target 0.5 the shift is at most ±50 bps.
//
// Sizes: size_i = size + i·sizeStep, rounded down to the lot. Bids are funded, best level
// first, from a budget of quote.Available plus what this strategy's own open bids already
// freeze (price × remaining) — those funds come back when the order manager replaces them —
// and asks likewise from base.Available plus the remaining volume of its open asks. A level
// the budget cannot pay even one lot of is dropped.
//
// Refresh: at most once per minRefresh the ladder publishes freshly computed prices. In
// between it re-publishes the prices of its open orders (each paired with the level whose
// fresh price is nearest to it) so the order manager leaves them alone — except a level
// whose held price would be at or through the opposite best, more than 4 × toleranceBps
// from its fresh price, or not strictly worse than the level before: that level takes its
// fresh price at once. Levels without an open order (e.g. just filled) are always quoted at
// their fresh price. Volumes are always fresh, and sized at the prices published.
// With minRefresh 0 every call is fresh, and the order manager's tolerance alone decides.
//
// A Ladder is a deterministic function of the View and its own last-refresh time. It is not
// safe for concurrent use; the engine calls it from the strategy's one goroutine. The Quotes
// slice it returns is scratch space reused by the next call (see Quote).
package ladder

import (
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/shopspring/decimal"

	"github.com/mmd-dev/mmd/exchange"
	"github.com/mmd-dev/mmd/strategy"
)

// Reference prices the ladder can centre on.
const (
	RefMid        = "mid"
	RefMicroprice = "microprice"
	RefLast       = "last"
)

// MaxLevels bounds levels per side: a typo such as 300 must not become 600 orders.
const MaxLevels = 50

// holdFactor is how far (in tolerances) a held price may drift from its fresh price before
// the level is moved even inside minRefresh.
const holdFactor = 4

// Params are the ladder's parameters as a strategy file's `params:` block spells them.
type Params struct {
	Levels          int             `yaml:"levels"`          // per side, ≥ 1
	SpreadBps       decimal.Decimal `yaml:"spreadBps"`       // first level's distance from the reference, each side
	StepBps         decimal.Decimal `yaml:"stepBps"`         // extra distance per further level
	Size            decimal.Decimal `yaml:"size"`            // base volume of the first level
	SizeStep        decimal.Decimal `yaml:"sizeStep"`        // extra volume per further level
	Reference       string          `yaml:"reference"`       // mid | microprice | last
	ToleranceBps    decimal.Decimal `yaml:"toleranceBps"`    // leave an order alone while this close to its wanted price
	MinRefresh      time.Duration   `yaml:"minRefresh"`      // least time between two re-pricings
	SkewBps         decimal.Decimal `yaml:"skewBps"`         // shift per 10 points of base-ratio excess
	TargetBaseRatio decimal.Decimal `yaml:"targetBaseRatio"` // wanted share of value in base, 0…1
}

// DefaultParams are the values of keys a strategy file leaves out. spreadBps and size have
// no useful default (they depend on the market) and must be given.
func DefaultParams() Params {
	return Params{
		Levels:          1,
		Reference:       RefMid,
		TargetBaseRatio: decimal.New(5, -1),
	}
}

var bpsDen = decimal.NewFromInt(10_000)

// Validate reports every unacceptable parameter as a *strategy.ParamError naming its key,
// joined with errors.Join.
func (p Params) Validate() error {
	var errs []error
	bad := func(key, format string, args ...any) {
		errs = append(errs, &strategy.ParamError{Key: key, Msg: fmt.Sprintf(format, args...)})
	}
	if p.Levels < 1 || p.Levels > MaxLevels {
		bad("levels", "must be between 1 and %d, got %d", MaxLevels, p.Levels)
	}
	positive("spreadBps", p.SpreadBps, bad)
	if p.StepBps.IsNegative() {
		bad("stepBps", "must be ≥ 0, got %s", p.StepBps)
	}
	// The furthest bid must stay above zero. The first level alone is spreadBps's problem;
	// stepBps is blamed only when it carries the ladder there (a stepBps left out must not
	// draw the blame for a spreadBps that is too wide).
	if p.SpreadBps.GreaterThanOrEqual(bpsDen) {
		bad("spreadBps", "must be < 10000 (it puts the bid at or below zero), got %s", p.SpreadBps)
	} else if p.SpreadBps.IsPositive() && !p.StepBps.IsNegative() && p.Levels >= 1 {
		far := p.SpreadBps.Add(p.StepBps.Mul(decimal.NewFromInt(int64(p.Levels - 1))))
		if far.GreaterThanOrEqual(bpsDen) {
			bad("stepBps", "spreadBps + (levels−1)·stepBps = %s bps puts the furthest bid at or below zero (must be < 10000)", far)
		}
	}
	positive("size", p.Size, bad)
	if p.SizeStep.IsNegative() {
		bad("sizeStep", "must be ≥ 0, got %s", p.SizeStep)
	}
	switch p.Reference {
	case RefMid, RefMicroprice, RefLast:
	default:
		bad("reference", "must be one of %s, %s, %s; got %q", RefMid, RefMicroprice, RefLast, p.Reference)
	}
	if p.ToleranceBps.IsNegative() {
		bad("toleranceBps", "must be ≥ 0, got %s", p.ToleranceBps)
	}
	if p.MinRefresh < 0 {
		bad("minRefresh", "must be ≥ 0, got %s", p.MinRefresh)
	}
	if p.SkewBps.IsNegative() {
		bad("skewBps", "must be ≥ 0, got %s", p.SkewBps)
	}
	if p.TargetBaseRatio.IsNegative() || p.TargetBaseRatio.GreaterThan(decimal.NewFromInt(1)) {
		bad("targetBaseRatio", "must be between 0 and 1, got %s", p.TargetBaseRatio)
	}
	return errors.Join(errs...)
}

// positive reports a value that must be above zero. Zero is also what a key left out of the
// file holds (spreadBps and size have no default), so "got 0" is not said: the config
// loader calls a left-out key required, and "got 0" would claim a value nobody wrote.
func positive(key string, v decimal.Decimal, bad func(key, format string, args ...any)) {
	switch {
	case v.IsZero():
		bad(key, "must be > 0")
	case v.IsNegative():
		bad(key, "must be > 0, got %s", v)
	}
}

// New is the strategy.Factory for "ladder": it decodes the parameters over DefaultParams and
// validates them. A decode error is returned as is (the config loader already located it).
func New(decode func(params any) error) (strategy.Strategy, error) {
	p := DefaultParams()
	if err := decode(&p); err != nil {
		return nil, err
	}
	return NewLadder(p)
}

// Ladder is one ladder instance.
type Ladder struct {
	p           Params
	lastRefresh time.Time // Now of the last fresh publication; zero before the first

	// Per-level constants derived from p once, so that a decision does not rebuild them
	// (decimal arithmetic allocates): exactly the values the formulas give per call.
	bidFactor []decimal.Decimal // 10⁴ − (spreadBps + i·stepBps)
	askFactor []decimal.Decimal // 10⁴ + (spreadBps + i·stepBps)
	sizes     []decimal.Decimal // size + i·sizeStep

	// sizes rounded down to the lot of volPrec, recomputed if the instrument's precision
	// ever differs from the one they were rounded for.
	lots    []decimal.Decimal
	volPrec int32

	// Scratch reused between calls (the ladder is called from one goroutine).
	quotes     []strategy.Quote
	bids, asks []decimal.Decimal // level prices, best first
	claim      []int             // hold: index in View.Open of the order held at each level, −1 none
	claimDist  []decimal.Decimal
	kept       []bool // sizing: View.Open[j] is a partly filled order already charged to a level
}

// NewLadder makes a ladder from validated parameters.
func NewLadder(p Params) (*Ladder, error) {
	if err := p.Validate(); err != nil {
		return nil, err
	}
	l := &Ladder{
		p:         p,
		bidFactor: make([]decimal.Decimal, p.Levels),
		askFactor: make([]decimal.Decimal, p.Levels),
		sizes:     make([]decimal.Decimal, p.Levels),
		quotes:    make([]strategy.Quote, 0, 2*p.Levels),
	}
	for i := range p.Levels {
		dist := l.distance(i)
		l.bidFactor[i] = bpsDen.Sub(dist)
		l.askFactor[i] = bpsDen.Add(dist)
		l.sizes[i] = l.size(i)
	}
	return l, nil
}

// Params returns the ladder's parameters.
func (l *Ladder) Params() Params { return l.p }

// Quote implements strategy.Strategy.
//
// The returned Quotes share their backing array with the ladder's scratch space: they stay
// valid until the next call to Quote, which overwrites them. Callers that keep quotes across
// calls must copy them (the engine copies them in its filter before the next decision).
func (l *Ladder) Quote(v strategy.View) strategy.Wanted {
	w := strategy.Wanted{Tolerance: l.p.ToleranceBps}
	d := v.Now.Sub(l.lastRefresh)
	holding := l.p.MinRefresh > 0 && !l.lastRefresh.IsZero() && d >= 0 && d < l.p.MinRefresh
	w.Quotes = l.fresh(v, holding)
	if !holding {
		// Outside the window (or the clock stepped back): fresh prices start a new one.
		l.lastRefresh = v.Now
	}
	return w
}

// reference returns the price the ladder centres on, before skew.
func (l *Ladder) reference(v strategy.View) (decimal.Decimal, bool) {
	b := v.Book
	switch l.p.Reference {
	case RefMicroprice:
		return b.Microprice()
	case RefLast:
		if v.LastTrade == nil || !v.LastTrade.Price.IsPositive() {
			return b.Mid()
		}
		p := v.LastTrade.Price
		if bid, _, ok := b.BestBid(); ok && p.LessThan(bid) {
			p = bid
		}
		if ask, _, ok := b.BestAsk(); ok && p.GreaterThan(ask) {
			p = ask
		}
		return p, true
	}
	return b.Mid()
}

// top is the book's best prices, read once per decision.
type top struct {
	bid, ask       decimal.Decimal
	hasBid, hasAsk bool
}

// bookTop reads the best prices (not the volumes, which the ladder does not use: each one
// read is an allocation).
func bookTop(b *exchange.BookSnapshot) top {
	t := top{hasBid: len(b.Bids) > 0, hasAsk: len(b.Asks) > 0}
	if t.hasBid {
		t.bid = b.Price(b.Bids[0].Price)
	}
	if t.hasAsk {
		t.ask = b.Price(b.Asks[0].Price)
	}
	return t
}

// skewed applies the inventory skew (see the package comment) to ref.
func (l *Ladder) skewed(ref decimal.Decimal, v strategy.View) decimal.Decimal {
	if l.p.SkewBps.IsZero() {
		return ref
	}
	baseValue := v.Base.Total.Mul(ref)
	total := baseValue.Add(v.Quote.Total)
	if !total.IsPositive() {
		return ref
	}
	ratio := baseValue.DivRound(total, 12)
	// skew bps = skewBps × (ratio − target) × 10; ref' = ref × (10⁴ − skew) / 10⁴.
	skew := l.p.SkewBps.Mul(ratio.Sub(l.p.TargetBaseRatio)).Shift(1)
	return ref.Mul(bpsDen.Sub(skew)).Shift(-4)
}

// fresh computes the ladder's quotes: bids best first, then asks best first. Prices come
// first (held ones when holding), sizes last, so that the budget pays for the prices quoted.
// The result is l.quotes (scratch).
func (l *Ladder) fresh(v strategy.View, holding bool) []strategy.Quote {
	if v.Book == nil {
		return nil
	}
	ref, ok := l.reference(v)
	if !ok || !ref.IsPositive() {
		return nil
	}
	ref = l.skewed(ref, v)
	inst := v.Instrument
	tick := inst.TickSize()
	lot := inst.LotSize()
	t := bookTop(v.Book)
	bestBid, hasBid, bestAsk, hasAsk := t.bid, t.hasBid, t.ask, t.hasAsk
	lots := l.roundedSizes(inst)

	bids, asks := l.bids[:0], l.asks[:0]
	var prev decimal.Decimal
	for i := range l.p.Levels {
		p := inst.RoundPrice(exchange.Buy, ref.Mul(l.bidFactor[i]).Shift(-4))
		if hasAsk && p.GreaterThanOrEqual(bestAsk) {
			p = bestAsk.Sub(tick)
		}
		if i > 0 && p.GreaterThanOrEqual(prev) {
			p = prev.Sub(tick)
		}
		if !p.IsPositive() {
			break
		}
		prev = p
		bids = append(bids, p)
	}
	for i := range l.p.Levels {
		p := inst.RoundPrice(exchange.Sell, ref.Mul(l.askFactor[i]).Shift(-4))
		if hasBid && p.LessThanOrEqual(bestBid) {
			p = bestBid.Add(tick)
		}
		if i > 0 && p.LessThanOrEqual(prev) {
			p = prev.Add(tick)
		}
		prev = p
		asks = append(asks, p)
	}
	l.bids, l.asks = bids, asks
	if holding {
		l.hold(v, t)
	}

	buyBudget, sellBudget := v.Quote.Available, v.Base.Available
	for _, o := range v.Open {
		switch o.Side {
		case exchange.Buy:
			buyBudget = buyBudget.Add(o.Price.Mul(o.Remaining))
		case exchange.Sell:
			sellBudget = sellBudget.Add(o.Remaining)
		}
	}
	quotes := l.quotes[:0]
	l.kept = slices.Grow(l.kept[:0], len(v.Open))[:len(v.Open)]
	clear(l.kept)
	for i, p := range l.bids {
		vol := lots[i]
		cost := vol.Mul(p)
		if j := l.keptPartial(v.Open, exchange.Buy, p, vol); j >= 0 {
			if held := v.Open[j].Price.Mul(v.Open[j].Remaining); held.LessThanOrEqual(buyBudget) {
				// The order manager keeps this level's partly filled order as it is: it costs
				// only what it still holds.
				l.kept[j] = true
				buyBudget = buyBudget.Sub(held)
				quotes = append(quotes, strategy.Quote{Side: exchange.Buy, Price: p, Volume: vol})
				continue
			}
		}
		if cost.GreaterThan(buyBudget) {
			vol = inst.RoundVolume(buyBudget.DivRound(p, inst.VolumePrecision+2))
			// DivRound may round up in its last place; never spend more than the budget.
			for vol.IsPositive() && vol.Mul(p).GreaterThan(buyBudget) {
				vol = vol.Sub(lot)
			}
			cost = vol.Mul(p)
		}
		if !vol.IsPositive() {
			continue
		}
		buyBudget = buyBudget.Sub(cost)
		quotes = append(quotes, strategy.Quote{Side: exchange.Buy, Price: p, Volume: vol})
	}
	for i, p := range l.asks {
		// RoundVolume(min(size, budget)): the rounded size unless the budget is smaller.
		vol := lots[i]
		if j := l.keptPartial(v.Open, exchange.Sell, p, vol); j >= 0 && v.Open[j].Remaining.LessThanOrEqual(sellBudget) {
			l.kept[j] = true
			sellBudget = sellBudget.Sub(v.Open[j].Remaining)
			quotes = append(quotes, strategy.Quote{Side: exchange.Sell, Price: p, Volume: vol})
			continue
		}
		if sellBudget.LessThan(l.sizes[i]) {
			vol = inst.RoundVolume(sellBudget)
		}
		if !vol.IsPositive() {
			continue
		}
		sellBudget = sellBudget.Sub(vol)
		quotes = append(quotes, strategy.Quote{Side: exchange.Sell, Price: p, Volume: vol})
	}
	l.quotes = quotes
	return quotes
}

// keptPartial finds the open order the order manager keeps for a level quoted at p with
// volume vol although it is partly filled (remaining < vol ≤ its volume): one within the
// tolerance of p (|price − p|·10⁴ ≤ tol·p, the manager's band; exactly p with tolerance 0),
// the nearest, not claimed by a level before. It returns its index in open, or −1.
func (l *Ladder) keptPartial(open []exchange.Order, side exchange.Side, p, vol decimal.Decimal) int {
	best := -1
	var bestDist decimal.Decimal
	for j, o := range open {
		// Not partly filled (the usual case, and a cheap test): never one.
		if o.Side != side || l.kept[j] || !o.Remaining.LessThan(o.Volume) ||
			!o.Remaining.LessThan(vol) || vol.GreaterThan(o.Volume) {
			continue
		}
		dist := o.Price.Sub(p).Abs()
		if dist.Shift(4).GreaterThan(l.p.ToleranceBps.Mul(p)) {
			continue
		}
		if best < 0 || dist.LessThan(bestDist) {
			best, bestDist = j, dist
		}
	}
	return best
}

// roundedSizes is every level's size rounded down to inst's lot, computed once per volume
// precision (decimals are immutable, so the same values can be handed out on every call).
func (l *Ladder) roundedSizes(inst exchange.Instrument) []decimal.Decimal {
	if l.lots == nil || l.volPrec != inst.VolumePrecision {
		l.lots = make([]decimal.Decimal, len(l.sizes))
		for i, s := range l.sizes {
			l.lots[i] = inst.RoundVolume(s)
		}
		l.volPrec = inst.VolumePrecision
	}
	return l.lots
}

// distance is level i's distance from the reference in bps (NewLadder derives the level
// factors from it).
func (l *Ladder) distance(i int) decimal.Decimal {
	if i == 0 {
		return l.p.SpreadBps
	}
	return l.p.SpreadBps.Add(l.p.StepBps.Mul(decimal.NewFromInt(int64(i))))
}

// size is level i's volume before rounding and budget (NewLadder keeps it in sizes).
func (l *Ladder) size(i int) decimal.Decimal {
	if i == 0 {
		return l.p.Size
	}
	return l.p.Size.Add(l.p.SizeStep.Mul(decimal.NewFromInt(int64(i))))
}

// hold replaces the fresh prices in l.bids and l.asks with the prices of open orders where
// that is still safe (see the package comment). Each open order is paired with the level
// whose fresh price is nearest to it (a level keeps the nearest of the orders that chose
// it), not by rank: after a fill, the orders left must stay with their own levels and the
// filled level take its fresh price. A held price that would not keep its side strictly
// ordered gives way to the fresh one, so no two levels ever share a price.
func (l *Ladder) hold(v strategy.View, t top) {
	maxDrift := l.p.ToleranceBps.Mul(decimal.NewFromInt(holdFactor))
	for _, side := range [2]exchange.Side{exchange.Buy, exchange.Sell} {
		px := l.bids
		if side == exchange.Sell {
			px = l.asks
		}
		l.claim = slices.Grow(l.claim[:0], len(px))[:len(px)]
		for i := range l.claim {
			l.claim[i] = -1
		}
		l.claimDist = slices.Grow(l.claimDist[:0], len(px))[:len(px)]
		for j, o := range v.Open {
			if o.Side != side || len(px) == 0 {
				continue
			}
			if (side == exchange.Buy && t.hasAsk && o.Price.GreaterThanOrEqual(t.ask)) ||
				(side == exchange.Sell && t.hasBid && o.Price.LessThanOrEqual(t.bid)) {
				continue // at or through the opposite best: never held
			}
			k, dist := 0, o.Price.Sub(px[0]).Abs()
			for i := 1; i < len(px); i++ {
				if d := o.Price.Sub(px[i]).Abs(); d.LessThan(dist) {
					k, dist = i, d
				}
			}
			// |held − fresh| × 10⁴ ≤ 4·tol × fresh
			if dist.Shift(4).GreaterThan(maxDrift.Mul(px[k])) {
				continue
			}
			if l.claim[k] < 0 || dist.LessThan(l.claimDist[k]) {
				l.claim[k], l.claimDist[k] = j, dist
			}
		}
		for i := range px {
			if l.claim[i] < 0 {
				continue
			}
			held := v.Open[l.claim[i]].Price
			if i > 0 && ((side == exchange.Buy && !held.LessThan(px[i-1])) || (side == exchange.Sell && !held.GreaterThan(px[i-1]))) {
				continue // would share or swap places with the level before: fresh
			}
			px[i] = held
		}
	}
}

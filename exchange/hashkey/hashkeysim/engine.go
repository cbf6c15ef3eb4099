package hashkeysim

import (
	"slices"
	"sort"
	"strconv"
	"time"

	"github.com/mmd-dev/mmd/exchange"
	"github.com/shopspring/decimal"
	"go.uber.org/zap"
)

// This file is the exchange itself: accounts and balances, the client order books with
// price-time priority, and matching against each other and the synthetic market. Everything
// here runs with Server.mu held, on the engine goroutine (or inline before Start).

// instrument is one tradable pair with its client book and synthetic market.
type instrument struct {
	idx  int
	spec exchange.Instrument
	// Client orders by price level, best first: bids descending, asks ascending. At one price,
	// client orders stand ahead of the synthetic liquidity (documented choice).
	bids, asks []*priceLevel
	mkt        *market
	trades     []publicTrade // ticker trades waiting for the next publish
	dirty      bool          // the book changed since the last publish
	crossNext  bool          // PublishCrossedBook: the next publish shows a crossed book
	crossShown bool          // the last publish was crossed: republish to clear it
}

type priceLevel struct {
	price  int64
	orders []*order // time priority
}

type publicTrade struct {
	price, volume int64
	priceSource   exchange.Side // side of the resting order
	time          time.Time
}

func (in *instrument) priceDec(ticks int64) decimal.Decimal {
	return exchange.FixedToDecimal(ticks, in.spec.PricePrecision)
}

func (in *instrument) volDec(lots int64) decimal.Decimal {
	return exchange.FixedToDecimal(lots, in.spec.VolumePrecision)
}

func (in *instrument) clientSide(side exchange.Side) *[]*priceLevel {
	if side == exchange.Buy {
		return &in.bids
	}
	return &in.asks
}

// synthetic returns one side of the synthetic market: its levels and their volume overrides.
func (in *instrument) synthetic(side exchange.Side) ([]synLevel, map[int64]int64) {
	if side == exchange.Buy {
		return in.mkt.bids, in.mkt.bidOver
	}
	return in.mkt.asks, in.mkt.askOver
}

// better reports whether price a is better than b for a resting order on side.
func better(side exchange.Side, a, b int64) bool {
	if side == exchange.Buy {
		return a > b
	}
	return a < b
}

func (in *instrument) addResting(o *order) {
	levels := in.clientSide(o.side)
	i := sort.Search(len(*levels), func(i int) bool { return !better(o.side, (*levels)[i].price, o.price) })
	if i < len(*levels) && (*levels)[i].price == o.price {
		(*levels)[i].orders = append((*levels)[i].orders, o)
	} else {
		*levels = slices.Insert(*levels, i, &priceLevel{price: o.price, orders: []*order{o}})
	}
	in.dirty = true
}

func (in *instrument) removeResting(o *order) {
	levels := in.clientSide(o.side)
	for i, l := range *levels {
		if l.price != o.price {
			continue
		}
		if j := slices.Index(l.orders, o); j >= 0 {
			l.orders = slices.Delete(l.orders, j, j+1)
		}
		if len(l.orders) == 0 {
			*levels = slices.Delete(*levels, i, i+1)
		}
		in.dirty = true
		return
	}
}

// view merges client and synthetic liquidity into the aggregated top `depth` of one side.
func (in *instrument) view(side exchange.Side, depth int) []exchange.Level {
	client := *in.clientSide(side)
	syn, _ := in.synthetic(side)
	out := make([]exchange.Level, 0, depth)
	i, j := 0, 0
	for len(out) < depth && (i < len(client) || j < len(syn)) {
		if j < len(syn) && syn[j].vol <= 0 {
			j++
			continue
		}
		switch {
		case j == len(syn) || (i < len(client) && better(side, client[i].price, syn[j].price)):
			out = append(out, exchange.Level{Price: client[i].price, Volume: client[i].volume()})
			i++
		case i == len(client) || better(side, syn[j].price, client[i].price):
			out = append(out, exchange.Level{Price: syn[j].price, Volume: syn[j].vol})
			j++
		default:
			out = append(out, exchange.Level{Price: syn[j].price, Volume: syn[j].vol + client[i].volume()})
			i++
			j++
		}
	}
	return out
}

func (l *priceLevel) volume() int64 {
	var v int64
	for _, o := range l.orders {
		v += o.remaining
	}
	return v
}

// account is one API key's state.
type account struct {
	cfg      Account
	id       string // accountID in /account/assets
	verifier verifier
	assets   map[string]*asset
	bySys    map[string]*order
	byLocal  map[string]*order // the newest order with that local ID
	history  []*order          // insertion order; evicted entries are compacted lazily
	evicted  int               // evicted entries still in history
	closed   []*order          // closed orders in closing order, for eviction
	fills    []*fill           // oldest first, capped
}

type asset struct {
	total, frozen decimal.Decimal
}

func (a *account) asset(name string) *asset {
	x, ok := a.assets[name]
	if !ok {
		x = &asset{}
		a.assets[name] = x
	}
	return x
}

// order is one client order.
type order struct {
	sysID     string
	localID   string
	acct      *account
	inst      *instrument
	side      exchange.Side
	price     int64 // ticks
	volume    int64 // lots, original
	remaining int64 // lots
	status    exchange.OrderStatus
	inserted  time.Time
	action    time.Time
	cancelled time.Time // zero unless cancelled
	evicted   bool
}

// reserve returns what the order freezes while resting with `lots` still open: quote asset
// price×volume for a buy, base asset volume for a sell.
func (o *order) reserve(lots int64) (string, decimal.Decimal) {
	if o.side == exchange.Buy {
		return o.inst.spec.Quote, o.inst.priceDec(o.price).Mul(o.inst.volDec(lots))
	}
	return o.inst.spec.Base, o.inst.volDec(lots)
}

func (o *order) toExchange() exchange.Order {
	return exchange.Order{
		SysID:      o.sysID,
		LocalID:    o.localID,
		Instrument: o.inst.spec.ID,
		Side:       o.side,
		Price:      o.inst.priceDec(o.price),
		Volume:     o.inst.volDec(o.volume),
		Remaining:  o.inst.volDec(o.remaining),
		Traded:     o.inst.volDec(o.volume - o.remaining),
		Status:     o.status,
		Updated:    o.action,
		Inserted:   o.inserted,
	}
}

// fill is one execution of one client order.
type fill struct {
	tradeID     string
	sysID       string
	localID     string
	inst        *instrument
	side        exchange.Side
	price       int64
	volume      int64
	fee         decimal.Decimal
	priceSource exchange.Side
	time        time.Time
}

// insertRequest is a validated new order.
type insertRequest struct {
	inst    *instrument
	side    exchange.Side
	price   int64 // ticks
	volume  int64 // lots
	localID string
}

// emit sends one private message to every connection logged in as the account, through the
// dispatcher that applies the private-stream faults.
func (s *Server) emit(a *account, msg []byte) {
	s.disp.push(a.cfg.APIKey, msg, s.faults.privateFaults())
}

func (s *Server) emitOrder(o *order) {
	s.emit(o.acct, appendOrder(make([]byte, 0, 512), "order_return", o, s.faults.quirksOn()))
}

// insertLocked processes one received insert: the balance check, acceptance, matching as a
// taker, and resting what is left.
func (s *Server) insertLocked(a *account, req insertRequest) {
	now := s.now()
	o := &order{
		localID: req.localID, acct: a, inst: req.inst, side: req.side,
		price: req.price, volume: req.volume, remaining: req.volume,
		status: exchange.StatusNew, inserted: now, action: now,
	}
	assetName, need := o.reserve(o.volume)
	bal := a.asset(assetName)
	if bal.total.Sub(bal.frozen).LessThan(need) {
		s.log.Debug("sim_order_rejected", zap.String("apiKey", a.cfg.APIKey), zap.String("orderLocalID", req.localID),
			zap.Int("respCode", 2011), zap.String("asset", assetName), zap.Stringer("need", need))
		s.emit(a, appendInsertRsp(nil, req.localID, 2011, "insufficient balance"))
		return
	}
	bal.frozen = bal.frozen.Add(need)
	s.nextSys++
	o.sysID = strconv.FormatUint(s.nextSys, 10)
	a.bySys[o.sysID] = o
	a.byLocal[o.localID] = o
	a.history = append(a.history, o)
	s.log.Debug("sim_order_inserted", zap.String("apiKey", a.cfg.APIKey), zap.String("orderSysID", o.sysID),
		zap.String("orderLocalID", o.localID), zap.String("instrumentID", o.inst.spec.ID),
		zap.Stringer("side", o.side), zap.Int64("priceTicks", o.price), zap.Int64("volumeLots", o.volume))
	s.emitOrder(o) // the acceptance: status 3
	s.matchTaker(o)
	if o.remaining > 0 {
		o.inst.addResting(o)
	}
}

// matchTaker matches an incoming order against the opposite client levels and synthetic
// liquidity in price priority, client orders first at one price.
func (s *Server) matchTaker(o *order) {
	in := o.inst
	opp := o.side.Opposite()
	levels := in.clientSide(opp)
	syn, over := in.synthetic(opp)
	for o.remaining > 0 {
		j := best(syn)
		var cl *priceLevel
		if len(*levels) > 0 {
			cl = (*levels)[0]
		}
		var p int64
		switch {
		case cl == nil && j < 0:
			return
		case cl == nil:
			p = syn[j].price
		case j < 0 || !better(opp, syn[j].price, cl.price):
			p = cl.price
		default:
			p = syn[j].price
		}
		if better(opp, o.price, p) { // the best opposite price is beyond our limit
			return
		}
		if cl != nil && cl.price == p {
			maker := cl.orders[0]
			v := min(o.remaining, maker.remaining)
			s.trade(maker, o, p, v)
			if maker.remaining == 0 {
				in.removeResting(maker)
			}
			continue
		}
		v := min(o.remaining, syn[j].vol)
		in.mkt.consume(syn, over, j, v)
		s.fillOrder(o, p, v, false, s.nextTradeID())
		in.trades = append(in.trades, publicTrade{price: p, volume: v, priceSource: opp, time: s.now()})
		in.dirty = true
	}
}

// trade executes v lots between two client orders at the maker's price.
func (s *Server) trade(maker, taker *order, price, v int64) {
	id := s.nextTradeID()
	s.fillOrder(maker, price, v, true, id)
	s.fillOrder(taker, price, v, false, id)
	maker.inst.trades = append(maker.inst.trades, publicTrade{price: price, volume: v, priceSource: maker.side, time: s.now()})
	maker.inst.dirty = true
}

func (s *Server) nextTradeID() string {
	s.nextTrade++
	return strconv.FormatUint(s.nextTrade, 10)
}

// fillOrder books one fill of a client order: balances and fees, the order's status, its
// fill history, and the order_return + trade_return to the owner. The fee is charged in the
// asset received.
func (s *Server) fillOrder(o *order, price, v int64, maker bool, tradeID string) {
	in := o.inst
	a := o.acct
	now := s.now()
	vol := in.volDec(v)
	notional := in.priceDec(price).Mul(vol)
	rate := s.takerFee
	if maker {
		rate = s.makerFee
	}
	base, quote := a.asset(in.spec.Base), a.asset(in.spec.Quote)
	_, released := o.reserve(v)
	var fee decimal.Decimal
	if o.side == exchange.Buy {
		fee = vol.Mul(rate)
		quote.total = quote.total.Sub(notional)
		quote.frozen = quote.frozen.Sub(released)
		base.total = base.total.Add(vol).Sub(fee)
	} else {
		fee = notional.Mul(rate)
		base.total = base.total.Sub(vol)
		base.frozen = base.frozen.Sub(released)
		quote.total = quote.total.Add(notional).Sub(fee)
	}
	o.remaining -= v
	o.action = now
	o.status = exchange.StatusPartFilled
	if o.remaining == 0 {
		o.status = exchange.StatusFilled
	}
	priceSource := o.side.Opposite()
	if maker {
		priceSource = o.side
	}
	f := &fill{
		tradeID: tradeID, sysID: o.sysID, localID: o.localID, inst: in, side: o.side,
		price: price, volume: v, fee: fee, priceSource: priceSource, time: now,
	}
	s.keepFill(a, f)
	s.log.Debug("sim_order_filled", zap.String("apiKey", a.cfg.APIKey), zap.String("orderSysID", o.sysID),
		zap.String("tradeID", tradeID), zap.Int64("priceTicks", price), zap.Int64("volumeLots", v), zap.Bool("maker", maker))
	quirks := s.faults.quirksOn()
	s.emit(a, appendOrder(make([]byte, 0, 512), "order_return", o, quirks))
	s.emit(a, appendFill(make([]byte, 0, 384), "trade_return", f, quirks))
	if o.remaining == 0 {
		s.closeOrder(o)
	}
}

// cancelLocked cancels an open order: status 5 (nothing traded) or 6, funds released.
func (s *Server) cancelLocked(o *order) {
	now := s.now()
	name, amount := o.reserve(o.remaining)
	bal := o.acct.asset(name)
	bal.frozen = bal.frozen.Sub(amount)
	o.inst.removeResting(o)
	o.status = exchange.StatusCancelled
	if o.remaining < o.volume {
		o.status = exchange.StatusPartCancelled
	}
	o.action, o.cancelled = now, now
	s.log.Debug("sim_order_cancelled", zap.String("apiKey", o.acct.cfg.APIKey), zap.String("orderSysID", o.sysID),
		zap.String("orderLocalID", o.localID))
	s.emitOrder(o)
	s.closeOrder(o)
}

// cancelCode says why an order cannot be cancelled: 0 when it is open.
func cancelCode(o *order) (int, string) {
	switch {
	case o == nil:
		return 2004, "order does not exist"
	case o.status.Open():
		return 0, ""
	case o.status == exchange.StatusFilled:
		return 2014, "order already filled"
	}
	return 2015, "order already cancelled"
}

// closeOrder keeps a finished order for queries, evicting the oldest closed orders beyond
// the retention cap so memory stays bounded on a long run.
func (s *Server) closeOrder(o *order) {
	a := o.acct
	a.closed = append(a.closed, o)
	if len(a.closed) <= s.retain {
		return
	}
	old := a.closed[0]
	a.closed[0] = nil
	a.closed = a.closed[1:]
	if cap(a.closed) > 4*s.retain+64 { // re-home the slice now and then
		a.closed = slices.Clone(a.closed)
	}
	old.evicted = true
	delete(a.bySys, old.sysID)
	if a.byLocal[old.localID] == old {
		delete(a.byLocal, old.localID)
	}
	a.evicted++
	if a.evicted > 64 && a.evicted > len(a.history)/2 {
		a.history = slices.DeleteFunc(a.history, func(o *order) bool { return o.evicted })
		a.evicted = 0
	}
}

func (s *Server) keepFill(a *account, f *fill) {
	a.fills = append(a.fills, f)
	if len(a.fills) > 2*s.retain {
		a.fills = slices.Clone(a.fills[len(a.fills)-s.retain:])
	}
}

// stepLocked advances every instrument's synthetic market one step: walk the fair value,
// lay out the liquidity, fill client orders the market moved through, and let background
// takers trade.
func (s *Server) stepLocked() {
	for _, in := range s.instruments {
		in.mkt.walk()
		in.mkt.regenerate(true)
		s.resolveCrossings(in)
		for n := in.mkt.flowCount(); n > 0; n-- {
			buy, lots := in.mkt.flowDraw()
			side := exchange.Sell
			if buy {
				side = exchange.Buy
			}
			s.backgroundTake(in, side, lots)
		}
		in.dirty = true
	}
}

// setFairLocked moves an instrument's fair value at once.
func (s *Server) setFairLocked(in *instrument, ticks int64) {
	in.mkt.setFair(ticks)
	s.resolveCrossings(in)
	in.dirty = true
}

// resolveCrossings fills resting client orders that the synthetic liquidity now crosses (the
// fair value moved through them): they are makers and trade at their own price.
func (s *Server) resolveCrossings(in *instrument) {
	s.resolveSide(in, exchange.Buy)
	s.resolveSide(in, exchange.Sell)
}

func (s *Server) resolveSide(in *instrument, side exchange.Side) {
	levels := in.clientSide(side)
	syn, over := in.synthetic(side.Opposite())
	for len(*levels) > 0 {
		l := (*levels)[0]
		j := best(syn)
		if j < 0 || better(side.Opposite(), l.price, syn[j].price) {
			return // the best synthetic opposite level does not reach this order
		}
		o := l.orders[0]
		v := min(o.remaining, syn[j].vol)
		in.mkt.consume(syn, over, j, v)
		s.fillOrder(o, l.price, v, true, s.nextTradeID())
		in.trades = append(in.trades, publicTrade{price: l.price, volume: v, priceSource: side, time: s.now()})
		if o.remaining == 0 {
			in.removeResting(o)
		}
		in.dirty = true
	}
}

// backgroundTake is a synthetic taker of `lots` on side: it trades at the best opposite price
// only, client orders first, then synthetic liquidity at that price.
func (s *Server) backgroundTake(in *instrument, side exchange.Side, lots int64) {
	opp := side.Opposite()
	levels := in.clientSide(opp)
	syn, over := in.synthetic(opp)
	j := best(syn)
	var p int64
	switch {
	case len(*levels) > 0 && (j < 0 || !better(opp, syn[j].price, (*levels)[0].price)):
		p = (*levels)[0].price
	case j >= 0:
		p = syn[j].price
	default:
		return
	}
	var done int64
	for lots > done && len(*levels) > 0 && (*levels)[0].price == p {
		o := (*levels)[0].orders[0]
		v := min(lots-done, o.remaining)
		s.fillOrder(o, p, v, true, s.nextTradeID())
		if o.remaining == 0 {
			in.removeResting(o)
		}
		done += v
	}
	if j >= 0 && syn[j].price == p && lots > done {
		v := min(lots-done, syn[j].vol)
		in.mkt.consume(syn, over, j, v)
		done += v
	}
	if done > 0 {
		in.trades = append(in.trades, publicTrade{price: p, volume: done, priceSource: opp, time: s.now()})
		in.dirty = true
	}
}

// publishLocked sends what changed since the last publish: ticker trades, then book updates
// on every depth channel. With FreezePublic nothing goes out (stale data); the views catch up
// with one diff when it is lifted.
func (s *Server) publishLocked() {
	if s.faults.frozen() {
		for _, in := range s.instruments {
			in.trades = in.trades[:0]
		}
		return
	}
	quirks := s.faults.quirksOn()
	now := s.now()
	for _, in := range s.instruments {
		if len(in.trades) > 0 {
			msgs := make([][]byte, len(in.trades))
			for i, t := range in.trades {
				msgs[i] = appendTradeDetail(make([]byte, 0, 256), in, t, quirks)
			}
			s.hub.publishTrades(in.idx, msgs)
			in.trades = in.trades[:0]
		}
		if !in.dirty && !in.crossNext && !in.crossShown {
			continue
		}
		bids, asks := in.view(exchange.Buy, maxDepth), in.view(exchange.Sell, maxDepth)
		in.crossShown = false
		if in.crossNext && len(asks) > 0 {
			// One crossed book on purpose: a bid one tick above the best ask.
			bids = slices.Insert(bids, 0, exchange.Level{Price: asks[0].Price + 1, Volume: 1})
			if len(bids) > maxDepth {
				bids = bids[:maxDepth]
			}
			in.crossShown = true
		}
		in.crossNext = false
		in.dirty = false
		s.hub.publishBook(in.idx, in.spec, bids, asks, now)
	}
}

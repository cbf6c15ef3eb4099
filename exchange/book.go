package exchange

import (
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/shopspring/decimal"
)

// Level is one price level in exact fixed point: Price in ticks of 10^-PricePrecision and
// Volume in lots of 10^-VolumePrecision of the book's instrument.
type Level struct {
	Price  int64
	Volume int64
}

// BookSnapshot is an immutable copy of a book that a strategy may hold while the live book
// moves on. Bids and Asks are best first and must not be modified.
type BookSnapshot struct {
	Instrument   Instrument
	Bids         []Level
	Asks         []Level
	ExchangeTime time.Time // pubTimestamp of the last message applied
	Received     time.Time // local receive time of the last message applied
}

// Errors from Book. They are fixed values because Apply runs for every level of every
// market-data message and must not allocate; the caller adds the context.
var (
	ErrBookNotReady = errors.New("book not ready: no snapshot since reset")
	ErrBookSide     = errors.New("book side is neither buy nor sell")
	ErrBookLevel    = errors.New("book level has a non-positive price or a negative volume")
)

// Book is one instrument's live order book, owned by one goroutine (not safe for concurrent
// use). Each side is a sorted array (bids descending, asks ascending) preallocated to the
// maximum depth: at the 5 to 50 levels the exchange publishes, binary search plus a short copy
// beats any tree and never allocates.
type Book struct {
	inst     Instrument
	maxDepth int
	depth    int     // levels kept per side, from the last snapshot; at most maxDepth
	bids     []Level // best (highest) first; len is the level count, cap is maxDepth
	asks     []Level // best (lowest) first
	ready    bool
	exch     time.Time
	received time.Time
}

// NewBook makes an empty book that holds up to maxDepth levels per side. It panics if
// maxDepth < 1: that is a wiring bug, not a market condition.
func NewBook(inst Instrument, maxDepth int) *Book {
	if maxDepth < 1 {
		panic(fmt.Sprintf("exchange.NewBook(%s): maxDepth %d < 1", inst.ID, maxDepth))
	}
	buf := make([]Level, 2*maxDepth)
	return &Book{
		inst:     inst,
		maxDepth: maxDepth,
		bids:     buf[:0:maxDepth],
		asks:     buf[maxDepth : maxDepth : 2*maxDepth],
	}
}

// Instrument returns the instrument the book is for.
func (b *Book) Instrument() Instrument { return b.inst }

// Ready reports whether the book holds a snapshot and the updates since.
func (b *Book) Ready() bool { return b.ready }

// Depth returns how many levels per side the book keeps since its last snapshot.
func (b *Book) Depth() int { return b.depth }

// Reset forgets everything. The book is not Ready until the next snapshot: the exchange's
// updates carry no sequence number, so after any gap only a fresh snapshot can be trusted.
func (b *Book) Reset() {
	b.bids = b.bids[:0]
	b.asks = b.asks[:0]
	b.depth = 0
	b.ready = false
	b.exch = time.Time{}
	b.received = time.Time{}
}

// ApplySnapshot replaces the book with a snapshot. Each side must be sorted best first with
// no repeated price, positive prices and positive volumes; otherwise the book is Reset and
// an error returned. The book keeps as many levels per side as the longer side of the
// snapshot (capped at the book's maximum), because the snapshot is the only statement of
// the stream's depth: keeping more would let levels the exchange no longer reports linger.
func (b *Book) ApplySnapshot(bids, asks []Level, exch, received time.Time) error {
	return b.ApplySnapshotDepth(bids, asks, 0, exch, received)
}

// ApplySnapshotDepth is ApplySnapshot for a stream whose depth is known from its channel
// (level2@50 keeps 50 levels): a thin snapshot then does not shrink the book below that depth,
// so levels that appear later further from the touch are still kept. depth <= 0 means
// unknown; the depth is at least the snapshot's longer side and at most the book's maximum.
func (b *Book) ApplySnapshotDepth(bids, asks []Level, depth int, exch, received time.Time) error {
	if err := checkSide(bids, true); err != nil {
		b.Reset()
		return fmt.Errorf("snapshot bids: %w", err)
	}
	if err := checkSide(asks, false); err != nil {
		b.Reset()
		return fmt.Errorf("snapshot asks: %w", err)
	}
	depth = max(depth, len(bids), len(asks))
	depth = min(depth, b.maxDepth)
	b.depth = depth
	b.bids = append(b.bids[:0], bids[:min(len(bids), depth)]...)
	b.asks = append(b.asks[:0], asks[:min(len(asks), depth)]...)
	b.ready = true
	b.exch = exch
	b.received = received
	return nil
}

// checkSide validates a snapshot side: strictly better-first prices, all positive volumes.
func checkSide(ls []Level, desc bool) error {
	for i, l := range ls {
		if l.Price <= 0 || l.Volume <= 0 {
			return fmt.Errorf("level %d (price %d, volume %d): want positive price and volume", i, l.Price, l.Volume)
		}
		if i == 0 {
			continue
		}
		prev := ls[i-1].Price
		if (desc && l.Price >= prev) || (!desc && l.Price <= prev) {
			return fmt.Errorf("level %d price %d after %d: not sorted best first without repeats", i, l.Price, prev)
		}
	}
	return nil
}

// Apply updates one level in place: volume 0 removes the price (a no-op if it is absent),
// an existing price gets the new volume, a new price is inserted in order. When an insert
// takes a side past the book's depth the worst level falls off, as it does in the exchange's
// view. It does not allocate.
func (b *Book) Apply(side Side, l Level) error {
	if !b.ready {
		return ErrBookNotReady
	}
	if l.Price <= 0 || l.Volume < 0 {
		return ErrBookLevel
	}
	switch side {
	case Buy:
		b.bids = applyLevel(b.bids, b.depth, l, true)
	case Sell:
		b.asks = applyLevel(b.asks, b.depth, l, false)
	default:
		return ErrBookSide
	}
	return nil
}

// applyLevel applies one level to a side sorted descending (bids) or ascending (asks) and
// returns the side re-sliced to its new length. ls has capacity for depth levels.
func applyLevel(ls []Level, depth int, l Level, desc bool) []Level {
	// Find the first index whose price is not better than l.Price.
	lo, hi := 0, len(ls)
	for lo < hi {
		m := int(uint(lo+hi) >> 1)
		if (desc && ls[m].Price > l.Price) || (!desc && ls[m].Price < l.Price) {
			lo = m + 1
		} else {
			hi = m
		}
	}
	i, n := lo, len(ls)
	if i < n && ls[i].Price == l.Price {
		if l.Volume == 0 {
			copy(ls[i:], ls[i+1:])
			return ls[:n-1]
		}
		ls[i].Volume = l.Volume
		return ls
	}
	if l.Volume == 0 {
		return ls
	}
	if n >= depth {
		if i >= depth {
			return ls // worse than every kept level of a full side: it falls off at once
		}
		n = depth - 1 // the worst level falls off
	}
	ls = ls[:n+1]
	copy(ls[i+1:], ls[i:n])
	ls[i] = l
	return ls
}

// Stamp records the exchange and local times of the message just applied.
func (b *Book) Stamp(exch, received time.Time) {
	b.exch = exch
	b.received = received
}

// Crossed reports whether the best bid is at or above the best ask, which a real book never
// is: the local copy has missed something and must be rebuilt from a snapshot.
func (b *Book) Crossed() bool {
	return len(b.bids) > 0 && len(b.asks) > 0 && b.bids[0].Price >= b.asks[0].Price
}

// BestBid returns the highest bid.
func (b *Book) BestBid() (Level, bool) {
	if len(b.bids) == 0 {
		return Level{}, false
	}
	return b.bids[0], true
}

// BestAsk returns the lowest ask.
func (b *Book) BestAsk() (Level, bool) {
	if len(b.asks) == 0 {
		return Level{}, false
	}
	return b.asks[0], true
}

// Snapshot returns a deep copy that stays unchanged while the book moves on. Both sides
// share one allocation; Bids is capped so that appending to it cannot write into Asks.
func (b *Book) Snapshot() *BookSnapshot {
	nb, na := len(b.bids), len(b.asks)
	buf := make([]Level, nb+na)
	copy(buf, b.bids)
	copy(buf[nb:], b.asks)
	return &BookSnapshot{
		Instrument:   b.inst,
		Bids:         buf[:nb:nb],
		Asks:         buf[nb:],
		ExchangeTime: b.exch,
		Received:     b.received,
	}
}

// SnapshotInto copies the book into s, reusing the capacity of s's slices. s must not be
// shared with anyone who still reads it: it is overwritten in place.
func (b *Book) SnapshotInto(s *BookSnapshot) {
	s.Instrument = b.inst
	s.Bids = append(s.Bids[:0], b.bids...)
	s.Asks = append(s.Asks[:0], b.asks...)
	s.ExchangeTime = b.exch
	s.Received = b.received
}

// BestBid returns the highest bid as decimals.
func (s *BookSnapshot) BestBid() (price, volume decimal.Decimal, ok bool) {
	if len(s.Bids) == 0 {
		return decimal.Decimal{}, decimal.Decimal{}, false
	}
	return s.Price(s.Bids[0].Price), s.Volume(s.Bids[0].Volume), true
}

// BestAsk returns the lowest ask as decimals.
func (s *BookSnapshot) BestAsk() (price, volume decimal.Decimal, ok bool) {
	if len(s.Asks) == 0 {
		return decimal.Decimal{}, decimal.Decimal{}, false
	}
	return s.Price(s.Asks[0].Price), s.Volume(s.Asks[0].Volume), true
}

var half = decimal.New(5, -1)

// Mid is the exact midpoint of the best bid and ask; ok is false if either side is empty.
func (s *BookSnapshot) Mid() (decimal.Decimal, bool) {
	if len(s.Bids) == 0 || len(s.Asks) == 0 {
		return decimal.Decimal{}, false
	}
	return s.Price(s.Bids[0].Price).Add(s.Price(s.Asks[0].Price)).Mul(half), true
}

// microExtraPlaces is how many places below a tick the microprice keeps. It is an estimate,
// not an exact quantity, so digits far below a tick carry no information; a fixed precision
// also keeps the result independent of the decimal package's global DivisionPrecision.
const microExtraPlaces = 8

// Microprice is the volume-weighted mid, (bidP*askV + askP*bidV) / (bidV + askV): it leans
// toward the side with less volume, where the next trade is likelier to move the price.
// ok is false if either side is empty.
func (s *BookSnapshot) Microprice() (decimal.Decimal, bool) {
	if len(s.Bids) == 0 || len(s.Asks) == 0 {
		return decimal.Decimal{}, false
	}
	bid, ask := s.Bids[0], s.Asks[0]
	bp, ap := s.Price(bid.Price), s.Price(ask.Price)
	bv, av := decimal.NewFromInt(bid.Volume), decimal.NewFromInt(ask.Volume) // lots: the scale cancels
	num := bp.Mul(av).Add(ap.Mul(bv))
	den := bv.Add(av)
	if den.IsZero() { // a snapshot never holds zero volumes, but do not divide by zero
		return s.Mid()
	}
	return num.DivRound(den, s.Instrument.PricePrecision+microExtraPlaces), true
}

// Spread is best ask minus best bid (negative if crossed); ok is false if either side is empty.
func (s *BookSnapshot) Spread() (decimal.Decimal, bool) {
	if len(s.Bids) == 0 || len(s.Asks) == 0 {
		return decimal.Decimal{}, false
	}
	return s.Price(s.Asks[0].Price - s.Bids[0].Price), true
}

// Crossed reports whether the best bid is at or above the best ask.
func (s *BookSnapshot) Crossed() bool {
	return len(s.Bids) > 0 && len(s.Asks) > 0 && s.Bids[0].Price >= s.Asks[0].Price
}

// VolumeTo sums the volume of the best `levels` levels of one side (all of them if the side
// is shorter). Any side other than Buy or Sell sums to zero.
func (s *BookSnapshot) VolumeTo(side Side, levels int) decimal.Decimal {
	var ls []Level
	switch side {
	case Buy:
		ls = s.Bids
	case Sell:
		ls = s.Asks
	}
	ls = ls[:max(0, min(levels, len(ls)))]
	var sum int64
	for i, l := range ls {
		if sum > math.MaxInt64-l.Volume {
			// Beyond int64 lots: finish in decimal rather than wrap around.
			d := decimal.NewFromInt(sum)
			for _, r := range ls[i:] {
				d = d.Add(decimal.NewFromInt(r.Volume))
			}
			return d.Shift(-s.Instrument.VolumePrecision)
		}
		sum += l.Volume
	}
	return s.Volume(sum)
}

// Age is how long ago the newest message in the snapshot was received.
func (s *BookSnapshot) Age(now time.Time) time.Duration { return now.Sub(s.Received) }

// Price converts a price in ticks to a decimal.
func (s *BookSnapshot) Price(ticks int64) decimal.Decimal {
	return FixedToDecimal(ticks, s.Instrument.PricePrecision)
}

// Volume converts a volume in lots to a decimal.
func (s *BookSnapshot) Volume(lots int64) decimal.Decimal {
	return FixedToDecimal(lots, s.Instrument.VolumePrecision)
}

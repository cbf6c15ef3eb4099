package hashkeysim

import (
	"math/rand/v2"

	"github.com/shopspring/decimal"
)

// market is the synthetic side of one instrument: a fair value that random-walks in whole
// ticks, and background liquidity on a fixed price grid around it. Everything here is a
// deterministic function of the seed and the sequence of calls; the only float is the normal
// draw of the walk, turned into a decimal at once.
type market struct {
	rng      *rand.Rand
	seed     uint64
	fair     int64           // ticks
	grid     int64           // ticks between synthetic levels (about 1 bp of the start price)
	maxTicks int64           // prices stay below this (10,000,000 in price units)
	vol      decimal.Decimal // per-step standard deviation of the fair value, in bps

	minLots, maxLots int64 // range of a synthetic level's volume
	flowMin, flowMax int64 // range of a background taker's volume

	bids, asks []synLevel // best first; a consumed level keeps volume 0 until refilled
	// Volumes that differ from the level's base volume: consumed by takers or churned.
	// Kept per side and pruned to the generated window, so they stay bounded.
	bidOver, askOver map[int64]int64
}

type synLevel struct {
	price, vol int64
}

// synLevels is the number of synthetic levels per side: more than the deepest channel (50),
// so the published depth stays full while client takers eat into the top.
const synLevels = 60

func newMarket(seed uint64, instIdx int, start int64, pricePrec, volPrec int32, vol decimal.Decimal) *market {
	s := seed ^ (uint64(instIdx+1) * 0x9e3779b97f4a7c15)
	unit := int64(1)
	for i := int32(0); i < volPrec; i++ {
		unit *= 10
	}
	maxTicks := int64(10_000_000)
	for i := int32(0); i < pricePrec; i++ {
		maxTicks *= 10
	}
	m := &market{
		rng:      rand.New(rand.NewPCG(s, s>>1|1)),
		seed:     s,
		fair:     start,
		grid:     max(1, start/10_000),
		maxTicks: maxTicks,
		vol:      vol,
		minLots:  max(1, unit/10),
		maxLots:  max(2, 5*unit),
		flowMin:  max(1, unit/100),
		flowMax:  max(1, unit),
		bidOver:  make(map[int64]int64),
		askOver:  make(map[int64]int64),
	}
	m.clampFair()
	m.regenerate(false)
	return m
}

func (m *market) clampFair() {
	m.fair = max(m.fair, 2*m.grid)
	m.fair = min(m.fair, m.maxTicks-2*m.grid-1)
}

// walk moves the fair value one step: N(0, vol bps) of itself, rounded to whole ticks.
func (m *market) walk() {
	z := m.rng.NormFloat64()
	sigma := decimal.NewFromInt(m.fair).Mul(m.vol).Div(decimal.NewFromInt(10_000))
	m.fair += decimal.NewFromFloat(z).Mul(sigma).Round(0).IntPart()
	m.clampFair()
}

// setFair moves the fair value to p ticks at once.
func (m *market) setFair(p int64) {
	m.fair = p
	m.clampFair()
	m.regenerate(false)
}

// baseVolume is a level's volume when nothing has touched it: a hash of its price, so a level
// keeps its volume while the fair value moves and updates carry only what changed.
func (m *market) baseVolume(side uint64, price int64) int64 {
	x := m.seed ^ side<<62 ^ uint64(price)*0xbf58476d1ce4e5b9
	x ^= x >> 30
	x *= 0xbf58476d1ce4e5b9
	x ^= x >> 27
	x *= 0x94d049bb133111eb
	x ^= x >> 31
	return m.minLots + int64(x%uint64(m.maxLots-m.minLots+1))
}

// regenerate lays the synthetic levels out around the fair value. With churn (a market step)
// some overrides decay back to the base volume and a few top levels change size, so the book
// moves even when the fair value does not.
func (m *market) regenerate(churn bool) {
	g := m.grid
	b0 := (m.fair - g) / g * g // floor: fair-g > 0 by clampFair
	a0 := (m.fair + g + g - 1) / g * g
	m.bids = m.bids[:0]
	for i := int64(0); i < synLevels; i++ {
		p := b0 - i*g
		if p <= 0 {
			break
		}
		m.bids = append(m.bids, synLevel{p, m.volumeAt(1, m.bidOver, p)})
	}
	m.asks = m.asks[:0]
	for i := int64(0); i < synLevels; i++ {
		p := a0 + i*g
		if p >= m.maxTicks {
			break
		}
		m.asks = append(m.asks, synLevel{p, m.volumeAt(2, m.askOver, p)})
	}
	prune(m.bidOver, m.bids)
	prune(m.askOver, m.asks)
	if !churn {
		return
	}
	m.churn(1, m.bids, m.bidOver)
	m.churn(2, m.asks, m.askOver)
}

func (m *market) volumeAt(side uint64, over map[int64]int64, p int64) int64 {
	if v, ok := over[p]; ok {
		return v
	}
	return m.baseVolume(side, p)
}

// churn walks the levels in price order (never a map: the draws must come in a fixed order).
func (m *market) churn(side uint64, levels []synLevel, over map[int64]int64) {
	for i := range levels {
		if _, ok := over[levels[i].price]; ok && m.rng.IntN(4) == 0 {
			delete(over, levels[i].price)
			levels[i].vol = m.baseVolume(side, levels[i].price)
		}
	}
	if len(levels) == 0 {
		return
	}
	for k := 0; k < 2; k++ {
		i := m.rng.IntN(min(20, len(levels)))
		v := m.minLots + m.rng.Int64N(m.maxLots-m.minLots+1)
		levels[i].vol = v
		over[levels[i].price] = v
	}
}

// prune drops overrides outside the generated window.
func prune(over map[int64]int64, levels []synLevel) {
	if len(levels) == 0 {
		clear(over)
		return
	}
	lo, hi := levels[0].price, levels[len(levels)-1].price
	if lo > hi {
		lo, hi = hi, lo
	}
	for p := range over {
		if p < lo || p > hi {
			delete(over, p)
		}
	}
}

// best returns the index of the best synthetic level with volume on a side, or -1.
func best(levels []synLevel) int {
	for i := range levels {
		if levels[i].vol > 0 {
			return i
		}
	}
	return -1
}

// consume takes v lots from levels[i] and remembers it until the level refills.
func (m *market) consume(levels []synLevel, over map[int64]int64, i int, v int64) {
	levels[i].vol -= v
	over[levels[i].price] = levels[i].vol
}

// flowDraw draws one background taker: its side (true = buy) and volume in lots.
func (m *market) flowDraw() (buy bool, lots int64) {
	buy = m.rng.IntN(2) == 0
	return buy, m.flowMin + m.rng.Int64N(m.flowMax-m.flowMin+1)
}

// flowCount draws how many background takers trade in this step.
func (m *market) flowCount() int { return m.rng.IntN(3) }

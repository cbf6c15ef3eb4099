package risk

import (
	"cmp"
	"math"
	"slices"
	"time"

	"github.com/shopspring/decimal"
)

// The robust mark.
//
// The loss limits must not trip on a flash move of the mid alone: one bad tick that reverts is
// not a loss, and halting on it would be a self-inflicted outage. So the gate marks positions
// for the limits (and for Status.PnL) with the TIME-WEIGHTED MEDIAN of the mid over the last
// MarkWindow: each mid counts for as long as it was the mid inside the window. The rule that
// follows: a move that has held for less than half of MarkWindow cannot move the mark beyond
// the range of the mids around it, while a move that has held for more than half of MarkWindow
// becomes the mark. A sustained adverse move therefore counts toward the loss limits after at
// most MarkWindow/2 (5 s with the default window). A time weight, rather than a median of the
// book updates, matters because books arrive at irregular rates: two updates in a second of
// panic must not outvote ten quiet seconds.
//
// The raw mid is still what the price band uses and what spread capture is measured against at
// fill time; the split between spread capture and inventory does not change total PnL, which
// depends only on the fills and the mark.

// markSample is one mid in half ticks (best bid + best ask in ticks, exact integers) and the
// time, in Unix nanoseconds, it became the mid. In the median scratch, at holds the weight.
type markSample struct {
	at   int64
	mid2 int64
}

// markCap bounds the samples kept per instrument. Only changes of the mid are stored, so at the
// exchange's two updates a second a 10 s window needs about 20; past the cap the oldest samples
// go and the effective window shrinks, which only makes the mark follow the mid sooner.
const markCap = 256

// markSamples is a ring of the mid's changes of one instrument.
type markSamples struct {
	buf     [markCap]markSample
	head, n int
	scratch []markSample
	// The samples' time line: the clock's Unix nanoseconds with every step back absorbed (see
	// elapsed). wall is the newest reading, line its place on the time line.
	wall, line int64
	started    bool
}

// elapsed maps a clock reading (Unix nanoseconds: the wall clock, which NTP may step back;
// time.Now's monotonic reading does not survive UnixNano) onto a time line that never runs
// backwards: forward progress counts, a step back is absorbed. Without it a step back by more
// than the window leaves every stored mid in the "future", with no weight, and the first mid
// after the step, a flash print included, would be the mark at once. The gate reads its
// clock under its lock, so readings arrive in order but for such steps.
func (m *markSamples) elapsed(t int64) int64 {
	if !m.started {
		m.started, m.wall, m.line = true, t, t
		return t
	}
	if t > m.wall {
		m.line += t - m.wall
	}
	m.wall = t
	return m.line
}

func (m *markSamples) at(i int) markSample { return m.buf[(m.head+i)%markCap] }

func (m *markSamples) dropOldest() {
	m.head = (m.head + 1) % markCap
	m.n--
}

// add records that mid2 is the mid from time at on, keeping at least keep of history.
func (m *markSamples) add(at, mid2 int64, keep time.Duration) {
	at = m.elapsed(at)
	if m.n > 0 && m.at(m.n-1).mid2 == mid2 {
		return
	}
	cut := at - int64(keep)
	for m.n >= 2 && m.at(1).at <= cut {
		m.dropOldest()
	}
	if m.n == markCap {
		m.dropOldest()
	}
	m.buf[(m.head+m.n)%markCap] = markSample{at: at, mid2: mid2}
	m.n++
}

// median returns the time-weighted median of the mid over (now-window, now], in half ticks.
func (m *markSamples) median(now int64, window time.Duration) (int64, bool) {
	if m.n == 0 {
		return 0, false
	}
	now = m.elapsed(now)
	if m.scratch == nil {
		m.scratch = make([]markSample, 0, markCap)
	}
	start := now - int64(window)
	w := m.scratch[:0]
	var total int64
	for i := 0; i < m.n; i++ {
		s := m.at(i)
		end := now
		if i+1 < m.n {
			end = min(m.at(i+1).at, now)
		}
		weight := end - max(s.at, start)
		if weight <= 0 {
			continue
		}
		w = append(w, markSample{at: weight, mid2: s.mid2})
		total += weight
	}
	if total == 0 {
		return m.at(m.n - 1).mid2, true
	}
	slices.SortFunc(w, func(a, b markSample) int { return cmp.Compare(a.mid2, b.mid2) })
	var acc int64
	for _, s := range w {
		acc += s.at
		if acc >= total-acc {
			return s.mid2, true
		}
	}
	return w[len(w)-1].mid2, true
}

// halfTicks converts a mid in half ticks to a price.
func halfTicks(mid2 int64, precision int32) decimal.Decimal {
	if mid2 > math.MaxInt64/5 || mid2 < math.MinInt64/5 {
		return decimal.New(mid2, -precision).Div(decimal.NewFromInt(2))
	}
	return decimal.New(mid2*5, -(precision + 1))
}

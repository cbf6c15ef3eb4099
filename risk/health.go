package risk

import (
	"fmt"
	"strings"
	"time"

	"go.uber.org/zap"
)

// Fail closed. A strategy's instrument is paused (effective state Halted) while any of these
// holds: the private stream is not up, the public stream is down, the clock offset is unknown
// or above MaxClockOffset, there is no book, the book is marked invalid, crossed or one-sided,
// or it is older than MaxBookAge. The pause ends only after no condition has been seen for
// HealthyPeriod, so a condition that comes and goes keeps the instrument paused instead of
// flapping it. Every input that can clear a condition first evaluates the health at that
// instant with the old state, so a bad interval nobody asked about in between (a book that went
// stale and was then refreshed) still counts. No re-arm is needed.

// badReason names the first fail-closed condition holding now, or "". Called with g.mu held.
func (g *Gate) badReason(st *strategyState, now time.Time) string {
	switch {
	case !g.privUp && g.privReason == "":
		return "private_stream_not_up"
	case !g.privUp:
		return "private_stream_down reason=" + g.privReason
	case g.pubDown:
		return "public_stream_down reason=" + g.pubReason
	case !g.clockKnown:
		return "clock_offset_unknown"
	case g.clockOffset > st.lim.MaxClockOffset || -g.clockOffset > st.lim.MaxClockOffset:
		return fmt.Sprintf("clock_offset offset=%s limit=%s", g.clockOffset, st.lim.MaxClockOffset)
	}
	in := st.in
	switch {
	case !in.hasBook:
		return "no_book"
	case in.invalid:
		return "book_invalid reason=" + in.invReason
	case in.crossed:
		return "book_crossed"
	case !in.twoSided:
		return "book_one_sided"
	}
	if age := now.Sub(in.bookAt); age > st.lim.MaxBookAge {
		return fmt.Sprintf("book_stale age=%s limit=%s", age, st.lim.MaxBookAge)
	}
	return ""
}

// touchHealth evaluates the fail-closed conditions at now and logs quoting_paused and
// quoting_resumed exactly on the transitions. Called with g.mu held.
func (g *Gate) touchHealth(st *strategyState, now time.Time) {
	reason := g.badReason(st, now)
	st.bad = reason != ""
	if now.Before(st.lastBad) {
		// The wall clock stepped back past the last bad instant: the healthy period restarts
		// now. That is never shorter in real time (the bad instant was seen before the step),
		// and a clock stepped far forward by mistake and corrected does not keep the strategy
		// paused until the wall clock catches up with the mistaken reading.
		st.lastBad = now
	}
	if st.bad {
		st.lastBad = now
		st.lastBadWhy = reason
		if kind := reasonKind(reason); kind != st.badKind {
			st.badKind, st.badSince = kind, now
		}
		switch {
		case !st.paused:
			st.paused, st.pauseReason, st.loggedKind = true, reason, st.badKind
			g.log.Warn("quoting_paused", zap.String("strategy", st.name), zap.String("instrument", st.in.inst.ID),
				zap.String("reason", reason))
		case st.badKind != st.loggedKind && now.Sub(st.badSince) >= reasonSettle:
			// Still paused, for another reason now: say so, or the log keeps blaming the first.
			g.log.Warn("quoting_paused", zap.String("strategy", st.name), zap.String("instrument", st.in.inst.ID),
				zap.String("reason", reason), zap.String("previous", st.loggedKind))
			st.pauseReason, st.loggedKind = reason, st.badKind
		default:
			st.pauseReason = reason
		}
		return
	}
	if st.paused && now.Sub(st.lastBad) >= st.lim.HealthyPeriod {
		st.paused, st.pauseReason = false, ""
		g.log.Info("quoting_resumed", zap.String("strategy", st.name), zap.String("instrument", st.in.inst.ID),
			zap.String("reason", "healthy for "+now.Sub(st.lastBad).String()+" after "+st.lastBadWhy))
	}
}

// reasonSettle is how long a new kind of fail-closed condition must hold, while a strategy is
// already paused, before quoting_paused is logged again with it.
const reasonSettle = time.Second

// reasonKind is a fail-closed reason without its figures ("book_stale age=6s limit=5s" →
// "book_stale"): what changes the kind is news, a growing age is not.
func reasonKind(reason string) string {
	kind, _, _ := strings.Cut(reason, " ")
	return kind
}

// touchHealthAll evaluates every strategy (for global inputs). Called with g.mu held.
func (g *Gate) touchHealthAll(now time.Time) {
	for _, st := range g.list {
		g.touchHealth(st, now)
	}
}

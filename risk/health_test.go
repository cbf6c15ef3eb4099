package risk

import (
	"strings"
	"testing"
	"time"

	"github.com/mmd-dev/mmd/exchange"
)

// TestStaleBookTransitions walks stale → paused → fresh but not yet healthy → resumed with the
// injected clock, and checks quoting_paused/quoting_resumed are logged once each, on the
// transitions only.
func TestStaleBookTransitions(t *testing.T) {
	f := newFixture(t, nil).healthy() // maxBookAge 5s, healthyPeriod 5s
	paused0, resumed0 := f.count("quoting_paused"), f.count("quoting_resumed")

	f.clock.Advance(5 * time.Second) // exactly MaxBookAge: still fresh
	if s := f.g.Status(strat); s.State != Active {
		t.Fatalf("at max age: %+v", s)
	}
	f.clock.Advance(time.Second)
	for range 3 { // asked repeatedly: one log line
		s := f.g.Status(strat)
		if s.State != Halted || s.Reason != "book_stale age=6s limit=5s" || s.BuyOK || s.SellOK {
			t.Fatalf("stale: %+v", s)
		}
	}
	f.book(9990, 10010) // fresh again, but not yet for the healthy period
	s := f.g.Status(strat)
	if s.State != Halted || !strings.HasPrefix(s.Reason, "healthy_period clear=0s need=5s after book_stale") {
		t.Fatalf("fresh, not yet healthy: %+v", s)
	}
	f.wait(4 * time.Second)
	if s := f.g.Status(strat); s.State != Halted {
		t.Fatalf("resumed before the healthy period: %+v", s)
	}
	f.wait(time.Second)
	if s := f.g.Status(strat); s.State != Active || !s.BuyOK || !s.SellOK {
		t.Fatalf("not resumed after the healthy period: %+v", s)
	}
	f.g.Status(strat)
	if got := f.count("quoting_paused") - paused0; got != 1 {
		t.Errorf("%d quoting_paused lines, want 1", got)
	}
	if got := f.count("quoting_resumed") - resumed0; got != 1 {
		t.Errorf("%d quoting_resumed lines, want 1", got)
	}
	paused := f.logs.FilterMessage("quoting_paused").AllUntimed()
	if ctx := paused[len(paused)-1].ContextMap(); ctx["instrument"] != ethUSDT.ID || ctx["reason"] != "book_stale age=6s limit=5s" {
		t.Errorf("quoting_paused fields %v", ctx)
	}
}

// A strategy that stays paused for a new reason logs quoting_paused again once that reason
// has held for reasonSettle (and only then: start-up's quick succession stays one line),
// so the log never keeps blaming a condition that has cleared.
func TestPauseReasonChangeLogged(t *testing.T) {
	f := newFixture(t, nil) // registered paused: private_stream_not_up
	paused := func() []map[string]any {
		var out []map[string]any
		for _, e := range f.logs.FilterMessage("quoting_paused").AllUntimed() {
			out = append(out, e.ContextMap())
		}
		return out
	}
	f.g.OnStream(exchange.StreamStatus{Stream: exchange.PrivateStream, Up: true})
	f.g.OnClockOffset(-3*time.Second, true) // the stream is up, but the clock is off
	f.book(9990, 10010)
	f.g.Status(strat)
	if n := len(paused()); n != 1 {
		t.Fatalf("%d quoting_paused lines at once, want 1 (the new reason has not settled)", n)
	}
	f.clock.Advance(reasonSettle)
	f.book(9990, 10010)
	for range 3 {
		f.g.Status(strat)
	}
	got := paused()
	if len(got) != 2 || got[1]["reason"] != "clock_offset offset=-3s limit=1s" || got[1]["previous"] != "private_stream_not_up" {
		t.Fatalf("quoting_paused lines %v, want a second one naming the clock offset", got)
	}
	f.clock.Advance(10 * time.Second) // the same kind of condition, held longer: no new line
	f.book(9990, 10010)
	f.g.Status(strat)
	if n := len(paused()); n != 2 {
		t.Fatalf("%d quoting_paused lines, want still 2", n)
	}
	if s := f.g.Status(strat); s.Reason != "clock_offset offset=-3s limit=1s" {
		t.Fatalf("status reason %q", s.Reason)
	}
}

// TestNoFlapping: a condition that comes back inside the healthy period restarts it, and the
// instrument stays paused throughout (one pause, one resume).
func TestNoFlapping(t *testing.T) {
	f := newFixture(t, nil).healthy()
	paused0, resumed0 := f.count("quoting_paused"), f.count("quoting_resumed")
	for range 4 { // crossed for a moment every 3 s
		f.book(10010, 10010)
		f.wait(3 * time.Second)
		if s := f.g.Status(strat); s.State != Halted {
			t.Fatalf("resumed inside a flapping period: %+v", s)
		}
	}
	f.wait(5 * time.Second)
	if s := f.g.Status(strat); s.State != Active {
		t.Fatalf("not resumed after a clear healthy period: %+v", s)
	}
	if p, r := f.count("quoting_paused")-paused0, f.count("quoting_resumed")-resumed0; p != 1 || r != 1 {
		t.Fatalf("paused %d resumed %d times, want 1 and 1", p, r)
	}
}

// TestUnobservedStaleness: a gap in the books that nobody asked about while it lasted still
// restarts the healthy period when the next book arrives.
func TestUnobservedStaleness(t *testing.T) {
	f := newFixture(t, nil).healthy()
	f.clock.Advance(7 * time.Second) // no Status call in between
	f.book(9990, 10010)
	if s := f.g.Status(strat); s.State != Halted || !strings.Contains(s.Reason, "after book_stale age=7s") {
		t.Fatalf("gap not noticed: %+v", s)
	}
}

// TestFailClosedConditions: each condition halts the instrument with its reason, and clearing
// it resumes only after the healthy period.
func TestFailClosedConditions(t *testing.T) {
	tests := []struct {
		name   string
		breaks func(*fixture)
		reason string
		clears func(*fixture)
	}{
		{"crossed book", func(f *fixture) { f.book(10010, 10000) }, "book_crossed", func(f *fixture) { f.book(9990, 10010) }},
		{"locked book", func(f *fixture) { f.book(10000, 10000) }, "book_crossed", func(f *fixture) { f.book(9990, 10010) }},
		{"one-sided book", func(f *fixture) { f.book(9990, 0) }, "book_one_sided", func(f *fixture) { f.book(9990, 10010) }},
		{"invalid book", func(f *fixture) { f.g.OnBookInvalid(ethUSDT.ID, "reconnect") }, "book_invalid reason=reconnect",
			func(f *fixture) { f.book(9990, 10010) }},
		{"private stream down",
			func(f *fixture) { f.g.OnStream(exchange.StreamStatus{Stream: exchange.PrivateStream, Reason: "eof"}) },
			"private_stream_down reason=eof",
			func(f *fixture) { f.g.OnStream(exchange.StreamStatus{Stream: exchange.PrivateStream, Up: true}) }},
		{"public stream down",
			func(f *fixture) { f.g.OnStream(exchange.StreamStatus{Stream: exchange.PublicStream}) },
			"public_stream_down reason=unknown",
			func(f *fixture) { f.g.OnStream(exchange.StreamStatus{Stream: exchange.PublicStream, Up: true}) }},
		{"clock offset unknown", func(f *fixture) { f.g.OnClockOffset(0, false) }, "clock_offset_unknown",
			func(f *fixture) { f.g.OnClockOffset(0, true) }},
		{"clock behind", func(f *fixture) { f.g.OnClockOffset(-1500*time.Millisecond, true) }, "clock_offset offset=-1.5s limit=1s",
			func(f *fixture) { f.g.OnClockOffset(time.Second, true) }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t, nil).healthy()
			tc.breaks(f)
			if s := f.g.Status(strat); s.State != Halted || s.Reason != tc.reason {
				t.Fatalf("broken: %+v, want halted with %q", s, tc.reason)
			}
			for range 10 { // however long it lasts, it stays halted
				f.clock.Advance(time.Second)
				if strings.HasPrefix(tc.reason, "book_") {
					tc.breaks(f) // the broken book keeps coming
				} else {
					f.book(9990, 10010)
				}
			}
			if s := f.g.Status(strat); s.State != Halted || s.Reason != tc.reason {
				t.Fatalf("still broken: %+v", s)
			}
			tc.clears(f)
			f.wait(4 * time.Second)
			if s := f.g.Status(strat); s.State != Halted || !strings.Contains(s.Reason, "after "+tc.reason) {
				t.Fatalf("cleared, inside healthy period: %+v", s)
			}
			f.wait(time.Second)
			if s := f.g.Status(strat); s.State != Active {
				t.Fatalf("not resumed: %+v", s)
			}
		})
	}
}

// TestStartsClosed: a new gate trades nothing until the private stream is up, the clock is
// known and a book has been healthy for the healthy period.
func TestStartsClosed(t *testing.T) {
	f := newFixture(t, nil)
	steps := []struct {
		do     func()
		reason string
	}{
		{func() {}, "private_stream_not_up"},
		{func() { f.g.OnStream(exchange.StreamStatus{Stream: exchange.PrivateStream, Up: true}) }, "clock_offset_unknown"},
		{func() { f.g.OnClockOffset(0, true) }, "no_book"},
		{func() { f.book(9990, 10010) }, "healthy_period clear=0s need=5s after no_book"},
	}
	for _, s := range steps {
		s.do()
		if st := f.g.Status(strat); st.State != Halted || st.Reason != s.reason {
			t.Fatalf("status %+v, want halted %q", st, s.reason)
		}
	}
	f.wait(5 * time.Second)
	if st := f.g.Status(strat); st.State != Active {
		t.Fatalf("not active: %+v", st)
	}
	if f.count("quoting_paused") != 1 || f.count("quoting_resumed") != 1 {
		t.Fatal("want one paused (at register) and one resumed line")
	}
}

func TestGlobalHaltResume(t *testing.T) {
	f := newFixture(t, nil).healthy()
	f.g.Halt("operator")
	if s := f.g.Status(strat); s.State != Halted || s.Reason != "operator_halt operator" {
		t.Fatalf("%+v", s)
	}
	f.g.Resume()
	if s := f.g.Status(strat); s.State != Active {
		t.Fatalf("%+v", s)
	}
	if f.count("risk_halted") != 1 || f.count("risk_state_changed") != 2 {
		t.Fatalf("halted %d changed %d", f.count("risk_halted"), f.count("risk_state_changed"))
	}
}

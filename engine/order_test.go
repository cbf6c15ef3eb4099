package engine

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/shopspring/decimal"

	"github.com/mmd-dev/mmd/exchange"
)

// step is one message applied to an order in a lifecycle test.
type step struct {
	kind   string // "report", "fill", "conclude"
	status exchange.OrderStatus
	traded string // report: volumeTraded; fill: volume
	at     int    // report: actionTimestamp in ms after t0; fill: trade ID number
	apply  bool   // whether it should be applied
}

func report(s exchange.OrderStatus, traded string, at int, apply bool) step {
	return step{kind: "report", status: s, traded: traded, at: at, apply: apply}
}

func fill(vol string, id int, apply bool) step {
	return step{kind: "fill", traded: vol, at: id, apply: apply}
}

func newTestOrder() *order {
	return &order{localID: "1", side: exchange.Buy, price: dec("0.03"), volume: dec("1"), phase: phasePending}
}

func (s step) run(o *order) bool {
	switch s.kind {
	case "report":
		return o.applyReport(exchange.Order{SysID: "S1", LocalID: "1", Status: s.status, Traded: dec(s.traded),
			Updated: t0.Add(time.Duration(s.at) * time.Millisecond)})
	case "fill":
		return o.applyFill(exchange.Fill{TradeID: fmt.Sprint("T", s.at), SysID: "S1", Volume: dec(s.traded)}, fmt.Sprint("T", s.at))
	case "conclude":
		o.conclude()
		return true
	}
	panic(s.kind)
}

func TestOrderLifecycle(t *testing.T) {
	const (
		newS    = exchange.StatusNew
		part    = exchange.StatusPartFilled
		filled  = exchange.StatusFilled
		cancel  = exchange.StatusCancelled
		pcancel = exchange.StatusPartCancelled
	)
	tests := []struct {
		name   string
		steps  []step
		phase  phase
		status exchange.OrderStatus
		traded string
	}{
		{"accepted", []step{report(newS, "0", 1, true)}, phaseOpen, newS, "0"},
		{"duplicate accept", []step{report(newS, "0", 1, true), report(newS, "0", 1, false)}, phaseOpen, newS, "0"},
		{"partly filled", []step{report(newS, "0", 1, true), report(part, "0.4", 2, true)}, phaseOpen, part, "0.4"},
		{"older report after newer is ignored", []step{report(part, "0.4", 2, true), report(newS, "0", 1, false)}, phaseOpen, part, "0.4"},
		{"traded never goes down", []step{report(part, "0.6", 3, true), report(part, "0.4", 4, false)}, phaseOpen, part, "0.6"},
		{"cancelled is final", []step{report(newS, "0", 1, true), report(cancel, "0", 2, true), report(newS, "0", 3, false)}, phaseDone, cancel, "0"},
		{"final beats open at equal traded", []step{report(cancel, "0", 1, true), report(newS, "0", 1, false)}, phaseDone, cancel, "0"},
		{"open after final with equal traded and later time stays final", []step{report(pcancel, "0.4", 1, true), report(part, "0.4", 9, false)}, phaseDone, pcancel, "0.4"},
		{"filled", []step{report(newS, "0", 1, true), report(filled, "1", 2, true)}, phaseDone, filled, "1"},
		{"fill before any order_return", []step{fill("0.3", 1, true)}, phaseOpen, part, "0.3"},
		{"fill then its (older) acceptance", []step{fill("0.3", 1, true), report(newS, "0", 1, true)}, phaseOpen, part, "0.3"},
		{"duplicate fill", []step{report(newS, "0", 1, true), fill("0.3", 1, true), fill("0.3", 1, false)}, phaseOpen, part, "0.3"},
		{"fills to full volume finish it", []step{fill("0.3", 1, true), fill("0.7", 2, true)}, phaseDone, filled, "1"},
		{"fill after final report still counts", []step{report(filled, "1", 2, true), fill("1", 1, true)}, phaseDone, filled, "1"},
		{"report traded beyond fills", []step{fill("0.2", 1, true), report(part, "0.5", 2, true)}, phaseOpen, part, "0.5"},
		{"not in book", []step{report(newS, "0", 1, true), report(exchange.StatusNewNotInBook, "0", 2, true)}, phaseDone, exchange.StatusNewNotInBook, "0"},
		{"invalid status ignored", []step{report(exchange.OrderStatus(9), "0", 1, false)}, phasePending, newS, "0"},
		{"pending concluded is lost", []step{{kind: "conclude"}}, phaseLost, exchange.StatusNewNotInBook, "0"},
		{"lost adopted by a late report", []step{{kind: "conclude"}, report(newS, "0", 5, true)}, phaseOpen, newS, "0"},
		{"open concluded is cancelled", []step{report(newS, "0", 1, true), {kind: "conclude"}}, phaseDone, cancel, "0"},
		{"partly filled concluded", []step{report(part, "0.5", 1, true), {kind: "conclude"}}, phaseDone, pcancel, "0.5"},
		{"done never reopens, even by fill", []step{report(cancel, "0", 1, true), fill("0.1", 1, true), report(newS, "0.1", 2, false)}, phaseDone, cancel, "0.1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := newTestOrder()
			for i, s := range tt.steps {
				if got := s.run(o); s.kind != "conclude" && got != s.apply {
					t.Fatalf("step %d (%+v) applied=%v, want %v", i, s, got, s.apply)
				}
			}
			if o.phase != tt.phase || !o.traded.Equal(dec(tt.traded)) {
				t.Fatalf("phase %s traded %s, want %s %s", o.phase, o.traded, tt.phase, tt.traded)
			}
			if got := o.view("ETH-BTC").Status; got != tt.status {
				t.Fatalf("status %s, want %s", got, tt.status)
			}
			if o.remaining().IsNegative() {
				t.Fatalf("remaining %s", o.remaining())
			}
		})
	}
}

// FuzzOrderEvents applies any sequence of order_returns and fills (as the private stream may
// deliver them: duplicated, late, reordered, inconsistent) and checks the invariants.
func FuzzOrderEvents(f *testing.F) {
	f.Add([]byte{0x03, 0x00, 0x11, 0x04, 0x50, 0x09})
	f.Add([]byte{0x81, 0x03, 0x81, 0x00, 0x0a})
	f.Add([]byte{0x05, 0x00, 0x03, 0x00, 0x81})
	f.Add([]byte{0xff, 0xfe, 0x06, 0x13, 0x80, 0x01})
	f.Fuzz(func(t *testing.T, data []byte) {
		o := newTestOrder()
		prevTraded := decimal.Zero
		wasDone := false
		for i := 0; i+1 < len(data); i += 2 {
			op, arg := data[i], data[i+1]
			vol := decimal.New(int64(arg%16), -1) // 0.0 … 1.5
			if op&0x80 != 0 {
				o.applyFill(exchange.Fill{Volume: vol}, fmt.Sprint(op&0x0f))
			} else if op&0x40 != 0 {
				o.conclude()
			} else {
				o.applyReport(exchange.Order{Status: exchange.OrderStatus(op & 0x07), Traded: vol,
					Updated: t0.Add(time.Duration(arg>>4) * time.Millisecond)})
			}
			if o.traded.LessThan(prevTraded) {
				t.Fatalf("traded went down %s → %s", prevTraded, o.traded)
			}
			prevTraded = o.traded
			if wasDone && o.phase != phaseDone {
				t.Fatalf("a done order reopened as %s", o.phase)
			}
			wasDone = o.phase == phaseDone
			if o.remaining().IsNegative() {
				t.Fatalf("remaining %s", o.remaining())
			}
			if o.live() && o.traded.GreaterThanOrEqual(o.volume) {
				t.Fatalf("live with traded %s of %s", o.traded, o.volume)
			}
			if o.wantFrozen().IsNegative() {
				t.Fatal("negative frozen")
			}
		}
	})
}

// mkOrder makes a live order for diff tests: "b 0.030987 0.05" with optional remaining.
func mkOrder(id, spec string, ph phase, remaining string, cancelling bool) *order {
	f := strings.Fields(spec)
	o := &order{localID: id, side: exchange.Buy, price: dec(f[1]), volume: dec(f[2]), phase: ph}
	if f[0] == "a" {
		o.side = exchange.Sell
	}
	if remaining != "" {
		o.traded = o.volume.Sub(dec(remaining))
	}
	if cancelling {
		o.cancelAt = t0
	}
	return o
}

func TestPlanBuild(t *testing.T) {
	tests := []struct {
		name    string
		live    []*order
		want    []string // quotes "b price volume"
		tol     string
		cancels []string // local IDs
		inserts []string
	}{
		{
			name:    "nothing out: insert all",
			want:    []string{"b 0.030987 0.05", "a 0.031113 0.05"},
			tol:     "5",
			inserts: []string{"b 0.030987 0.05", "a 0.031113 0.05"},
		},
		{
			name: "within tolerance: keep",
			live: []*order{mkOrder("1", "b 0.030990 0.05", phaseOpen, "", false), mkOrder("2", "a 0.031113 0.05", phaseOpen, "", false)},
			want: []string{"b 0.030987 0.05", "a 0.031113 0.05"},
			tol:  "5",
		},
		{
			// 0.000003/0.030987 ≈ 0.97 bps > 0.5
			name:    "beyond tolerance: cancel and insert",
			live:    []*order{mkOrder("1", "b 0.030990 0.05", phaseOpen, "", false)},
			want:    []string{"b 0.030987 0.05"},
			tol:     "0.5",
			cancels: []string{"1"},
			inserts: []string{"b 0.030987 0.05"},
		},
		{
			name: "tolerance zero: exact only",
			live: []*order{mkOrder("1", "b 0.030987 0.05", phaseOpen, "", false)},
			want: []string{"b 0.030987 0.05"},
			tol:  "0",
		},
		{
			name: "partly filled order kept (remaining ≤ wanted ≤ volume)",
			live: []*order{mkOrder("1", "b 0.030987 0.05", phaseOpen, "0.02", false)},
			want: []string{"b 0.030987 0.05"},
			tol:  "0",
		},
		{
			name:    "wanted more than placed: replace",
			live:    []*order{mkOrder("1", "b 0.030987 0.05", phaseOpen, "", false)},
			want:    []string{"b 0.030987 0.06"},
			tol:     "5",
			cancels: []string{"1"},
			inserts: []string{"b 0.030987 0.06"},
		},
		{
			name:    "wanted less than remaining: replace",
			live:    []*order{mkOrder("1", "b 0.030987 0.05", phaseOpen, "0.04", false)},
			want:    []string{"b 0.030987 0.03"},
			tol:     "5",
			cancels: []string{"1"},
			inserts: []string{"b 0.030987 0.03"},
		},
		{
			name:    "side not wanted: cancel",
			live:    []*order{mkOrder("1", "b 0.030987 0.05", phaseOpen, "", false), mkOrder("2", "a 0.031113 0.05", phaseOpen, "", false)},
			want:    []string{"a 0.031113 0.05"},
			tol:     "5",
			cancels: []string{"1"},
		},
		{
			name:    "nearest order is kept, the other cancelled",
			live:    []*order{mkOrder("1", "b 0.030980 0.05", phaseOpen, "", false), mkOrder("2", "b 0.030986 0.05", phaseOpen, "", false)},
			want:    []string{"b 0.030987 0.05"},
			tol:     "5",
			cancels: []string{"1"},
		},
		{
			name:    "cancel in flight matches nothing and is not cancelled again",
			live:    []*order{mkOrder("1", "b 0.030987 0.05", phaseOpen, "", true)},
			want:    []string{"b 0.030987 0.05"},
			tol:     "5",
			inserts: []string{"b 0.030987 0.05"},
		},
		{
			name: "pending insert matching: kept",
			live: []*order{mkOrder("1", "b 0.030987 0.05", phasePending, "", false)},
			want: []string{"b 0.030987 0.05"},
			tol:  "5",
		},
		{
			// the pending one moved away: it is neither cancelled (not yet accepted) nor
			// duplicated: it holds the only slot until it is accepted.
			name: "pending insert not matching holds its slot",
			live: []*order{mkOrder("1", "b 0.030900 0.05", phasePending, "", false)},
			want: []string{"b 0.030987 0.05"},
			tol:  "5",
		},
		{
			name:    "two slots, one held by a stale pending insert",
			live:    []*order{mkOrder("1", "b 0.030900 0.05", phasePending, "", false)},
			want:    []string{"b 0.030987 0.05", "b 0.030956 0.05"},
			tol:     "5",
			inserts: []string{"b 0.030987 0.05"},
		},
		{
			name: "ladder shifted one level",
			live: []*order{
				mkOrder("1", "b 0.030987 0.05", phaseOpen, "", false),
				mkOrder("2", "b 0.030956 0.05", phaseOpen, "", false),
			},
			want:    []string{"b 0.030956 0.05", "b 0.030925 0.05"},
			tol:     "1",
			cancels: []string{"1"},
			inserts: []string{"b 0.030925 0.05"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var p plan
			p.build(tt.live, quotesOf(tt.want), dec(tt.tol))
			var cancels, inserts []string
			for _, o := range p.cancels {
				cancels = append(cancels, o.localID)
			}
			for _, q := range p.inserts {
				s := "b"
				if q.Side == exchange.Sell {
					s = "a"
				}
				inserts = append(inserts, fmt.Sprintf("%s %s %s", s, q.Price, q.Volume))
			}
			if fmt.Sprint(cancels) != fmt.Sprint(tt.cancels) || fmt.Sprint(inserts) != fmt.Sprint(tt.inserts) {
				t.Fatalf("cancels %v inserts %v, want %v %v", cancels, inserts, tt.cancels, tt.inserts)
			}
		})
	}
}

func BenchmarkOrderManagerDiff(b *testing.B) {
	// A five-level ladder each side, half the levels moved beyond tolerance.
	var live []*order
	var want []string
	for i := range 5 {
		bp := decimal.New(30987-int64(i)*31, -6)
		ap := decimal.New(31113+int64(i)*31, -6)
		live = append(live,
			mkOrder(fmt.Sprint(2*i+1), "b "+bp.String()+" 0.05", phaseOpen, "", false),
			mkOrder(fmt.Sprint(2*i+2), "a "+ap.String()+" 0.05", phaseOpen, "", false))
		shift := int64(0)
		if i%2 == 1 {
			shift = 20
		}
		want = append(want,
			"b "+decimal.New(30987-int64(i)*31-shift, -6).String()+" 0.05",
			"a "+decimal.New(31113+int64(i)*31+shift, -6).String()+" 0.05")
	}
	qs := quotesOf(want)
	tol := dec("2")
	var p plan
	b.ReportAllocs()
	for b.Loop() {
		p.build(live, qs, tol)
		if len(p.cancels) != 4 || len(p.inserts) != 4 {
			b.Fatalf("cancels %d inserts %d", len(p.cancels), len(p.inserts))
		}
	}
}

func TestPlanCancelsOrphans(t *testing.T) {
	o := mkOrder("1", "b 0.030987 0.05", phaseOpen, "", false)
	o.orphan = true
	var p plan
	p.build([]*order{o}, quotesOf([]string{"b 0.030987 0.05"}), dec("5"))
	if len(p.cancels) != 1 || len(p.inserts) != 1 {
		t.Fatalf("cancels %d inserts %d, want the orphan cancelled and the quote inserted", len(p.cancels), len(p.inserts))
	}
}

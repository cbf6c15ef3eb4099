package hashkey

import (
	"context"
	"fmt"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/mmd-dev/mmd/exchange"
)

func snapOf(id string, n int64) *exchange.BookSnapshot {
	return &exchange.BookSnapshot{Instrument: exchange.Instrument{ID: id}, Bids: []exchange.Level{{Price: n, Volume: 1}}}
}

// describe renders popped events compactly: B:ETH-BTC@3 is a BookUpdate of ETH-BTC whose
// best bid is 3, I:ETH-BTC an invalidation, O:7 an order update with SysID 7.
func describeQueued(ev exchange.Event) string {
	switch e := ev.(type) {
	case exchange.BookUpdate:
		return fmt.Sprintf("B:%s@%d", e.Book.Instrument.ID, e.Book.Bids[0].Price)
	case exchange.BookInvalid:
		return "I:" + e.Instrument
	case exchange.OrderUpdate:
		return "O:" + e.Order.SysID
	case exchange.FillEvent:
		return "F:" + e.Fill.TradeID
	}
	return fmt.Sprintf("%T", ev)
}

func TestEventQueueConflation(t *testing.T) {
	type op struct {
		book string // instrument of a BookUpdate
		n    int64
		ev   exchange.Event
	}
	B := func(id string, n int64) op { return op{book: id, n: n} }
	O := func(id string) op { return op{ev: exchange.OrderUpdate{Order: exchange.Order{SysID: id}}} }
	I := func(id string) op { return op{ev: exchange.BookInvalid{Instrument: id}} }
	F := func(id string) op { return op{ev: exchange.FillEvent{Fill: exchange.Fill{TradeID: id}}} }
	pop := op{book: "pop"}

	tests := []struct {
		name string
		ops  []op
		want []string
	}{
		{"newest book replaces the queued one in place",
			[]op{B("ETH", 1), O("1"), B("ETH", 2), B("ETH", 3), F("9")},
			[]string{"B:ETH@3", "O:1", "F:9"}},
		{"instruments conflate separately",
			[]op{B("ETH", 1), B("BTC", 10), B("ETH", 2), B("BTC", 11)},
			[]string{"B:ETH@2", "B:BTC@11"}},
		{"an invalidation ends conflation",
			[]op{B("ETH", 1), I("ETH"), B("ETH", 2), B("ETH", 3)},
			[]string{"B:ETH@1", "I:ETH", "B:ETH@3"}},
		{"a delivered book is not updated",
			[]op{B("ETH", 1), pop, B("ETH", 2), B("ETH", 3)},
			[]string{"B:ETH@1", "B:ETH@3"}},
		{"orders and fills are never merged",
			[]op{O("1"), O("1"), F("2"), F("2"), O("3")},
			[]string{"O:1", "O:1", "F:2", "F:2", "O:3"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			q := newEventQueue(zap.NewNop())
			var got []string
			for _, o := range tt.ops {
				switch {
				case o.book == "pop":
					ev, _ := q.tryPop()
					got = append(got, describeQueued(ev))
				case o.book != "":
					q.pushBook(snapOf(o.book, o.n), time.Time{})
				default:
					q.push(o.ev)
				}
			}
			for {
				ev, ok := q.tryPop()
				if !ok {
					break
				}
				got = append(got, describeQueued(ev))
			}
			if fmt.Sprint(got) != fmt.Sprint(tt.want) {
				t.Fatalf("got %v, want %v", got, tt.want)
			}
		})
	}
}

// TestEventQueueNeverDrops: a large backlog of order events, interleaved with book updates,
// comes out complete and in order, and the backlog is reported once.
func TestEventQueueNeverDrops(t *testing.T) {
	core, logs := observer.New(zap.InfoLevel)
	q := newEventQueue(zap.New(core))
	const n = 3 * backlogWarn
	for i := range n {
		q.pushBook(snapOf("ETH", int64(i)), time.Time{})
		q.push(exchange.OrderUpdate{Order: exchange.Order{SysID: fmt.Sprint(i)}})
	}
	if got := logs.FilterMessage("stream_backlog").Len(); got != 1 {
		t.Fatalf("backlog warned %d times, want once", got)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	out := make(chan exchange.Event)
	done := make(chan struct{})
	go func() {
		q.run(ctx, out)
		close(done)
	}()
	orders, books := 0, 0
	for orders < n {
		select {
		case ev := <-out:
			switch e := ev.(type) {
			case exchange.OrderUpdate:
				if e.Order.SysID != fmt.Sprint(orders) {
					t.Fatalf("order %s came as number %d", e.Order.SysID, orders)
				}
				orders++
			case exchange.BookUpdate:
				books++
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("stuck after %d orders", orders)
		}
	}
	if books != 1 {
		t.Fatalf("%d book updates, want 1 (all conflated into the first)", books)
	}
	if logs.FilterMessage("stream_backlog_cleared").Len() != 1 {
		t.Fatal("backlog clearing not reported")
	}
	cancel()
	select {
	case <-done:
	case <-time.After(20 * time.Second):
		t.Fatal("run did not return after cancel")
	}
}

func BenchmarkEventQueue(b *testing.B) {
	q := newEventQueue(zap.NewNop())
	snap := snapOf("ETH", 1)
	ev := exchange.OrderUpdate{Order: exchange.Order{SysID: "1"}}
	b.ReportAllocs()
	for b.Loop() {
		q.pushBook(snap, time.Time{})
		q.push(ev)
		q.tryPop()
		q.tryPop()
	}
}

package hashkey

import (
	"context"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/mmd-dev/mmd/exchange"
)

// backlogWarn is the number of queued non-book events above which the queue warns: it
// never drops an order or fill event, so a stuck consumer shows up as memory, and this
// says so before it is a problem.
const backlogWarn = 10_000

// eventQueue is the unbounded FIFO between a stream's socket reader and its Events
// channel. The reader never blocks on it. Book updates are conflated: a BookUpdate for an
// instrument whose previous BookUpdate is still queued replaces that one's snapshot in
// place, so a slow consumer sees the newest book, not a backlog of stale ones. Nothing else
// is ever dropped or reordered.
//
// When nothing is queued and the consumer is already waiting, an event is handed straight
// to it: a latency-sensitive book update then costs one goroutine wake-up, not two (reader →
// pump → consumer).
type eventQueue struct {
	mu      sync.Mutex
	items   []queued // ring buffer
	head, n int
	seq     uint64            // sequence number of items[head]
	books   map[string]uint64 // instrument → sequence number of its queued BookUpdate
	nonBook int               // queued events other than BookUpdates
	warned  bool
	ready   chan struct{} // signalled (capacity 1) when an item is pushed
	log     *zap.Logger

	out  chan<- exchange.Event // the consumer's channel, once run has started
	busy bool                  // run holds a popped event it has not delivered yet
}

// queued is a BookUpdate kept unboxed (so that conflating it allocates nothing) or any
// other event.
type queued struct {
	book     *exchange.BookSnapshot
	received time.Time
	ev       exchange.Event
}

func newEventQueue(log *zap.Logger) *eventQueue {
	return &eventQueue{
		items: make([]queued, 64),
		books: make(map[string]uint64),
		ready: make(chan struct{}, 1),
		log:   log,
	}
}

// pushBook queues a BookUpdate, or replaces the snapshot of the one still queued for the
// same instrument.
func (q *eventQueue) pushBook(book *exchange.BookSnapshot, received time.Time) {
	q.mu.Lock()
	// Box the BookUpdate only when it can go straight out: a queued one stays unboxed and is
	// boxed once, by tryPop.
	if q.canHandOff() && q.handOff(exchange.BookUpdate{Book: book, Received: received}) {
		q.mu.Unlock()
		return
	}
	if s, ok := q.books[book.Instrument.ID]; ok {
		it := &q.items[(q.head+int(s-q.seq))%len(q.items)]
		it.book, it.received = book, received
		q.mu.Unlock()
		return
	}
	q.books[book.Instrument.ID] = q.seq + uint64(q.n)
	q.append(queued{book: book, received: received})
	q.mu.Unlock()
	q.signal()
}

// push queues any event but a BookUpdate. A BookInvalid ends conflation into the book
// update queued before it, so that a newer book never appears to come before the
// invalidation.
func (q *eventQueue) push(ev exchange.Event) {
	q.mu.Lock()
	if bi, ok := ev.(exchange.BookInvalid); ok {
		delete(q.books, bi.Instrument)
	}
	if q.canHandOff() && q.handOff(ev) {
		q.mu.Unlock()
		return
	}
	q.append(queued{ev: ev})
	q.nonBook++
	if q.nonBook > backlogWarn && !q.warned {
		q.warned = true
		q.log.Warn("stream_backlog", zap.Int("queued_events", q.nonBook),
			zap.String("reason", "consumer is not keeping up; order and fill events are never dropped"))
	}
	q.mu.Unlock()
	q.signal()
}

// canHandOff reports whether an event may skip the queue: run has started and nothing is
// queued or in flight before it (so order is kept). q.mu must be held.
func (q *eventQueue) canHandOff() bool { return q.out != nil && q.n == 0 && !q.busy }

// handOff gives ev straight to a consumer that is waiting on out; only after canHandOff.
// It never blocks. q.mu must be held.
func (q *eventQueue) handOff(ev exchange.Event) bool {
	select {
	case q.out <- ev:
		return true
	default:
		return false
	}
}

func (q *eventQueue) append(it queued) {
	if q.n == len(q.items) {
		grown := make([]queued, 2*len(q.items))
		for i := range q.n {
			grown[i] = q.items[(q.head+i)%len(q.items)]
		}
		q.items, q.head = grown, 0
	}
	q.items[(q.head+q.n)%len(q.items)] = it
	q.n++
}

func (q *eventQueue) signal() {
	select {
	case q.ready <- struct{}{}:
	default:
	}
}

// pop removes the oldest event, waiting for one until ctx is done.
func (q *eventQueue) pop(ctx context.Context) (exchange.Event, bool) {
	for {
		if ev, ok := q.tryPop(); ok {
			return ev, true
		}
		select {
		case <-ctx.Done():
			return nil, false
		case <-q.ready:
		}
	}
}

func (q *eventQueue) tryPop() (exchange.Event, bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.n == 0 {
		return nil, false
	}
	q.busy = true // until run has delivered it: nothing may overtake it
	it := q.items[q.head]
	q.items[q.head] = queued{} // let the GC have the snapshot
	q.head = (q.head + 1) % len(q.items)
	q.n--
	q.seq++
	if it.book != nil {
		if s, ok := q.books[it.book.Instrument.ID]; ok && s == q.seq-1 {
			delete(q.books, it.book.Instrument.ID)
		}
		return exchange.BookUpdate{Book: it.book, Received: it.received}, true
	}
	q.nonBook--
	if q.warned && q.nonBook < backlogWarn/2 {
		q.warned = false
		q.log.Info("stream_backlog_cleared", zap.Int("queued_events", q.nonBook))
	}
	if q.n == 0 && len(q.items) > 1024 {
		q.items, q.head = make([]queued, 64), 0 // give back a burst's memory
	}
	return it.ev, true
}

// len returns the number of queued events.
func (q *eventQueue) len() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.n
}

// run moves events from the queue to out until ctx is done.
func (q *eventQueue) run(ctx context.Context, out chan<- exchange.Event) {
	q.mu.Lock()
	q.out = out
	q.mu.Unlock()
	defer func() {
		q.mu.Lock()
		q.out, q.busy = nil, false
		q.mu.Unlock()
	}()
	for {
		ev, ok := q.pop(ctx)
		if !ok {
			return
		}
		select {
		case out <- ev:
		case <-ctx.Done():
			return
		}
		q.mu.Lock()
		q.busy = false
		q.mu.Unlock()
	}
}

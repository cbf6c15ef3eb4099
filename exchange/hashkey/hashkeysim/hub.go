package hashkeysim

import (
	"slices"
	"sync"
	"time"

	"github.com/mmd-dev/mmd/exchange"
)

// maxDepth is the deepest book channel (level2@50) and the depth of getLevel2.
const maxDepth = 50

// Channels a connection can subscribe to per instrument. The order is the order updates go
// out in, which the determinism test relies on.
const (
	chLevel2 = iota // 5 levels
	chLevel2x10
	chLevel2x20
	chLevel2x50
	chTicker
	numChannels
)

// channelName and channelDepth describe the book channels; depth 0 means not a book.
func channelName(ch int) string {
	return [...]string{"level2", "level2@10", "level2@20", "level2@50", "ticker"}[ch]
}

func channelDepth(ch int) int {
	return [...]int{5, 10, 20, 50, 0}[ch]
}

// channelByName maps a subscribe request's channel name; ok is false for unknown ones.
// ("level2@5" of an older revision is not offered: the reference's current list is these.)
func channelByName(name string) (int, bool) {
	for ch := range numChannels {
		if channelName(ch) == name {
			return ch, true
		}
	}
	return 0, false
}

// hub knows every WebSocket connection, what each subscribed to and which account each is
// logged in as, and the book last published per instrument. One mutex keeps a subscriber's
// snapshot and the updates that follow it consistent: both come from the published view.
type hub struct {
	mu    sync.Mutex
	books []bookView
	subs  [][numChannels]map[*wsConn]struct{}
	conns map[*wsConn]struct{}
	users map[string]map[*wsConn]struct{}
}

// bookView is the book as last published (aggregated, best first, maxDepth deep).
type bookView struct {
	bids, asks []exchange.Level
	time       time.Time
}

func newHub(instruments int) *hub {
	h := &hub{
		books: make([]bookView, instruments),
		subs:  make([][numChannels]map[*wsConn]struct{}, instruments),
		conns: make(map[*wsConn]struct{}),
		users: make(map[string]map[*wsConn]struct{}),
	}
	for i := range h.subs {
		for ch := range numChannels {
			h.subs[i][ch] = make(map[*wsConn]struct{})
		}
	}
	return h
}

func (h *hub) add(c *wsConn) {
	h.mu.Lock()
	h.conns[c] = struct{}{}
	h.mu.Unlock()
}

func (h *hub) remove(c *wsConn) {
	h.mu.Lock()
	defer h.mu.Unlock()
	delete(h.conns, c)
	for i := range h.subs {
		for ch := range numChannels {
			delete(h.subs[i][ch], c)
		}
	}
	if c.user != "" {
		delete(h.users[c.user], c)
		c.user = ""
	}
}

// all returns every connection.
func (h *hub) all() []*wsConn {
	h.mu.Lock()
	defer h.mu.Unlock()
	out := make([]*wsConn, 0, len(h.conns))
	for c := range h.conns {
		out = append(out, c)
	}
	return out
}

// subscribe registers c for a channel of one instrument. For a book channel the snapshot is
// queued under the same lock as the updates, so nothing slips between them.
func (h *hub) subscribe(c *wsConn, inst int, spec exchange.Instrument, ch int) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.subs[inst][ch][c] = struct{}{}
	if d := channelDepth(ch); d > 0 {
		v := h.books[inst]
		c.enqueue(appendBook(make([]byte, 0, 2048), channelName(ch)+"_snapshot", spec,
			v.bids[:min(d, len(v.bids))], v.asks[:min(d, len(v.asks))], v.time))
	}
}

func (h *hub) unsubscribe(c *wsConn, inst, ch int) {
	h.mu.Lock()
	delete(h.subs[inst][ch], c)
	h.mu.Unlock()
}

// login makes c receive the account's private messages; the acknowledgement is queued under
// the lock so it precedes them.
func (h *hub) login(c *wsConn, key string, ack []byte) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if c.user != "" {
		delete(h.users[c.user], c)
	}
	c.user = key
	if h.users[key] == nil {
		h.users[key] = make(map[*wsConn]struct{})
	}
	h.users[key][c] = struct{}{}
	c.enqueue(ack)
}

func (h *hub) logout(c *wsConn) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if c.user != "" {
		delete(h.users[c.user], c)
		c.user = ""
	}
}

// deliver sends a private message to every connection logged in as key.
func (h *hub) deliver(key string, msg []byte) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for c := range h.users[key] {
		c.enqueue(msg)
	}
}

// view returns the last published book of an instrument (shared slices: read only).
func (h *hub) view(inst int) bookView {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.books[inst]
}

func (h *hub) publishTrades(inst int, msgs [][]byte) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for c := range h.subs[inst][chTicker] {
		for _, m := range msgs {
			c.enqueue(m)
		}
	}
}

// publishBook diffs the new book against the last published one at each channel's depth and
// sends subscribers only the changed levels (volume "0" removes a level, including one that
// fell below the channel's depth).
func (h *hub) publishBook(inst int, spec exchange.Instrument, bids, asks []exchange.Level, t time.Time) {
	h.mu.Lock()
	defer h.mu.Unlock()
	prev := h.books[inst]
	for ch := range numChannels {
		d := channelDepth(ch)
		if d == 0 || len(h.subs[inst][ch]) == 0 {
			continue
		}
		db := diffLevels(exchange.Buy, prev.bids[:min(d, len(prev.bids))], bids[:min(d, len(bids))])
		da := diffLevels(exchange.Sell, prev.asks[:min(d, len(prev.asks))], asks[:min(d, len(asks))])
		if len(db) == 0 && len(da) == 0 {
			continue
		}
		msg := appendBook(make([]byte, 0, 1024), channelName(ch)+"_update", spec, db, da, t)
		for c := range h.subs[inst][ch] {
			c.enqueue(msg)
		}
	}
	h.books[inst] = bookView{bids: bids, asks: asks, time: t}
}

// diffLevels lists the levels of cur that differ from prev, and prev's levels missing from
// cur with volume 0, best first.
func diffLevels(side exchange.Side, prev, cur []exchange.Level) []exchange.Level {
	var out []exchange.Level
	i, j := 0, 0
	for i < len(prev) || j < len(cur) {
		switch {
		case j == len(cur) || (i < len(prev) && better(side, prev[i].Price, cur[j].Price)):
			out = append(out, exchange.Level{Price: prev[i].Price})
			i++
		case i == len(prev) || better(side, cur[j].Price, prev[i].Price):
			out = append(out, cur[j])
			j++
		default:
			if prev[i].Volume != cur[j].Volume {
				out = append(out, cur[j])
			}
			i++
			j++
		}
	}
	return out
}

// flushWait is one connection's flush marker: flushed delivers when the writer reaches it
// (the time it began writing the message before it), done closes when the connection goes
// away first.
type flushWait struct {
	flushed <-chan time.Time
	done    <-chan struct{}
}

// flush queues a marker behind everything already queued on every connection.
func (h *hub) flush() []flushWait {
	h.mu.Lock()
	defer h.mu.Unlock()
	out := make([]flushWait, 0, len(h.conns))
	for c := range h.conns {
		ch := make(chan time.Time, 1)
		if c.enqueueMsg(outMsg{flushed: ch}) {
			out = append(out, flushWait{flushed: ch, done: c.done})
		}
	}
	return out
}

// dispatcher carries private messages from the engine to the connections, applying the
// private-stream faults (delay, duplication, reordering) on the way. Its one goroutine is
// owned by the Server.
type dispatcher struct {
	hub   *hub
	mu    sync.Mutex
	queue []privMsg
	wake  chan struct{}
	// blocked is next's scratch set of accounts whose oldest queued message is not due yet.
	blocked map[string]bool
}

type privMsg struct {
	key     string
	data    []byte
	due     time.Time // not before (private delay)
	reorder bool
	// dup sends it twice when it goes out. Duplicating on delivery rather than queueing two
	// copies keeps the reorder fault swapping distinct messages: two queued copies would
	// only ever be swapped with each other, and duplicate+reorder would reorder nothing.
	dup    bool
	heldAt time.Time // when reordering held it back
}

// privFaults is the private-stream fault state at the time a message is queued.
type privFaults struct {
	delay     time.Duration
	duplicate bool
	reorder   bool
}

// reorderHold bounds how long a held-back message waits for a successor to swap with.
const reorderHold = 20 * time.Millisecond

func newDispatcher(h *hub) *dispatcher {
	return &dispatcher{hub: h, wake: make(chan struct{}, 1), blocked: make(map[string]bool)}
}

func (d *dispatcher) push(key string, data []byte, f privFaults) {
	m := privMsg{key: key, data: data, reorder: f.reorder, dup: f.duplicate}
	if f.delay > 0 {
		m.due = time.Now().Add(f.delay)
	}
	d.mu.Lock()
	d.queue = append(d.queue, m)
	d.mu.Unlock()
	select {
	case d.wake <- struct{}{}:
	default:
	}
}

// next removes and returns the first queued message that may go out now: one that is due and
// not behind an earlier message of its own account. The delay fault keeps each account's
// stream in order, but one account's delayed messages must not hold up another's (nor, once
// the fault is lifted, messages queued after them for other accounts). With nothing ready it
// returns the time the first waiting message falls due (zero when the queue is empty).
func (d *dispatcher) next(now time.Time) (privMsg, bool, time.Time) {
	d.mu.Lock()
	defer d.mu.Unlock()
	clear(d.blocked)
	var dueAt time.Time
	for i, m := range d.queue {
		if d.blocked[m.key] {
			continue
		}
		if !m.due.After(now) {
			if i == 0 {
				d.queue[0] = privMsg{}
				d.queue = d.queue[1:]
			} else {
				d.queue = slices.Delete(d.queue, i, i+1)
			}
			if len(d.queue) == 0 {
				d.queue = nil
			}
			return m, true, time.Time{}
		}
		if dueAt.IsZero() || m.due.Before(dueAt) {
			dueAt = m.due
		}
		d.blocked[m.key] = true
	}
	return privMsg{}, false, dueAt
}

// run delivers until quit is closed. With reordering on, a message is held back until the
// next one for the same account has gone out (or reorderHold passes), swapping each pair.
func (d *dispatcher) run(quit <-chan struct{}) {
	held := make(map[string]privMsg)
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	defer timer.Stop()
	for {
		m, ok, dueAt := d.next(time.Now())
		if !ok {
			// Sleep until a new message, the first delayed one falls due, or a held one has
			// waited reorderHold for a successor.
			var wait time.Duration
			armed, flushHeld := false, false
			if !dueAt.IsZero() {
				wait, armed = time.Until(dueAt), true
			}
			if len(held) > 0 && (!armed || reorderHold < wait) {
				wait, armed, flushHeld = reorderHold, true, true
			}
			var fire <-chan time.Time
			if armed {
				timer.Reset(wait)
				fire = timer.C
			}
			select {
			case <-d.wake:
				timer.Stop()
			case <-fire:
				if flushHeld {
					for k, h := range held {
						d.send(h)
						delete(held, k)
					}
				}
			case <-quit:
				return
			}
			continue
		}
		if h, ok := held[m.key]; ok {
			d.send(m)
			d.send(h)
			delete(held, m.key)
		} else if m.reorder {
			m.heldAt = time.Now()
			held[m.key] = m
		} else {
			d.send(m)
		}
		for k, h := range held { // a busy stream of other accounts must not strand one
			if time.Since(h.heldAt) >= reorderHold {
				d.send(h)
				delete(held, k)
			}
		}
	}
}

// send delivers one message, twice under the duplicate fault.
func (d *dispatcher) send(m privMsg) {
	d.hub.deliver(m.key, m.data)
	if m.dup {
		d.hub.deliver(m.key, m.data)
	}
}

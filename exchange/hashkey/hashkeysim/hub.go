package hashkeysim

import (
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
}

type privMsg struct {
	key     string
	data    []byte
	due     time.Time // not before (private delay)
	reorder bool
	heldAt  time.Time // when reordering held it back
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
	return &dispatcher{hub: h, wake: make(chan struct{}, 1)}
}

func (d *dispatcher) push(key string, data []byte, f privFaults) {
	m := privMsg{key: key, data: data, reorder: f.reorder}
	if f.delay > 0 {
		m.due = time.Now().Add(f.delay)
	}
	d.mu.Lock()
	d.queue = append(d.queue, m)
	if f.duplicate {
		d.queue = append(d.queue, m)
	}
	d.mu.Unlock()
	select {
	case d.wake <- struct{}{}:
	default:
	}
}

func (d *dispatcher) pop() (privMsg, bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if len(d.queue) == 0 {
		return privMsg{}, false
	}
	m := d.queue[0]
	d.queue[0] = privMsg{}
	d.queue = d.queue[1:]
	if len(d.queue) == 0 {
		d.queue = nil
	}
	return m, true
}

// run delivers until quit is closed. With reordering on, a message is held back until the
// next one for the same account has gone out (or reorderHold passes), swapping each pair.
func (d *dispatcher) run(quit <-chan struct{}) {
	held := make(map[string]privMsg)
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	defer timer.Stop()
	for {
		m, ok := d.pop()
		if !ok {
			if len(held) == 0 {
				select {
				case <-d.wake:
				case <-quit:
					return
				}
				continue
			}
			timer.Reset(reorderHold)
			select {
			case <-d.wake:
				timer.Stop()
			case <-timer.C:
				for k, h := range held {
					d.hub.deliver(k, h.data)
					delete(held, k)
				}
			case <-quit:
				return
			}
			continue
		}
		if wait := time.Until(m.due); !m.due.IsZero() && wait > 0 {
			timer.Reset(wait)
			select {
			case <-timer.C:
			case <-quit:
				return
			}
		}
		if h, ok := held[m.key]; ok {
			d.hub.deliver(m.key, m.data)
			d.hub.deliver(h.key, h.data)
			delete(held, m.key)
		} else if m.reorder {
			m.heldAt = time.Now()
			held[m.key] = m
		} else {
			d.hub.deliver(m.key, m.data)
		}
		for k, h := range held { // a busy stream of other accounts must not strand one
			if time.Since(h.heldAt) >= reorderHold {
				d.hub.deliver(k, h.data)
				delete(held, k)
			}
		}
	}
}

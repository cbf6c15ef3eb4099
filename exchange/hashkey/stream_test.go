package hashkey

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/mmd-dev/mmd/exchange"
)

var (
	ethBTC  = exchange.Instrument{ID: "ETH-BTC", Base: "ETH", Quote: "BTC", PricePrecision: 6, VolumePrecision: 3}
	btcUSDT = exchange.Instrument{ID: "BTC-USDT", Base: "BTC", Quote: "USDT", PricePrecision: 2, VolumePrecision: 4}
)

const (
	snapETH   = `{"type":"level2@10_snapshot","instrumentID":"ETH-BTC","buy":[["0.031","1.5"],["0.0309","2"]],"sell":[["0.0311","2"],["0.0312","3"]],"pubDate":"20181113","pubTime":"10:13:21","pubTimestamp":"1542104001056"}`
	snapETH2  = `{"type":"level2@10_snapshot","instrumentID":"ETH-BTC","buy":[["0.0305","7"]],"sell":[["0.0306","8"]],"pubDate":"20181113","pubTime":"10:13:22","pubTimestamp":"1542104002000"}`
	updETH    = `{"type":"level2@10_update","instrumentID ":"ETH-BTC","buy":[["0.031","0"],["0.0308","4"]],"sell":[["0.03105","1"]],"pubDate":"20181113","pubTime":"10:13:21","pubTimestamp":"1542104001556"}`
	crossETH  = `{"type":"level2@10_update","instrumentID":"ETH-BTC","buy":[["0.0313","1"]],"sell":[],"pubTimestamp":"1542104001600"}`
	snapBTC   = `{"type":"level2@10_snapshot","instrumentID":"BTC-USDT","buy":[["6000.5","0.5"]],"sell":[["6001","0.25"]],"pubTimestamp":"1542104001"}`
	tradeMsg  = `{"type":"trade_detail","instrumentID":"ETH-BTC","price":"0.031","priceSource":"buy","volume":"0.5","tradeDate":"20181113","tradeTime":"10:13:21","tradeTimestamp":"1542104001056"}`
	insertRsp = `{"type":"order_insert_rsp","orderLocalID":"15421040010560002","respCode":"2011","respMsg":"insufficient balance"}`
	cancelRsp = `{"type":"order_cancel_rsp","orderSysID":"900","orderLocalID":"15421040010560001","respCode":"2015","respMsg":"already cancelled"}`
)

var (
	orderReturn = `{"type":"order_return",` + orderJSON[1:]
	tradeReturn = `{"type":"trade_return",` + strings.Replace(fillJSON[1:], `"tradeTimestamp":"1542104001"`, `"tradeTimestamp":"1542104001056"`, 1)
)

type wsRequestSeen struct {
	Type    string              `json:"type"`
	Channel map[string][]string `json:"channel"`
}

// wsExchange is a loopback WebSocket server speaking the exchange's protocol: it records
// every request of every connection and answers logins with a subscribe_rsp (loginCode;
// "" = never answer). Tests write frames to a connection with send.
type wsExchange struct {
	t     *testing.T
	srv   *httptest.Server
	peers chan *wsPeer
	stop  chan struct{} // closed at cleanup

	mu        sync.Mutex
	loginCode []string // answers to successive logins; the last repeats
	logins    int
	noRead    bool // don't read: no pongs, no requests
	all       []*wsPeer
}

type wsPeer struct {
	conn  *websocket.Conn
	reqs  chan wsRequestSeen
	pings chan struct{}
	wmu   sync.Mutex
	done  chan struct{}
}

func newWSExchange(t *testing.T) *wsExchange {
	x := &wsExchange{t: t, peers: make(chan *wsPeer, 16), stop: make(chan struct{}), loginCode: []string{"0"}}
	up := websocket.Upgrader{}
	x.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		conn, err := up.Upgrade(w, r, nil)
		if err != nil {
			return
		}
		p := &wsPeer{conn: conn, reqs: make(chan wsRequestSeen, 1024), pings: make(chan struct{}, 16), done: make(chan struct{})}
		conn.SetPingHandler(func(data string) error {
			select {
			case p.pings <- struct{}{}:
			default:
			}
			return conn.WriteControl(websocket.PongMessage, []byte(data), time.Now().Add(time.Second))
		})
		x.mu.Lock()
		x.all = append(x.all, p)
		noRead := x.noRead
		x.mu.Unlock()
		defer close(p.done)
		defer conn.Close()
		select {
		case x.peers <- p:
		case <-x.stop:
			return
		}
		if noRead {
			<-x.stop
			return
		}
		for {
			_, msg, err := conn.ReadMessage()
			if err != nil {
				return
			}
			var req wsRequestSeen
			if err := json.Unmarshal(msg, &req); err != nil {
				t.Errorf("client sent %s: %v", msg, err)
				continue
			}
			p.reqs <- req
			if _, ok := req.Channel["user"]; ok && req.Type == "subscribe" {
				x.mu.Lock()
				code := x.loginCode[min(x.logins, len(x.loginCode)-1)]
				x.logins++
				x.mu.Unlock()
				if code != "" { // the test may be closing this connection: a failed write is fine
					p.wmu.Lock()
					_ = conn.WriteMessage(websocket.TextMessage, []byte(`{"type":"subscribe_rsp","channel":"user","respCode":"`+code+`","respMsg":"login"}`))
					p.wmu.Unlock()
				}
			}
		}
	}))
	t.Cleanup(func() {
		close(x.stop)
		x.mu.Lock()
		for _, p := range x.all {
			p.conn.Close()
		}
		x.mu.Unlock()
		x.srv.Close()
	})
	return x
}

func (x *wsExchange) url() string {
	return "ws" + strings.TrimPrefix(x.srv.URL, "http") + "/APITradeWS/v1/messages"
}

func (x *wsExchange) next(t *testing.T) *wsPeer {
	t.Helper()
	select {
	case p := <-x.peers:
		return p
	case <-time.After(10 * time.Second):
		t.Fatal("no connection")
	}
	return nil
}

func (p *wsPeer) send(t *testing.T, frames ...string) {
	p.wmu.Lock()
	defer p.wmu.Unlock()
	for _, f := range frames {
		if err := p.conn.WriteMessage(websocket.TextMessage, []byte(f)); err != nil {
			t.Errorf("send: %v", err)
		}
	}
}

// expect reads the connection's requests until one matches.
func (p *wsPeer) expect(t *testing.T, typ, channel string, ids ...string) wsRequestSeen {
	t.Helper()
	deadline := time.After(10 * time.Second)
	for {
		select {
		case r := <-p.reqs:
			if got, ok := r.Channel[channel]; ok && r.Type == typ && (ids == nil || slices.Equal(got, ids)) {
				return r
			}
		case <-deadline:
			t.Fatalf("no %s %s %v", typ, channel, ids)
		}
	}
}

type testStream struct {
	*Stream
	cancel context.CancelFunc
	done   chan error
}

func startStream(t *testing.T, x *wsExchange, sc StreamConfig, mod func(*Stream), log *zap.Logger) *testStream {
	t.Helper()
	c, err := NewClient(Config{RESTURL: "http://127.0.0.1:1/APITrade", WSURL: x.url(), Credentials: testCredentials(), Logger: log})
	must(t, err)
	st := c.NewStream(sc)
	st.backoffMin, st.backoffMax = time.Millisecond, 20*time.Millisecond
	st.loginGrace = 10 * time.Second
	st.loginRetry, st.loginRetryFatal = 20*time.Millisecond, 30*time.Millisecond
	st.resubInterval = 50 * time.Millisecond
	if mod != nil {
		mod(st)
	}
	ctx, cancel := context.WithCancel(context.Background())
	ts := &testStream{Stream: st, cancel: cancel, done: make(chan error, 1)}
	go func() { ts.done <- st.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		for range st.Events() { // drain until Run closes it
		}
		if err := <-ts.done; err != nil {
			t.Errorf("Run = %v", err)
		}
	})
	return ts
}

// until reads events until one satisfies match, returning it and those skipped.
func (ts *testStream) until(t *testing.T, what string, match func(exchange.Event) bool) (exchange.Event, []exchange.Event) {
	t.Helper()
	var skipped []exchange.Event
	deadline := time.After(10 * time.Second)
	for {
		select {
		case ev, ok := <-ts.Events():
			if !ok {
				t.Fatalf("events closed waiting for %s", what)
			}
			if match(ev) {
				return ev, skipped
			}
			skipped = append(skipped, ev)
		case <-deadline:
			t.Fatalf("no %s; saw %s", what, describeEvents(skipped))
		}
	}
}

// all reads events until each predicate has matched one, returning the first match of each.
func (ts *testStream) all(t *testing.T, preds ...func(exchange.Event) bool) []exchange.Event {
	t.Helper()
	got := make([]exchange.Event, len(preds))
	left := len(preds)
	var seen []exchange.Event
	deadline := time.After(10 * time.Second)
	for left > 0 {
		select {
		case ev, ok := <-ts.Events():
			if !ok {
				t.Fatal("events closed")
			}
			seen = append(seen, ev)
			for i, p := range preds {
				if got[i] == nil && p(ev) {
					got[i] = ev
					left--
				}
			}
		case <-deadline:
			t.Fatalf("%d expected events missing; saw %s", left, describeEvents(seen))
		}
	}
	return got
}

func describeEvents(evs []exchange.Event) string {
	var b strings.Builder
	for _, ev := range evs {
		fmt.Fprintf(&b, "%T%+v; ", ev, ev)
	}
	return b.String()
}

func isStatus(s exchange.Stream, up bool) func(exchange.Event) bool {
	return func(ev exchange.Event) bool {
		st, ok := ev.(exchange.StreamStatus)
		return ok && st.Stream == s && st.Up == up
	}
}

func isBook(id string) func(exchange.Event) bool {
	return func(ev exchange.Event) bool {
		bu, ok := ev.(exchange.BookUpdate)
		return ok && bu.Book.Instrument.ID == id
	}
}

func isInvalid(id string) func(exchange.Event) bool {
	return func(ev exchange.Event) bool {
		bi, ok := ev.(exchange.BookInvalid)
		return ok && bi.Instrument == id
	}
}

func isType[T exchange.Event](ev exchange.Event) bool { _, ok := ev.(T); return ok }

func bookString(b *exchange.BookSnapshot) string {
	var s strings.Builder
	for _, l := range b.Bids {
		fmt.Fprintf(&s, "b%sx%s ", b.Price(l.Price), b.Volume(l.Volume))
	}
	for _, l := range b.Asks {
		fmt.Fprintf(&s, "a%sx%s ", b.Price(l.Price), b.Volume(l.Volume))
	}
	return strings.TrimSpace(s.String())
}

func wsLoginSignature() string {
	mac := hmac.New(sha256.New, []byte(testSecret))
	mac.Write([]byte("WSS/APITradeWS/v1/messages"))
	return base64.StdEncoding.EncodeToString(mac.Sum(nil))
}

func TestStreamEvents(t *testing.T) {
	x := newWSExchange(t)
	st := startStream(t, x, StreamConfig{Instruments: []exchange.Instrument{ethBTC, btcUSDT}, Depth: 10, Trades: true, Private: true}, nil, nil)
	p := x.next(t)
	p.expect(t, "subscribe", "level2@10", "ETH-BTC", "BTC-USDT")
	p.expect(t, "subscribe", "ticker", "ETH-BTC", "BTC-USDT")
	login := p.expect(t, "subscribe", "user")
	if got, want := login.Channel["user"], []string{testKey, wsLoginSignature(), "HMAC"}; !slices.Equal(got, want) {
		t.Fatalf("login %q, want %q", got, want)
	}
	st.until(t, "public up", isStatus(exchange.PublicStream, true))
	st.until(t, "private up", isStatus(exchange.PrivateStream, true))

	p.send(t, snapETH)
	ev, _ := st.until(t, "ETH-BTC book", isBook("ETH-BTC"))
	bu := ev.(exchange.BookUpdate)
	if got := bookString(bu.Book); got != "b0.031x1.5 b0.0309x2 a0.0311x2 a0.0312x3" {
		t.Fatalf("book %s", got)
	}
	if bu.Received.IsZero() || bu.Book.ExchangeTime.UnixMilli() != 1542104001056 {
		t.Fatalf("stamps %s %s", bu.Received, bu.Book.ExchangeTime)
	}
	p.send(t, updETH)
	ev, _ = st.until(t, "ETH-BTC update", isBook("ETH-BTC"))
	if got := bookString(ev.(exchange.BookUpdate).Book); got != "b0.0309x2 b0.0308x4 a0.03105x1 a0.0311x2 a0.0312x3" {
		t.Fatalf("book after update %s", got)
	}
	if got := bookString(bu.Book); got != "b0.031x1.5 b0.0309x2 a0.0311x2 a0.0312x3" {
		t.Fatalf("the earlier snapshot changed: %s", got)
	}

	p.send(t, tradeMsg, orderReturn, tradeReturn, insertRsp, cancelRsp)
	ev, _ = st.until(t, "trade", isType[exchange.TradeEvent])
	if tr := ev.(exchange.TradeEvent); tr.Trade.Price.String() != "0.031" || tr.Received.IsZero() {
		t.Fatalf("trade %+v", tr)
	}
	ev, _ = st.until(t, "order", isType[exchange.OrderUpdate])
	if o := ev.(exchange.OrderUpdate); o.Order.SysID != "900" || o.Order.Remaining.String() != "1" || o.Received.IsZero() {
		t.Fatalf("order %+v", o)
	}
	ev, _ = st.until(t, "fill", isType[exchange.FillEvent])
	if f := ev.(exchange.FillEvent); f.Fill.TradeID != "77" || f.Fill.Fee.String() != "0.0005" {
		t.Fatalf("fill %+v", f)
	}
	ev, _ = st.until(t, "insert rejected", isType[exchange.InsertRejected])
	if r := ev.(exchange.InsertRejected); r.Code != 2011 || r.LocalID != "15421040010560002" || r.Received.IsZero() {
		t.Fatalf("insert rejected %+v", r)
	}
	ev, _ = st.until(t, "cancel rejected", isType[exchange.CancelRejected])
	if r := ev.(exchange.CancelRejected); r.Code != 2015 || r.SysID != "900" || r.Received.IsZero() {
		t.Fatalf("cancel rejected %+v", r)
	}
}

// TestStreamReconnect: after a drop (ours or the server's) every stream reports down, every
// book invalid; the stream redials, resubscribes, logs in again, ignores updates that come
// before the fresh snapshot, and reports the book only from that snapshot.
func TestStreamReconnect(t *testing.T) {
	for _, side := range []string{"client", "server"} {
		t.Run(side, func(t *testing.T) {
			x := newWSExchange(t)
			st := startStream(t, x, StreamConfig{Instruments: []exchange.Instrument{ethBTC, btcUSDT}, Depth: 10, Private: true}, nil, nil)
			p := x.next(t)
			p.expect(t, "subscribe", "user")
			p.send(t, snapETH, snapBTC)
			st.until(t, "ETH-BTC book", isBook("ETH-BTC"))
			st.until(t, "BTC-USDT book", isBook("BTC-USDT"))

			if side == "client" {
				st.Drop()
			} else {
				p.conn.Close()
			}
			invalid := map[string]bool{}
			down := map[exchange.Stream]bool{}
			for len(invalid) < 2 || len(down) < 2 {
				ev, _ := st.until(t, "down events", func(ev exchange.Event) bool {
					return isType[exchange.BookInvalid](ev) || isStatus(exchange.PublicStream, false)(ev) || isStatus(exchange.PrivateStream, false)(ev)
				})
				switch e := ev.(type) {
				case exchange.BookInvalid:
					invalid[e.Instrument] = true
				case exchange.StreamStatus:
					down[e.Stream] = true
				}
			}

			p2 := x.next(t)
			p2.expect(t, "subscribe", "level2@10", "ETH-BTC", "BTC-USDT")
			p2.expect(t, "subscribe", "user")
			st.until(t, "private up again", isStatus(exchange.PrivateStream, true))
			p2.send(t, updETH, snapETH2)
			ev, skipped := st.until(t, "rebuilt book", isBook("ETH-BTC"))
			if got := bookString(ev.(exchange.BookUpdate).Book); got != "b0.0305x7 a0.0306x8" {
				t.Fatalf("first book after reconnect %s, want the fresh snapshot", got)
			}
			for _, e := range skipped {
				if isInvalid("ETH-BTC")(e) {
					t.Fatalf("the stale update invalidated the book: %s", describeEvents(skipped))
				}
			}
		})
	}
}

// TestStreamCrossedBook: a crossed book is reported invalid and resubscribed; it is usable
// again only from the new snapshot.
func TestStreamCrossedBook(t *testing.T) {
	x := newWSExchange(t)
	st := startStream(t, x, StreamConfig{Instruments: []exchange.Instrument{ethBTC, btcUSDT}, Depth: 10}, nil, nil)
	p := x.next(t)
	p.expect(t, "subscribe", "level2@10", "ETH-BTC", "BTC-USDT")
	p.send(t, snapETH, snapBTC)
	st.until(t, "book", isBook("ETH-BTC"))
	st.until(t, "book", isBook("BTC-USDT"))

	for round := range 2 { // the second crossing comes within resubInterval: delayed, not lost
		p.send(t, crossETH)
		ev, skipped := st.until(t, "invalid", isInvalid("ETH-BTC"))
		if !strings.Contains(ev.(exchange.BookInvalid).Reason, "crossed") {
			t.Fatalf("reason %q", ev.(exchange.BookInvalid).Reason)
		}
		if slices.ContainsFunc(skipped, isBook("ETH-BTC")) {
			t.Fatalf("round %d: crossed book handed out", round)
		}
		p.expect(t, "unsubscribe", "level2@10", "ETH-BTC")
		p.expect(t, "subscribe", "level2@10", "ETH-BTC")
		p.send(t, updETH) // still the old subscription's: ignored
		p.send(t, snapETH2)
		ev, _ = st.until(t, "resubscribed book", isBook("ETH-BTC"))
		if got := bookString(ev.(exchange.BookUpdate).Book); got != "b0.0305x7 a0.0306x8" {
			t.Fatalf("round %d: book %s", round, got)
		}
	}
	// The other book was never touched.
	p.send(t, snapBTC)
	st.until(t, "BTC-USDT still served", isBook("BTC-USDT"))
}

// TestStreamBadInput: malformed, unknown and unreadable messages are skipped without
// stopping the stream, and each kind is logged once, not once per message.
func TestStreamBadInput(t *testing.T) {
	x := newWSExchange(t)
	core, logs := observer.New(zap.DebugLevel)
	st := startStream(t, x, StreamConfig{Instruments: []exchange.Instrument{ethBTC}, Depth: 10, Trades: true}, nil, zap.New(core))
	p := x.next(t)
	p.expect(t, "subscribe", "ticker")
	p.send(t, snapETH)
	st.until(t, "book", isBook("ETH-BTC"))
	for range 5 {
		p.send(t, `not json`, `{"type":"mystery"}`, `{"no":"type"}`,
			`{"type":"level2@10_update","instrumentID":"XRP-BTC","buy":[["1","1"]],"sell":[]}`,
			`{"type":"trade_detail","instrumentID":"ETH-BTC","price":"abc"}`,
			`{"type":"order_return","orderSysID":"1"}`)
	}
	p.send(t, tradeMsg)
	ev, skipped := st.until(t, "trade after the junk", isType[exchange.TradeEvent])
	if len(skipped) != 0 {
		t.Fatalf("junk produced events: %s", describeEvents(skipped))
	}
	_ = ev
	for _, msg := range []string{"stream_message_malformed", "stream_message_unknown", "stream_unknown_instrument"} {
		if n := logs.FilterMessage(msg).Len(); n == 0 || n > 4 {
			t.Errorf("%s logged %d times for 5 repeats", msg, n)
		}
	}
	// A level2 update for a known instrument that cannot be read leaves the book unknown:
	// it is invalidated and resubscribed.
	p.send(t, `{"type":"level2@10_update","instrumentID":"ETH-BTC","buy":[["0.0310001","1"]],"sell":[]}`)
	st.until(t, "invalid after unreadable update", isInvalid("ETH-BTC"))
	p.expect(t, "subscribe", "level2@10", "ETH-BTC")
}

func TestStreamLoginRefused(t *testing.T) {
	x := newWSExchange(t)
	x.loginCode = []string{"1002", "0"}
	core, logs := observer.New(zap.DebugLevel)
	st := startStream(t, x, StreamConfig{Instruments: []exchange.Instrument{ethBTC}, Trades: true, Private: true}, nil, zap.New(core))
	p := x.next(t)
	st.until(t, "public up", isStatus(exchange.PublicStream, true))
	ev, _ := st.until(t, "private down", isStatus(exchange.PrivateStream, false))
	if r := ev.(exchange.StreamStatus).Reason; !strings.Contains(r, "1002") {
		t.Fatalf("reason %q does not name the code", r)
	}
	p.expect(t, "subscribe", "user")
	p.expect(t, "subscribe", "user") // retried on the same connection
	_, skipped := st.until(t, "private up", isStatus(exchange.PrivateStream, true))
	if slices.ContainsFunc(skipped, isStatus(exchange.PublicStream, false)) {
		t.Fatal("a login refusal took the public stream down")
	}
	if logs.FilterMessage("stream_login_failed").Len() == 0 {
		t.Fatal("refusal not logged")
	}
	for _, e := range logs.All() {
		b, _ := json.Marshal(e.ContextMap())
		for _, secret := range []string{testSecret, wsLoginSignature()} {
			if strings.Contains(e.Message+string(b), secret) {
				t.Fatalf("log %s %s shows a secret", e.Message, b)
			}
		}
	}
}

func TestStreamLoginWithoutAnswer(t *testing.T) {
	x := newWSExchange(t)
	x.loginCode = []string{""}
	st := startStream(t, x, StreamConfig{Private: true}, func(s *Stream) { s.loginGrace = 30 * time.Millisecond }, nil)
	x.next(t).expect(t, "subscribe", "user")
	st.until(t, "private up after the grace period", isStatus(exchange.PrivateStream, true))
}

// TestStreamHeartbeat: pings go out; a server that stops answering is dropped and redialled.
func TestStreamHeartbeat(t *testing.T) {
	x := newWSExchange(t)
	x.noRead = true // never reads, so never answers a ping
	st := startStream(t, x, StreamConfig{Instruments: []exchange.Instrument{ethBTC}, Trades: true}, func(s *Stream) {
		s.pingInterval, s.pongTimeout = 20*time.Millisecond, 20*time.Millisecond
	}, nil)
	x.next(t)
	st.until(t, "down after the pong timeout", isStatus(exchange.PublicStream, false))
	x.next(t)

	// A server that answers keeps the connection, and sees our pings.
	y := newWSExchange(t)
	st2 := startStream(t, y, StreamConfig{Instruments: []exchange.Instrument{ethBTC}, Trades: true}, func(s *Stream) {
		s.pingInterval, s.pongTimeout = 20*time.Millisecond, time.Second
	}, nil)
	p := y.next(t)
	for range 3 {
		select {
		case <-p.pings:
		case <-time.After(20 * time.Second):
			t.Fatal("no ping")
		}
	}
	// Server pings are answered.
	pong := make(chan struct{}, 1)
	p.conn.SetPongHandler(func(string) error { pong <- struct{}{}; return nil })
	p.wmu.Lock()
	must(t, p.conn.WriteControl(websocket.PingMessage, []byte("hi"), time.Now().Add(time.Second)))
	p.wmu.Unlock()
	select {
	case <-pong:
	case <-time.After(20 * time.Second):
		t.Fatal("server ping not answered")
	}
	p.send(t, tradeMsg)
	_, skipped := st2.until(t, "trade", isType[exchange.TradeEvent])
	if slices.ContainsFunc(skipped, isStatus(exchange.PublicStream, false)) {
		t.Fatal("a healthy connection was dropped")
	}
}

// TestStreamSlowConsumer: while nobody reads, the socket reader keeps going; book updates
// conflate and every order event is delivered, in order.
func TestStreamSlowConsumer(t *testing.T) {
	x := newWSExchange(t)
	st := startStream(t, x, StreamConfig{Instruments: []exchange.Instrument{ethBTC}, Depth: 10, Private: true}, nil, nil)
	p := x.next(t)
	p.expect(t, "subscribe", "user")
	st.until(t, "private up", isStatus(exchange.PrivateStream, true))
	p.send(t, snapETH)
	const n = 2000
	for i := range n {
		vol := fmt.Sprintf("%d", 1+i%7)
		p.send(t, `{"type":"level2@10_update","instrumentID":"ETH-BTC","buy":[["0.0301","`+vol+`"]],"sell":[]}`,
			strings.Replace(orderReturn, `"orderSysID":"900"`, fmt.Sprintf(`"orderSysID":"%d"`, i), 1))
	}
	p.send(t, tradeReturn) // marks the end
	// Nobody has read yet; wait until the reader has queued everything.
	deadline := time.Now().Add(10 * time.Second)
	for st.q.len() < n+2 {
		if time.Now().After(deadline) {
			t.Fatalf("reader queued only %d events", st.q.len())
		}
		select {
		case <-time.After(time.Millisecond): // polling a counter, not waiting for time to pass
		}
	}
	books, orders := 0, 0
	for {
		ev, _ := st.until(t, "event", func(exchange.Event) bool { return true })
		switch e := ev.(type) {
		case exchange.BookUpdate:
			books++
		case exchange.OrderUpdate:
			if e.Order.SysID != fmt.Sprint(orders) {
				t.Fatalf("order %s arrived as number %d", e.Order.SysID, orders)
			}
			orders++
		case exchange.FillEvent:
			if orders != n {
				t.Fatalf("%d orders delivered of %d", orders, n)
			}
			if books > 10 {
				t.Fatalf("%d book updates for %d messages: not conflated", books, n+1)
			}
			return
		}
	}
}

func TestStreamConfigErrors(t *testing.T) {
	c, err := NewClient(Config{RESTURL: "http://127.0.0.1:1/APITrade", WSURL: "ws://127.0.0.1:1/x"})
	must(t, err)
	for name, sc := range map[string]StreamConfig{
		"bad depth":         {Instruments: []exchange.Instrument{ethBTC}, Depth: 7},
		"books without ids": {Depth: 10},
		"nothing":           {Instruments: []exchange.Instrument{ethBTC}},
		"private, no key":   {Private: true},
	} {
		if err := c.NewStream(sc).Run(context.Background()); err == nil {
			t.Errorf("%s: Run accepted it", name)
		}
	}
}

// newBenchReader builds a stream's reader with a ready ETH-BTC book, without a connection.
func newBenchReader(tb testing.TB) (*Stream, *reader) {
	c, err := NewClient(Config{RESTURL: "http://127.0.0.1:1/APITrade", WSURL: "ws://127.0.0.1:1/x"})
	if err != nil {
		tb.Fatal(err)
	}
	st := c.NewStream(StreamConfig{Instruments: []exchange.Instrument{ethBTC, btcUSDT}, Depth: 50, Trades: true})
	return st, st.newReader()
}

func BenchmarkStreamBookUpdate(b *testing.B) {
	st, rd := newBenchReader(b)
	snap := []byte(`{"type":"level2@50_snapshot","instrumentID":"ETH-BTC","buy":[` + levels("0.03", 50, -1) + `],"sell":[` + levels("0.04", 50, 1) + `],"pubTimestamp":"1542104001056"}`)
	upd := [][]byte{
		[]byte(`{"type":"level2@50_update","instrumentID":"ETH-BTC","buy":[["0.030000","3.5"],["0.029990","0"]],"sell":[["0.040010","7.25"]],"pubDate":"20181113","pubTime":"10:13:21","pubTimestamp":"1542104001556"}`),
		[]byte(`{"type":"level2@50_update","instrumentID":"ETH-BTC","buy":[["0.030000","1"],["0.029990","2"]],"sell":[["0.040010","1"]],"pubDate":"20181113","pubTime":"10:13:22","pubTimestamp":"1542104002056"}`),
	}
	now := time.Now()
	rd.handle(snap, now)
	if ev, ok := st.q.tryPop(); !ok || !isBook("ETH-BTC")(ev) {
		b.Fatalf("snapshot gave %v", ev)
	}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		rd.handle(upd[i&1], now)
		i++
		if _, ok := st.q.tryPop(); !ok {
			b.Fatal("no event")
		}
	}
}

// levels makes n levels from start in steps of 0.00001 (dir −1 down, +1 up).
func levels(start string, n, dir int) string {
	p := dec(start)
	step := dec("0.00001").Mul(dec(fmt.Sprint(dir)))
	var parts []string
	for i := range n {
		parts = append(parts, fmt.Sprintf(`["%s","%d"]`, p.StringFixed(6), i+1))
		p = p.Add(step)
	}
	return strings.Join(parts, ",")
}

func FuzzStreamFrame(f *testing.F) {
	for _, s := range []string{snapETH, snapETH2, updETH, crossETH, snapBTC, tradeMsg, insertRsp, cancelRsp, orderReturn, tradeReturn,
		`{"type":"subscribe_rsp","channel":"user","respCode":"0","respMsg":"success"}`,
		`{"type":"subscribe_rsp","channel":"level2@10","respCode":2006,"respMsg":"XRP-BTC"}`,
		`{"type":"unsubscribe_rsp","channel":{"x":1},"respCode":"x"}`,
		`{"type":"level2@10_update","instrumentID":"XRP-BTC","buy":[["1","1"]]}`,
		`{"type":"level2@10_update","instrumentID":"ETH-BTC","buy":[["0.0310001","1"]]}`,
		`{"type":"level2_snapshot","instrumentId":"ETH-BTC","buy":[[0.031,1]],"sell":[[0.032,1]],"pubTimestamp":1542104001}`,
		`{"type":"order_return"}`, `{"type":`, `[]`, `null`, ``, `{"type":"level2@10_update"`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, frame []byte) {
		st, rd := newBenchReader(t)
		rd.handle([]byte(snapETH), time.Now())
		rd.handle(frame, time.Now())
		rd.handle([]byte(updETH), time.Now())
		for {
			ev, ok := st.q.tryPop()
			if !ok {
				return
			}
			if bu, ok := ev.(exchange.BookUpdate); ok && bu.Book.Crossed() {
				t.Fatalf("crossed book handed out after %q", frame)
			}
		}
	})
}

// TestStreamLevel2Depth5: the plain "level2" channel names no depth in its type, but the
// stream subscribed it for 5 levels. A thin snapshot must not shrink the book to its own
// length: levels that enter the top 5 later are kept, so when the best level goes the next
// one is there (the exchange never resends a level it already reported).
func TestStreamLevel2Depth5(t *testing.T) {
	x := newWSExchange(t)
	st := startStream(t, x, StreamConfig{Instruments: []exchange.Instrument{ethBTC}, Depth: 5}, nil, nil)
	p := x.next(t)
	p.expect(t, "subscribe", "level2", "ETH-BTC")
	p.send(t, `{"type":"level2_snapshot","instrumentID":"ETH-BTC","buy":[["0.031","1"]],"sell":[["0.0312","1"]],"pubTimestamp":"1542104001056"}`)
	st.until(t, "snapshot", isBook("ETH-BTC"))
	p.send(t, `{"type":"level2_update","instrumentID":"ETH-BTC","buy":[["0.0309","2"],["0.0308","3"]],"sell":[],"pubTimestamp":"1542104001556"}`)
	ev, _ := st.until(t, "update", isBook("ETH-BTC"))
	if got := bookString(ev.(exchange.BookUpdate).Book); got != "b0.031x1 b0.0309x2 b0.0308x3 a0.0312x1" {
		t.Fatalf("book after adding levels: %s", got)
	}
	p.send(t, `{"type":"level2_update","instrumentID":"ETH-BTC","buy":[["0.031","0"]],"sell":[],"pubTimestamp":"1542104002056"}`)
	ev, _ = st.until(t, "removal", isBook("ETH-BTC"))
	if got := bookString(ev.(exchange.BookUpdate).Book); got != "b0.0309x2 b0.0308x3 a0.0312x1" {
		t.Fatalf("book after the best bid went: %s", got)
	}
}

// TestStreamUnreadablePrivateMessage: an order or fill event that cannot be decoded is an
// order's fate we no longer know. It must not vanish into a log line: it is reported as a
// private-stream gap (down, then up), which makes the engine reconcile.
func TestStreamUnreadablePrivateMessage(t *testing.T) {
	for _, frame := range []string{
		`{"type":"order_return","orderSysID":"1","orderStatus":"9"}`,
		`{"type":"trade_return","tradeID":"7","price":"abc"}`,
	} {
		x := newWSExchange(t)
		st := startStream(t, x, StreamConfig{Private: true}, nil, nil)
		p := x.next(t)
		p.expect(t, "subscribe", "user")
		st.until(t, "private up", isStatus(exchange.PrivateStream, true))
		p.send(t, frame, orderReturn)
		ev, _ := st.until(t, "private down", isStatus(exchange.PrivateStream, false))
		if r := ev.(exchange.StreamStatus).Reason; !strings.Contains(r, "unreadable") {
			t.Fatalf("reason %q", r)
		}
		_, skipped := st.until(t, "private up again", isStatus(exchange.PrivateStream, true))
		if len(skipped) != 0 {
			t.Fatalf("events between down and up: %s", describeEvents(skipped))
		}
		st.until(t, "the next order", isType[exchange.OrderUpdate])
	}
}

// The login's answer names its channel as a string or echoes the request's channel object;
// either way a refusal is recognised as the user channel's, and the object's text (it holds
// the signature) is not kept.
func TestDecodeAck(t *testing.T) {
	tests := []struct {
		frame   string
		channel string
		code    int
	}{
		{`{"type":"subscribe_rsp","channel":"user","respCode":"1000","respMsg":"bad"}`, "user", 1000},
		{`{"type":"subscribe_rsp","channel":{"user":["key","SIGNATURE","HMAC"]},"respCode":1000}`, "user", 1000},
		{`{"type":"subscribe_rsp","channel ":{" level2@50":["ETH-BTC"]},"respCode":"0"}`, "level2@50", 0},
		{`{"type":"subscribe_rsp","channel":["SIGNATURE"],"respCode":"0"}`, "?", 0},
	}
	for _, tt := range tests {
		a, err := decodeAck([]byte(tt.frame))
		if err != nil {
			t.Fatalf("%s: %v", tt.frame, err)
		}
		if a.channel != tt.channel || a.code != tt.code || strings.Contains(a.channel+a.msg, "SIGNATURE") {
			t.Errorf("%s: %+v, want channel %q code %d", tt.frame, a, tt.channel, tt.code)
		}
	}
	if _, err := decodeAck([]byte(`{"type":"subscribe_rsp","channel":"user"}`)); err == nil {
		t.Error("an ack without respCode was accepted")
	}
}

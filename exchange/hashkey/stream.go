package hashkey

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"
	"go.uber.org/zap"

	"github.com/mmd-dev/mmd/exchange"
)

// maxFrame caps one WebSocket message; a 50-level snapshot is about 4 KB.
const maxFrame = 1 << 20

// StreamConfig says what a Stream subscribes to.
type StreamConfig struct {
	Instruments []exchange.Instrument
	// Depth is the book depth: 5, 10, 20 or 50 (channels level2, level2@10, level2@20,
	// level2@50); 0 subscribes no books.
	Depth   int
	Trades  bool // public trades (channel ticker)
	Private bool // log in to the account's order and fill stream (channel user)
}

// Stream is one WebSocket connection carrying the public channels and the private login
// together (the exchange serves both on one endpoint, and one connection means one thing to
// reconnect). It keeps a book per instrument and turns everything into exchange.Events.
//
// Books: after every (re)connect each book is discarded (BookInvalid) and is usable again
// only from a fresh snapshot, because updates carry no sequence number and a gap cannot be
// seen. A crossed book, or an update that cannot be applied, invalidates the book and
// resubscribes that instrument's level2 channel (at most once a second per instrument); a
// book that has no snapshot some seconds after its subscription is resubscribed too.
//
// Private login: the exchange's documents do not say whether it acknowledges a login. A
// subscribe_rsp for channel "user" with respCode 0 (the simulator sends one) or any private
// message marks the private stream up; a non-zero respCode marks it down with that code and
// the login is retried, after a minute or more if the code is fatal (a bad key stays bad
// until someone fixes it). If nothing at all comes back, the private stream counts as up
// after a short grace period.
//
// Heartbeat: a ping every 15 s; if nothing (pong or data) arrives for 15 s + 10 s the
// connection is dropped and redialled. Server pings are answered. Reconnects back off
// exponentially with jitter.
type Stream struct {
	c       *Client
	sc      StreamConfig
	channel string // level2 channel name, "" without books
	q       *eventQueue
	events  chan exchange.Event
	log     *zap.Logger
	started atomic.Bool

	// Timing; tests shorten them.
	pingInterval    time.Duration
	pongTimeout     time.Duration
	writeTimeout    time.Duration
	backoffMin      time.Duration
	backoffMax      time.Duration
	loginGrace      time.Duration
	loginRetry      time.Duration // after a non-fatal refusal, doubling to loginRetryMax
	loginRetryFatal time.Duration // after a fatal refusal, doubling to loginRetryMax
	loginRetryMax   time.Duration
	resubInterval   time.Duration // least time between two resubscriptions of one instrument
	snapshotTimeout time.Duration // resubscribe a book that got no snapshot for this long
	rand            func() float64

	mu   sync.Mutex
	conn *websocket.Conn // the current connection, for Drop
}

// NewStream prepares a stream; Run connects it.
func (c *Client) NewStream(sc StreamConfig) *Stream {
	sc.Instruments = append([]exchange.Instrument(nil), sc.Instruments...)
	return &Stream{
		c:               c,
		sc:              sc,
		channel:         level2Channel(sc.Depth),
		q:               newEventQueue(c.log),
		events:          make(chan exchange.Event),
		log:             c.log,
		pingInterval:    15 * time.Second,
		pongTimeout:     10 * time.Second,
		writeTimeout:    10 * time.Second,
		backoffMin:      500 * time.Millisecond,
		backoffMax:      30 * time.Second,
		loginGrace:      3 * time.Second,
		loginRetry:      5 * time.Second,
		loginRetryFatal: time.Minute,
		loginRetryMax:   10 * time.Minute,
		resubInterval:   time.Second,
		snapshotTimeout: 10 * time.Second,
		rand:            rand.Float64,
	}
}

func level2Channel(depth int) string {
	switch depth {
	case 5:
		return "level2"
	case 10, 20, 50:
		return "level2@" + strconv.Itoa(depth)
	}
	return ""
}

// Events delivers the stream's events, each stamped with its local receive time. Book
// updates are conflated; nothing else is dropped. It is closed when Run returns.
func (s *Stream) Events() <-chan exchange.Event { return s.events }

// Drop closes the current connection now, as a network failure would; Run reconnects.
func (s *Stream) Drop() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.conn != nil {
		s.conn.Close()
	}
}

func (s *Stream) setConn(c *websocket.Conn) {
	s.mu.Lock()
	s.conn = c
	s.mu.Unlock()
}

func (s *Stream) check() error {
	sc := s.sc
	if sc.Depth != 0 && s.channel == "" {
		return fmt.Errorf("stream: depth %d, want 5, 10, 20 or 50 (or 0 for no books)", sc.Depth)
	}
	if (sc.Depth != 0 || sc.Trades) && len(sc.Instruments) == 0 {
		return errors.New("stream: books or trades need instruments")
	}
	if sc.Depth == 0 && !sc.Trades && !sc.Private {
		return errors.New("stream: nothing to subscribe")
	}
	if sc.Private && s.c.signer == nil {
		return fmt.Errorf("stream: private login: %w", errNoCredentials)
	}
	return nil
}

func (s *Stream) public() bool { return s.sc.Depth != 0 || s.sc.Trades }

// Run connects, subscribes and reads until ctx is done, reconnecting (with backoff) after
// every failure; it returns nil when ctx is done and an error only for a config that can
// never work. It owns all its goroutines and waits for them, then closes Events (also when
// it refuses the config). Call it once. Events still queued when ctx ends are not
// delivered, so keep ctx alive while anyone still needs order events (shutdown waits for
// its cancels' confirmations on this stream).
func (s *Stream) Run(ctx context.Context) error {
	if !s.started.CompareAndSwap(false, true) {
		return errors.New("stream: Run called twice")
	}
	if err := s.check(); err != nil {
		close(s.events)
		return err
	}
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		s.q.run(ctx, s.events)
	}()
	defer func() {
		wg.Wait()
		close(s.events)
	}()

	rd := s.newReader()
	failures := 0
	for {
		start := time.Now() // pacing reconnects only: real time even under a fake clock
		established, err := s.session(ctx, rd)
		if ctx.Err() != nil {
			return nil
		}
		if established && time.Since(start) > s.backoffMax {
			failures = 0 // it ran well for a while: this is a new failure, not a flapping link
		}
		failures++
		d := s.backoff(failures)
		s.log.Warn("stream_disconnected", zap.Error(err), zap.Bool("was_connected", established),
			zap.Int("failures", failures), zap.Duration("retry_in", d))
		t := time.NewTimer(d)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil
		case <-t.C:
		}
	}
}

// backoff is exponential in the number of consecutive failures, with jitter over its upper
// half so that many clients dropped at once do not come back at once.
func (s *Stream) backoff(failures int) time.Duration {
	d := s.backoffMin << min(failures-1, 30)
	if d > s.backoffMax || d <= 0 {
		d = s.backoffMax
	}
	return d/2 + time.Duration(s.rand()*float64(d/2))
}

// session is one connection's life. established reports whether the dial succeeded (and so
// the streams went up and must now be reported down).
func (s *Stream) session(ctx context.Context, rd *reader) (established bool, err error) {
	dialer := websocket.Dialer{
		NetDialContext:   s.c.dial,
		TLSClientConfig:  s.c.tlsConf,
		HandshakeTimeout: 10 * time.Second,
	}
	conn, resp, err := dialer.DialContext(ctx, s.c.ws, nil)
	if resp != nil && resp.Body != nil {
		resp.Body.Close()
	}
	if err != nil {
		if resp != nil {
			return false, fmt.Errorf("dial: HTTP %d: %w", resp.StatusCode, err)
		}
		return false, fmt.Errorf("dial: %w", err)
	}
	conn.SetReadLimit(maxFrame)
	s.setConn(conn)
	defer s.setConn(nil)
	s.log.Info("stream_connected", zap.Int("instruments", len(s.sc.Instruments)), zap.String("books", s.channel),
		zap.Bool("trades", s.sc.Trades), zap.Bool("private", s.sc.Private))

	sess := &session{
		s:       s,
		conn:    conn,
		resub:   make(chan string, 256),
		relogin: make(chan time.Duration, 1),
	}
	rd.start(sess, s.c.clock())
	if s.public() {
		s.q.push(exchange.StreamStatus{Stream: exchange.PublicStream, Up: true, Received: s.c.clock()})
	}

	sctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	var werr error
	wg.Add(2)
	go func() {
		defer wg.Done()
		werr = sess.writeLoop(sctx)
		cancel() // a failed write ends the session
	}()
	go func() {
		defer wg.Done()
		<-sctx.Done()
		// On shutdown say goodbye; either way closing the socket ends the reader.
		if ctx.Err() != nil {
			msg := websocket.FormatCloseMessage(websocket.CloseNormalClosure, "")
			_ = conn.WriteControl(websocket.CloseMessage, msg, time.Now().Add(time.Second))
		}
		conn.Close()
	}()
	rerr := s.readLoop(conn, rd)
	cancel()
	wg.Wait()

	err = rerr
	if werr != nil {
		err = werr
	}
	reason := "stream disconnected"
	if err != nil && ctx.Err() == nil {
		reason = "stream disconnected: " + err.Error()
	}
	rd.disconnected(reason, s.c.clock())
	return true, err
}

// readLoop reads frames into one reused buffer and hands them to the reader. A frame never
// waits for the consumer: events go to the unbounded queue.
func (s *Stream) readLoop(conn *websocket.Conn, rd *reader) error {
	alive := func() {
		_ = conn.SetReadDeadline(time.Now().Add(s.pingInterval + s.pongTimeout))
	}
	alive()
	conn.SetPongHandler(func(string) error {
		alive()
		rd.tick(s.c.clock())
		return nil
	})
	conn.SetPingHandler(func(data string) error {
		alive()
		err := conn.WriteControl(websocket.PongMessage, []byte(data), time.Now().Add(s.writeTimeout))
		if errors.Is(err, websocket.ErrCloseSent) {
			return nil
		}
		return err
	})
	var buf bytes.Buffer
	for {
		_, r, err := conn.NextReader()
		if err != nil {
			return err
		}
		buf.Reset()
		if _, err := buf.ReadFrom(r); err != nil {
			return err
		}
		alive()
		rd.handle(buf.Bytes(), s.c.clock())
	}
}

// session is the state one connection shares between its reader and its writer.
type session struct {
	s       *Stream
	conn    *websocket.Conn
	resub   chan string        // reader → writer: resubscribe this instrument's book
	relogin chan time.Duration // reader → writer: log in again after this long

	mu       sync.Mutex
	login    loginState
	refusals int // consecutive login refusals
}

type loginState uint8

const (
	loginNone loginState = iota
	loginPending
	loginUp
	loginRefused
)

// requestResub asks the writer to resubscribe an instrument's book. It never blocks: if the
// writer is that far behind, the connection is dropped and everything resubscribes.
func (ss *session) requestResub(id string) {
	select {
	case ss.resub <- id:
	default:
		ss.conn.Close()
	}
}

// writeLoop owns every write but pongs and pings' control frames: subscriptions, the
// login, resubscriptions, pings.
func (ss *session) writeLoop(ctx context.Context) error {
	s := ss.s
	for _, msg := range s.subscriptions() {
		if err := ss.write(msg); err != nil {
			return err
		}
	}
	if s.sc.Private {
		if err := ss.sendLogin(); err != nil {
			return err
		}
	}
	ping := time.NewTicker(s.pingInterval)
	defer ping.Stop()
	var (
		graceT, loginT, resubT *time.Timer
		graceC, loginC, resubC <-chan time.Time
		lastResub              = make(map[string]time.Time)
		pendingResub           = make(map[string]bool)
	)
	stopTimer := func(t *time.Timer) {
		if t != nil {
			t.Stop()
		}
	}
	defer func() { stopTimer(graceT); stopTimer(loginT); stopTimer(resubT) }()
	if s.sc.Private {
		graceT = time.NewTimer(s.loginGrace)
		graceC = graceT.C
	}
	// resubscribe sends the due resubscriptions and arms the timer for the rest.
	resubscribe := func(now time.Time) error {
		var next time.Duration
		for id := range pendingResub {
			wait := s.resubInterval - now.Sub(lastResub[id])
			if wait > 0 {
				if next == 0 || wait < next {
					next = wait
				}
				continue
			}
			delete(pendingResub, id)
			lastResub[id] = now
			s.log.Info("stream_resubscribe", zap.String("instrument", id), zap.String("channel", s.channel))
			if err := ss.write(wsMessage(`unsubscribe`, s.channel, id)); err != nil {
				return err
			}
			if err := ss.write(wsMessage(`subscribe`, s.channel, id)); err != nil {
				return err
			}
		}
		if next > 0 {
			stopTimer(resubT)
			resubT = time.NewTimer(next)
			resubC = resubT.C
		}
		return nil
	}
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-ping.C:
			if err := ss.conn.WriteControl(websocket.PingMessage, nil, time.Now().Add(s.writeTimeout)); err != nil {
				return fmt.Errorf("ping: %w", err)
			}
		case id := <-ss.resub:
			pendingResub[id] = true
			if err := resubscribe(time.Now()); err != nil {
				return err
			}
		case <-resubC:
			resubC = nil
			if err := resubscribe(time.Now()); err != nil {
				return err
			}
		case <-graceC:
			graceC = nil
			ss.graceExpired()
		case d := <-ss.relogin:
			stopTimer(loginT)
			loginT = time.NewTimer(d)
			loginC = loginT.C
		case <-loginC:
			loginC = nil
			if err := ss.sendLogin(); err != nil {
				return err
			}
			stopTimer(graceT)
			graceT = time.NewTimer(s.loginGrace)
			graceC = graceT.C
		}
	}
}

func (ss *session) write(msg []byte) error {
	_ = ss.conn.SetWriteDeadline(time.Now().Add(ss.s.writeTimeout))
	if err := ss.conn.WriteMessage(websocket.TextMessage, msg); err != nil {
		return fmt.Errorf("write: %w", err)
	}
	return nil
}

func (ss *session) sendLogin() error {
	sig, err := ss.s.c.signer.SignWSLogin()
	if err != nil {
		return fmt.Errorf("login: %w", err)
	}
	msg, err := json.Marshal(wsRequest{Type: "subscribe", Channel: map[string][]string{
		"user": {ss.s.c.signer.APIKey(), sig, string(ss.s.c.signer.AuthType())},
	}})
	if err != nil {
		return fmt.Errorf("login: %w", err)
	}
	ss.mu.Lock()
	if ss.login != loginUp {
		ss.login = loginPending
	}
	ss.mu.Unlock()
	ss.s.log.Info("stream_login_sent", zap.String("auth_type", string(ss.s.c.signer.AuthType())))
	return ss.write(msg)
}

// loginAck handles the answer to a login: respCode 0 is success; anything else is a
// refusal, reported as the private stream down, and the login is tried again later.
func (ss *session) loginAck(code int, msg string, received time.Time) {
	s := ss.s
	ss.mu.Lock()
	defer ss.mu.Unlock()
	if code == 0 {
		ss.refusals = 0
		ss.up("acknowledged", received)
		return
	}
	ss.refusals++
	class := ClassOf(code)
	base := s.loginRetry
	if class == ClassFatal {
		base = s.loginRetryFatal
	}
	retry := min(base<<min(ss.refusals-1, 20), s.loginRetryMax)
	reason := fmt.Sprintf("login refused: respCode %d (%s): %s", code, CodeText(code), msg)
	s.log.Error("stream_login_failed", zap.Int("code", code), zap.Stringer("class", class),
		zap.String("message", msg), zap.Duration("retry_in", retry))
	if ss.login != loginRefused {
		ss.login = loginRefused
		s.q.push(exchange.StreamStatus{Stream: exchange.PrivateStream, Reason: reason, Received: received})
	}
	select {
	case ss.relogin <- retry:
	default:
	}
}

// sawPrivate: a private message proves the login worked, acknowledged or not.
func (ss *session) sawPrivate(received time.Time) {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	if ss.login == loginPending {
		ss.up("private message received", received)
	}
}

// privateGap reports a private message that could not be read as a gap in the private
// stream (down, then up again if it was up), so that the order's fate is reconciled rather
// than silently lost.
func (ss *session) privateGap(reason string, received time.Time) {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	switch ss.login {
	case loginUp:
		ss.s.q.push(exchange.StreamStatus{Stream: exchange.PrivateStream, Reason: reason, Received: received})
		ss.s.q.push(exchange.StreamStatus{Stream: exchange.PrivateStream, Up: true, Received: received})
	case loginPending:
		// The up that follows the login comes after this down, and so reconciles.
		ss.s.q.push(exchange.StreamStatus{Stream: exchange.PrivateStream, Reason: reason, Received: received})
	}
}

// graceExpired: no refusal within the grace period counts as logged in.
func (ss *session) graceExpired() {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	if ss.login == loginPending {
		ss.up("no answer within the grace period", ss.s.c.clock())
	}
}

// up marks the private stream up; called with ss.mu held so that the StreamStatus is
// queued before any private event that follows it.
func (ss *session) up(how string, received time.Time) {
	if ss.login == loginUp {
		return
	}
	ss.login = loginUp
	ss.s.log.Info("stream_login_ok", zap.String("how", how))
	ss.s.q.push(exchange.StreamStatus{Stream: exchange.PrivateStream, Up: true, Received: received})
}

type wsRequest struct {
	Type    string              `json:"type"`
	Channel map[string][]string `json:"channel"`
}

// subscriptions returns the subscribe requests of the public channels.
func (s *Stream) subscriptions() [][]byte {
	ids := make([]string, len(s.sc.Instruments))
	for i, in := range s.sc.Instruments {
		ids[i] = in.ID
	}
	var out [][]byte
	if s.channel != "" {
		out = append(out, wsMessage("subscribe", s.channel, ids...))
	}
	if s.sc.Trades {
		out = append(out, wsMessage("subscribe", "ticker", ids...))
	}
	return out
}

// wsMessage builds {"type":typ,"channel":{channel:[ids…]}}.
func wsMessage(typ, channel string, ids ...string) []byte {
	b, _ := json.Marshal(wsRequest{Type: typ, Channel: map[string][]string{channel: ids}}) // strings only: cannot fail
	return b
}

// reader turns frames into events. It is owned by Run's goroutine and outlives sessions.
type reader struct {
	s         *Stream
	dec       *Level2Decoder
	books     map[string]*bookState
	logs      logLimiter
	sess      *session // the current connection; nil in benchmarks
	lastCheck time.Time
}

type bookState struct {
	book          *exchange.Book
	awaiting      bool      // unusable until the next snapshot
	awaitingSince time.Time // when it last asked for one
}

func (s *Stream) newReader() *reader {
	r := &reader{
		s:     s,
		dec:   NewLevel2Decoder(s.sc.Instruments),
		books: make(map[string]*bookState),
		logs:  logLimiter{log: s.log, every: time.Minute},
	}
	if s.channel != "" {
		for _, in := range s.sc.Instruments {
			r.books[in.ID] = &bookState{book: exchange.NewBook(in, max(s.sc.Depth, 50)), awaiting: true}
		}
	}
	return r
}

// start attaches the reader to a new connection: every book waits for its snapshot.
func (r *reader) start(sess *session, now time.Time) {
	r.sess = sess
	for _, bs := range r.books {
		bs.book.Reset()
		bs.awaiting, bs.awaitingSince = true, now
	}
}

// disconnected reports the streams down and every book invalid.
func (r *reader) disconnected(reason string, now time.Time) {
	r.sess = nil
	if r.s.public() {
		r.s.q.push(exchange.StreamStatus{Stream: exchange.PublicStream, Reason: reason, Received: now})
	}
	if r.s.sc.Private {
		r.s.q.push(exchange.StreamStatus{Stream: exchange.PrivateStream, Reason: reason, Received: now})
	}
	for _, in := range r.s.sc.Instruments {
		if bs := r.books[in.ID]; bs != nil {
			bs.book.Reset()
			bs.awaiting, bs.awaitingSince = true, now
			r.s.q.push(exchange.BookInvalid{Instrument: in.ID, Reason: reason, Received: now})
		}
	}
}

// tick resubscribes books still waiting for a snapshot long after they asked.
func (r *reader) tick(now time.Time) {
	if r.sess == nil || now.Sub(r.lastCheck) < time.Second {
		return
	}
	r.lastCheck = now
	for id, bs := range r.books {
		if bs.awaiting && now.Sub(bs.awaitingSince) >= r.s.snapshotTimeout {
			bs.awaitingSince = now
			r.logs.warn("stream_snapshot_missing", id, zap.String("instrument", id))
			r.sess.requestResub(id)
		}
	}
}

// handle dispatches one frame. It never panics on bad input: a malformed or unknown
// message is logged (at most once a minute per kind) and skipped.
func (r *reader) handle(frame []byte, received time.Time) {
	r.tick(received)
	typ, ok := MessageType(frame)
	if !ok {
		r.logs.warn("stream_message_malformed", "notype", zap.String("error", "no type"), excerptField(frame))
		if wireFirst(frame) == '{' && !json.Valid(frame) {
			// A broken object whose "type" we could not reach (keys come in any order): it may
			// have been a book update or an order's fate. Fail closed as for any unreadable
			// level2 or private message.
			reason := "unreadable message without a readable type"
			for id, bs := range r.books {
				r.invalidate(id, bs, reason, received)
			}
			if r.sess != nil {
				r.sess.privateGap(reason, received)
			}
		}
		return
	}
	if _, ok := IsLevel2(typ); ok {
		r.level2(frame, typ, received)
		return
	}
	var err error
	switch typ {
	case "trade_detail":
		var t exchange.Trade
		if t, err = DecodeTrade(frame); err == nil {
			r.s.q.push(exchange.TradeEvent{Trade: t, Received: received})
		}
	case "order_return":
		var o exchange.Order
		if o, err = DecodeOrder(frame); err == nil {
			r.private(received)
			r.s.q.push(exchange.OrderUpdate{Order: o, Received: received})
		}
	case "trade_return":
		var f exchange.Fill
		if f, err = DecodeFill(frame); err == nil {
			r.private(received)
			r.s.q.push(exchange.FillEvent{Fill: f, Received: received})
		}
	case "order_insert_rsp":
		var e exchange.InsertRejected
		if e, err = DecodeInsertRejected(frame); err == nil {
			r.private(received)
			e.Received = received
			r.s.q.push(e)
		}
	case "order_cancel_rsp":
		var e exchange.CancelRejected
		if e, err = DecodeCancelRejected(frame); err == nil {
			r.private(received)
			e.Received = received
			r.s.q.push(e)
		}
	case "subscribe_rsp", "unsubscribe_rsp":
		err = r.ack(typ, frame, received)
	default:
		r.logs.warn("stream_message_unknown", "type:"+typ, zap.String("type", typ), excerptField(frame))
		return
	}
	if err != nil {
		// A private message we cannot read may be an order's fate we now do not know; the
		// engine reconciles with getOrder after private-stream gaps, so it is reported as
		// one, and this log line is the reason to look.
		r.logs.warn("stream_message_malformed", "type:"+typ, zap.String("type", typ), zap.Error(err), excerptField(frame))
		if typ != "trade_detail" && typ != "subscribe_rsp" && typ != "unsubscribe_rsp" && r.sess != nil {
			r.sess.privateGap("unreadable "+typ+": "+err.Error(), received)
		}
	}
}

func (r *reader) private(received time.Time) {
	if r.sess != nil {
		r.sess.sawPrivate(received)
	}
}

// level2 decodes and applies a book message: the hot path, which allocates only the
// snapshot handed out.
func (r *reader) level2(frame []byte, typ string, received time.Time) {
	m, err := r.dec.Decode(frame)
	if err != nil {
		if errors.Is(err, ErrUnknownInstrument) && m != nil {
			r.logs.warn("stream_unknown_instrument", "inst:"+string(m.InstrumentID), zap.ByteString("instrument", m.InstrumentID))
			return
		}
		// An update we cannot read leaves its book silently wrong: invalidate it, or every
		// book if the frame does not even say which one.
		r.logs.warn("stream_message_malformed", "type:"+typ, zap.String("type", typ), zap.Error(err), excerptField(frame))
		if id, ok := frameInstrument(frame); ok {
			if bs := r.books[id]; bs != nil {
				r.invalidate(id, bs, "unreadable level2 message: "+err.Error(), received)
			}
			return
		}
		for id, bs := range r.books {
			r.invalidate(id, bs, "unreadable level2 message: "+err.Error(), received)
		}
		return
	}
	id := m.Instrument.ID
	bs := r.books[id]
	if bs == nil {
		return // a book message although we subscribed no books
	}
	if m.Kind == Level2Update && bs.awaiting {
		return // left over from before the (re)subscription: wait for the snapshot
	}
	m.Received = received
	if m.Depth == 0 {
		// Plain "level2" names no depth, but we subscribed it for sc.Depth (5) levels: without
		// this a thin snapshot would cap the book at its own length and drop levels that enter
		// the top later, which the exchange never sends again.
		m.Depth = r.s.sc.Depth
	}
	if err := ApplyLevel2(bs.book, m); err != nil {
		r.invalidate(id, bs, "cannot apply level2 message: "+err.Error(), received)
		return
	}
	if bs.book.Crossed() {
		r.invalidate(id, bs, "crossed book", received)
		return
	}
	bs.awaiting = false
	r.s.q.pushBook(bs.book.Snapshot(), received)
}

// invalidate discards a book, tells the consumer and resubscribes it.
func (r *reader) invalidate(id string, bs *bookState, reason string, received time.Time) {
	bs.book.Reset()
	bs.awaiting, bs.awaitingSince = true, received
	r.s.q.push(exchange.BookInvalid{Instrument: id, Reason: reason, Received: received})
	r.logs.warn("stream_book_invalid", "book:"+id, zap.String("instrument", id), zap.String("reason", reason))
	if r.sess != nil {
		r.sess.requestResub(id)
	}
}

// ack handles subscribe_rsp/unsubscribe_rsp. Only the simulator is known to send them.
func (r *reader) ack(typ string, frame []byte, received time.Time) error {
	a, err := decodeAck(frame)
	if err != nil {
		return err
	}
	if a.channel == "user" && typ == "subscribe_rsp" {
		if r.sess != nil {
			r.sess.loginAck(a.code, a.msg, received)
		}
		return nil
	}
	if a.code != 0 {
		r.logs.warn("stream_subscribe_refused", typ+":"+a.channel+":"+a.msg, zap.String("type", typ),
			zap.String("channel", a.channel), zap.Int("code", a.code), zap.String("message", a.msg))
	}
	return nil
}

type ack struct {
	channel string
	code    int
	msg     string
}

// decodeAck reads {"type":"subscribe_rsp","channel":"user","respCode":"0","respMsg":"…"}
// tolerantly: keys trimmed, respCode a string or a number, channel a string or the request's
// own channel object echoed back ({"user":[key, signature, type]}: its one key is the
// channel). An object's text is never kept: for the login it holds the signature, and a
// refusal missed for want of the name "user" would count the private stream as up.
func decodeAck(frame []byte) (ack, error) {
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(frame, &raw); err != nil {
		return ack{}, fmt.Errorf("ack: %w", err)
	}
	var a ack
	haveCode := false
	for k, v := range raw {
		switch strings.TrimSpace(k) {
		case "channel":
			if json.Unmarshal(v, &a.channel) == nil {
				break
			}
			var obj map[string]json.RawMessage
			if json.Unmarshal(v, &obj) == nil && len(obj) == 1 {
				for name := range obj {
					a.channel = strings.TrimSpace(name)
				}
			} else {
				a.channel = "?"
			}
		case "respCode":
			var s string
			if err := json.Unmarshal(v, &s); err != nil {
				s = string(v)
			}
			n, err := strconv.Atoi(strings.TrimSpace(s))
			if err != nil {
				return ack{}, fmt.Errorf("ack: respCode %s", v)
			}
			a.code, haveCode = n, true
		case "respMsg":
			if err := json.Unmarshal(v, &a.msg); err != nil {
				a.msg = string(v)
			}
		}
	}
	if !haveCode {
		return ack{}, errors.New("ack: no respCode")
	}
	return a, nil
}

// frameInstrument finds the instrumentID of a frame the fast decoder refused (slow path).
func frameInstrument(frame []byte) (string, bool) {
	var raw map[string]json.RawMessage
	if json.Unmarshal(frame, &raw) != nil {
		return "", false
	}
	for k, v := range raw {
		if k = strings.TrimSpace(k); k == "instrumentID" || k == "instrumentId" {
			var id string
			if json.Unmarshal(v, &id) == nil {
				return id, true
			}
		}
	}
	return "", false
}

func excerptField(frame []byte) zap.Field {
	const n = 256
	if len(frame) > n {
		return zap.ByteString("frame", frame[:n])
	}
	return zap.ByteString("frame", frame)
}

// logLimiter logs each kind of bad input at most once per period, with the number of
// repeats it held back, so that a broken feed cannot flood the log. One goroutine owns it.
type logLimiter struct {
	log   *zap.Logger
	every time.Duration
	last  map[string]limitedLog
}

type limitedLog struct {
	at         time.Time
	suppressed int
}

func (l *logLimiter) warn(msg, key string, fields ...zap.Field) {
	now := time.Now() // pacing the log only; decides nothing
	k := msg + "|" + key
	if l.last == nil || len(l.last) > 1000 {
		l.last = make(map[string]limitedLog)
	}
	e, ok := l.last[k]
	if ok && now.Sub(e.at) < l.every {
		e.suppressed++
		l.last[k] = e
		return
	}
	if e.suppressed > 0 {
		fields = append(fields, zap.Int("suppressed", e.suppressed))
	}
	l.last[k] = limitedLog{at: now}
	l.log.Warn(msg, fields...)
}

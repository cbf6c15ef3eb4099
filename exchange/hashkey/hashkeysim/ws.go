package hashkeysim

import (
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"sync"
	"time"

	"github.com/gorilla/websocket"
	"go.uber.org/zap"
)

const (
	// sendQueue bounds what waits for a slow reader; a connection that falls this far behind
	// is dropped, as exchanges do, rather than letting memory grow.
	sendQueue = 8192
	// maxWSMessage caps a request frame; a larger one closes the connection cleanly.
	maxWSMessage = 64 << 10
	writeTimeout = 10 * time.Second
)

// wsConn is one WebSocket connection. Its reader runs on the HTTP handler's goroutine; its
// writer is a goroutine that handler starts and waits for.
type wsConn struct {
	s         *Server
	ws        *websocket.Conn
	remote    string
	out       chan outMsg
	done      chan struct{}
	closeOnce sync.Once
	user      string // API key logged in as; guarded by hub.mu
}

// outMsg is a queued message, or with flushed set a flush marker: on reaching it the writer
// sends on flushed when it began writing the message before it (zero if none).
type outMsg struct {
	data    []byte
	due     time.Time // Latency fault: not before
	flushed chan time.Time
}

func (c *wsConn) enqueue(data []byte) { c.enqueueMsg(outMsg{data: data}) }

// enqueueMsg never blocks: it is called with the hub lock held.
func (c *wsConn) enqueueMsg(m outMsg) bool {
	if m.data != nil {
		if lat := c.s.faults.latencyNow(); lat > 0 {
			m.due = time.Now().Add(lat)
		}
	}
	select {
	case <-c.done:
		return false
	default:
	}
	select {
	case c.out <- m:
		return true
	default:
		c.s.log.Warn("sim_ws_slow_consumer", zap.String("remote", c.remote), zap.Int("queued", len(c.out)))
		c.close()
		return false
	}
}

// close drops the connection; safe from any goroutine, any number of times.
func (c *wsConn) close() {
	c.closeOnce.Do(func() {
		close(c.done)
		if c.ws != nil { // nil only in the fuzz test, which drives handle without a socket
			c.ws.Close()
		}
	})
}

func (c *wsConn) writeLoop() {
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	defer timer.Stop()
	var started time.Time // when the last message's write began
	for {
		var m outMsg
		select {
		case <-c.done:
			return
		case m = <-c.out:
		}
		if m.flushed != nil {
			m.flushed <- started // capacity 1: never blocks
			continue
		}
		if wait := time.Until(m.due); !m.due.IsZero() && wait > 0 {
			timer.Reset(wait)
			select {
			case <-timer.C:
			case <-c.done:
				return
			}
		}
		c.ws.SetWriteDeadline(time.Now().Add(writeTimeout))
		started = c.s.now()
		if err := c.ws.WriteMessage(websocket.TextMessage, m.data); err != nil {
			c.close()
			return
		}
	}
}

// serveWS runs one connection until it closes.
func (s *Server) serveWS(w http.ResponseWriter, r *http.Request) {
	if !s.track() {
		http.Error(w, "shutting down", http.StatusServiceUnavailable)
		return
	}
	defer s.wg.Done()
	ws, err := s.upgrader.Upgrade(w, r, nil)
	if err != nil {
		s.log.Debug("sim_ws_upgrade_failed", zap.String("remote", r.RemoteAddr), zap.Error(err))
		return // Upgrade has answered the client
	}
	c := &wsConn{s: s, ws: ws, remote: r.RemoteAddr, out: make(chan outMsg, sendQueue), done: make(chan struct{})}
	s.hub.add(c)
	select {
	case <-s.quit: // Close ran between track and add: it did not see this connection
		c.close()
	default:
	}
	var writer sync.WaitGroup
	writer.Go(c.writeLoop)
	s.log.Info("sim_ws_connected", zap.String("remote", c.remote))
	err = c.readLoop()
	s.hub.remove(c)
	c.close()
	writer.Wait()
	s.log.Info("sim_ws_closed", zap.String("remote", c.remote), zap.Error(err))
}

// readLoop reads requests until the connection fails or stays silent past the idle timeout.
// Any frame counts as a heartbeat: requests, pings (answered with a pong) and pongs (some
// clients send pongs instead of pings).
func (c *wsConn) readLoop() error {
	extend := func() { c.ws.SetReadDeadline(time.Now().Add(c.s.idle)) }
	c.ws.SetReadLimit(maxWSMessage)
	extend()
	c.ws.SetPingHandler(func(data string) error {
		extend()
		// A failed pong surfaces on the next read or write; the heartbeat itself is fine.
		_ = c.ws.WriteControl(websocket.PongMessage, []byte(data), time.Now().Add(time.Second))
		return nil
	})
	c.ws.SetPongHandler(func(string) error {
		extend()
		return nil
	})
	for {
		_, data, err := c.ws.ReadMessage()
		if err != nil {
			return err
		}
		extend()
		c.handle(data)
	}
}

// wsRequest is a subscribe or unsubscribe. Channel values stay raw so that one malformed
// channel is answered on its own without failing the others.
type wsRequest struct {
	Type    string                     `json:"type"`
	Channel map[string]json.RawMessage `json:"channel"`
}

// parseWSRequest reads a request frame; key order and spacing do not matter.
func parseWSRequest(data []byte) (wsRequest, error) {
	var req wsRequest
	if err := json.Unmarshal(data, &req); err != nil {
		return req, fmt.Errorf("malformed request: %w", err)
	}
	if req.Type != "subscribe" && req.Type != "unsubscribe" {
		return req, fmt.Errorf("unknown request type %q", req.Type)
	}
	if len(req.Channel) == 0 {
		return req, fmt.Errorf("%s without a channel", req.Type)
	}
	return req, nil
}

func (c *wsConn) reply(typ, channel, instrumentID string, code int, msg string) {
	c.enqueue(appendSubscribeRsp(make([]byte, 0, 128), typ, channel, instrumentID, code, msg))
}

func (c *wsConn) handle(data []byte) {
	req, err := parseWSRequest(data)
	if err != nil {
		typ := "subscribe_rsp"
		if req.Type == "unsubscribe" {
			typ = "unsubscribe_rsp"
		}
		c.s.log.Debug("sim_ws_bad_request", zap.String("remote", c.remote), zap.Error(err))
		c.reply(typ, "", "", 1007, err.Error())
		return
	}
	rsp := req.Type + "_rsp"
	names := make([]string, 0, len(req.Channel))
	for name := range req.Channel {
		names = append(names, name)
	}
	slices.Sort(names) // a fixed order for several channels in one request
	for _, name := range names {
		var args []string
		if err := json.Unmarshal(req.Channel[name], &args); err != nil {
			c.reply(rsp, name, "", 1007, "channel value must be an array of strings")
			continue
		}
		if name == "user" {
			c.handleUser(req.Type, args)
			continue
		}
		ch, ok := channelByName(name)
		if !ok {
			c.reply(rsp, name, "", 1007, fmt.Sprintf("unknown channel %q", name))
			continue
		}
		c.handleChannel(req.Type, ch, args)
	}
}

// handleChannel (un)subscribes a market-data channel. An unknown instrument is answered on
// its own (2006) and does not stop the rest of the list.
func (c *wsConn) handleChannel(typ string, ch int, ids []string) {
	rsp, name := typ+"_rsp", channelName(ch)
	if len(ids) == 0 {
		c.reply(rsp, name, "", 1007, "no instruments listed")
		return
	}
	var valid []*instrument
	for _, id := range ids {
		in := c.s.instByID[id]
		if in == nil {
			c.reply(rsp, name, id, 2006, fmt.Sprintf("instrument %s does not exist", id))
			continue
		}
		if !slices.Contains(valid, in) {
			valid = append(valid, in)
		}
	}
	if len(valid) == 0 {
		return
	}
	c.reply(rsp, name, "", 0, "success")
	for _, in := range valid {
		if typ == "subscribe" {
			c.s.hub.subscribe(c, in.idx, in.spec, ch)
		} else {
			c.s.hub.unsubscribe(c, in.idx, ch)
		}
	}
	c.s.log.Debug("sim_ws_"+typ+"d", zap.String("remote", c.remote), zap.String("channel", name), zap.Int("instruments", len(valid)))
}

// handleUser is the private login: ["<API-KEY>", "<signature>", "<AUTH-TYPE>"], the signature
// over "WSS/APITradeWS/v1/messages" (never pre-hashed). A failed login leaves the connection
// open and unauthenticated. Unsubscribe may carry only the key (and signature).
func (c *wsConn) handleUser(typ string, args []string) {
	rsp := typ + "_rsp"
	if typ == "unsubscribe" {
		c.s.hub.logout(c)
		c.reply(rsp, "user", "", 0, "success")
		return
	}
	code, msg := c.login(args)
	if code != 0 {
		c.s.log.Info("sim_ws_login_failed", zap.String("remote", c.remote), zap.Int("respCode", code), zap.String("reason", msg))
		c.reply(rsp, "user", "", code, msg)
		return
	}
	c.s.hub.login(c, args[0], appendSubscribeRsp(nil, rsp, "user", "", 0, "success"))
	c.s.log.Info("sim_ws_login", zap.String("remote", c.remote), zap.String("apiKey", args[0]))
}

func (c *wsConn) login(args []string) (int, string) {
	if len(args) < 2 || len(args) > 3 {
		return 1007, "user channel wants [apiKey, signature, authType]"
	}
	a := c.s.byKey[args[0]]
	if a == nil {
		return 1002, "API key not found"
	}
	if len(args) == 3 {
		switch args[2] {
		case AuthHMAC, AuthPubPriv:
		default:
			return 1011, "invalid AUTH-TYPE"
		}
		if args[2] != a.cfg.AuthType {
			return 1000, "signature invalid: auth type does not match the key"
		}
	}
	if _, ok := a.verifier.verify([]byte(wsLoginMessage), args[1], revV43); !ok {
		return 1000, "signature invalid"
	}
	return 0, ""
}

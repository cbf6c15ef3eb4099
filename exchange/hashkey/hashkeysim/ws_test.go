package hashkeysim

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/mmd-dev/mmd/exchange"
	"github.com/shopspring/decimal"
)

func rsp(typ, channel, code string) func(map[string]any) bool {
	return func(m map[string]any) bool {
		return m["type"] == typ && m["channel"] == channel && m["respCode"] == code
	}
}

func snapshotOf(typ, inst string) func(map[string]any) bool {
	return func(m map[string]any) bool { return m["type"] == typ && m["instrumentID"] == inst }
}

func levels(m map[string]any, side string) [][]any {
	raw, _ := m[side].([]any)
	out := make([][]any, len(raw))
	for i, l := range raw {
		out[i], _ = l.([]any)
	}
	return out
}

func TestWSSubscribeForms(t *testing.T) {
	h := newHarness(t, nil)
	w := h.dial()
	t.Run("spaces", func(t *testing.T) {
		w.send(`{ "type" : "subscribe" , "channel" : { "level2@10" : [ "ETH-BTC" ] } }`)
		w.waitFor("ack", rsp("subscribe_rsp", "level2@10", "0"))
		m := w.waitFor("snapshot", snapshotOf("level2@10_snapshot", "ETH-BTC"))
		if len(levels(m, "buy")) != 10 || len(levels(m, "sell")) != 10 {
			t.Errorf("snapshot depth %d/%d, want 10", len(levels(m, "buy")), len(levels(m, "sell")))
		}
		for _, k := range []string{"pubDate", "pubTime", "pubTimestamp"} {
			if _, ok := m[k].(string); !ok {
				t.Errorf("snapshot without string %s: %v", k, m)
			}
		}
	})
	t.Run("channel before type", func(t *testing.T) {
		w.send(`{"channel":{"level2":["BTC-USDT"]},"type":"subscribe"}`)
		w.waitFor("ack", rsp("subscribe_rsp", "level2", "0"))
		m := w.waitFor("snapshot", snapshotOf("level2_snapshot", "BTC-USDT"))
		if len(levels(m, "buy")) != 5 {
			t.Errorf("level2 depth %d, want 5", len(levels(m, "buy")))
		}
	})
	t.Run("depths 20 and 50", func(t *testing.T) {
		w.send(`{"type":"subscribe","channel":{"level2@20":["ETH-USDT"],"level2@50":["ETH-USDT"]}}`)
		want := map[string]int{"level2@20_snapshot": 20, "level2@50_snapshot": 50}
		for len(want) > 0 {
			m := w.waitFor("snapshots", func(m map[string]any) bool { _, ok := want[m["type"].(string)]; return ok })
			typ := m["type"].(string)
			if got := len(levels(m, "sell")); got != want[typ] {
				t.Errorf("%s depth %d, want %d", typ, got, want[typ])
			}
			delete(want, typ)
		}
	})
	t.Run("unknown instrument does not poison the list", func(t *testing.T) {
		w.send(`{"type":"subscribe","channel":{"ticker":["NOPE-BTC","ETH-BTC"]}}`)
		m := w.waitFor("2006", rsp("subscribe_rsp", "ticker", "2006"))
		if m["instrumentID"] != "NOPE-BTC" {
			t.Errorf("2006 answer does not name the instrument: %v", m)
		}
		w.waitFor("ack", rsp("subscribe_rsp", "ticker", "0"))
	})
	t.Run("bad requests keep the connection", func(t *testing.T) {
		for _, bad := range []string{
			`{"type":"subscribe","channel":{"level2@7":["ETH-BTC"]}}`,
			`{"type":"subscribe","channel":{"ticker":"ETH-BTC"}}`,
			`{"type":"subscribe","channel":{"ticker":[]}}`,
			`{"type":"publish","channel":{"ticker":["ETH-BTC"]}}`,
			`{"type":"subscribe"}`,
			`{"type":"subscribe","channel":`,
			`not json at all`,
			`{"type":"subscribe","channel":{"user":["only-key"]}}`,
		} {
			w.send(bad)
			m := w.waitFor("error answer to "+bad, func(m map[string]any) bool { return m["type"] == "subscribe_rsp" && m["respCode"] != "0" })
			if m["respCode"] != "1007" {
				t.Errorf("%s: %v, want 1007", bad, m)
			}
		}
		w.send(`{"type":"subscribe","channel":{"ticker":["BTC-USDT"]}}`)
		w.waitFor("ack after errors", rsp("subscribe_rsp", "ticker", "0"))
	})
	t.Run("unsubscribe stops updates", func(t *testing.T) {
		w.send(`{"type":"unsubscribe","channel":{"level2@10":["ETH-BTC"],"level2":["BTC-USDT"],"level2@20":["ETH-USDT"],"level2@50":["ETH-USDT"],"ticker":["ETH-BTC","BTC-USDT"]}}`)
		for _, ch := range []string{"level2", "level2@10", "level2@20", "level2@50", "ticker"} {
			w.waitFor("unsubscribe ack "+ch, rsp("unsubscribe_rsp", ch, "0"))
		}
		for range 5 {
			h.s.Step()
		}
		w.expectNone("market data after unsubscribe", func(m map[string]any) bool {
			typ, _ := m["type"].(string)
			return strings.HasSuffix(typ, "_update") || typ == "trade_detail"
		})
	})
}

// TestWSDozensOfInstruments: one subscribe lists 40 instruments.
func TestWSDozensOfInstruments(t *testing.T) {
	var specs []InstrumentSpec
	var ids []string
	for i := range 40 {
		id := fmt.Sprintf("C%02d-USDT", i)
		ids = append(ids, `"`+id+`"`)
		specs = append(specs, InstrumentSpec{
			Instrument: exchange.Instrument{ID: id, PricePrecision: 2, VolumePrecision: 2},
			StartPrice: decimal.NewFromInt(int64(10 + i)),
		})
	}
	h := newHarness(t, func(c *Config) { c.Instruments = specs })
	w := h.dial()
	w.send(`{"type":"subscribe","channel":{"level2@20":[` + strings.Join(ids, ",") + `]}}`)
	w.waitFor("ack", rsp("subscribe_rsp", "level2@20", "0"))
	seen := map[string]bool{}
	for len(seen) < 40 {
		m := w.waitFor("snapshots", isType("level2@20_snapshot"))
		seen[m["instrumentID"].(string)] = true
	}
}

// bookModel applies a level-2 stream the way a client does.
type bookModel struct {
	bids, asks map[string]string
}

func (b *bookModel) apply(m map[string]any) {
	if strings.HasSuffix(m["type"].(string), "_snapshot") {
		b.bids, b.asks = map[string]string{}, map[string]string{}
	}
	for side, book := range map[string]map[string]string{"buy": b.bids, "sell": b.asks} {
		for _, l := range levels(m, side) {
			p, v := l[0].(string), l[1].(string)
			if v == "0" {
				delete(book, p)
			} else {
				book[p] = v
			}
		}
	}
}

func (b *bookModel) equal(bids, asks [][2]string) bool {
	if len(bids) != len(b.bids) || len(asks) != len(b.asks) {
		return false
	}
	for _, l := range bids {
		if b.bids[l[0]] != l[1] {
			return false
		}
	}
	for _, l := range asks {
		if b.asks[l[0]] != l[1] {
			return false
		}
	}
	return true
}

// TestWSBookStreamMatchesREST: a book built from a snapshot and the updates that follow
// equals the REST book after every step, at depths 50 and 5 (and updates carry only
// changed levels).
func TestWSBookStreamMatchesREST(t *testing.T) {
	h := newHarness(t, nil)
	w := h.dial()
	w.send(`{"type":"subscribe","channel":{"level2@50":["ETH-BTC"],"level2":["ETH-BTC"]}}`)
	books := map[string]*bookModel{"level2@50": {}, "level2": {}}
	for n := 0; n < 2; {
		m := w.waitFor("snapshots", func(m map[string]any) bool { return strings.HasSuffix(m["type"].(string), "_snapshot") })
		ch, _, _ := strings.Cut(m["type"].(string), "_")
		books[ch].apply(m)
		n++
	}
	h.insert(keyHMAC, "ETH-BTC", "buy", "0.031001", "7", "mine") // inside the spread: top of book
	var small, total int
	for step := range 40 {
		if step > 0 {
			h.s.Step()
		}
		var rest struct {
			Buy  [][2]string `json:"buy"`
			Sell [][2]string `json:"sell"`
		}
		out := h.mustOK(keyHMAC, "GET", "/v1/marketData/getLevel2?instrumentID=ETH-BTC", "")
		if err := json.Unmarshal(out, &rest); err != nil {
			t.Fatal(err)
		}
		// Read updates until both channels match the REST book (or time out).
		deadline := time.After(20 * time.Second)
		for !books["level2@50"].equal(rest.Buy, rest.Sell) || !books["level2"].equal(rest.Buy[:5], rest.Sell[:5]) {
			select {
			case data := <-w.msgs:
				var m map[string]any
				json.Unmarshal(data, &m)
				typ, _ := m["type"].(string)
				ch, _, _ := strings.Cut(typ, "_")
				if b := books[ch]; b != nil && strings.HasSuffix(typ, "_update") {
					b.apply(m)
					if ch == "level2@50" {
						total++
						if len(levels(m, "buy"))+len(levels(m, "sell")) < 50 {
							small++
						}
					}
				}
			case <-deadline:
				t.Fatalf("step %d: stream book never matched REST book", step)
			}
		}
	}
	if total == 0 || small < total/2 {
		t.Errorf("%d of %d level2@50 updates were partial: updates should carry only changed levels", small, total)
	}
}

func TestWSHeartbeat(t *testing.T) {
	h := newHarness(t, func(c *Config) { c.IdleTimeout = 300 * time.Millisecond })
	t.Run("ping answered with pong", func(t *testing.T) {
		c, _, err := websocket.DefaultDialer.Dial(h.s.WSURL(), nil)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		pong := make(chan string, 1)
		c.SetPongHandler(func(data string) error { pong <- data; return nil })
		done := make(chan struct{})
		go func() { // reading runs the pong handler
			defer close(done)
			for {
				if _, _, err := c.ReadMessage(); err != nil {
					return
				}
			}
		}()
		if err := c.WriteControl(websocket.PingMessage, []byte("hb-1"), time.Now().Add(time.Second)); err != nil {
			t.Fatal(err)
		}
		select {
		case data := <-pong:
			if data != "hb-1" {
				t.Errorf("pong %q", data)
			}
		case <-time.After(20 * time.Second):
			t.Fatal("no pong")
		}
		c.Close()
		<-done
	})
	t.Run("pongs keep a connection alive, silence drops it", func(t *testing.T) {
		w := h.dial()
		start := time.Now()
		tick := time.NewTicker(60 * time.Millisecond)
		for time.Since(start) < 4*300*time.Millisecond { // paced heartbeats over four idle timeouts
			<-tick.C
			if err := w.c.WriteControl(websocket.PongMessage, nil, time.Now().Add(time.Second)); err != nil {
				t.Fatalf("pong: %v", err)
			}
		}
		tick.Stop()
		w.send(`{"type":"subscribe","channel":{"ticker":["ETH-BTC"]}}`)
		w.waitFor("ack while alive", rsp("subscribe_rsp", "ticker", "0"))
		silent := time.Now()
		select {
		case <-w.done:
			if d := time.Since(silent); d < 250*time.Millisecond {
				t.Errorf("dropped after %v of silence, before the idle timeout", d)
			}
		case <-time.After(20 * time.Second):
			t.Fatal("silent connection not dropped")
		}
	})
}

func TestWSLogin(t *testing.T) {
	h := newHarness(t, nil)
	vec := map[string]string{}
	for _, v := range h.v.Vectors {
		if v.Kind == "ws" {
			vec[v.AuthType] = v.Signature
		}
	}
	login := func(w *wsClient, args ...string) map[string]any {
		b, _ := json.Marshal(map[string]any{"type": "subscribe", "channel": map[string]any{"user": args}})
		w.send(string(b))
		return w.waitFor("login answer", func(m map[string]any) bool { return m["channel"] == "user" })
	}
	for _, tc := range []struct {
		name string
		args []string
		code string
	}{
		{"HMAC vector", []string{keyHMAC, vec[AuthHMAC], AuthHMAC}, "0"},
		{"PUB-PRIV vector, compressed key", []string{keyECDSA, vec[AuthPubPriv], AuthPubPriv}, "0"},
		{"PUB-PRIV vector, uncompressed key", []string{keyECDSAU, vec[AuthPubPriv], AuthPubPriv}, "0"},
		{"PUB-PRIV with spaces", []string{keyECDSA, strings.ReplaceAll(strings.ReplaceAll(vec[AuthPubPriv], `":`, `": `), `,"`, `, "`), AuthPubPriv}, "0"},
		{"without auth type", []string{keyHMAC, vec[AuthHMAC]}, "0"},
		{"wrong signature", []string{keyHMAC, h.signMessage(keyHMAC2, "v4.3", []byte(wsLoginMessage)), AuthHMAC}, "1000"},
		{"REST-style pre-hashed signature", []string{keyHMAC, h.signMessage(keyHMAC, "v4.2", []byte(wsLoginMessage)), AuthHMAC}, "1000"},
		{"auth type mismatch", []string{keyHMAC, vec[AuthHMAC], AuthPubPriv}, "1000"},
		{"unknown key", []string{"nobody", vec[AuthHMAC], AuthHMAC}, "1002"},
		{"invalid auth type", []string{keyHMAC, vec[AuthHMAC], "RSA"}, "1011"},
		{"too many elements", []string{keyHMAC, vec[AuthHMAC], AuthHMAC, "x"}, "1007"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := h.dial()
			if m := login(w, tc.args...); m["respCode"] != tc.code || m["type"] != "subscribe_rsp" {
				t.Fatalf("answer %v, want respCode %s", m, tc.code)
			}
			if tc.code != "0" { // still open, and a good login works after a failed one
				if m := login(w, keyHMAC, vec[AuthHMAC], AuthHMAC); m["respCode"] != "0" {
					t.Fatalf("login after failure: %v", m)
				}
			}
		})
	}
}

// TestWSPrivateFanOut: every connection logged in as an account gets its events; others
// and logged-out connections do not.
func TestWSPrivateFanOut(t *testing.T) {
	h := newHarness(t, nil)
	a1, a2, other, out := h.dial(), h.dial(), h.dial(), h.dial()
	h.login(a1, keyHMAC)
	h.login(a2, keyHMAC)
	h.login(other, keyHMAC2)
	h.login(out, keyHMAC)
	sig := h.signMessage(keyHMAC, "v4.3", []byte(wsLoginMessage))
	out.send(fmt.Sprintf(`{"type":"unsubscribe","channel":{"user":["%s","%s"]}}`, keyHMAC, sig))
	out.waitFor("logout ack", rsp("unsubscribe_rsp", "user", "0"))
	h.insert(keyHMAC, "ETH-BTC", "buy", "0.02", "1", "fan")
	for _, w := range []*wsClient{a1, a2} {
		m := w.orderReturn("fan", "3")
		if m["orderSysID"] == "" || m["instrumentID"] != "ETH-BTC" {
			t.Errorf("order_return %v", m)
		}
	}
	// The other account's and the logged-out connection see nothing of it: their own next
	// event (an insert of their own / a public probe) comes first.
	h.insert(keyHMAC2, "ETH-BTC", "buy", "0.02", "1", "theirs")
	other.waitFor("own order", func(m map[string]any) bool {
		if m["orderLocalID"] == "fan" {
			t.Fatalf("other account got %v", m)
		}
		return m["orderLocalID"] == "theirs"
	})
	out.expectNone("private message after logout", func(m map[string]any) bool { return m["type"] == "order_return" })
}

// FuzzWSRequest: any frame a client sends is answered or ignored, never a panic.
func FuzzWSRequest(f *testing.F) {
	for _, seed := range []string{
		`{"type":"subscribe","channel":{"ticker":["ETH-BTC","CYB-BTC"]}}`,
		`{"type":"unsubscribe","channel":{"ticker":["ETH-BTC"]}}`,
		`{"channel":{"level2@10":["ETH-BTC"]},"type":"subscribe"}`,
		`{"type":"subscribe","channel":{"user":["test-hmac","c2ln","HMAC"]}}`,
		`{"type":"unsubscribe","channel":{"user":["test-hmac","c2ln"]}}`,
		`{"type":"subscribe","channel":{"user":["test-ecdsa","{\"r\":\"\",\"s\":\"\",\"v\":27}","PUB-PRIV"]}}`,
		`{"type":"subscribe","channel":{"level2@50":[1,2]}}`,
		`{"type":"subscribe","channel":null}`,
		`[]`, `null`, `"x"`, ``,
	} {
		f.Add([]byte(seed))
	}
	h := newHarness(f, nil)
	f.Fuzz(func(t *testing.T, frame []byte) {
		c := &wsConn{s: h.s, remote: "fuzz", out: make(chan outMsg, sendQueue), done: make(chan struct{})}
		h.s.hub.add(c)
		defer h.s.hub.remove(c)
		c.handle(frame)
		for len(c.out) > 0 {
			m := <-c.out
			if m.data != nil && !json.Valid(m.data) {
				t.Fatalf("invalid JSON answer %s", m.data)
			}
		}
	})
}

package hashkeysim

import (
	"bytes"
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/shopspring/decimal"
)

// recordRun runs a fresh simulator with seed for steps Manual steps and returns every public
// message one connection subscribed to every channel of every instrument received, in order.
func recordRun(t *testing.T, seed int64, steps int) []byte {
	h := newHarness(t, func(c *Config) { c.Seed = seed })
	w := h.dial()
	w.send(`{"type":"subscribe","channel":{"level2":["ETH-BTC","BTC-USDT","ETH-USDT"],"level2@10":["ETH-BTC","BTC-USDT","ETH-USDT"],` +
		`"level2@20":["ETH-BTC","BTC-USDT","ETH-USDT"],"level2@50":["ETH-BTC","BTC-USDT","ETH-USDT"],"ticker":["ETH-BTC","BTC-USDT","ETH-USDT"]}}`)
	w.waitFor("ticker ack", rsp("subscribe_rsp", "ticker", "0"))
	for range steps {
		h.s.Step()
	}
	w.send(`{"type":"subscribe","channel":{"ticker":["END-OF-RUN"]}}`)
	var out bytes.Buffer
	deadline := time.After(10 * time.Second)
	for {
		select {
		case m := <-w.msgs:
			if bytes.Contains(m, []byte("END-OF-RUN")) {
				return out.Bytes()
			}
			out.Write(m)
			out.WriteByte('\n')
		case <-deadline:
			t.Fatal("run did not finish")
		}
	}
}

// TestDeterminism: the same seed, Step sequence and clock give the same public messages,
// byte for byte; another seed gives others.
func TestDeterminism(t *testing.T) {
	a := recordRun(t, 7, 60)
	b := recordRun(t, 7, 60)
	c := recordRun(t, 8, 60)
	if !bytes.Equal(a, b) {
		t.Fatalf("two runs with seed 7 differ (%d vs %d bytes)", len(a), len(b))
	}
	if bytes.Equal(a, c) {
		t.Fatal("seeds 7 and 8 gave the same messages")
	}
	for _, want := range []string{"level2_update", "level2@10_update", "level2@20_update", "level2@50_update", "trade_detail"} {
		if !bytes.Contains(a, []byte(`"type":"`+want+`"`)) {
			t.Errorf("run has no %s", want)
		}
	}
}

// TestTickingMarket: without Manual the market steps by itself.
func TestTickingMarket(t *testing.T) {
	h := newHarness(t, func(c *Config) {
		c.Manual = false
		c.TickInterval = 10 * time.Millisecond
	})
	w := h.dial()
	w.send(`{"type":"subscribe","channel":{"level2@10":["BTC-USDT"]}}`)
	w.waitFor("update", isType("level2@10_update"))
}

func TestFaultDropConnections(t *testing.T) {
	h := newHarness(t, nil)
	a, b := h.dial(), h.dial()
	h.login(a, keyHMAC)
	b.send(`{"type":"subscribe","channel":{"ticker":["ETH-BTC"]}}`)
	b.waitFor("ack", rsp("subscribe_rsp", "ticker", "0"))
	h.s.Faults().DropConnections()
	for _, w := range []*wsClient{a, b} {
		select {
		case <-w.done:
		case <-time.After(20 * time.Second):
			t.Fatal("connection not dropped")
		}
	}
	c := h.dial() // new connections are fine
	h.login(c, keyHMAC)
}

func TestFaultLatency(t *testing.T) {
	h := newHarness(t, nil)
	w := h.dial()
	w.send(`{"type":"subscribe","channel":{"level2@10":["ETH-BTC"]}}`)
	w.waitFor("snapshot", isType("level2@10_snapshot"))
	const d = 150 * time.Millisecond
	h.s.Faults().Latency(d)
	start := time.Now()
	h.mustOK(keyHMAC, "GET", "/v1/info/time", "")
	if e := time.Since(start); e < d {
		t.Errorf("REST answered after %v with latency %v", e, d)
	}
	start = time.Now()
	h.s.SetFairValue("ETH-BTC", dec("0.0305"))
	w.waitFor("update", isType("level2@10_update"))
	if e := time.Since(start); e < d {
		t.Errorf("WS update after %v with latency %v", e, d)
	}
	h.s.Faults().Latency(0)
}

func TestFaultREST5xx(t *testing.T) {
	h := newHarness(t, nil)
	h.s.Faults().REST5xx(0, 2)
	body := `{"instrumentID":"ETH-BTC","orderPriceType":"limit","direction":"buy","limitPrice":"0.02","volumeTotalOriginal":"1","timeCondition":"GTC","orderLocalID":"lost"}`
	status, out := h.call(keyHMAC, "POST", "/v1/order/insert", body)
	if status != http.StatusServiceUnavailable || respCode(out) != "" {
		t.Fatalf("HTTP %d %s, want 503 without respCode", status, out)
	}
	if status, _ := h.call(keyHMAC, "GET", "/v1/account/assets", ""); status != http.StatusServiceUnavailable {
		t.Fatalf("second call HTTP %d, want 503", status)
	}
	h.mustOK(keyHMAC, "GET", "/v1/account/assets", "")
	// The lost insert was processed: the outcome-unknown case.
	h.sync()
	if open := h.s.OpenOrders(keyHMAC); len(open) != 1 || open[0].LocalID != "lost" {
		t.Errorf("open orders %+v, want the insert whose answer was lost", open)
	}
	h.s.Faults().REST5xx(1, 0)
	if status, _ := h.call(keyHMAC, "GET", "/v1/account/assets", ""); status != http.StatusServiceUnavailable {
		t.Errorf("rate 1: HTTP %d", status)
	}
	h.s.Faults().REST5xx(0, 0)
	h.mustOK(keyHMAC, "GET", "/v1/account/assets", "")
}

func TestFaultREST1005(t *testing.T) {
	h := newHarness(t, nil)
	h.s.Faults().REST1005(1)
	body := `{"instrumentID":"ETH-BTC","orderPriceType":"limit","direction":"buy","limitPrice":"0.02","volumeTotalOriginal":"1","timeCondition":"GTC","orderLocalID":"x"}`
	status, out := h.call(keyHMAC, "POST", "/v1/order/insert", body)
	if status != http.StatusInternalServerError || respCode(out) != "1005" {
		t.Fatalf("HTTP %d %s, want 500 1005", status, out)
	}
	h.sync()
	if open := h.s.OpenOrders(keyHMAC); len(open) != 0 {
		t.Errorf("a 1005 insert was processed: %+v", open)
	}
	h.mustOK(keyHMAC, "POST", "/v1/order/insert", body)
}

func TestFaultTightenRateLimits(t *testing.T) {
	h := newHarness(t, func(c *Config) { c.NoRateLimit = false })
	h.s.Faults().TightenRateLimits(2, 1)
	if out := h.mustOK(keyHMAC, "GET", "/v1/referenceData/rateLimit", ""); string(out) != `{"queryRateLimit":"10","orderRateLimit":"300"}` {
		t.Errorf("published limits changed: %s", out)
	}
	h.mustOK(keyHMAC, "GET", "/v1/account/assets", "")
	if _, out := h.call(keyHMAC, "GET", "/v1/account/assets", ""); respCode(out) != "1004" {
		t.Errorf("3rd query: %s, want 1004", out)
	}
	h.call(keyHMAC, "POST", "/v1/order/cancelBySysID", `{"orderSysID":"1"}`)
	if _, out := h.call(keyHMAC, "POST", "/v1/order/cancelBySysID", `{"orderSysID":"1"}`); respCode(out) != "1004" {
		t.Errorf("2nd order call: %s, want 1004", out)
	}
	h.s.Faults().TightenRateLimits(0, 0)
	h.mustOK(keyHMAC, "GET", "/v1/account/assets", "")
}

func TestFaultPrivateStream(t *testing.T) {
	h := newHarness(t, nil)
	w := h.dial()
	h.login(w, keyHMAC)
	t.Run("delay", func(t *testing.T) {
		const d = 150 * time.Millisecond
		h.s.Faults().PrivateDelay(d)
		start := time.Now()
		h.insert(keyHMAC, "ETH-BTC", "buy", "0.02", "1", "slow")
		w.orderReturn("slow", "3")
		if e := time.Since(start); e < d {
			t.Errorf("order_return after %v with delay %v", e, d)
		}
		h.s.Faults().PrivateDelay(0)
	})
	t.Run("duplicate", func(t *testing.T) {
		h.s.Faults().PrivateDuplicate(true)
		h.insert(keyHMAC, "ETH-BTC", "buy", "0.02", "1", "twice")
		a := w.orderReturn("twice", "3")
		b := w.orderReturn("twice", "3")
		if a["orderSysID"] != b["orderSysID"] {
			t.Errorf("duplicates differ: %v %v", a, b)
		}
		h.s.Faults().PrivateDuplicate(false)
	})
	t.Run("reorder", func(t *testing.T) {
		h.insert(keyHMAC, "ETH-BTC", "buy", "0.02", "1", "r1")
		h.insert(keyHMAC, "ETH-BTC", "buy", "0.02", "1", "r2")
		s1 := w.orderReturn("r1", "3")["orderSysID"].(string)
		s2 := w.orderReturn("r2", "3")["orderSysID"].(string)
		h.s.Faults().PrivateReorder(true)
		h.mustOK(keyHMAC, "POST", "/v1/order/batchCancel", `{"orderSysIDs":["`+s1+`","`+s2+`"]}`)
		first := w.waitFor("cancel", func(m map[string]any) bool { return m["orderStatus"] == "5" })
		second := w.waitFor("cancel", func(m map[string]any) bool { return m["orderStatus"] == "5" })
		if first["orderLocalID"] != "r2" || second["orderLocalID"] != "r1" {
			t.Errorf("order %v then %v, want r2 then r1", first["orderLocalID"], second["orderLocalID"])
		}
		// A lone message still goes out after the hold.
		h.insert(keyHMAC, "ETH-BTC", "buy", "0.02", "1", "lone")
		w.orderReturn("lone", "3")
		h.s.Faults().PrivateReorder(false)
	})
}

func TestFaultFreezePublic(t *testing.T) {
	h := newHarness(t, nil)
	w := h.dial()
	w.send(`{"type":"subscribe","channel":{"level2@10":["ETH-BTC"],"ticker":["ETH-BTC"]}}`)
	w.waitFor("snapshot", isType("level2@10_snapshot"))
	before := h.mustOK(keyHMAC, "GET", "/v1/marketData/getLevel2?instrumentID=ETH-BTC", "")
	h.s.Faults().FreezePublic(true)
	for range 5 {
		h.s.Step()
	}
	h.s.SetFairValue("ETH-BTC", dec("0.03"))
	w.expectNone("public data while frozen", func(m map[string]any) bool {
		return m["type"] == "level2@10_update" || m["type"] == "trade_detail"
	})
	if after := h.mustOK(keyHMAC, "GET", "/v1/marketData/getLevel2?instrumentID=ETH-BTC", ""); !bytes.Equal(before, after) {
		t.Error("REST book changed while frozen")
	}
	h.s.Faults().FreezePublic(false)
	w.waitFor("catch-up update", isType("level2@10_update"))
}

func TestFaultPublishCrossedBook(t *testing.T) {
	h := newHarness(t, nil)
	w := h.dial()
	w.send(`{"type":"subscribe","channel":{"level2@10":["ETH-BTC"]}}`)
	book := &bookModel{}
	book.apply(w.waitFor("snapshot", isType("level2@10_snapshot")))
	crossed := func() bool {
		bestBid, bestAsk, any := decimal.Zero, decimal.Zero, false
		for p := range book.bids {
			bestBid = decimal.Max(bestBid, dec(p))
		}
		for p := range book.asks {
			if d := dec(p); !any || d.LessThan(bestAsk) {
				bestAsk, any = d, true
			}
		}
		return bestBid.GreaterThanOrEqual(bestAsk)
	}
	if err := h.s.Faults().PublishCrossedBook("NOPE"); err == nil {
		t.Error("unknown instrument accepted")
	}
	if err := h.s.Faults().PublishCrossedBook("ETH-BTC"); err != nil {
		t.Fatal(err)
	}
	book.apply(w.waitFor("crossed update", isType("level2@10_update")))
	if !crossed() {
		t.Fatalf("book not crossed: %v / %v", book.bids, book.asks)
	}
	h.s.Step()
	book.apply(w.waitFor("next update", isType("level2@10_update")))
	if crossed() {
		t.Fatalf("book still crossed after the next publish")
	}
}

func TestFaultClockSkew(t *testing.T) {
	h := newHarness(t, nil)
	h.s.Faults().ClockSkew(time.Hour)
	var tm struct {
		Timestamp string `json:"timestamp"`
	}
	status, out := h.send("GET", "/v1/info/time", nil, nil)
	json.Unmarshal(out, &tm)
	if want := vectorTime.Add(time.Hour).UnixMilli(); status != 200 || tm.Timestamp != strconv.FormatInt(want, 10) {
		t.Errorf("time %s, want %d", out, want)
	}
	// A client on the unskewed clock is now an hour off: 1001.
	hd := h.headers(keyHMAC, "GET", "/v1/account/assets", nil)
	ts := strconv.FormatInt(vectorTime.UnixMilli(), 10)
	hd.Set("API-TIMESTAMP", ts)
	hd.Set("API-SIGNATURE", h.signMessage(keyHMAC, "v4.3", []byte(ts+"GET/v1/account/assets")))
	if _, out := h.send("GET", "/v1/account/assets", nil, hd); respCode(out) != "1001" {
		t.Errorf("unskewed client: %s, want 1001", out)
	}
	h.s.Faults().ClockSkew(0)
}

func TestFaultQuirks(t *testing.T) {
	h := newHarness(t, nil)
	w, public := h.dial(), h.dial()
	h.login(w, keyHMAC)
	public.send(`{"type":"subscribe","channel":{"ticker":["ETH-BTC"]}}`)
	public.waitFor("ack", rsp("subscribe_rsp", "ticker", "0"))
	h.s.Faults().Quirks(true)
	h.insert(keyHMAC, "ETH-BTC", "buy", "0.0311", "0.01", "q")
	var raw []string
	for len(raw) < 3 {
		select {
		case m := <-w.msgs:
			if bytes.Contains(m, []byte(`"orderLocalID":"q"`)) {
				raw = append(raw, string(m))
			}
		case <-time.After(20 * time.Second):
			t.Fatal("no private messages")
		}
	}
	all := strings.Join(raw, "\n")
	for _, key := range []string{`"instrumentID ":`, `"volumeTotal ":`, `"price ":`, `"volume ":`, `"fee ":`, `"tradeTimestamp":"1542104001"`} {
		if !strings.Contains(all, key) {
			t.Errorf("private messages lack %s:\n%s", key, all)
		}
	}
	tick := public.waitFor("trade", isType("trade_detail"))
	if _, ok := tick["price "]; !ok || tick["tradeTimestamp"] != "1542104001" {
		t.Errorf("ticker trade without quirks: %v", tick)
	}
	if out := h.mustOK(keyHMAC, "POST", "/v1/order/getOrder", `{}`); !bytes.Contains(out, []byte(`"instrumentID ":`)) {
		t.Errorf("getOrder without quirks: %s", out)
	}
	h.s.Faults().Quirks(false)
	if out := h.mustOK(keyHMAC, "POST", "/v1/order/getOrder", `{}`); bytes.Contains(out, []byte(`"instrumentID ":`)) {
		t.Errorf("quirks still on: %s", out)
	}
}

// TestCloseWithClientsConnected: Close returns with connections open and requests waiting.
func TestCloseWithClientsConnected(t *testing.T) {
	h := newHarness(t, nil)
	w := h.dial()
	h.login(w, keyHMAC)
	h.s.Faults().Latency(time.Minute) // a request is waiting in the latency fault
	errc := make(chan error, 1)
	go func() {
		req, _ := http.NewRequest("GET", h.s.RESTURL()+"/v1/info/time", nil)
		resp, err := http.DefaultClient.Do(req)
		if err == nil {
			resp.Body.Close()
		}
		errc <- err
	}()
	done := make(chan error, 1)
	go func() { done <- h.s.Close() }()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Close: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Close hung")
	}
	select {
	case <-w.done:
	case <-time.After(20 * time.Second):
		t.Fatal("WS connection survived Close")
	}
	<-errc
	if _, _, err := websocket.DefaultDialer.Dial(h.s.WSURL(), nil); err == nil {
		t.Error("dial after Close succeeded")
	}
	h.s.Step() // harmless after Close
}

package hashkeysim

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/mmd-dev/mmd/exchange"
)

func balance(t *testing.T, s *Server, key, asset string) (total, available string) {
	t.Helper()
	for _, b := range s.Balances(key) {
		if b.Asset == asset {
			return b.Balance.String(), b.Available.String()
		}
	}
	return "0", "0"
}

func checkFields(t *testing.T, what string, m map[string]any, want map[string]string) {
	t.Helper()
	for k, v := range want {
		if m[k] != v {
			t.Errorf("%s: %s = %v, want %s (%v)", what, k, m[k], v, m)
		}
	}
}

// TestMatchClientAgainstClient: a resting sell inside the synthetic spread is hit by another
// account's buy: maker/taker fees in the asset received, statuses 3 → 1 and 3 → 0,
// priceSource = the resting side, frozen funds, and the public trade.
func TestMatchClientAgainstClient(t *testing.T) {
	h := newHarness(t, nil)
	seller, buyer, public := h.dial(), h.dial(), h.dial()
	h.login(seller, keyHMAC)
	h.login(buyer, keyHMAC2)
	public.send(`{"type":"subscribe","channel":{"ticker":["ETH-BTC"]}}`)
	public.waitFor("ack", rsp("subscribe_rsp", "ticker", "0"))

	h.insert(keyHMAC, "ETH-BTC", "sell", "0.031", "2", "s1")
	seller.orderReturn("s1", "3")
	if tot, avail := balance(t, h.s, keyHMAC, "ETH"); tot != "1000" || avail != "998" {
		t.Errorf("seller ETH %s/%s after resting 2, want 1000/998", tot, avail)
	}
	h.insert(keyHMAC2, "ETH-BTC", "buy", "0.031", "1.5", "b1")

	checkFields(t, "maker order", seller.orderReturn("s1", "1"), map[string]string{
		"volumeTotal": "0.5", "volumeTraded": "1.5", "limitPrice": "0.031",
	})
	checkFields(t, "maker fill", seller.waitFor("maker fill", isType("trade_return")), map[string]string{
		"orderLocalID": "s1", "direction": "sell", "price": "0.031", "priceSource": "sell",
		"volume": "1.5", "fee": "0.0000465", "tradeTimestamp": "1542104001056",
	})
	buyer.orderReturn("b1", "3") // acceptance first
	checkFields(t, "taker order", buyer.orderReturn("b1", "0"), map[string]string{"volumeTotal": "0", "volumeTraded": "1.5"})
	checkFields(t, "taker fill", buyer.waitFor("taker fill", isType("trade_return")), map[string]string{
		"orderLocalID": "b1", "direction": "buy", "price": "0.031", "priceSource": "sell", "volume": "1.5", "fee": "0.003",
	})
	checkFields(t, "ticker", public.waitFor("trade", isType("trade_detail")), map[string]string{
		"instrumentID": "ETH-BTC", "price": "0.031", "priceSource": "sell", "volume": "1.5",
	})
	for _, c := range []struct{ key, asset, total, avail string }{
		{keyHMAC, "ETH", "998.5", "998"},
		{keyHMAC, "BTC", "10.0464535", "10.0464535"},
		{keyHMAC2, "ETH", "1001.497", "1001.497"},
		{keyHMAC2, "BTC", "9.9535", "9.9535"},
	} {
		if tot, avail := balance(t, h.s, c.key, c.asset); tot != c.total || avail != c.avail {
			t.Errorf("%s %s = %s/%s, want %s/%s", c.key, c.asset, tot, avail, c.total, c.avail)
		}
	}
	// getTrade: newest first, timestamps in seconds.
	var fills []map[string]string
	json.Unmarshal(h.mustOK(keyHMAC2, "POST", "/v1/trade/getTrade", `{"instrumentID":"ETH-BTC"}`), &fills)
	if len(fills) != 1 || fills[0]["tradeTimestamp"] != "1542104001" || fills[0]["fee"] != "0.003" {
		t.Errorf("getTrade %v", fills)
	}
	// Cancelling the rest: status 6, frozen ETH released.
	h.mustOK(keyHMAC, "POST", "/v1/order/cancelByLocalID", `{"orderLocalID":"s1"}`)
	checkFields(t, "cancelled rest", seller.orderReturn("s1", "6"), map[string]string{"cancelDate": "20181113", "cancelTime": "10:13:21"})
	if tot, avail := balance(t, h.s, keyHMAC, "ETH"); tot != "998.5" || avail != "998.5" {
		t.Errorf("seller ETH %s/%s after cancel", tot, avail)
	}
}

// TestMatchTakerSweepsSyntheticLevels: a buy above the best asks takes them at their own
// prices (best first), pays the taker fee and rests the remainder at its limit.
func TestMatchTakerSweepsSyntheticLevels(t *testing.T) {
	h := newHarness(t, nil)
	w := h.dial()
	h.login(w, keyHMAC)
	var book struct {
		Sell [][2]string `json:"sell"`
	}
	json.Unmarshal(h.mustOK(keyHMAC, "GET", "/v1/marketData/getLevel2?instrumentID=ETH-BTC", ""), &book)
	// Buy the first two ask levels plus 0.001 more, limited at the second level's price.
	v0, v1 := dec(book.Sell[0][1]), dec(book.Sell[1][1])
	want := v0.Add(v1).Add(dec("0.001"))
	h.insert(keyHMAC, "ETH-BTC", "buy", book.Sell[1][0], want.String(), "sweep")
	w.orderReturn("sweep", "3")
	for i := range 2 { // each fill: the order's new state, then the fill
		w.orderReturn("sweep", "1")
		checkFields(t, fmt.Sprintf("fill %d", i), w.waitFor("fill", isType("trade_return")), map[string]string{
			"price": book.Sell[i][0], "volume": book.Sell[i][1], "priceSource": "sell",
			"fee": dec(book.Sell[i][1]).Mul(dec("0.002")).String(),
		})
	}
	open := h.s.OpenOrders(keyHMAC)
	if len(open) != 1 || open[0].Remaining.String() != "0.001" || open[0].Status != exchange.StatusPartFilled {
		t.Fatalf("open orders %+v", open)
	}
	// It is now the best bid of the published book.
	var after struct {
		Buy [][2]string `json:"buy"`
	}
	json.Unmarshal(h.mustOK(keyHMAC, "GET", "/v1/marketData/getLevel2?instrumentID=ETH-BTC", ""), &after)
	if after.Buy[0] != [2]string{book.Sell[1][0], "0.001"} {
		t.Errorf("best bid %v, want our remainder", after.Buy[0])
	}
}

// TestMatchFairValueMovesThrough: when the fair value moves through a resting order, the
// order fills as maker at its own price.
func TestMatchFairValueMovesThrough(t *testing.T) {
	h := newHarness(t, nil)
	w, public := h.dial(), h.dial()
	h.login(w, keyECDSA)
	public.send(`{"type":"subscribe","channel":{"ticker":["ETH-BTC"]}}`)
	public.waitFor("ack", rsp("subscribe_rsp", "ticker", "0"))
	h.insert(keyECDSA, "ETH-BTC", "buy", "0.031", "1", "rest")
	h.insert(keyECDSA, "ETH-BTC", "sell", "0.0312", "1", "away")
	w.orderReturn("rest", "3")
	h.s.SetFairValue("ETH-BTC", dec("0.0309"))
	w.orderReturn("rest", "0")
	checkFields(t, "fill", w.waitFor("fill", isType("trade_return")), map[string]string{
		"orderLocalID": "rest", "price": "0.031", "priceSource": "buy", "volume": "1", "fee": "0.001",
	})
	checkFields(t, "ticker", public.waitFor("trade", isType("trade_detail")), map[string]string{"price": "0.031", "priceSource": "buy"})
	if open := h.s.OpenOrders(keyECDSA); len(open) != 1 || open[0].LocalID != "away" {
		t.Errorf("open orders %+v", open)
	}
	// And back up through the sell.
	h.s.SetFairValue("ETH-BTC", dec("0.0314"))
	w.orderReturn("away", "0")
	if tot, _ := balance(t, h.s, keyECDSA, "ETH"); tot != "999.999" {
		t.Errorf("ETH %s, want 1000 + 1 - 0.001 fee - 1", tot)
	}
	if tot, _ := balance(t, h.s, keyECDSA, "BTC"); tot != "10.0001688" { // -0.031 + 0.0312 - 0.0000312
		t.Errorf("BTC %s", tot)
	}
}

// TestMatchBackgroundFlowHitsTheTouch: background takers fill an order at the top of book.
func TestMatchBackgroundFlowHitsTheTouch(t *testing.T) {
	h := newHarness(t, func(c *Config) { c.Volatility = dec("0.0001") }) // a still market: only flow fills
	w := h.dial()
	h.login(w, keyHMAC)
	h.insert(keyHMAC, "ETH-BTC", "buy", "0.031", "0.3", "touch-b")
	h.insert(keyHMAC, "ETH-BTC", "sell", "0.031002", "0.3", "touch-s")
	w.orderReturn("touch-s", "3")
	for range 100 {
		h.s.Step()
	}
	sides := map[string]bool{}
	for len(sides) < 2 {
		m := w.waitFor("fills", isType("trade_return"))
		if m["priceSource"] != m["direction"] {
			t.Errorf("background fill not as maker: %v", m)
		}
		sides[m["direction"].(string)] = true
	}
}

// TestOrderLifecycleCodes: 2011 on the private stream, 2014/2015 on cancels, repeated local
// IDs, batch cancel refusals as order_cancel_rsp.
func TestOrderLifecycleCodes(t *testing.T) {
	h := newHarness(t, nil)
	w := h.dial()
	h.login(w, keyHMAC)
	t.Run("insufficient balance", func(t *testing.T) {
		h.insert(keyHMAC, "BTC-USDT", "buy", "60000", "17", "rich") // 1,020,000 USDT > 1,000,000
		checkFields(t, "reject", w.waitFor("insert rsp", isType("order_insert_rsp")), map[string]string{
			"orderLocalID": "rich", "respCode": "2011",
		})
		h.insert(keyHMAC, "ETH-BTC", "sell", "0.04", "1000.001", "short")
		checkFields(t, "reject", w.waitFor("insert rsp", isType("order_insert_rsp")), map[string]string{
			"orderLocalID": "short", "respCode": "2011",
		})
		if tot, avail := balance(t, h.s, keyHMAC, "USDT"); tot != "1000000" || avail != "1000000" {
			t.Errorf("USDT %s/%s", tot, avail)
		}
		// Frozen funds count: two buys that fit one at a time.
		h.insert(keyHMAC, "BTC-USDT", "buy", "50000", "15", "big1")
		h.insert(keyHMAC, "BTC-USDT", "buy", "50000", "15", "big2")
		w.orderReturn("big1", "3")
		checkFields(t, "second", w.waitFor("insert rsp", isType("order_insert_rsp")), map[string]string{"orderLocalID": "big2", "respCode": "2011"})
		if _, avail := balance(t, h.s, keyHMAC, "USDT"); avail != "250000" {
			t.Errorf("available USDT %s, want 250000", avail)
		}
	})
	t.Run("cancel filled and cancelled", func(t *testing.T) {
		h.insert(keyHMAC, "ETH-BTC", "buy", "0.0311", "0.01", "filled") // crosses the synthetic ask
		w.orderReturn("filled", "0")
		if _, out := h.call(keyHMAC, "POST", "/v1/order/cancelByLocalID", `{"orderLocalID":"filled"}`); respCode(out) != "2014" {
			t.Errorf("cancel filled: %s", out)
		}
		h.insert(keyHMAC, "ETH-BTC", "buy", "0.02", "1", "gone")
		m := w.orderReturn("gone", "3")
		sys := m["orderSysID"].(string)
		h.mustOK(keyHMAC, "POST", "/v1/order/cancelBySysID", `{"orderSysID":"`+sys+`"}`)
		w.orderReturn("gone", "5")
		for _, body := range []string{`{"orderSysID":"` + sys + `"}`} {
			if _, out := h.call(keyHMAC, "POST", "/v1/order/cancelBySysID", body); respCode(out) != "2015" {
				t.Errorf("cancel cancelled: %s", out)
			}
		}
		if _, out := h.call(keyHMAC, "POST", "/v1/order/cancelByLocalID", `{"orderLocalID":"gone"}`); respCode(out) != "2015" {
			t.Errorf("cancel cancelled by local ID: %s", out)
		}
		// Another account cannot cancel it either: unknown to it.
		if _, out := h.call(keyHMAC2, "POST", "/v1/order/cancelBySysID", `{"orderSysID":"`+sys+`"}`); respCode(out) != "2004" {
			t.Errorf("cancel by another account: %s", out)
		}
	})
	t.Run("repeated local IDs hit the newest", func(t *testing.T) {
		h.insert(keyHMAC, "ETH-BTC", "buy", "0.02", "1", "twice")
		first := w.orderReturn("twice", "3")["orderSysID"]
		h.insert(keyHMAC, "ETH-BTC", "buy", "0.021", "1", "twice")
		second := w.orderReturn("twice", "3")["orderSysID"]
		if first == second {
			t.Fatal("same sysID")
		}
		out := h.mustOK(keyHMAC, "POST", "/v1/order/getOrderByLocalID", `{"orderLocalID":"twice"}`)
		if !strings.Contains(string(out), `"orderSysID":"`+second.(string)+`"`) {
			t.Errorf("by local ID: %s, want the newest %s", out, second)
		}
		h.mustOK(keyHMAC, "POST", "/v1/order/cancelByLocalID", `{"orderLocalID":"twice"}`)
		if m := w.orderReturn("twice", "5"); m["orderSysID"] != second {
			t.Errorf("cancelled %v, want the newest", m["orderSysID"])
		}
		found := false
		for _, o := range h.s.OpenOrders(keyHMAC) {
			found = found || o.SysID == first
		}
		if !found {
			t.Error("the older duplicate is no longer open")
		}
	})
	t.Run("batch cancel", func(t *testing.T) {
		h.insert(keyHMAC, "ETH-USDT", "buy", "1000", "1", "bc1")
		sys := w.orderReturn("bc1", "3")["orderSysID"].(string)
		out := h.mustOK(keyHMAC, "POST", "/v1/order/batchCancel", `{"orderSysIDs":["`+sys+`","424242"]}`)
		if string(out) != `["`+sys+`","424242"]` {
			t.Errorf("batch answer %s", out)
		}
		w.orderReturn("bc1", "5")
		checkFields(t, "refusal", w.waitFor("cancel rsp", isType("order_cancel_rsp")), map[string]string{
			"orderSysID": "424242", "respCode": "2004",
		})
	})
}

// TestRetentionBounded: closed orders and fills beyond the cap are forgotten.
func TestRetentionBounded(t *testing.T) {
	h := newHarness(t, func(c *Config) { c.RetainClosed = 5 })
	h.insert(keyHMAC, "ETH-BTC", "buy", "0.02", "1", "keep-open")
	for i := range 200 {
		id := fmt.Sprintf("c%d", i)
		h.insert(keyHMAC, "ETH-BTC", "buy", "0.02", "1", id)
		h.mustOK(keyHMAC, "POST", "/v1/order/cancelByLocalID", `{"orderLocalID":"`+id+`"}`)
	}
	for i := range 30 {
		h.insert(keyHMAC, "ETH-BTC", "buy", "0.0311", "0.001", fmt.Sprintf("f%d", i)) // fills at once
	}
	h.sync()
	var list []map[string]string
	json.Unmarshal(h.mustOK(keyHMAC, "POST", "/v1/order/getOrder", `{}`), &list)
	if len(list) != 6 || list[0]["orderLocalID"] != "f29" || list[5]["orderLocalID"] != "keep-open" {
		t.Errorf("getOrder kept %d orders: %v", len(list), list)
	}
	var fills []map[string]string
	json.Unmarshal(h.mustOK(keyHMAC, "POST", "/v1/trade/getTrade", `{}`), &fills)
	h.s.mu.Lock()
	a := h.s.byKey[keyHMAC]
	sizes := []int{len(a.bySys), len(a.byLocal), len(a.history), len(a.closed), len(a.fills)}
	h.s.mu.Unlock()
	if len(fills) > 10 || len(fills) < 5 {
		t.Errorf("getTrade returned %d fills with a cap of 5", len(fills))
	}
	if sizes[0] != 6 || sizes[1] != 6 || sizes[2] > 80 || sizes[3] != 5 || sizes[4] > 10 {
		t.Errorf("retained sizes bySys/byLocal/history/closed/fills = %v", sizes)
	}
}

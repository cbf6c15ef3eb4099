package hashkeysim

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"
)

// vectorRequest sends a REST vector exactly as written (its headers, path and body) as key.
func (h *harness) vectorRequest(vec vector, key string, mutate func(ts, sig, body *string)) (int, []byte) {
	h.t.Helper()
	ts, sig, body := vec.Timestamp, vec.Signature, vec.Body
	if mutate != nil {
		mutate(&ts, &sig, &body)
	}
	hd := http.Header{}
	hd.Set("API-KEY", key)
	hd.Set("API-TIMESTAMP", ts)
	hd.Set("API-SIGNATURE", sig)
	hd.Set("AUTH-TYPE", vec.AuthType)
	hd.Set("Content-Type", "application/json")
	return h.send(vec.Method, vec.Path, []byte(body), hd)
}

func isAuthCode(code string) bool {
	n, err := strconv.Atoi(code)
	return err == nil && n >= 1000 && n <= 1011
}

// TestRESTVectorsAccepted replays every REST signing vector, byte for byte, against
// simulators of each signing setting: accepted under its own revision and "any", 1000 under
// the other revision. PUB-PRIV vectors go through both the compressed- and the
// uncompressed-key account.
func TestRESTVectorsAccepted(t *testing.T) {
	for _, signing := range []string{"v4.3", "v4.2", "any"} {
		t.Run(signing, func(t *testing.T) {
			h := newHarness(t, func(c *Config) { c.Signing = signing })
			for _, vec := range h.v.Vectors {
				if vec.Kind != "rest" {
					continue
				}
				keys := []string{keyHMAC}
				if vec.AuthType == AuthPubPriv {
					keys = []string{keyECDSA, keyECDSAU}
				}
				ms, _ := strconv.ParseInt(vec.Timestamp, 10, 64)
				h.clock.Set(time.UnixMilli(ms))
				for _, key := range keys {
					status, out := h.vectorRequest(vec, key, nil)
					accepted := !isAuthCode(respCode(out)) && status != http.StatusUnauthorized
					want := signing == "any" || signing == vec.Scheme
					if accepted != want {
						t.Errorf("%s %s %s as %s: HTTP %d %s, want accepted=%v", vec.Name, vec.Scheme, vec.AuthType, key, status, out, want)
					}
					if !want && respCode(out) != "1000" {
						t.Errorf("%s %s as %s: code %q, want 1000", vec.Name, vec.Scheme, key, respCode(out))
					}
				}
			}
		})
	}
}

// TestRESTVectorsTampered: one byte changed in the body, timestamp or signature is 1000; a
// stale timestamp is 1001.
func TestRESTVectorsTampered(t *testing.T) {
	h := newHarness(t, nil)
	flip := func(s string, i int) string {
		b := []byte(s)
		if b[i] == 'A' {
			b[i] = 'B'
		} else {
			b[i] = 'A'
		}
		return string(b)
	}
	for _, vec := range h.v.Vectors {
		if vec.Kind != "rest" {
			continue
		}
		key := keyHMAC
		if vec.AuthType == AuthPubPriv {
			key = keyECDSA
		}
		ms, _ := strconv.ParseInt(vec.Timestamp, 10, 64)
		cases := []struct {
			name   string
			mutate func(ts, sig, body *string)
			clock  time.Duration
			code   string
		}{
			{"timestamp byte", func(ts, _, _ *string) { *ts = strconv.FormatInt(ms+1, 10) }, 0, "1000"},
			{"signature byte", func(_, sig, _ *string) {
				// change a character inside the base64 (for PUB-PRIV: inside r)
				*sig = flip(*sig, strings.IndexAny(*sig, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789")+2)
			}, 0, "1000"},
			{"stale timestamp", nil, 31 * time.Second, "1001"},
			{"future timestamp", nil, -31 * time.Second, "1001"},
		}
		if vec.Body != "" {
			cases = append(cases, struct {
				name   string
				mutate func(ts, sig, body *string)
				clock  time.Duration
				code   string
			}{"body byte", func(_, _, body *string) { *body = strings.Replace(*body, "1", "2", 1) }, 0, "1000"})
		}
		for _, tc := range cases {
			h.clock.Set(time.UnixMilli(ms).Add(tc.clock))
			status, out := h.vectorRequest(vec, key, tc.mutate)
			if got := respCode(out); got != tc.code || status != http.StatusUnauthorized {
				t.Errorf("%s %s %s, %s: HTTP %d %s, want %s", vec.Name, vec.Scheme, vec.AuthType, tc.name, status, out, tc.code)
			}
		}
	}
}

// TestRESTSigningForms: what real clients send and the simulator must accept.
func TestRESTSigningForms(t *testing.T) {
	core, logs := observer.New(zapcore.DebugLevel)
	h := newHarness(t, func(c *Config) { c.Logger = zap.New(core) })
	ts := strconv.FormatInt(h.s.now().UnixMilli(), 10)
	send := func(key, method, target, body, sig string) (int, []byte) {
		hd := http.Header{}
		hd.Set("API-KEY", key)
		hd.Set("API-TIMESTAMP", ts)
		hd.Set("API-SIGNATURE", sig)
		hd.Set("AUTH-TYPE", h.authType(key))
		return h.send(method, target, []byte(body), hd)
	}
	t.Run("GET signed without query", func(t *testing.T) {
		for _, key := range []string{keyHMAC, keyECDSA} {
			sig := h.signMessage(key, "v4.3", []byte(ts+"GET/v1/marketData/getLevel2"))
			if status, out := send(key, "GET", "/v1/marketData/getLevel2?instrumentID=ETH-BTC", "", sig); status != 200 {
				t.Errorf("%s: HTTP %d %s", key, status, out)
			}
		}
	})
	t.Run("GET signed with query", func(t *testing.T) {
		for _, key := range []string{keyHMAC, keyECDSA} {
			sig := h.signMessage(key, "v4.3", []byte(ts+"GET/v1/marketData/getLevel2?instrumentID=ETH-BTC"))
			if status, out := send(key, "GET", "/v1/marketData/getLevel2?instrumentID=ETH-BTC", "", sig); status != 200 {
				t.Errorf("%s: HTTP %d %s", key, status, out)
			}
		}
		seen := logs.FilterMessage("sim_signature_form").FilterField(zap.String("form", "with_query")).Len()
		if seen != 2 {
			t.Errorf("logged %d sim_signature_form with_query, want 2", seen)
		}
	})
	t.Run("PUB-PRIV header with spaces and keys reordered", func(t *testing.T) {
		sig := h.signMessage(keyECDSA, "v4.3", []byte(ts+"GET/v1/info/time"))
		var parts struct {
			R string `json:"r"`
			S string `json:"s"`
			V int    `json:"v"`
		}
		if err := json.Unmarshal([]byte(sig), &parts); err != nil {
			t.Fatal(err)
		}
		for _, form := range []string{
			fmt.Sprintf(`{"r": "%s", "s": "%s", "v": %d}`, parts.R, parts.S, parts.V),
			fmt.Sprintf(`{ "v" : %d , "s" : "%s" , "r" : "%s" }`, parts.V, parts.S, parts.R),
		} {
			if status, out := send(keyECDSA, "GET", "/v1/info/time", "", form); status != 200 {
				t.Errorf("%s: HTTP %d %s", form, status, out)
			}
		}
	})
	t.Run("body keys in any order, non-numeric local ID", func(t *testing.T) {
		body := `{"orderLocalID":"test","timeCondition":"GTC","volumeTotalOriginal":"0.5","limitPrice":"0.001","direction":"buy","orderPriceType":"limit","instrumentID":"ETH-BTC"}`
		for _, key := range []string{keyHMAC, keyECDSA} {
			sig := h.signMessage(key, "v4.3", []byte(ts+"POST/v1/order/insert"+body))
			if status, out := send(key, "POST", "/v1/order/insert", body, sig); status != 200 || string(out) != `{"orderLocalID":"test"}` {
				t.Errorf("%s: HTTP %d %s", key, status, out)
			}
		}
		h.sync()
		if n := len(h.s.OpenOrders(keyHMAC)); n != 1 {
			t.Errorf("%d open orders, want 1", n)
		}
	})
	t.Run("second-resolution timestamps shared by several requests", func(t *testing.T) {
		sec := strconv.FormatInt(h.s.now().Unix()*1000, 10)
		for range 3 {
			hd := http.Header{}
			hd.Set("API-KEY", keyHMAC)
			hd.Set("API-TIMESTAMP", sec)
			hd.Set("API-SIGNATURE", h.signMessage(keyHMAC, "v4.3", []byte(sec+"GET/v1/account/assets")))
			hd.Set("AUTH-TYPE", AuthHMAC)
			if status, out := h.send("GET", "/v1/account/assets", nil, hd); status != 200 {
				t.Errorf("HTTP %d %s", status, out)
			}
		}
	})
	t.Run("public GETs unsigned", func(t *testing.T) {
		for _, target := range []string{"/v1/info/time", "/v1/info/version", "/v1/referenceData/instrument", "/v1/marketData/getLevel2?instrumentID=BTC-USDT"} {
			if status, out := h.send("GET", target, nil, nil); status != 200 {
				t.Errorf("%s: HTTP %d %s", target, status, out)
			}
		}
		if status, out := h.send("GET", "/v1/account/assets", nil, nil); respCode(out) != "1008" || status != 401 {
			t.Errorf("unsigned assets: HTTP %d %s, want 1008", status, out)
		}
	})
}

// TestRESTErrorCodes produces every error code the simulator answers, each from a request
// that is wrong in exactly one way, with the HTTP status that goes with it.
func TestRESTErrorCodes(t *testing.T) {
	h := newHarness(t, nil)
	const good = `{"instrumentID":"ETH-BTC","orderPriceType":"limit","direction":"buy","limitPrice":"0.031","volumeTotalOriginal":"1.5","timeCondition":"GTC","orderLocalID":"1"}`
	with := func(field, value string) string {
		var m map[string]any
		json.Unmarshal([]byte(good), &m)
		if value == "<absent>" {
			delete(m, field)
		} else {
			m[field] = value
		}
		b, _ := json.Marshal(m)
		return string(b)
	}
	signed := func(key, method, target, body string) http.Header {
		return h.headers(key, method, target, []byte(body))
	}
	without := func(name string) http.Header {
		hd := signed(keyHMAC, "GET", "/v1/account/assets", "")
		hd.Del(name)
		return hd
	}
	cases := []struct {
		name, method, target, body string
		hd                         http.Header // nil: signed as keyHMAC
		code                       string
		status                     int
	}{
		{"missing timestamp", "GET", "/v1/account/assets", "", without("API-TIMESTAMP"), "1008", 401},
		{"timestamp not a number", "GET", "/v1/account/assets", "", func() http.Header {
			hd := signed(keyHMAC, "GET", "/v1/account/assets", "")
			hd.Set("API-TIMESTAMP", "soon")
			return hd
		}(), "1008", 401},
		{"missing key", "GET", "/v1/account/assets", "", without("API-KEY"), "1009", 401},
		{"missing signature", "GET", "/v1/account/assets", "", without("API-SIGNATURE"), "1010", 401},
		{"missing auth type", "GET", "/v1/account/assets", "", without("AUTH-TYPE"), "1011", 401},
		{"invalid auth type", "GET", "/v1/account/assets", "", func() http.Header {
			hd := signed(keyHMAC, "GET", "/v1/account/assets", "")
			hd.Set("AUTH-TYPE", "RSA")
			return hd
		}(), "1011", 401},
		{"unknown key", "GET", "/v1/account/assets", "", func() http.Header {
			hd := signed(keyHMAC, "GET", "/v1/account/assets", "")
			hd.Set("API-KEY", "nobody")
			return hd
		}(), "1002", 401},
		{"auth type mismatch", "GET", "/v1/account/assets", "", func() http.Header {
			hd := signed(keyHMAC, "GET", "/v1/account/assets", "")
			hd.Set("AUTH-TYPE", AuthPubPriv)
			return hd
		}(), "1000", 401},
		{"signed by another key", "GET", "/v1/account/assets", "", func() http.Header {
			hd := signed(keyHMAC2, "GET", "/v1/account/assets", "")
			hd.Set("API-KEY", keyHMAC)
			return hd
		}(), "1000", 401},
		{"signature for another path", "GET", "/v1/account/assets", "", func() http.Header {
			hd := signed(keyHMAC, "GET", "/v1/info/time", "")
			return hd
		}(), "1000", 401},
		{"expired", "GET", "/v1/account/assets", "", func() http.Header {
			old := strconv.FormatInt(h.s.now().Add(-time.Minute).UnixMilli(), 10)
			hd := signed(keyHMAC, "GET", "/v1/account/assets", "")
			hd.Set("API-TIMESTAMP", old)
			hd.Set("API-SIGNATURE", h.signMessage(keyHMAC, "v4.3", []byte(old+"GET/v1/account/assets")))
			return hd
		}(), "1001", 401},
		{"unexpected property", "POST", "/v1/order/insert", with("price", "1"), nil, "1007", 400},
		{"trailing-space property", "POST", "/v1/order/insert", strings.Replace(good, `"direction"`, `"direction "`, 1), nil, "1007", 400},
		{"old spelling orderLocalId", "POST", "/v1/order/cancelByLocalID", `{"orderLocalId":"1"}`, nil, "1007", 400},
		{"number instead of string", "POST", "/v1/order/insert", strings.Replace(good, `"1.5"`, `1.5`, 1), nil, "1007", 400},
		{"malformed JSON", "POST", "/v1/order/insert", `{"instrumentID":`, nil, "1007", 400},
		{"two objects", "POST", "/v1/order/getOrder", `{}{}`, nil, "1007", 400},
		{"price decimals", "POST", "/v1/order/insert", with("limitPrice", "0.0310001"), nil, "2001", 400},
		{"volume decimals", "POST", "/v1/order/insert", with("volumeTotalOriginal", "1.5001"), nil, "2002", 400},
		{"local ID too long", "POST", "/v1/order/insert", with("orderLocalID", "123456789012345678901"), nil, "2003", 400},
		{"unknown instrument", "POST", "/v1/order/insert", with("instrumentID", "DOGE-BTC"), nil, "2006", 400},
		{"price too big", "POST", "/v1/order/insert", with("limitPrice", "10000000"), nil, "2020", 400},
		{"volume too big", "POST", "/v1/order/insert", with("volumeTotalOriginal", "10000000"), nil, "2019", 400},
		{"price zero", "POST", "/v1/order/insert", with("limitPrice", "0"), nil, "2009", 400},
		{"price negative", "POST", "/v1/order/insert", with("limitPrice", "-0.031"), nil, "2009", 400},
		{"price not a number", "POST", "/v1/order/insert", with("limitPrice", "cheap"), nil, "2009", 400},
		{"price exponent decimals", "POST", "/v1/order/insert", with("limitPrice", "1e-50"), nil, "2001", 400},
		{"price huge exponent", "POST", "/v1/order/insert", with("limitPrice", "1e-999999999"), nil, "2009", 400},
		{"price long", "POST", "/v1/order/insert", with("limitPrice", "0."+strings.Repeat("0", 70)+"1"), nil, "2009", 400},
		{"volume zero", "POST", "/v1/order/insert", with("volumeTotalOriginal", "0"), nil, "2012", 400},
		{"volume not a number", "POST", "/v1/order/insert", with("volumeTotalOriginal", "lots"), nil, "2012", 400},
		{"market order", "POST", "/v1/order/insert", with("orderPriceType", "market"), nil, "2021", 400},
		{"IOC", "POST", "/v1/order/insert", with("timeCondition", "IOC"), nil, "2022", 400},
		{"direction", "POST", "/v1/order/insert", with("direction", "long"), nil, "2017", 400},
		{"missing local ID", "POST", "/v1/order/insert", with("orderLocalID", "<absent>"), nil, "2018", 400},
		{"cancel unknown local ID", "POST", "/v1/order/cancelByLocalID", `{"orderLocalID":"nope"}`, nil, "2004", 400},
		{"cancel unknown sys ID", "POST", "/v1/order/cancelBySysID", `{"orderSysID":"999999"}`, nil, "2004", 400},
		{"cancel empty local ID", "POST", "/v1/order/cancelByLocalID", `{"orderLocalID":""}`, nil, "2018", 400},
		{"cancel empty sys ID", "POST", "/v1/order/cancelBySysID", `{}`, nil, "2016", 400},
		{"batch of 11", "POST", "/v1/order/batchCancel", `{"orderSysIDs":["1","2","3","4","5","6","7","8","9","10","11"]}`, nil, "2005", 400},
		{"level2 unknown instrument", "GET", "/v1/marketData/getLevel2?instrumentID=DOGE-BTC", "", nil, "2006", 400},
		{"getOrder bad status", "POST", "/v1/order/getOrder", `{"orderStatus":"open"}`, nil, "2009", 400},
		{"getOrder bad timestamp", "POST", "/v1/order/getOrder", `{"startTimestamp":"yesterday"}`, nil, "2009", 400},
		{"getTrade unknown instrument", "POST", "/v1/trade/getTrade", `{"instrumentID":"X-Y"}`, nil, "2006", 400},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			hd := tc.hd
			if hd == nil {
				hd = signed(keyHMAC, tc.method, tc.target, tc.body)
			}
			status, out := h.send(tc.method, tc.target, []byte(tc.body), hd)
			if got := respCode(out); got != tc.code || status != tc.status {
				t.Errorf("HTTP %d %s, want %d with respCode %s", status, out, tc.status, tc.code)
			}
		})
	}
	t.Run("body over 1 MiB", func(t *testing.T) {
		body := `{"orderLocalID":"` + strings.Repeat("x", maxBody) + `"}`
		status, out := h.send("POST", "/v1/order/getOrderByLocalID", []byte(body), signed(keyHMAC, "POST", "/v1/order/getOrderByLocalID", body))
		if status != http.StatusRequestEntityTooLarge || respCode(out) != "1007" {
			t.Errorf("HTTP %d %s, want 413 with 1007", status, out)
		}
	})
	t.Run("unknown path and wrong method", func(t *testing.T) {
		if status, _ := h.call(keyHMAC, "GET", "/v1/order/create", ""); status != http.StatusNotFound {
			t.Errorf("unknown path: HTTP %d", status)
		}
		if status, _ := h.call(keyHMAC, "GET", "/v1/order/insert", ""); status != http.StatusMethodNotAllowed {
			t.Errorf("GET insert: HTTP %d", status)
		}
	})
}

// TestRESTMaintenance: the Maintenance fault answers inserts with 2007.
func TestRESTMaintenance(t *testing.T) {
	h := newHarness(t, nil)
	h.s.Faults().Maintenance(true)
	body := `{"instrumentID":"ETH-BTC","orderPriceType":"limit","direction":"buy","limitPrice":"0.03","volumeTotalOriginal":"1","timeCondition":"GTC","orderLocalID":"m1"}`
	if status, out := h.call(keyHMAC, "POST", "/v1/order/insert", body); respCode(out) != "2007" || status != 400 {
		t.Fatalf("HTTP %d %s, want 2007", status, out)
	}
	h.s.Faults().Maintenance(false)
	h.mustOK(keyHMAC, "POST", "/v1/order/insert", body)
}

// TestRESTRateLimits: per key, a sliding second; a batch cancel counts its size; the
// published figures come from the configuration; refused calls are 1004 / HTTP 429.
func TestRESTRateLimits(t *testing.T) {
	h := newHarness(t, func(c *Config) {
		c.NoRateLimit = false
		c.RateLimits.Query = 5
		c.RateLimits.Order = 12
	})
	out := h.mustOK(keyHMAC, "GET", "/v1/referenceData/rateLimit", "")
	if string(out) != `{"queryRateLimit":"5","orderRateLimit":"12"}` {
		t.Fatalf("rateLimit answered %s", out)
	}
	// The clock stands still: 4 more queries fit in this second, the 6th does not.
	for range 4 {
		h.mustOK(keyHMAC, "GET", "/v1/account/assets", "")
	}
	status, out := h.call(keyHMAC, "GET", "/v1/account/assets", "")
	if status != http.StatusTooManyRequests || respCode(out) != "1004" {
		t.Fatalf("6th query: HTTP %d %s, want 429 1004", status, out)
	}
	// Another key has its own buckets.
	h.mustOK(keyHMAC2, "GET", "/v1/account/assets", "")
	// Sliding: half a second later still full; a second after the first call, room again.
	h.clock.Advance(500 * time.Millisecond)
	if _, out := h.call(keyHMAC, "GET", "/v1/account/assets", ""); respCode(out) != "1004" {
		t.Fatalf("after 0.5 s: %s, want 1004", out)
	}
	h.clock.Advance(501 * time.Millisecond)
	h.mustOK(keyHMAC, "GET", "/v1/account/assets", "")

	// Orders: a batch of 10 counts 10, leaving room for 2 of the 12.
	h.mustOK(keyHMAC, "POST", "/v1/order/batchCancel", `{"orderSysIDs":["1","2","3","4","5","6","7","8","9","10"]}`)
	h.call(keyHMAC, "POST", "/v1/order/cancelBySysID", `{"orderSysID":"1"}`)
	h.call(keyHMAC, "POST", "/v1/order/cancelBySysID", `{"orderSysID":"1"}`)
	if status, out := h.call(keyHMAC, "POST", "/v1/order/cancelBySysID", `{"orderSysID":"1"}`); respCode(out) != "1004" {
		t.Fatalf("13th order call: HTTP %d %s, want 1004", status, out)
	}
	// Queries and orders are separate buckets.
	h.clock.Advance(time.Second)
	h.mustOK(keyHMAC, "GET", "/v1/account/assets", "")
}

// TestRESTQueries covers assets, instruments, level2, getOrder, getOrderByLocalID, getTrade.
func TestRESTQueries(t *testing.T) {
	h := newHarness(t, nil)
	t.Run("time and version", func(t *testing.T) {
		out := h.mustOK(keyHMAC, "GET", "/v1/info/time", "")
		if want := fmt.Sprintf(`{"timestamp":"%d"}`, vectorTime.UnixMilli()); string(out) != want {
			t.Errorf("time %s, want %s", out, want)
		}
		if out := h.mustOK(keyHMAC, "GET", "/v1/info/version", ""); !strings.Contains(string(out), `"version":"`) {
			t.Errorf("version %s", out)
		}
	})
	t.Run("instruments", func(t *testing.T) {
		out := h.mustOK(keyHMAC, "GET", "/v1/referenceData/instrument", "")
		want := `[{"instrumentID":"ETH-BTC","tradingAsset":"BTC","tradingTarget":"ETH","volumePrecision":"3","pricePrecision":"6"},` +
			`{"instrumentID":"BTC-USDT","tradingAsset":"USDT","tradingTarget":"BTC","volumePrecision":"4","pricePrecision":"2"},` +
			`{"instrumentID":"ETH-USDT","tradingAsset":"USDT","tradingTarget":"ETH","volumePrecision":"3","pricePrecision":"2"}]`
		if string(out) != want {
			t.Errorf("instruments\n got %s\nwant %s", out, want)
		}
		out = h.mustOK(keyHMAC, "GET", "/v1/referenceData/instrument?instrumentID=ETH-USDT&instrumentID=CYB-BTC", "")
		if !strings.HasPrefix(string(out), `[{"instrumentID":"ETH-USDT"`) || strings.Count(string(out), "instrumentID") != 1 {
			t.Errorf("filtered instruments %s", out)
		}
	})
	t.Run("level2", func(t *testing.T) {
		out := h.mustOK(keyHMAC, "GET", "/v1/marketData/getLevel2?instrumentID=ETH-BTC", "")
		var book struct {
			InstrumentID string      `json:"instrumentID"`
			Buy          [][2]string `json:"buy"`
			Sell         [][2]string `json:"sell"`
			PubTimestamp string      `json:"pubTimestamp"`
		}
		if err := json.Unmarshal(out, &book); err != nil {
			t.Fatal(err)
		}
		if book.InstrumentID != "ETH-BTC" || len(book.Buy) != maxDepth || len(book.Sell) != maxDepth || book.PubTimestamp == "" {
			t.Errorf("level2: %s", out)
		}
		if strings.Contains(string(out), `"type"`) {
			t.Errorf("REST book carries a type: %s", out)
		}
	})
	t.Run("assets", func(t *testing.T) {
		out := h.mustOK(keyHMAC, "GET", "/v1/account/assets", "")
		want := `[{"accountID":"10001","asset":"BTC","balance":"10","available":"10"},{"accountID":"10001","asset":"ETH","balance":"1000","available":"1000"},{"accountID":"10001","asset":"USDT","balance":"1000000","available":"1000000"}]`
		if string(out) != want {
			t.Errorf("assets\n got %s\nwant %s", out, want)
		}
	})
	t.Run("orders", func(t *testing.T) {
		h.insert(keyHMAC, "ETH-BTC", "buy", "0.02", "1", "q1")
		h.insert(keyHMAC, "ETH-USDT", "sell", "3000", "2", "q2")
		h.insert(keyHMAC, "ETH-BTC", "buy", "0.021", "1", "q3")
		h.sync()
		h.mustOK(keyHMAC, "POST", "/v1/order/cancelByLocalID", `{"orderLocalID":"q3"}`)
		var list []map[string]string
		get := func(body string) []map[string]string {
			t.Helper()
			out := h.mustOK(keyHMAC, "POST", "/v1/order/getOrder", body)
			list = nil
			if err := json.Unmarshal(out, &list); err != nil {
				t.Fatalf("getOrder %s: %v", out, err)
			}
			return list
		}
		ids := func(l []map[string]string) string {
			var s []string
			for _, o := range l {
				s = append(s, o["orderLocalID"])
			}
			return strings.Join(s, ",")
		}
		for body, want := range map[string]string{
			``:                                "q3,q2,q1",
			`{}`:                              "q3,q2,q1",
			`{"orderStatus":"active"}`:        "q2,q1",
			`{"orderStatus":"closed"}`:        "q3",
			`{"orderStatus":""}`:              "q3,q2,q1",
			`{"instrumentID":"ETH-USDT"}`:     "q2",
			`{"orderSysID":"1"}`:              "q1",
			`{"startTimestamp":"1542104001"}`: "q3,q2,q1",
			`{"startTimestamp":"1542104002"}`: "",
			`{"endTimestamp":"1542104000"}`:   "",
			`{"endTimestamp":"1542104001"}`:   "q3,q2,q1",
		} {
			if got := ids(get(body)); got != want {
				t.Errorf("getOrder %s = %s, want %s", body, got, want)
			}
		}
		o := get(`{"orderSysID":"3"}`)[0]
		for k, v := range map[string]string{
			"orderSysID": "3", "orderLocalID": "q3", "instrumentID": "ETH-BTC", "direction": "buy",
			"orderPriceType": "limit", "limitPrice": "0.021", "volumeTotalOriginal": "1", "volumeTotal": "1",
			"volumeTraded": "0", "timeCondition": "GTC", "orderStatus": "5", "actionTimestamp": "1542104001056",
			"insertDate": "20181113", "insertTime": "10:13:21", "insertTimestamp": "1542104001",
			"cancelDate": "20181113", "cancelTime": "10:13:21",
		} {
			if o[k] != v {
				t.Errorf("order field %s = %q, want %q", k, o[k], v)
			}
		}
		if out := h.mustOK(keyHMAC, "POST", "/v1/order/getOrderByLocalID", `{"orderLocalID":"q1"}`); !strings.Contains(string(out), `"orderStatus":"3"`) {
			t.Errorf("open order by local ID: %s", out)
		}
		for _, id := range []string{"q3", "unknown"} {
			if out := h.mustOK(keyHMAC, "POST", "/v1/order/getOrderByLocalID", `{"orderLocalID":"`+id+`"}`); string(out) != "null" {
				t.Errorf("order %s by local ID: %s, want null", id, out)
			}
		}
		// Another account sees none of them.
		if out := h.mustOK(keyHMAC2, "POST", "/v1/order/getOrder", `{}`); string(out) != "[]" {
			t.Errorf("other account's orders: %s", out)
		}
	})
}

package hashkey

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/shopspring/decimal"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/mmd-dev/mmd/exchange"
	"github.com/mmd-dev/mmd/exchange/hashkey/hashkeysim"
	"github.com/mmd-dev/mmd/risk"
)

const (
	testKey    = "test-api-key"
	testSecret = "s3cr3t-NEVER-LOG-ME-vprggEasLOksdmut6Wc"
)

// Answers as the reference prints them, quirks included (trailing-space keys, seconds and
// milliseconds, string numbers).
const (
	instrumentsJSON = `[{"instrumentID ":"ETH-BTC","tradingAsset":"BTC","tradingTarget":"ETH","volumePrecision":"3","pricePrecision":"6"},` +
		`{"instrumentID":"BTC-USDT","tradingAsset":"USDT","tradingTarget":"BTC","volumePrecision":"4","pricePrecision":"2"}]`
	balancesJSON = `[{"accountID":"7","asset":"BTC","balance":"10.5","available":"9.25"},{"accountID":"7","asset":"ETH","balance":"100","available":"100"}]`
	level2JSON   = `{"instrumentID ":"ETH-BTC","buy":[["0.031","1.5"],["0.0309","2"]],"sell":[["0.0311","2.25"]],"pubDate":"20181113","pubTime":"10:13:21","pubTimestamp":"1542104001056"}`
	orderJSON    = `{"orderSysID":"900","orderLocalID":"15421040010560001","instrumentID":"ETH-BTC","direction":"buy","orderPriceType":"limit",` +
		`"limitPrice":"0.031","volumeTotalOriginal":"1.5","volumeTotal ":"1","volumeTraded":"0.5","timeCondition":"GTC","orderStatus":"1",` +
		`"actionTimestamp":"1542104001056","insertDate":"20181113","insertTime":"10:13:21","insertTimestamp":"1542104001","cancelDate":"","cancelTime":""}`
	fillJSON = `{"tradeID":"77","orderSysID":"900","orderLocalID":"15421040010560001","instrumentID":"ETH-BTC","direction":"buy","price ":"0.031",` +
		`"priceSource":"buy","volume ":"0.5","fee ":"0.0005","tradeDate":"20181113","tradeTime":"10:13:21","tradeTimestamp":"1542104001"}`
)

type recorded struct {
	Method, Path, RawQuery string
	Header                 http.Header
	Body                   []byte
	Remote                 string
	ServerName             string // TLS SNI
}

// restServer is a loopback HashKey Pro REST server: it checks every signed request's
// headers and signature with its own HMAC code (not the adapter's) and the timestamp
// against its clock, records it, and answers from handlers keyed "METHOD /v1/path".
type restServer struct {
	t    *testing.T
	srv  *httptest.Server
	skew time.Duration // server clock − real clock

	mu       sync.Mutex
	reqs     []recorded
	sigs     []string
	handlers map[string]http.HandlerFunc
}

func newRESTServer(t *testing.T) *restServer {
	s := &restServer{t: t, handlers: defaultHandlers()}
	s.srv = httptest.NewServer(http.HandlerFunc(s.serve))
	t.Cleanup(s.srv.Close)
	return s
}

func answer(status int, body string) http.HandlerFunc {
	return func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		io.WriteString(w, body)
	}
}

func defaultHandlers() map[string]http.HandlerFunc {
	return map[string]http.HandlerFunc{
		"GET /v1/info/version":             answer(200, `{"version":"4.1.2"}`),
		"GET /v1/referenceData/instrument": answer(200, instrumentsJSON),
		"GET /v1/referenceData/rateLimit":  answer(200, `{"queryRateLimit":"20","orderRateLimit":"100"}`),
		"GET /v1/account/assets":           answer(200, balancesJSON),
		"GET /v1/marketData/getLevel2":     answer(200, level2JSON),
		"POST /v1/order/cancelByLocalID":   answer(200, `{"orderLocalID":"L1","message":"received"}`),
		"POST /v1/order/cancelBySysID":     answer(200, `{"orderSysID":"900","message":"received"}`),
		"POST /v1/order/getOrderByLocalID": answer(200, orderJSON),
		"POST /v1/order/getOrder":          answer(200, "["+orderJSON+"]"),
		"POST /v1/trade/getTrade":          answer(200, "["+fillJSON+"]"),
		"POST /v1/order/insert":            echoInsert,
		"POST /v1/order/batchCancel":       echoBatch,
		"GET /v1/info/time":                nil, // served from the server clock
	}
}

func echoInsert(w http.ResponseWriter, r *http.Request) {
	var m map[string]string
	body, _ := io.ReadAll(r.Body)
	if err := json.Unmarshal(body, &m); err != nil {
		answer(400, `{"respCode":"1007","respMsg":"bad body"}`)(w, r)
		return
	}
	answer(200, `{"orderLocalID":"`+m["orderLocalID"]+`"}`)(w, r)
}

func echoBatch(w http.ResponseWriter, r *http.Request) {
	var m map[string][]string
	body, _ := io.ReadAll(r.Body)
	if err := json.Unmarshal(body, &m); err != nil {
		answer(400, `{"respCode":"1007","respMsg":"bad body"}`)(w, r)
		return
	}
	ids, _ := json.Marshal(m["orderSysIDs"])
	answer(200, string(ids))(w, r)
}

// publicPaths are the market-data GETs that may come unsigned.
var publicPaths = map[string]bool{"/v1/info/time": true, "/v1/info/version": true,
	"/v1/referenceData/instrument": true, "/v1/marketData/getLevel2": true}

func (s *restServer) handle(key string, h http.HandlerFunc) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.handlers[key] = h
}

func (s *restServer) now() time.Time { return time.Now().Add(s.skew) }

func (s *restServer) serve(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	path := strings.TrimPrefix(r.URL.Path, "/APITrade")
	rec := recorded{Method: r.Method, Path: path, RawQuery: r.URL.RawQuery, Header: r.Header.Clone(), Body: body, Remote: r.RemoteAddr}
	if r.TLS != nil {
		rec.ServerName = r.TLS.ServerName
	}
	s.mu.Lock()
	s.reqs = append(s.reqs, rec)
	if sig := r.Header.Get("API-SIGNATURE"); sig != "" {
		s.sigs = append(s.sigs, sig)
	}
	h, ok := s.handlers[r.Method+" "+path]
	s.mu.Unlock()
	if !ok {
		answer(404, "")(w, r)
		return
	}
	if r.Header.Get("API-KEY") != "" || !publicPaths[path] {
		if code := s.checkAuth(r, path, body); code != 0 {
			answer(401, fmt.Sprintf(`{"respCode":"%d","respMsg":"refused"}`, code))(w, r)
			return
		}
	}
	if path == "/v1/info/time" && h == nil {
		answer(200, fmt.Sprintf(`{"timestamp":"%d"}`, s.now().UnixMilli()))(w, r)
		return
	}
	r.Body = io.NopCloser(strings.NewReader(string(body)))
	h(w, r)
}

// checkAuth verifies the headers the way the exchange does and returns its respCode.
func (s *restServer) checkAuth(r *http.Request, path string, body []byte) int {
	h := r.Header
	switch {
	case h.Get("API-TIMESTAMP") == "":
		return 1008
	case h.Get("API-KEY") == "":
		return 1009
	case h.Get("API-SIGNATURE") == "":
		return 1010
	case h.Get("AUTH-TYPE") != "HMAC":
		return 1011
	case h.Get("API-KEY") != testKey:
		return 1002
	case h.Get("Content-Type") != "application/json":
		s.t.Errorf("%s: Content-Type %q", path, h.Get("Content-Type"))
	}
	ts := h.Get("API-TIMESTAMP")
	ms, err := strconv.ParseInt(ts, 10, 64)
	if err != nil || len(ts) != 13 {
		s.t.Errorf("%s: API-TIMESTAMP %q is not milliseconds", path, ts)
		return 1001
	}
	if d := s.now().Sub(time.UnixMilli(ms)); d > 30*time.Second || d < -30*time.Second {
		return 1001
	}
	mac := hmac.New(sha256.New, []byte(testSecret))
	mac.Write([]byte(ts + r.Method + path))
	mac.Write(body)
	if want := base64.StdEncoding.EncodeToString(mac.Sum(nil)); h.Get("API-SIGNATURE") != want {
		s.t.Errorf("%s: signature %q, want %q over the bytes received", path, h.Get("API-SIGNATURE"), want)
		return 1000
	}
	return 0
}

func (s *restServer) requests(method, path string) []recorded {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []recorded
	for _, r := range s.reqs {
		if r.Method == method && r.Path == path {
			out = append(out, r)
		}
	}
	return out
}

func (s *restServer) signatures() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.sigs)
}

func testCredentials() Credentials {
	return Credentials{APIKey: testKey, AuthType: AuthHMAC, Secret: NewSecret(testSecret)}
}

func newTestClient(t *testing.T, s *restServer, mod func(*Config)) *Client {
	t.Helper()
	cfg := Config{RESTURL: s.srv.URL + "/APITrade", WSURL: "ws://127.0.0.1:1/APITradeWS/v1/messages", Credentials: testCredentials()}
	if mod != nil {
		mod(&cfg)
	}
	c, err := NewClient(cfg)
	if err != nil {
		t.Fatal(err)
	}
	c.retryBase = time.Millisecond
	return c
}

func dec(s string) decimal.Decimal { return decimal.RequireFromString(s) }

func TestClientCalls(t *testing.T) {
	s := newRESTServer(t)
	c := newTestClient(t, s, nil)
	ctx := context.Background()
	ethbtc := exchange.Instrument{ID: "ETH-BTC", Base: "ETH", Quote: "BTC", PricePrecision: 6, VolumePrecision: 3}

	tests := []struct {
		name   string
		call   func(t *testing.T) any
		want   any
		method string
		path   string
		query  string // raw query of the last request
		body   string // body of the last request
	}{
		{name: "time", method: "GET", path: "/v1/info/time",
			call: func(t *testing.T) any {
				st, err := c.ServerTime(ctx)
				must(t, err)
				return time.Since(st).Abs() < 5*time.Second
			}, want: true},
		{name: "version", method: "GET", path: "/v1/info/version",
			call: func(t *testing.T) any { v, err := c.Version(ctx); must(t, err); return v }, want: "4.1.2"},
		{name: "instruments", method: "GET", path: "/v1/referenceData/instrument", query: "instrumentID=ETH-BTC&instrumentID=BTC-USDT",
			call: func(t *testing.T) any {
				v, err := c.Instruments(ctx, "ETH-BTC", "BTC-USDT")
				must(t, err)
				return v
			},
			want: []exchange.Instrument{ethbtc, {ID: "BTC-USDT", Base: "BTC", Quote: "USDT", PricePrecision: 2, VolumePrecision: 4}}},
		{name: "rate limits", method: "GET", path: "/v1/referenceData/rateLimit",
			call: func(t *testing.T) any {
				rl, err := c.RateLimits(ctx)
				must(t, err)
				return []int{rl.Query, rl.Order, c.limiter.Limit(QueryBucket), c.limiter.Limit(OrderBucket)}
			}, want: []int{20, 100, 16, 80}},
		{name: "balances", method: "GET", path: "/v1/account/assets",
			call: func(t *testing.T) any {
				b, err := c.Balances(ctx)
				must(t, err)
				return fmt.Sprint(b[0].Asset, b[0].Balance, b[0].Available, b[1].Asset, b[1].Balance)
			}, want: "BTC10.5 9.25ETH100"},
		{name: "level2", method: "GET", path: "/v1/marketData/getLevel2", query: "instrumentID=ETH-BTC",
			call: func(t *testing.T) any {
				b, err := c.Level2(ctx, "ETH-BTC")
				must(t, err)
				bp, bv, _ := b.BestBid()
				ap, av, _ := b.BestAsk()
				return fmt.Sprint(b.Instrument.ID, " ", bp, "x", bv, " ", ap, "x", av, " ", len(b.Bids), len(b.Asks), " ", b.ExchangeTime.UnixMilli())
			}, want: "ETH-BTC 0.031x1.5 0.0311x2.25 2 1 1542104001056"},
		{name: "insert", method: "POST", path: "/v1/order/insert",
			body: `{"instrumentID":"ETH-BTC","orderPriceType":"limit","direction":"sell","limitPrice":"0.0312","volumeTotalOriginal":"1.25","timeCondition":"GTC","orderLocalID":"15421040010560001"}`,
			call: func(t *testing.T) any {
				return c.insert(ctx, exchange.OrderRequest{Instrument: "ETH-BTC", Side: exchange.Sell,
					Price: dec("0.031200"), Volume: dec("1.250"), LocalID: "15421040010560001"})
			}, want: nil},
		{name: "insert tiny price without exponent", method: "POST", path: "/v1/order/insert",
			body: `{"instrumentID":"ETH-BTC","orderPriceType":"limit","direction":"buy","limitPrice":"0.000001","volumeTotalOriginal":"10000","timeCondition":"GTC","orderLocalID":"test"}`,
			call: func(t *testing.T) any {
				return c.insert(ctx, exchange.OrderRequest{Instrument: "ETH-BTC", Side: exchange.Buy,
					Price: decimal.New(1, -6), Volume: decimal.New(1, 4), LocalID: "test"})
			}, want: nil},
		{name: "cancel by local ID", method: "POST", path: "/v1/order/cancelByLocalID", body: `{"orderLocalID":"L1"}`,
			call: func(t *testing.T) any { return c.CancelByLocalID(ctx, "L1") }, want: nil},
		{name: "cancel by sys ID", method: "POST", path: "/v1/order/cancelBySysID", body: `{"orderSysID":"900"}`,
			call: func(t *testing.T) any { return c.CancelBySysID(ctx, "900") }, want: nil},
		{name: "order by local ID", method: "POST", path: "/v1/order/getOrderByLocalID", body: `{"orderLocalID":"15421040010560001"}`,
			call: func(t *testing.T) any {
				o, err := c.OrderByLocalID(ctx, "15421040010560001")
				must(t, err)
				return fmt.Sprint(o.SysID, o.Side, o.Price, o.Volume, o.Remaining, o.Traded, o.Status, o.Inserted.Unix())
			}, want: "900buy 0.031 1.5 1 0.5 partly_filled 1542104001"},
		{name: "orders", method: "POST", path: "/v1/order/getOrder",
			body: `{"startTimestamp":"1542100000","endTimestamp":"1542200000","orderStatus":"closed","instrumentID":"ETH-BTC","orderSysID":"900"}`,
			call: func(t *testing.T) any {
				o, err := c.Orders(ctx, OrderQuery{Start: time.Unix(1542100000, 0), End: time.Unix(1542200000, 0), Status: "closed", InstrumentID: "ETH-BTC", SysID: "900"})
				must(t, err)
				return len(o)
			}, want: 1},
		{name: "orders, no filter", method: "POST", path: "/v1/order/getOrder", body: `{}`,
			call: func(t *testing.T) any { o, err := c.Orders(ctx, OrderQuery{}); must(t, err); return len(o) }, want: 1},
		{name: "trades", method: "POST", path: "/v1/trade/getTrade", body: `{"startTimestamp":"1542100000","instrumentID":"ETH-BTC"}`,
			call: func(t *testing.T) any {
				f, err := c.Trades(ctx, TradeQuery{Start: time.Unix(1542100000, 0), InstrumentID: "ETH-BTC"})
				must(t, err)
				return fmt.Sprint(f[0].TradeID, f[0].Price, f[0].Volume, f[0].Fee, f[0].Maker(), f[0].Time.Unix())
			}, want: "770.031 0.5 0.0005 true 1542104001"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := tt.call(t)
			if fmt.Sprintf("%#v", got) != fmt.Sprintf("%#v", tt.want) {
				t.Fatalf("got %#v\nwant %#v", got, tt.want)
			}
			reqs := s.requests(tt.method, tt.path)
			if len(reqs) == 0 {
				t.Fatalf("server saw no %s %s", tt.method, tt.path)
			}
			last := reqs[len(reqs)-1]
			if last.RawQuery != tt.query {
				t.Errorf("query %q, want %q", last.RawQuery, tt.query)
			}
			if string(last.Body) != tt.body {
				t.Errorf("body %s\nwant %s", last.Body, tt.body)
			}
			for _, h := range []string{"API-KEY", "API-TIMESTAMP", "API-SIGNATURE", "AUTH-TYPE"} {
				if last.Header.Get(h) == "" {
					t.Errorf("header %s missing", h)
				}
			}
		})
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func TestClientOrderByLocalIDNull(t *testing.T) {
	s := newRESTServer(t)
	s.handle("POST /v1/order/getOrderByLocalID", answer(200, `null`))
	c := newTestClient(t, s, nil)
	o, err := c.OrderByLocalID(context.Background(), "gone")
	if err != nil || o != nil {
		t.Fatalf("OrderByLocalID = %v, %v; want nil, nil", o, err)
	}
}

func TestClientBatchCancelChunks(t *testing.T) {
	s := newRESTServer(t)
	c := newTestClient(t, s, nil)
	var ids []string
	for i := range 23 {
		ids = append(ids, strconv.Itoa(1000+i))
	}
	got, err := c.BatchCancel(context.Background(), ids)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(got, ids) {
		t.Fatalf("acknowledged %v", got)
	}
	reqs := s.requests("POST", "/v1/order/batchCancel")
	var sizes []int
	for _, r := range reqs {
		var m map[string][]string
		must(t, json.Unmarshal(r.Body, &m))
		sizes = append(sizes, len(m["orderSysIDs"]))
	}
	if !slices.Equal(sizes, []int{10, 10, 3}) {
		t.Fatalf("batches of %v, want [10 10 3]", sizes)
	}
	if !strings.HasPrefix(string(reqs[0].Body), `{"orderSysIDs":["1000","1001",`) {
		t.Fatalf("body %s", reqs[0].Body)
	}
}

// TestClientOpenOrdersPaging: 130 open orders, one per second; getOrder answers the newest
// 100 with insertTimestamp ≤ endTimestamp (inclusive). OpenOrders must find all 130 once.
func TestClientOpenOrdersPaging(t *testing.T) {
	s := newRESTServer(t)
	base := int64(1700000000)
	s.handle("POST /v1/order/getOrder", func(w http.ResponseWriter, r *http.Request) {
		var q map[string]string
		body, _ := io.ReadAll(r.Body)
		if err := json.Unmarshal(body, &q); err != nil || q["orderStatus"] != "active" || q["instrumentID"] != "ETH-BTC" {
			answer(400, `{"respCode":"2009","respMsg":"bad query"}`)(w, r)
			return
		}
		end := int64(1 << 62)
		if e, ok := q["endTimestamp"]; ok {
			end, _ = strconv.ParseInt(e, 10, 64)
		}
		var out []string
		for i := 129; i >= 0 && len(out) < 100; i-- {
			if base+int64(i) > end {
				continue
			}
			o := strings.Replace(orderJSON, `"orderSysID":"900"`, fmt.Sprintf(`"orderSysID":"%d"`, i), 1)
			o = strings.Replace(o, `"insertTimestamp":"1542104001"`, fmt.Sprintf(`"insertTimestamp":"%d"`, base+int64(i)), 1)
			out = append(out, o)
		}
		answer(200, "["+strings.Join(out, ",")+"]")(w, r)
	})
	c := newTestClient(t, s, nil)
	orders, err := c.OpenOrders(context.Background(), "ETH-BTC")
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, o := range orders {
		if seen[o.SysID] {
			t.Fatalf("order %s twice", o.SysID)
		}
		seen[o.SysID] = true
	}
	if len(orders) != 130 {
		t.Fatalf("%d open orders, want 130", len(orders))
	}
	if n := len(s.requests("POST", "/v1/order/getOrder")); n != 2 {
		t.Fatalf("%d pages, want 2", n)
	}
}

// TestClientFillsPaging: 130 fills, one per second from base; getTrade answers the newest 100
// with tradeTimestamp in [startTimestamp, endTimestamp]. Fills since base+20 must return the
// 110 fills from there, each once, oldest first, plus one fill without a time (kept, sorted
// first as the zero time, never used to page).
func TestClientFillsPaging(t *testing.T) {
	s := newRESTServer(t)
	base := int64(1700000000)
	s.handle("POST /v1/trade/getTrade", func(w http.ResponseWriter, r *http.Request) {
		var q map[string]string
		body, _ := io.ReadAll(r.Body)
		if err := json.Unmarshal(body, &q); err != nil || q["instrumentID"] != "ETH-BTC" {
			answer(400, `{"respCode":"2009","respMsg":"bad query"}`)(w, r)
			return
		}
		start, _ := strconv.ParseInt(q["startTimestamp"], 10, 64)
		end := int64(1 << 62)
		if e, ok := q["endTimestamp"]; ok {
			end, _ = strconv.ParseInt(e, 10, 64)
		}
		var out []string
		for i := 129; i >= 0 && len(out) < 100; i-- {
			if ts := base + int64(i); ts > end || ts < start {
				continue
			}
			f := strings.Replace(fillJSON, `"tradeID":"77"`, fmt.Sprintf(`"tradeID":"%d"`, i), 1)
			f = strings.Replace(f, `"tradeTimestamp":"1542104001"`, fmt.Sprintf(`"tradeTimestamp":"%d"`, base+int64(i)), 1)
			out = append(out, f)
		}
		if _, paging := q["endTimestamp"]; !paging {
			// One fill without a time on the first page: kept, not used for paging.
			out = append(out, strings.Replace(strings.Replace(fillJSON, `"tradeID":"77"`, `"tradeID":"untimed"`, 1),
				`,"tradeTimestamp":"1542104001"`, ``, 1))
		}
		answer(200, "["+strings.Join(out, ",")+"]")(w, r)
	})
	c := newTestClient(t, s, nil)
	fills, err := c.Fills(context.Background(), "ETH-BTC", time.Unix(base+20, 300e6))
	if err != nil {
		t.Fatal(err)
	}
	if len(fills) != 111 || fills[0].TradeID != "untimed" {
		t.Fatalf("%d fills (first %s), want 111 with the untimed one first", len(fills), fills[0].TradeID)
	}
	for i, f := range fills[1:] {
		if want := strconv.Itoa(20 + i); f.TradeID != want {
			t.Fatalf("fill %d is trade %s, want %s (oldest first, each once)", i, f.TradeID, want)
		}
	}
	if n := len(s.requests("POST", "/v1/trade/getTrade")); n != 2 {
		t.Fatalf("%d pages, want 2", n)
	}
}

func TestClientAPIErrors(t *testing.T) {
	tests := []struct {
		name   string
		status int
		body   string
		code   int // 0: want a TransportError
		class  Class
		tstat  int
	}{
		{"insufficient balance", 400, `{"respCode":"2011","respMsg":"insufficient balance"}`, 2011, ClassRisk, 0},
		{"respCode under HTTP 200", 200, `{"respCode":"2006","respMsg":"instrument does not exist"}`, 2006, ClassFatal, 0},
		{"numeric respCode", 400, `{"respCode":2007,"respMsg":"paused"}`, 2007, ClassPause, 0},
		{"key not found", 401, `{"respCode":"1002","respMsg":"no key"}`, 1002, ClassFatal, 0},
		{"already cancelled", 400, `{"respCode":"2015","respMsg":"cancelled"}`, 2015, ClassReconcile, 0},
		{"404 without respCode", 404, `not found`, 0, 0, 404},
		{"403 from a proxy", 403, `<html>forbidden</html>`, 0, 0, 403},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newRESTServer(t)
			s.handle("POST /v1/order/cancelBySysID", answer(tt.status, tt.body))
			c := newTestClient(t, s, nil)
			err := c.CancelBySysID(context.Background(), "900")
			if err == nil {
				t.Fatal("no error")
			}
			if errors.Is(err, exchange.ErrUnknownOutcome) {
				t.Fatalf("%v: a refusal is not an unknown outcome", err)
			}
			if tt.code != 0 {
				var ae *APIError
				if !errors.As(err, &ae) || ae.Code != tt.code || ae.Class() != tt.class {
					t.Fatalf("err = %v, want APIError %d class %s", err, tt.code, tt.class)
				}
			} else {
				var te *TransportError
				if !errors.As(err, &te) || te.Status != tt.tstat {
					t.Fatalf("err = %v, want TransportError %d", err, tt.tstat)
				}
			}
			if n := len(s.requests("POST", "/v1/order/cancelBySysID")); n != 1 {
				t.Fatalf("sent %d times", n)
			}
		})
	}
}

// TestClientResyncOn1001: the server's clock is 45 s ahead, so the first insert is refused
// as expired; the client syncs the clock (its signed time call is refused too, so it asks
// unsigned) and sends the insert once more, now stamped in server time.
func TestClientResyncOn1001(t *testing.T) {
	s := newRESTServer(t)
	s.skew = 45 * time.Second
	c := newTestClient(t, s, nil)
	must(t, c.limiter.SetLimits(exchange.RateLimits{Query: 1000, Order: 1000}))
	if _, known := c.ClockOffset(); known {
		t.Fatal("offset known before any sync")
	}
	err := c.insert(context.Background(), exchange.OrderRequest{Instrument: "ETH-BTC", Side: exchange.Buy, Price: dec("1"), Volume: dec("1"), LocalID: "A1"})
	if err != nil {
		t.Fatal(err)
	}
	inserts := s.requests("POST", "/v1/order/insert")
	if len(inserts) != 2 {
		t.Fatalf("%d inserts, want the refused one and one retry", len(inserts))
	}
	if string(inserts[0].Body) != string(inserts[1].Body) {
		t.Fatal("retry body differs")
	}
	off, known := c.ClockOffset()
	if !known || (off-45*time.Second).Abs() > time.Second {
		t.Fatalf("offset %s known %v, want about 45s", off, known)
	}
	ts, _ := strconv.ParseInt(inserts[1].Header.Get("API-TIMESTAMP"), 10, 64)
	if d := time.Until(time.UnixMilli(ts)); (d - 45*time.Second).Abs() > 2*time.Second {
		t.Fatalf("retry stamped %s from local time, want about +45s", d)
	}
	times := s.requests("GET", "/v1/info/time")
	unsigned := 0
	for _, r := range times {
		if r.Header.Get("API-KEY") == "" {
			unsigned++
		}
	}
	if unsigned != clockSamples {
		t.Fatalf("%d unsigned time samples of %d requests, want %d", unsigned, len(times), clockSamples)
	}

	// The server keeps refusing: exactly one retry, then the 1001 comes back.
	s.handle("POST /v1/order/insert", answer(401, `{"respCode":"1001","respMsg":"expired"}`))
	err = c.insert(context.Background(), exchange.OrderRequest{Instrument: "ETH-BTC", Side: exchange.Buy, Price: dec("1"), Volume: dec("1"), LocalID: "A2"})
	var ae *APIError
	if !errors.As(err, &ae) || ae.Code != 1001 || ae.Class() != ClassResync {
		t.Fatalf("err = %v, want APIError 1001", err)
	}
	if n := len(s.requests("POST", "/v1/order/insert")); n != 4 {
		t.Fatalf("%d inserts in all, want 4", n)
	}
}

// TestClientUnknownOutcome: an insert or cancel whose answer is lost after the request was
// written is reported with ErrUnknownOutcome and never resent.
func TestClientUnknownOutcome(t *testing.T) {
	hangUp := func(w http.ResponseWriter, r *http.Request) {
		conn, _, err := w.(http.Hijacker).Hijack()
		if err == nil {
			conn.Close()
		}
	}
	stall := func(w http.ResponseWriter, r *http.Request) { <-r.Context().Done() }
	tests := []struct {
		name    string
		handler http.HandlerFunc
	}{
		{"connection reset", hangUp},
		{"timeout", stall},
		{"502 without respCode", answer(502, `<html>bad gateway</html>`)},
		{"500 empty", answer(500, ``)},
		{"1005 internal error", answer(500, `{"respCode":"1005","respMsg":"internal"}`)},
		{"200 with garbage", answer(200, `{"orderLocalID":`)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newRESTServer(t)
			s.handle("POST /v1/order/insert", tt.handler)
			s.handle("POST /v1/order/cancelByLocalID", tt.handler)
			c := newTestClient(t, s, func(c *Config) { c.Timeout = 200 * time.Millisecond })
			err := c.insert(context.Background(), exchange.OrderRequest{Instrument: "ETH-BTC", Side: exchange.Buy, Price: dec("0.03"), Volume: dec("1"), LocalID: "U1"})
			if !errors.Is(err, exchange.ErrUnknownOutcome) {
				t.Fatalf("insert err = %v, want ErrUnknownOutcome", err)
			}
			if n := len(s.requests("POST", "/v1/order/insert")); n != 1 {
				t.Fatalf("server saw %d inserts, want exactly 1", n)
			}
			err = c.CancelByLocalID(context.Background(), "U1")
			if !errors.Is(err, exchange.ErrUnknownOutcome) {
				t.Fatalf("cancel err = %v, want ErrUnknownOutcome", err)
			}
			if n := len(s.requests("POST", "/v1/order/cancelByLocalID")); n != 1 {
				t.Fatalf("server saw %d cancels, want exactly 1", n)
			}
		})
	}
}

// TestClientNotSent: when the connection cannot even be made the order certainly was not
// placed: a plain transport error, not an unknown outcome.
func TestClientNotSent(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	must(t, err)
	addr := ln.Addr().String()
	ln.Close()
	c, err := NewClient(Config{RESTURL: "http://" + addr + "/APITrade", WSURL: "ws://" + addr + "/", Credentials: testCredentials()})
	must(t, err)
	c.retries = 0
	err = c.insert(context.Background(), exchange.OrderRequest{Instrument: "ETH-BTC", Side: exchange.Buy, Price: dec("0.03"), Volume: dec("1"), LocalID: "N1"})
	var te *TransportError
	if err == nil || errors.Is(err, exchange.ErrUnknownOutcome) || !errors.As(err, &te) {
		t.Fatalf("err = %v, want a TransportError that is not an unknown outcome", err)
	}
}

func TestClientQueryRetries(t *testing.T) {
	tests := []struct {
		name     string
		failures []http.HandlerFunc
		wantErr  bool
		wantReqs int
	}{
		{"1005 twice", []http.HandlerFunc{answer(500, `{"respCode":"1005","respMsg":"x"}`), answer(500, `{"respCode":"1005","respMsg":"x"}`)}, false, 3},
		{"503 then reset", []http.HandlerFunc{answer(503, ``), func(w http.ResponseWriter, r *http.Request) {
			conn, _, _ := w.(http.Hijacker).Hijack()
			conn.Close()
		}}, false, 3},
		{"always 500", slices.Repeat([]http.HandlerFunc{answer(500, ``)}, 10), true, 4},
		{"400 is not retried", []http.HandlerFunc{answer(400, `{"respCode":"2009","respMsg":"x"}`)}, true, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newRESTServer(t)
			var mu sync.Mutex
			n := 0
			s.handle("GET /v1/account/assets", func(w http.ResponseWriter, r *http.Request) {
				mu.Lock()
				i := n
				n++
				mu.Unlock()
				if i < len(tt.failures) {
					tt.failures[i](w, r)
					return
				}
				answer(200, balancesJSON)(w, r)
			})
			c := newTestClient(t, s, nil)
			_, err := c.Balances(context.Background())
			if (err != nil) != tt.wantErr {
				t.Fatalf("err = %v, want error %v", err, tt.wantErr)
			}
			if got := len(s.requests("GET", "/v1/account/assets")); got != tt.wantReqs {
				t.Fatalf("%d requests, want %d", got, tt.wantReqs)
			}
		})
	}
}

func TestClient1004Tightens(t *testing.T) {
	s := newRESTServer(t)
	s.handle("GET /v1/account/assets", answer(429, `{"respCode":"1004","respMsg":"too many requests"}`))
	c := newTestClient(t, s, nil)
	before := c.limiter.Limit(QueryBucket)
	_, err := c.Balances(context.Background())
	var ae *APIError
	if !errors.As(err, &ae) || ae.Class() != ClassBackoff {
		t.Fatalf("err = %v, want 1004", err)
	}
	if after := c.limiter.Limit(QueryBucket); after >= before {
		t.Fatalf("query limit %d → %d, want tightened", before, after)
	}
	if n := len(s.requests("GET", "/v1/account/assets")); n != 1 {
		t.Fatalf("%d requests: a 1004 must not be retried at once", n)
	}
}

func TestClientRefusals(t *testing.T) {
	s := newRESTServer(t)
	c := newTestClient(t, s, nil)
	ctx := context.Background()
	good := exchange.OrderRequest{Instrument: "ETH-BTC", Side: exchange.Buy, Price: dec("0.031"), Volume: dec("1.5"), LocalID: "R1"}
	if err := c.Insert(ctx, risk.Approved{}); err == nil {
		t.Fatal("a zero Approved was sent")
	}
	_, err := c.Instruments(ctx) // learn the precisions
	must(t, err)
	bad := map[string]func(*exchange.OrderRequest){
		"no instrument":      func(r *exchange.OrderRequest) { r.Instrument = "" },
		"no side":            func(r *exchange.OrderRequest) { r.Side = 0 },
		"zero price":         func(r *exchange.OrderRequest) { r.Price = decimal.Zero },
		"negative volume":    func(r *exchange.OrderRequest) { r.Volume = dec("-1") },
		"long local ID":      func(r *exchange.OrderRequest) { r.LocalID = strings.Repeat("9", 21) },
		"empty local ID":     func(r *exchange.OrderRequest) { r.LocalID = "" },
		"too precise price":  func(r *exchange.OrderRequest) { r.Price = dec("0.0310001") },
		"too precise volume": func(r *exchange.OrderRequest) { r.Volume = dec("1.0001") },
	}
	for name, mod := range bad {
		req := good
		mod(&req)
		if err := c.insert(ctx, req); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	if n := len(s.requests("POST", "/v1/order/insert")); n != 0 {
		t.Fatalf("%d refused orders reached the server", n)
	}
	if err := c.insert(ctx, good); err != nil {
		t.Fatal(err)
	}
	// Without credentials only public calls work.
	pub, err := NewClient(Config{RESTURL: s.srv.URL + "/APITrade", WSURL: "ws://127.0.0.1:1/x"})
	must(t, err)
	if _, err := pub.Version(ctx); err != nil {
		t.Fatalf("public call without credentials: %v", err)
	}
	if _, err := pub.Balances(ctx); !errors.Is(err, errNoCredentials) {
		t.Fatalf("private call without credentials: %v", err)
	}
}

// TestClientSecretsNeverShown: neither the secret nor any signature sent appears in any
// log line (debug included) or error, whatever happened.
func TestClientSecretsNeverShown(t *testing.T) {
	s := newRESTServer(t)
	core, logs := observer.New(zap.DebugLevel)
	c := newTestClient(t, s, func(cfg *Config) { cfg.Logger = zap.New(core) })
	must(t, c.limiter.SetLimits(exchange.RateLimits{Query: 1000, Order: 1000}))
	ctx := context.Background()
	var errs []error
	collect := func(err error) {
		if err != nil {
			errs = append(errs, err)
		}
	}
	_, err := c.Balances(ctx)
	collect(err)
	collect(c.insert(ctx, exchange.OrderRequest{Instrument: "ETH-BTC", Side: exchange.Buy, Price: dec("1"), Volume: dec("1"), LocalID: "S1"}))
	s.handle("POST /v1/order/insert", answer(401, `{"respCode":"1000","respMsg":"signature invalid"}`))
	collect(c.insert(ctx, exchange.OrderRequest{Instrument: "ETH-BTC", Side: exchange.Buy, Price: dec("1"), Volume: dec("1"), LocalID: "S2"}))
	s.handle("GET /v1/account/assets", answer(500, ``))
	_, err = c.Balances(ctx)
	collect(err)
	s.handle("POST /v1/order/cancelBySysID", func(w http.ResponseWriter, r *http.Request) {
		conn, _, _ := w.(http.Hijacker).Hijack()
		conn.Close()
	})
	collect(c.CancelBySysID(ctx, "900"))
	must(t, c.SyncClock(ctx))
	_, err = NewClient(Config{Environment: Production, Credentials: Credentials{APIKey: "k", AuthType: AuthPubPriv, Secret: NewSecret(testSecret)}})
	collect(err)

	if len(errs) < 4 {
		t.Fatalf("only %d errors collected", len(errs))
	}
	secrets := append([]string{testSecret}, s.signatures()...)
	var texts []string
	for _, e := range errs {
		texts = append(texts, e.Error(), fmt.Sprintf("%+v %#v", e, e))
	}
	if logs.Len() == 0 {
		t.Fatal("nothing logged")
	}
	for _, e := range logs.All() {
		b, _ := json.Marshal(e.ContextMap())
		texts = append(texts, e.Message, string(b))
	}
	for _, text := range texts {
		for _, secret := range secrets {
			if strings.Contains(text, secret) {
				t.Fatalf("secret or signature %q shown in %q", secret, text)
			}
		}
	}
}

// TestClockSyncBestSample: the sample with the smallest round trip wins. The server moves
// the client's fake clock to simulate each round trip: the slow samples have all their delay
// before the server reads its clock (so their midpoint is wrong by half the round trip); the
// fastest is symmetric and exact.
func TestClockSyncBestSample(t *testing.T) {
	clk := newFakeClock()
	const trueOffset = 1234 * time.Millisecond
	delays := []struct{ before, after time.Duration }{
		{400 * time.Millisecond, 0}, {300 * time.Millisecond, 0}, {10 * time.Millisecond, 10 * time.Millisecond},
		{0, 200 * time.Millisecond}, {250 * time.Millisecond, 50 * time.Millisecond},
	}
	var mu sync.Mutex
	i := 0
	s := newRESTServer(t)
	s.handle("GET /v1/info/time", func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		d := delays[i%len(delays)]
		i++
		mu.Unlock()
		clk.Advance(d.before)
		ts := clk.Now().Add(trueOffset).UnixMilli()
		clk.Advance(d.after)
		answer(200, fmt.Sprintf(`{"timestamp":"%d"}`, ts))(w, r)
	})
	s.skew = 0
	c := newTestClient(t, s, func(cfg *Config) { cfg.Clock = clk.Now; cfg.Credentials = Credentials{} })
	must(t, c.SyncClock(context.Background()))
	off, known := c.ClockOffset()
	if !known || off != trueOffset {
		t.Fatalf("offset %s known %v, want %s", off, known, trueOffset)
	}
	if got := c.Now().Sub(clk.Now()); got != trueOffset {
		t.Fatalf("Now is local + %s, want + %s", got, trueOffset)
	}
	// Stale after three resync periods without a successful sync: fail closed.
	c.offset.setStaleAfter(3 * time.Minute)
	clk.Advance(3*time.Minute - time.Second)
	if _, known := c.ClockOffset(); !known {
		t.Fatal("offset unknown too early")
	}
	clk.Advance(2 * time.Second)
	if _, known := c.ClockOffset(); known {
		t.Fatal("offset still known after three periods without a sync")
	}
}

func TestRunClockSync(t *testing.T) {
	s := newRESTServer(t)
	s.skew = 2 * time.Second
	c := newTestClient(t, s, nil)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		c.RunClockSync(ctx, time.Hour)
		close(done)
	}()
	deadline := time.After(10 * time.Second)
	for {
		if _, known := c.ClockOffset(); known {
			break
		}
		select {
		case <-deadline:
			t.Fatal("no sync")
		case <-time.After(5 * time.Millisecond): // polling a getter, not waiting for time to pass
		}
	}
	cancel()
	select {
	case <-done:
	case <-time.After(20 * time.Second):
		t.Fatal("RunClockSync did not return")
	}
	if off, _ := c.ClockOffset(); (off - 2*time.Second).Abs() > 500*time.Millisecond {
		t.Fatalf("offset %s, want about 2s", off)
	}
}

func BenchmarkInsertBody(b *testing.B) {
	req := exchange.OrderRequest{Instrument: "ETH-BTC", Side: exchange.Buy, Price: dec("0.031234"), Volume: dec("1.5"), LocalID: "15421040010560001"}
	b.ReportAllocs()
	for b.Loop() {
		_ = insertBody(req)
	}
}

// BenchmarkClientInsert is a signed insert round trip over loopback against the test server.
func BenchmarkClientInsert(b *testing.B) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		io.WriteString(w, `{"orderLocalID":"B1"}`)
	}))
	defer srv.Close()
	c, err := NewClient(Config{RESTURL: srv.URL + "/APITrade", WSURL: "ws://127.0.0.1:1/x", Credentials: testCredentials()})
	if err != nil {
		b.Fatal(err)
	}
	must := func(err error) {
		if err != nil {
			b.Fatal(err)
		}
	}
	must(c.limiter.SetLimits(exchange.RateLimits{Query: 1 << 20, Order: 1 << 20}))
	req := exchange.OrderRequest{Instrument: "ETH-BTC", Side: exchange.Buy, Price: dec("0.031"), Volume: dec("1"), LocalID: "B1"}
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		must(c.insert(ctx, req))
	}
}

// simClient starts a simulator with the given accounts and a client for its first one.
func simClient(t *testing.T, cfg hashkeysim.Config, creds func(hashkeysim.Account) Credentials) (*hashkeysim.Server, *Client) {
	t.Helper()
	cfg.Manual = true
	sim, err := hashkeysim.New(cfg)
	must(t, err)
	must(t, sim.Start())
	t.Cleanup(func() { sim.Close() })
	acct := sim.Accounts()[0]
	cr := Credentials{APIKey: acct.APIKey, AuthType: AuthType(acct.AuthType), Secret: NewSecret(acct.Secret)}
	if creds != nil {
		cr = creds(acct)
	}
	c, err := NewClient(Config{RESTURL: sim.RESTURL(), WSURL: sim.WSURL(), Credentials: cr})
	must(t, err)
	return sim, c
}

// TestSimulatorInterop runs every call and the stream against the simulator: the adapter
// and the simulator were written apart from the same reference, so this checks both.
func TestSimulatorInterop(t *testing.T) {
	sim, c := simClient(t, hashkeysim.Config{Seed: 1}, nil)
	ctx := context.Background()
	must(t, c.SyncClock(ctx))
	if off, known := c.ClockOffset(); !known || off.Abs() > time.Second {
		t.Fatalf("offset %s %v against a local simulator", off, known)
	}
	_, err := c.Version(ctx)
	must(t, err)
	insts, err := c.Instruments(ctx)
	must(t, err)
	if len(insts) != 3 {
		t.Fatalf("instruments %v", insts)
	}
	_, err = c.RateLimits(ctx)
	must(t, err)
	bals, err := c.Balances(ctx)
	must(t, err)
	if len(bals) == 0 {
		t.Fatal("no balances")
	}
	snap, err := c.Level2(ctx, "ETH-BTC")
	must(t, err)
	if len(snap.Bids) == 0 || len(snap.Asks) == 0 || snap.Crossed() {
		t.Fatalf("REST book %s", bookString(snap))
	}

	st := c.NewStream(StreamConfig{Instruments: insts, Depth: 10, Trades: true, Private: true})
	st.backoffMin, st.backoffMax = time.Millisecond, 20*time.Millisecond
	runCtx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- st.Run(runCtx) }()
	defer func() {
		cancel()
		for range st.Events() {
		}
		must(t, <-done)
	}()
	ts := &testStream{Stream: st}
	got := ts.all(t, isStatus(exchange.PrivateStream, true), isBook("ETH-BTC"))
	ev := got[1]
	bid, _, _ := ev.(exchange.BookUpdate).Book.BestBid()

	// A resting order far below the market: accepted, listed, cancelled.
	far := exchange.OrderRequest{Instrument: "ETH-BTC", Side: exchange.Buy, Price: bid.Mul(dec("0.5")).Round(6), Volume: dec("0.5"), LocalID: "17000000000000001"}
	must(t, c.insert(ctx, far))
	isOrder := func(local string, status exchange.OrderStatus) func(exchange.Event) bool {
		return func(ev exchange.Event) bool {
			ou, ok := ev.(exchange.OrderUpdate)
			return ok && ou.Order.LocalID == local && ou.Order.Status == status
		}
	}
	ts.until(t, "accepted", isOrder(far.LocalID, exchange.StatusNew))
	open, err := c.OpenOrders(ctx, "ETH-BTC")
	must(t, err)
	if len(open) != 1 || open[0].LocalID != far.LocalID {
		t.Fatalf("open orders %+v", open)
	}
	o, err := c.OrderByLocalID(ctx, far.LocalID)
	must(t, err)
	if o == nil || o.SysID == "" {
		t.Fatalf("order by local ID %+v", o)
	}
	must(t, c.CancelByLocalID(ctx, far.LocalID))
	ts.until(t, "cancelled", isOrder(far.LocalID, exchange.StatusCancelled))
	if o, err := c.OrderByLocalID(ctx, far.LocalID); err != nil || o != nil {
		t.Fatalf("cancelled order still open: %+v %v", o, err)
	}
	// Cancelling again is refused with a reconcile code.
	err = c.CancelBySysID(ctx, o2sys(t, c, far.LocalID))
	var ae *APIError
	if err != nil && (!errors.As(err, &ae) || ae.Class() != ClassReconcile) {
		t.Fatalf("second cancel: %v", err)
	}

	// A buy through the ask fills.
	_, _, _ = ev.(exchange.BookUpdate).Book.BestAsk()
	ask, _, _ := ev.(exchange.BookUpdate).Book.BestAsk()
	take := exchange.OrderRequest{Instrument: "ETH-BTC", Side: exchange.Buy, Price: ask.Mul(dec("1.01")).Round(6), Volume: dec("0.01"), LocalID: "17000000000000002"}
	must(t, c.insert(ctx, take))
	ev, _ = ts.until(t, "fill", isType[exchange.FillEvent])
	if f := ev.(exchange.FillEvent).Fill; f.LocalID != take.LocalID || f.Maker() {
		t.Fatalf("fill %+v", f)
	}
	fills, err := c.Trades(ctx, TradeQuery{InstrumentID: "ETH-BTC"})
	must(t, err)
	if len(fills) == 0 {
		t.Fatal("getTrade lists no fill")
	}
	// Fills (the engine's recovery after a private-stream gap) finds it, and nothing before since.
	recovered, err := c.Fills(ctx, "ETH-BTC", fills[0].Time.Add(-time.Minute))
	must(t, err)
	if len(recovered) == 0 || recovered[len(recovered)-1].LocalID != take.LocalID {
		t.Fatalf("Fills %+v", recovered)
	}
	if later, err := c.Fills(ctx, "ETH-BTC", fills[0].Time.Add(time.Hour)); err != nil || len(later) != 0 {
		t.Fatalf("Fills from the future: %+v %v", later, err)
	}
	ids, err := c.BatchCancel(ctx, []string{"no-such-order"})
	if err == nil && len(ids) > 1 {
		t.Fatalf("batch cancel %v", ids)
	}

	// The simulator drops every connection: down, invalid, then back with fresh books.
	sim.Faults().DropConnections()
	ts.until(t, "invalid after drop", isInvalid("ETH-BTC"))
	ts.until(t, "private up again", isStatus(exchange.PrivateStream, true))
	sim.Step()
	ts.until(t, "book again", isBook("ETH-BTC"))
}

// o2sys finds an order's sysID among the closed orders.
func o2sys(t *testing.T, c *Client, local string) string {
	t.Helper()
	orders, err := c.Orders(context.Background(), OrderQuery{Status: "closed"})
	must(t, err)
	for _, o := range orders {
		if o.LocalID == local {
			return o.SysID
		}
	}
	t.Fatalf("order %s not among closed orders", local)
	return ""
}

// TestSimulatorAuthVariants: PUB-PRIV keys and the v4.2 signing rule work end to end, REST
// and the private login alike.
func TestSimulatorAuthVariants(t *testing.T) {
	const (
		priv = "uvX6WIUzE5jJLMszT7elkTMKgRZEoYkx7X7mTpPWyXo="
		pub  = "A4u1NG4RZRWxzf0B3sQS37NVIGAm29nrbxTybSjVqkob"
	)
	tests := []struct {
		name    string
		signing string
		acct    hashkeysim.Account
		creds   Credentials
	}{
		{"PUB-PRIV v4.3", "v4.3", hashkeysim.Account{APIKey: "pp", AuthType: "PUB-PRIV", PublicKey: pub},
			Credentials{APIKey: "pp", AuthType: AuthPubPriv, Secret: NewSecret(priv)}},
		{"PUB-PRIV v4.2", "v4.2", hashkeysim.Account{APIKey: "pp", AuthType: "PUB-PRIV", PublicKey: pub},
			Credentials{APIKey: "pp", AuthType: AuthPubPriv, Secret: NewSecret(priv), Scheme: SchemeV42}},
		{"HMAC v4.2", "v4.2", hashkeysim.Account{APIKey: "hm", AuthType: "HMAC", Secret: testSecret},
			Credentials{APIKey: "hm", AuthType: AuthHMAC, Secret: NewSecret(testSecret), Scheme: SchemeV42}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, c := simClient(t, hashkeysim.Config{Signing: tt.signing, Accounts: []hashkeysim.Account{tt.acct}},
				func(hashkeysim.Account) Credentials { return tt.creds })
			ctx := context.Background()
			if _, err := c.Balances(ctx); err != nil {
				t.Fatal(err)
			}
			if _, err := c.Level2(ctx, "BTC-USDT"); err != nil { // a GET with a query
				t.Fatal(err)
			}
			if _, err := c.Orders(ctx, OrderQuery{Status: "active"}); err != nil { // a POST with a body
				t.Fatal(err)
			}
			st := c.NewStream(StreamConfig{Private: true})
			runCtx, cancel := context.WithCancel(ctx)
			done := make(chan error, 1)
			go func() { done <- st.Run(runCtx) }()
			defer func() {
				cancel()
				for range st.Events() {
				}
				must(t, <-done)
			}()
			ev, _ := (&testStream{Stream: st}).until(t, "private login answer", func(ev exchange.Event) bool {
				s, ok := ev.(exchange.StreamStatus)
				return ok && s.Stream == exchange.PrivateStream
			})
			if s := ev.(exchange.StreamStatus); !s.Up {
				t.Fatalf("login refused: %s", s.Reason)
			}
		})
	}
}

// OrderWritten reports each insert and cancel once its request is on the wire, and no query.
func TestClientOrderWritten(t *testing.T) {
	s := newRESTServer(t)
	s.handle("POST /v1/order/insert", answer(200, `{"orderLocalID":"17000000000000001"}`))
	s.handle("POST /v1/order/cancelByLocalID", answer(200, `{"orderLocalID":"17000000000000001","message":"received"}`))
	s.handle("GET /v1/info/version", answer(200, `{"version":"4.3.0"}`))
	var ops []string
	c := newTestClient(t, s, func(cfg *Config) {
		cfg.OrderWritten = func(op string, at time.Time) {
			if at.IsZero() {
				t.Error("zero time")
			}
			ops = append(ops, op)
		}
	})
	ctx := context.Background()
	must(t, c.insert(ctx, exchange.OrderRequest{Instrument: "ETH-BTC", Side: exchange.Buy, Price: dec("0.031"), Volume: dec("1"), LocalID: "17000000000000001"}))
	must(t, c.CancelByLocalID(ctx, "17000000000000001"))
	if _, err := c.Version(ctx); err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(ops, ","); got != "insert,cancel_by_local_id" {
		t.Fatalf("OrderWritten saw %q", got)
	}
}

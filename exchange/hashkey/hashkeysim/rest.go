package hashkeysim

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/mmd-dev/mmd/exchange"
	"github.com/shopspring/decimal"
	"go.uber.org/zap"
)

const (
	restPrefix = "/APITrade"
	wsPath     = "/APITradeWS/v1/messages"
	// maxBody caps a request body; a larger one is answered 413 with respCode 1007.
	maxBody = 1 << 20
	// maxTimestampSkew is how far API-TIMESTAMP may be from the server clock (1001 beyond).
	maxTimestampSkew = 30 * time.Second
	// maxQueryResults caps getOrder and getTrade answers.
	maxQueryResults = 100
	apiVersion      = "4.3.0"
)

// endpoint is one REST call.
type endpoint struct {
	method string
	public bool // may be called without signing (the four market-data GETs)
	order  bool // counts in the order bucket; everything else is a query
	handle func(rc *reqCtx) reply
}

// reqCtx is one request after authentication.
type reqCtx struct {
	ctx  context.Context
	r    *http.Request
	acct *account // nil for an unsigned public call
	body []byte
}

// reply is an answer: a status and a JSON body.
type reply struct {
	status int
	body   []byte
}

func ok(body []byte) reply { return reply{status: http.StatusOK, body: body} }

// apiError answers with the exchange's error object and the HTTP status that goes with it.
func apiError(code int, msg string) reply {
	return reply{status: statusFor(code), body: appendError(make([]byte, 0, 64), code, msg)}
}

func statusFor(code int) int {
	switch code {
	case 1000, 1001, 1002, 1003, 1006, 1008, 1009, 1010, 1011:
		return http.StatusUnauthorized
	case 1004:
		return http.StatusTooManyRequests
	case 1005:
		return http.StatusInternalServerError
	}
	return http.StatusBadRequest
}

func (s *Server) endpoints() map[string]endpoint {
	return map[string]endpoint{
		"/v1/info/time":                {method: http.MethodGet, public: true, handle: s.handleTime},
		"/v1/info/version":             {method: http.MethodGet, public: true, handle: s.handleVersion},
		"/v1/referenceData/instrument": {method: http.MethodGet, public: true, handle: s.handleInstruments},
		"/v1/marketData/getLevel2":     {method: http.MethodGet, public: true, handle: s.handleLevel2},
		"/v1/referenceData/rateLimit":  {method: http.MethodGet, handle: s.handleRateLimit},
		"/v1/account/assets":           {method: http.MethodGet, handle: s.handleAssets},
		"/v1/order/insert":             {method: http.MethodPost, order: true, handle: s.handleInsert},
		"/v1/order/cancelByLocalID":    {method: http.MethodPost, order: true, handle: s.handleCancelByLocalID},
		"/v1/order/cancelBySysID":      {method: http.MethodPost, order: true, handle: s.handleCancelBySysID},
		"/v1/order/batchCancel":        {method: http.MethodPost, order: true, handle: s.handleBatchCancel},
		"/v1/order/getOrderByLocalID":  {method: http.MethodPost, handle: s.handleOrderByLocalID},
		"/v1/order/getOrder":           {method: http.MethodPost, handle: s.handleGetOrder},
		"/v1/trade/getTrade":           {method: http.MethodPost, handle: s.handleGetTrade},
	}
}

// serveREST is every call under /APITrade/v1/: latency fault, body cap, authentication,
// rate limits, the 1005 fault, the call itself, then the lost-answer fault.
func (s *Server) serveREST(w http.ResponseWriter, r *http.Request) {
	// The rate window runs on the unskewed clock: calls stamped under a ClockSkew that is
	// later lifted (or lowered) would otherwise sit "in the future" and fill the window for
	// as long as the skew was.
	arrived := s.clock()
	received := arrived.Add(s.faults.clockSkew())
	if d := s.faults.latencyNow(); d > 0 {
		t := time.NewTimer(d)
		select {
		case <-t.C:
		case <-r.Context().Done():
			t.Stop()
			return
		case <-s.quit:
			t.Stop()
		}
	}
	path := strings.TrimPrefix(r.URL.Path, restPrefix)
	ep, found := s.routes[path]
	if !found {
		http.NotFound(w, r)
		return
	}
	if r.Method != ep.method {
		w.Header().Set("Allow", ep.method)
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBody))
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			writeReply(w, reply{status: http.StatusRequestEntityTooLarge,
				body: appendError(nil, 1007, fmt.Sprintf("request body over %d bytes", maxBody))})
			return
		}
		s.log.Debug("sim_rest_read_failed", zap.String("path", path), zap.Error(err))
		return
	}
	rc := &reqCtx{ctx: r.Context(), r: r, body: body}
	if !(ep.public && unsigned(r)) {
		acct, code, msg := s.authenticate(r, path, body, received)
		if code != 0 {
			s.log.Info("sim_auth_failed", zap.String("path", path), zap.String("apiKey", r.Header.Get("API-KEY")),
				zap.Int("respCode", code), zap.String("reason", msg))
			writeReply(w, apiError(code, msg))
			return
		}
		rc.acct = acct
	}
	if rep, limited := s.rateLimit(rc, ep, path, arrived); limited {
		writeReply(w, rep)
		return
	}
	if rc.acct != nil {
		if fn := s.observe.Load(); fn != nil {
			(*fn)(Request{Received: received, Method: r.Method, Path: path, APIKey: rc.acct.cfg.APIKey, Body: body})
		}
		if s.faults.take1005() {
			writeReply(w, apiError(1005, "internal service error"))
			return
		}
	}
	rep := ep.handle(rc)
	if rc.acct != nil && s.faults.take5xx() {
		http.Error(w, "service unavailable", http.StatusServiceUnavailable)
		return
	}
	writeReply(w, rep)
}

func writeReply(w http.ResponseWriter, rep reply) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", strconv.Itoa(len(rep.body)))
	w.WriteHeader(rep.status)
	w.Write(rep.body)
}

// unsigned reports a request that carries none of the authentication headers.
func unsigned(r *http.Request) bool {
	for _, h := range [...]string{"API-KEY", "API-TIMESTAMP", "API-SIGNATURE", "AUTH-TYPE"} {
		if r.Header.Get(h) != "" {
			return false
		}
	}
	return true
}

// authenticate checks the four headers and the signature over the raw bytes received. The
// message leaves the query out; a GET signed with its query is accepted too, and the form
// seen is logged.
func (s *Server) authenticate(r *http.Request, path string, body []byte, now time.Time) (*account, int, string) {
	ts := r.Header.Get("API-TIMESTAMP")
	key := r.Header.Get("API-KEY")
	sig := r.Header.Get("API-SIGNATURE")
	authType := r.Header.Get("AUTH-TYPE")
	switch {
	case ts == "":
		return nil, 1008, "missing API-TIMESTAMP"
	case key == "":
		return nil, 1009, "missing API-KEY"
	case sig == "":
		return nil, 1010, "missing API-SIGNATURE"
	case authType != AuthHMAC && authType != AuthPubPriv:
		return nil, 1011, "missing or invalid AUTH-TYPE"
	}
	ms, err := strconv.ParseInt(ts, 10, 64)
	if err != nil {
		return nil, 1008, "invalid API-TIMESTAMP"
	}
	a := s.byKey[key]
	if a == nil {
		return nil, 1002, "API key not found"
	}
	if authType != a.cfg.AuthType {
		return nil, 1000, "signature invalid: AUTH-TYPE does not match the key"
	}
	if d := now.Sub(time.UnixMilli(ms)); d > maxTimestampSkew || d < -maxTimestampSkew {
		return nil, 1001, "request expired"
	}
	form := "without_query"
	rev, good := a.verifier.verify(restMessage(ts, r.Method, path, "", body), sig, s.revs)
	if !good && r.Method == http.MethodGet && r.URL.RawQuery != "" {
		rev, good = a.verifier.verify(restMessage(ts, r.Method, path, r.URL.RawQuery, body), sig, s.revs)
		form = "with_query"
	}
	if !good {
		return nil, 1000, "signature invalid"
	}
	if r.URL.RawQuery != "" {
		lvl := zap.DebugLevel
		if form == "with_query" {
			lvl = zap.InfoLevel // the unusual form: worth seeing once a client uses it
		}
		s.log.Check(lvl, "sim_signature_form").Write(zap.String("apiKey", key), zap.String("path", path),
			zap.String("form", form), zap.Stringer("revision", rev))
	}
	return a, 0, ""
}

// rateLimit counts the call in its bucket; an unsigned call counts under its remote address.
func (s *Server) rateLimit(rc *reqCtx, ep endpoint, path string, now time.Time) (reply, bool) {
	if s.cfg.NoRateLimit {
		return reply{}, false
	}
	key := ""
	if rc.acct != nil {
		key = rc.acct.cfg.APIKey
	} else {
		host, _, _ := net.SplitHostPort(rc.r.RemoteAddr)
		key = "addr:" + host
	}
	cost := 1
	if path == "/v1/order/batchCancel" {
		var b struct {
			IDs []string `json:"orderSysIDs"`
		}
		if json.Unmarshal(rc.body, &b) == nil && len(b.IDs) > 1 {
			cost = len(b.IDs)
		}
	}
	query, order := s.faults.limits([2]int{s.limits.Query, s.limits.Order})
	limit := query
	if ep.order {
		limit = order
	}
	if s.limiter.allow(key, ep.order, now, limit, cost) {
		return reply{}, false
	}
	s.log.Info("sim_rate_limited", zap.String("key", key), zap.String("path", path), zap.Int("limit", limit), zap.Int("cost", cost))
	return apiError(1004, "too many requests"), true
}

// decodeBody decodes a JSON object strictly into dst, a pointer to a struct with json tags:
// a key that is not exactly one of the tags (encoding/json alone would match "orderLocalId"
// case-insensitively, or let it through), a value of the wrong type or trailing data is
// 1007. An empty body is an empty object.
func decodeBody(body []byte, dst any) error {
	if len(bytes.TrimSpace(body)) == 0 {
		return nil
	}
	var keys map[string]json.RawMessage
	if err := json.Unmarshal(body, &keys); err != nil {
		return err
	}
	t := reflect.TypeOf(dst).Elem()
	for key := range keys {
		known := false
		for i := range t.NumField() {
			if name, _, _ := strings.Cut(t.Field(i).Tag.Get("json"), ","); name == key {
				known = true
				break
			}
		}
		if !known {
			return fmt.Errorf("unknown property %q", key)
		}
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(dst); err != nil {
		return err
	}
	if _, err := dec.Token(); err != io.EOF {
		return errors.New("data after the JSON object")
	}
	return nil
}

func badBody(err error) reply {
	return apiError(1007, "unexpected property or malformed body: "+err.Error())
}

// Public calls.

func (s *Server) handleTime(rc *reqCtx) reply {
	b := append(make([]byte, 0, 32), '{')
	b = appendIntField(b, "timestamp", s.now().UnixMilli())
	return ok(append(b, '}'))
}

func (s *Server) handleVersion(rc *reqCtx) reply {
	b := append(make([]byte, 0, 32), '{')
	b = appendField(b, "version", apiVersion)
	return ok(append(b, '}'))
}

func appendInstrument(b []byte, spec exchange.Instrument) []byte {
	b = append(b, '{')
	b = appendField(b, "instrumentID", spec.ID)
	b = appendField(b, "tradingAsset", spec.Quote)
	b = appendField(b, "tradingTarget", spec.Base)
	b = appendIntField(b, "volumePrecision", int64(spec.VolumePrecision))
	b = appendIntField(b, "pricePrecision", int64(spec.PricePrecision))
	return append(b, '}')
}

func (s *Server) handleInstruments(rc *reqCtx) reply {
	want := rc.r.URL.Query()["instrumentID"]
	b := append(make([]byte, 0, 512), '[')
	n := 0
	for _, in := range s.instruments {
		if len(want) > 0 && !slices.Contains(want, in.spec.ID) {
			continue
		}
		if n > 0 {
			b = append(b, ',')
		}
		b = appendInstrument(b, in.spec)
		n++
	}
	return ok(append(b, ']'))
}

func (s *Server) handleLevel2(rc *reqCtx) reply {
	id := rc.r.URL.Query().Get("instrumentID")
	in := s.instByID[id]
	if in == nil {
		return apiError(2006, fmt.Sprintf("instrument %q does not exist", id))
	}
	v := s.hub.view(in.idx)
	return ok(appendBook(make([]byte, 0, 4096), "", in.spec, v.bids, v.asks, v.time))
}

// Private queries.

func (s *Server) handleRateLimit(rc *reqCtx) reply {
	b := append(make([]byte, 0, 64), '{')
	b = appendIntField(b, "queryRateLimit", int64(s.limits.Query))
	b = appendIntField(b, "orderRateLimit", int64(s.limits.Order))
	return ok(append(b, '}'))
}

func (s *Server) handleAssets(rc *reqCtx) reply {
	a := rc.acct
	b := append(make([]byte, 0, 512), '[')
	s.mu.Lock()
	for i, name := range sortedAssets(a) {
		x := a.assets[name]
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, '{')
		b = appendField(b, "accountID", a.id)
		b = appendField(b, "asset", name)
		b = appendDecimalField(b, "balance", x.total)
		b = appendDecimalField(b, "available", x.total.Sub(x.frozen))
		b = append(b, '}')
	}
	s.mu.Unlock()
	return ok(append(b, ']'))
}

func sortedAssets(a *account) []string {
	names := make([]string, 0, len(a.assets))
	for name := range a.assets {
		names = append(names, name)
	}
	slices.Sort(names)
	return names
}

type localIDBody struct {
	OrderLocalID string `json:"orderLocalID"`
}

func (s *Server) handleOrderByLocalID(rc *reqCtx) reply {
	var req localIDBody
	if err := decodeBody(rc.body, &req); err != nil {
		return badBody(err)
	}
	if req.OrderLocalID == "" {
		return apiError(2018, "orderLocalID empty")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	o := rc.acct.byLocal[req.OrderLocalID]
	if o == nil || !o.status.Open() {
		return ok([]byte("null"))
	}
	return ok(appendOrder(make([]byte, 0, 512), "", o, s.faults.quirksOn()))
}

// parseSeconds reads an optional unix-seconds bound.
func parseSeconds(s string) (int64, bool, error) {
	if s == "" {
		return 0, false, nil
	}
	v, err := strconv.ParseInt(s, 10, 64)
	return v, true, err
}

type timeRange struct {
	from, to       int64
	hasFrom, hasTo bool
}

func parseRange(start, end string) (timeRange, error) {
	var tr timeRange
	var err error
	if tr.from, tr.hasFrom, err = parseSeconds(start); err != nil {
		return tr, fmt.Errorf("startTimestamp %q: want unix seconds", start)
	}
	if tr.to, tr.hasTo, err = parseSeconds(end); err != nil {
		return tr, fmt.Errorf("endTimestamp %q: want unix seconds", end)
	}
	return tr, nil
}

func (tr timeRange) contains(t time.Time) bool {
	sec := t.Unix()
	return (!tr.hasFrom || sec >= tr.from) && (!tr.hasTo || sec <= tr.to)
}

type getOrderBody struct {
	StartTimestamp string `json:"startTimestamp"`
	EndTimestamp   string `json:"endTimestamp"`
	OrderStatus    string `json:"orderStatus"`
	InstrumentID   string `json:"instrumentID"`
	OrderSysID     string `json:"orderSysID"`
}

// handleGetOrder lists up to 100 of the account's orders, newest first, filtered.
func (s *Server) handleGetOrder(rc *reqCtx) reply {
	var req getOrderBody
	if err := decodeBody(rc.body, &req); err != nil {
		return badBody(err)
	}
	tr, err := parseRange(req.StartTimestamp, req.EndTimestamp)
	if err != nil {
		return apiError(2009, err.Error())
	}
	switch req.OrderStatus {
	case "", "active", "closed":
	default:
		return apiError(2009, fmt.Sprintf("orderStatus %q: want active, closed or empty", req.OrderStatus))
	}
	if req.InstrumentID != "" && s.instByID[req.InstrumentID] == nil {
		return apiError(2006, fmt.Sprintf("instrument %q does not exist", req.InstrumentID))
	}
	b := append(make([]byte, 0, 4096), '[')
	s.mu.Lock()
	defer s.mu.Unlock()
	quirks := s.faults.quirksOn()
	n := 0
	h := rc.acct.history
	for i := len(h) - 1; i >= 0 && n < maxQueryResults; i-- {
		o := h[i]
		switch {
		case o.evicted,
			req.OrderStatus == "active" && !o.status.Open(),
			req.OrderStatus == "closed" && o.status.Open(),
			req.InstrumentID != "" && o.inst.spec.ID != req.InstrumentID,
			req.OrderSysID != "" && o.sysID != req.OrderSysID,
			!tr.contains(o.inserted):
			continue
		}
		if n > 0 {
			b = append(b, ',')
		}
		b = appendOrder(b, "", o, quirks)
		n++
	}
	return ok(append(b, ']'))
}

type getTradeBody struct {
	StartTimestamp string `json:"startTimestamp"`
	EndTimestamp   string `json:"endTimestamp"`
	InstrumentID   string `json:"instrumentID"`
}

// handleGetTrade lists up to 100 of the account's fills, newest first (timestamps in s).
func (s *Server) handleGetTrade(rc *reqCtx) reply {
	var req getTradeBody
	if err := decodeBody(rc.body, &req); err != nil {
		return badBody(err)
	}
	tr, err := parseRange(req.StartTimestamp, req.EndTimestamp)
	if err != nil {
		return apiError(2009, err.Error())
	}
	if req.InstrumentID != "" && s.instByID[req.InstrumentID] == nil {
		return apiError(2006, fmt.Sprintf("instrument %q does not exist", req.InstrumentID))
	}
	b := append(make([]byte, 0, 4096), '[')
	s.mu.Lock()
	defer s.mu.Unlock()
	quirks := s.faults.quirksOn()
	n := 0
	fills := rc.acct.fills
	for i := len(fills) - 1; i >= 0 && n < maxQueryResults; i-- {
		f := fills[i]
		if (req.InstrumentID != "" && f.inst.spec.ID != req.InstrumentID) || !tr.contains(f.time) {
			continue
		}
		if n > 0 {
			b = append(b, ',')
		}
		b = appendFill(b, "", f, quirks)
		n++
	}
	return ok(append(b, ']'))
}

// Order calls.

type insertBody struct {
	InstrumentID        string `json:"instrumentID"`
	OrderPriceType      string `json:"orderPriceType"`
	Direction           string `json:"direction"`
	LimitPrice          string `json:"limitPrice"`
	VolumeTotalOriginal string `json:"volumeTotalOriginal"`
	TimeCondition       string `json:"timeCondition"`
	OrderLocalID        string `json:"orderLocalID"`
}

// maxAmount is the exclusive bound on an order's price and volume.
var maxAmount = decimal.NewFromInt(10_000_000)

// validateInsert checks a new order the way the exchange's gateway does; respCode 0 means
// valid. The balance is checked later, when the order is processed.
func (s *Server) validateInsert(body []byte) (insertRequest, int, string) {
	var b insertBody
	if err := decodeBody(body, &b); err != nil {
		return insertRequest{}, 1007, "unexpected property or malformed body: " + err.Error()
	}
	if b.OrderLocalID == "" {
		return insertRequest{}, 2018, "orderLocalID empty"
	}
	if utf8.RuneCountInString(b.OrderLocalID) > 20 {
		return insertRequest{}, 2003, "orderLocalID longer than 20 characters"
	}
	in := s.instByID[b.InstrumentID]
	if in == nil {
		return insertRequest{}, 2006, fmt.Sprintf("instrument %q does not exist", b.InstrumentID)
	}
	if b.OrderPriceType != "limit" {
		return insertRequest{}, 2021, fmt.Sprintf("orderPriceType %q: only limit", b.OrderPriceType)
	}
	if b.TimeCondition != "GTC" {
		return insertRequest{}, 2022, fmt.Sprintf("timeCondition %q: only GTC", b.TimeCondition)
	}
	side, err := exchange.ParseSide(b.Direction)
	if err != nil {
		return insertRequest{}, 2017, fmt.Sprintf("direction %q: want buy or sell", b.Direction)
	}
	price, code, msg := parseAmount(b.LimitPrice, in.spec.PricePrecision, 2009, 2020, 2001, "limitPrice")
	if code != 0 {
		return insertRequest{}, code, msg
	}
	volume, code, msg := parseAmount(b.VolumeTotalOriginal, in.spec.VolumePrecision, 2012, 2019, 2002, "volumeTotalOriginal")
	if code != 0 {
		return insertRequest{}, code, msg
	}
	return insertRequest{inst: in, side: side, price: price, volume: volume, localID: b.OrderLocalID}, 0, ""
}

// parseAmount reads a positive decimal below 10,000,000 with at most prec decimals (trailing
// zeros do not count) and returns it in units of 10^-prec.
func parseAmount(text string, prec int32, invalid, tooBig, tooPrecise int, field string) (int64, int, string) {
	if len(text) > 64 {
		return 0, invalid, fmt.Sprintf("%s: %d characters is not a price or volume", field, len(text))
	}
	d, err := decimal.NewFromString(text)
	if err != nil || !d.IsPositive() {
		return 0, invalid, fmt.Sprintf("%s %q: want a positive number", field, text)
	}
	// Bound the exponent before comparing: "1e-999999999" must not make decimal rescale
	// to a billion digits.
	switch {
	case d.Exponent() > 20:
		return 0, tooBig, fmt.Sprintf("%s %s: must be below 10000000", field, text)
	case d.Exponent() < -40:
		return 0, tooPrecise, fmt.Sprintf("%s %s: more than %d decimals", field, text, prec)
	}
	if d.GreaterThanOrEqual(maxAmount) {
		return 0, tooBig, fmt.Sprintf("%s %s: must be below 10000000", field, text)
	}
	units, exact := exchange.DecimalToFixed(d, prec)
	if !exact {
		return 0, tooPrecise, fmt.Sprintf("%s %s: more than %d decimals", field, text, prec)
	}
	return units, 0, ""
}

func (s *Server) handleInsert(rc *reqCtx) reply {
	req, code, msg := s.validateInsert(rc.body)
	if code != 0 {
		s.log.Debug("sim_order_refused", zap.String("apiKey", rc.acct.cfg.APIKey), zap.Int("respCode", code), zap.String("reason", msg))
		return apiError(code, msg)
	}
	if s.faults.maintenanceOn() {
		return apiError(2007, "instrument status forbids inserts now (maintenance)")
	}
	a := rc.acct
	if err := s.submit(rc.ctx, func() { s.insertLocked(a, req) }); err != nil {
		return apiError(1005, "internal service error: "+err.Error())
	}
	b := append(make([]byte, 0, 64), '{')
	b = appendField(b, "orderLocalID", req.localID)
	return ok(append(b, '}'))
}

// Cancels are decided on the engine goroutine, in order after every insert received before
// them, and answered synchronously: unknown 2004, filled 2014, cancelled 2015 come back as
// REST errors; "received" means the cancel was done and its order_return is on its way.
// (A batch cancel answers the IDs it received and reports each refusal as order_cancel_rsp.)

func (s *Server) handleCancelByLocalID(rc *reqCtx) reply {
	var req localIDBody
	if err := decodeBody(rc.body, &req); err != nil {
		return badBody(err)
	}
	if req.OrderLocalID == "" {
		return apiError(2018, "orderLocalID empty")
	}
	return s.cancel(rc, "orderLocalID", req.OrderLocalID, func(a *account) *order { return a.byLocal[req.OrderLocalID] })
}

type sysIDBody struct {
	OrderSysID string `json:"orderSysID"`
}

func (s *Server) handleCancelBySysID(rc *reqCtx) reply {
	var req sysIDBody
	if err := decodeBody(rc.body, &req); err != nil {
		return badBody(err)
	}
	if req.OrderSysID == "" {
		return apiError(2016, "orderSysID empty")
	}
	return s.cancel(rc, "orderSysID", req.OrderSysID, func(a *account) *order { return a.bySys[req.OrderSysID] })
}

// cancel finds and cancels one order on the engine goroutine and answers
// {idKey: id, "message": "received"}.
func (s *Server) cancel(rc *reqCtx, idKey, id string, find func(*account) *order) reply {
	a := rc.acct
	var code int
	var msg string
	err := s.call(rc.ctx, func() {
		o := find(a)
		if code, msg = cancelCode(o); code == 0 {
			s.cancelLocked(o)
		}
	})
	if err != nil {
		return apiError(1005, "internal service error: "+err.Error())
	}
	if code != 0 {
		return apiError(code, msg)
	}
	b := append(make([]byte, 0, 64), '{')
	b = appendField(b, idKey, id)
	b = appendField(b, "message", "received")
	return ok(append(b, '}'))
}

type batchCancelBody struct {
	OrderSysIDs []string `json:"orderSysIDs"`
}

func (s *Server) handleBatchCancel(rc *reqCtx) reply {
	var req batchCancelBody
	if err := decodeBody(rc.body, &req); err != nil {
		return badBody(err)
	}
	switch {
	case len(req.OrderSysIDs) == 0:
		return apiError(2016, "orderSysIDs empty")
	case len(req.OrderSysIDs) > 10:
		return apiError(2005, "more than 10 IDs in a batch cancel")
	case slices.Contains(req.OrderSysIDs, ""):
		return apiError(2016, "orderSysID empty")
	}
	a := rc.acct
	err := s.call(rc.ctx, func() {
		for _, id := range req.OrderSysIDs {
			o := a.bySys[id]
			code, msg := cancelCode(o)
			if code == 0 {
				s.cancelLocked(o)
				continue
			}
			localID := ""
			if o != nil {
				localID = o.localID
			}
			s.emit(a, appendCancelRsp(nil, id, localID, code, msg))
		}
	})
	if err != nil {
		return apiError(1005, "internal service error: "+err.Error())
	}
	b := append(make([]byte, 0, 256), '[')
	for i, id := range req.OrderSysIDs {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendString(b, id)
	}
	return ok(append(b, ']'))
}

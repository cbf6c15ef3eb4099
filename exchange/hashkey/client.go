package hashkey

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptrace"
	"net/url"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/shopspring/decimal"
	"go.uber.org/zap"

	"github.com/mmd-dev/mmd/exchange"
	"github.com/mmd-dev/mmd/risk"
)

const (
	// maxBody caps what we read of one answer: a page of 100 orders is about 40 KB.
	maxBody = 4 << 20
	// pageSize is the most orders or fills getOrder and getTrade answer at once.
	pageSize = 100
	// maxPages bounds OpenOrders' paging (10 000 open orders).
	maxPages = 100
	// batchSize is the most IDs one batchCancel may carry (more is 2005).
	batchSize = 10
	// maxLocalID is the longest orderLocalID the exchange takes (longer is 2003).
	maxLocalID = 20
)

// Client is the signed HashKey Pro REST client. It is safe for concurrent use.
//
// Every call waits for the local rate limiter first. Queries are retried with backoff on
// 1005, 5xx and network errors; inserts and cancels are never resent once written, and a
// lost answer comes back as an error wrapping exchange.ErrUnknownOutcome. Any call refused
// with 1001 (timestamp too far from the server's) resyncs the clock and is sent once more:
// the exchange refused it, so resending is safe.
type Client struct {
	rest, ws string
	http     *http.Client
	dial     dialFunc
	tlsConf  *tls.Config // shared by REST and WebSocket
	signer   *Signer     // nil without credentials: only public calls work
	limiter  *RateLimiter
	clock    func() time.Time
	offset   clockOffset
	log      *zap.Logger
	timeout  time.Duration

	orderWritten func(op string, at time.Time) // Config.OrderWritten

	retries   int           // extra attempts of an idempotent query
	retryBase time.Duration // first retry backoff, doubled per attempt

	mu          sync.Mutex
	instruments map[string]exchange.Instrument
}

var (
	_ exchange.Account = (*Client)(nil)
	_ risk.Sender      = (*Client)(nil)
)

// NewClient checks cfg and builds a client. It does no network I/O.
func NewClient(cfg Config) (*Client, error) {
	rest, ws, err := cfg.URLs()
	if err != nil {
		return nil, fmt.Errorf("hashkey config: %w", err)
	}
	dial, err := newDialer(cfg)
	if err != nil {
		return nil, fmt.Errorf("hashkey config: %w", err)
	}
	if cfg.Timeout < 0 {
		return nil, fmt.Errorf("hashkey config: negative timeout %s", cfg.Timeout)
	}
	if cfg.RateMargin < 0 || cfg.RateMargin > 1 {
		return nil, fmt.Errorf("hashkey config: rate margin %g outside (0, 1]", cfg.RateMargin)
	}
	var signer *Signer
	if cfg.Credentials.APIKey != "" {
		if signer, err = NewSigner(cfg.Credentials); err != nil {
			return nil, fmt.Errorf("hashkey config: credentials: %w", err)
		}
	}
	c := &Client{
		rest:        rest,
		ws:          ws,
		dial:        dial,
		tlsConf:     tlsConfig(cfg),
		signer:      signer,
		clock:       cfg.Clock,
		log:         cfg.Logger,
		timeout:     cfg.Timeout,
		retries:     3,
		retryBase:   100 * time.Millisecond,
		instruments: make(map[string]exchange.Instrument),
	}
	c.offset.syncSem = make(chan struct{}, 1)
	if c.clock == nil {
		c.clock = time.Now
	}
	if c.log == nil {
		c.log = zap.NewNop()
	}
	if c.timeout == 0 {
		c.timeout = 10 * time.Second
	}
	c.http = &http.Client{
		Transport: newTransport(dial, c.tlsConf),
		// The API never redirects; following one would resend a signed order elsewhere.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	c.limiter = NewRateLimiter(cfg.RateMargin, c.clock, nil)
	c.orderWritten = cfg.OrderWritten
	return c, nil
}

// ServerTime returns the exchange's clock (GET /v1/info/time).
func (c *Client) ServerTime(ctx context.Context) (time.Time, error) {
	body, err := c.do(ctx, request{op: "time", method: http.MethodGet, path: "/v1/info/time", public: true})
	if err != nil {
		return time.Time{}, err
	}
	t, err := DecodeServerTime(body)
	if err != nil {
		return time.Time{}, fmt.Errorf("time: %w", err)
	}
	return t, nil
}

// Version returns the exchange's API version (GET /v1/info/version).
func (c *Client) Version(ctx context.Context) (string, error) {
	body, err := c.do(ctx, request{op: "version", method: http.MethodGet, path: "/v1/info/version", public: true})
	if err != nil {
		return "", err
	}
	v, err := DecodeVersion(body)
	if err != nil {
		return "", fmt.Errorf("version: %w", err)
	}
	return v, nil
}

// Instruments lists the given instruments, or all of them when ids is empty, and
// remembers them for Level2 and for checking order precision.
func (c *Client) Instruments(ctx context.Context, ids ...string) ([]exchange.Instrument, error) {
	var q url.Values
	if len(ids) > 0 {
		q = url.Values{"instrumentID": ids}
	}
	body, err := c.do(ctx, request{op: "instruments", method: http.MethodGet, path: "/v1/referenceData/instrument", query: q, public: true})
	if err != nil {
		return nil, err
	}
	insts, err := DecodeInstruments(body)
	if err != nil {
		return nil, fmt.Errorf("instruments: %w", err)
	}
	c.mu.Lock()
	for _, in := range insts {
		c.instruments[in.ID] = in
	}
	c.mu.Unlock()
	return insts, nil
}

// RateLimits fetches the key's published rate limits and sizes the local limiter from them.
func (c *Client) RateLimits(ctx context.Context) (exchange.RateLimits, error) {
	body, err := c.do(ctx, request{op: "rate_limits", method: http.MethodGet, path: "/v1/referenceData/rateLimit"})
	if err != nil {
		return exchange.RateLimits{}, err
	}
	rl, err := DecodeRateLimits(body)
	if err != nil {
		return exchange.RateLimits{}, fmt.Errorf("rate limits: %w", err)
	}
	if err := c.limiter.SetLimits(rl); err != nil {
		return rl, fmt.Errorf("rate limits: %w", err)
	}
	c.log.Info("rate_limits_set", zap.Int("query", rl.Query), zap.Int("order", rl.Order),
		zap.Int("local_query", c.limiter.Limit(QueryBucket)), zap.Int("local_order", c.limiter.Limit(OrderBucket)))
	return rl, nil
}

// Balances lists the account's assets (GET /v1/account/assets).
func (c *Client) Balances(ctx context.Context) ([]exchange.Balance, error) {
	body, err := c.do(ctx, request{op: "balances", method: http.MethodGet, path: "/v1/account/assets"})
	if err != nil {
		return nil, err
	}
	b, err := DecodeBalances(body)
	if err != nil {
		return nil, fmt.Errorf("balances: %w", err)
	}
	return b, nil
}

// Level2 fetches one book snapshot. It fetches the instrument first if it is not known.
// The snapshot cannot be merged with WebSocket updates (they carry no sequence number):
// it is for checks and one-off reads.
func (c *Client) Level2(ctx context.Context, instrumentID string) (*exchange.BookSnapshot, error) {
	inst, err := c.instrument(ctx, instrumentID)
	if err != nil {
		return nil, fmt.Errorf("level2 %s: %w", instrumentID, err)
	}
	body, err := c.do(ctx, request{op: "level2", method: http.MethodGet, path: "/v1/marketData/getLevel2",
		query: url.Values{"instrumentID": {instrumentID}}, public: true})
	if err != nil {
		return nil, fmt.Errorf("level2 %s: %w", instrumentID, err)
	}
	received := c.clock()
	m, err := NewLevel2Decoder([]exchange.Instrument{inst}).Decode(body)
	if err != nil {
		return nil, fmt.Errorf("level2 %s: %w", instrumentID, err)
	}
	if m.Instrument == nil || m.Instrument.ID != instrumentID {
		return nil, fmt.Errorf("level2 %s: answer is for %q", instrumentID, m.InstrumentID)
	}
	book := exchange.NewBook(inst, max(len(m.Bids), len(m.Asks), 1))
	if err := book.ApplySnapshot(m.Bids, m.Asks, m.PubTime, received); err != nil {
		return nil, fmt.Errorf("level2 %s: %w", instrumentID, err)
	}
	if book.Crossed() {
		return nil, fmt.Errorf("level2 %s: crossed book", instrumentID)
	}
	return book.Snapshot(), nil
}

func (c *Client) instrument(ctx context.Context, id string) (exchange.Instrument, error) {
	c.mu.Lock()
	inst, ok := c.instruments[id]
	c.mu.Unlock()
	if ok {
		return inst, nil
	}
	insts, err := c.Instruments(ctx, id)
	if err != nil {
		return exchange.Instrument{}, err
	}
	for _, in := range insts {
		if in.ID == id {
			return in, nil
		}
	}
	return exchange.Instrument{}, fmt.Errorf("instrument %q not listed by the exchange", id)
}

// Insert sends an order the risk gate approved; it refuses a zero Approved. nil means the
// exchange received the order (acceptance comes on the private stream).
func (c *Client) Insert(ctx context.Context, a risk.Approved) error {
	req, ok := a.Order()
	if !ok {
		return errors.New("insert: refusing an order the risk gate did not approve")
	}
	return c.insert(ctx, req)
}

func (c *Client) insert(ctx context.Context, req exchange.OrderRequest) error {
	if err := c.checkOrder(req); err != nil {
		return fmt.Errorf("insert %s: %w", req.LocalID, err)
	}
	resp, err := c.do(ctx, request{op: "insert", method: http.MethodPost, path: "/v1/order/insert",
		body: insertBody(req), bucket: OrderBucket, order: true})
	if err != nil {
		return fmt.Errorf("insert %s: %w", req.LocalID, err)
	}
	id, err := DecodeInsertAck(resp)
	if err != nil {
		return fmt.Errorf("insert %s: %w: unreadable answer: %w", req.LocalID, exchange.ErrUnknownOutcome, err)
	}
	if id != req.LocalID {
		return fmt.Errorf("insert %s: %w: answer names local ID %q", req.LocalID, exchange.ErrUnknownOutcome, id)
	}
	return nil
}

// insertBody serialises a new order once, compactly, in the reference's field order; these
// exact bytes are signed and sent. Decimals print without exponent.
func insertBody(req exchange.OrderRequest) []byte {
	b := make([]byte, 0, 192)
	b = append(b, '{')
	b = appendField(b, "instrumentID", req.Instrument)
	b = appendField(b, "orderPriceType", "limit")
	b = appendField(b, "direction", req.Side.String())
	b = appendField(b, "limitPrice", req.Price.String())
	b = appendField(b, "volumeTotalOriginal", req.Volume.String())
	b = appendField(b, "timeCondition", "GTC")
	b = appendField(b, "orderLocalID", req.LocalID)
	return append(b, '}')
}

// checkOrder refuses what the exchange would refuse as a bug, before it costs an order call.
func (c *Client) checkOrder(req exchange.OrderRequest) error {
	switch {
	case req.Instrument == "":
		return errors.New("no instrument")
	case req.Side != exchange.Buy && req.Side != exchange.Sell:
		return fmt.Errorf("invalid side %s", req.Side)
	case req.LocalID == "" || len(req.LocalID) > maxLocalID:
		return fmt.Errorf("local ID must have 1 to %d characters, has %d", maxLocalID, len(req.LocalID))
	case !req.Price.IsPositive():
		return fmt.Errorf("price %s not positive", req.Price)
	case !req.Volume.IsPositive():
		return fmt.Errorf("volume %s not positive", req.Volume)
	}
	c.mu.Lock()
	inst, ok := c.instruments[req.Instrument]
	c.mu.Unlock()
	if ok {
		if !fits(req.Price, inst.PricePrecision) {
			return fmt.Errorf("price %s has more than %d decimals", req.Price, inst.PricePrecision)
		}
		if !fits(req.Volume, inst.VolumePrecision) {
			return fmt.Errorf("volume %s has more than %d decimals", req.Volume, inst.VolumePrecision)
		}
	}
	return nil
}

func fits(d decimal.Decimal, places int32) bool { return d.Equal(d.Truncate(places)) }

// CancelByLocalID asks the exchange to cancel an order by our local ID. nil means the
// request was received; the order is gone when the private stream says so.
func (c *Client) CancelByLocalID(ctx context.Context, localID string) error {
	body := append(appendField([]byte{'{'}, "orderLocalID", localID), '}')
	return c.cancel(ctx, "cancel_by_local_id", "/v1/order/cancelByLocalID", localID, body)
}

// CancelBySysID asks the exchange to cancel an order by its exchange ID.
func (c *Client) CancelBySysID(ctx context.Context, sysID string) error {
	body := append(appendField([]byte{'{'}, "orderSysID", sysID), '}')
	return c.cancel(ctx, "cancel_by_sys_id", "/v1/order/cancelBySysID", sysID, body)
}

func (c *Client) cancel(ctx context.Context, op, path, id string, body []byte) error {
	if id == "" {
		return fmt.Errorf("%s: empty ID", op)
	}
	resp, err := c.do(ctx, request{op: op, method: http.MethodPost, path: path, body: body, bucket: OrderBucket, order: true})
	if err != nil {
		return fmt.Errorf("cancel %s: %w", id, err)
	}
	if _, err := DecodeCancelAck(resp); err != nil {
		return fmt.Errorf("cancel %s: %w: unreadable answer: %w", id, exchange.ErrUnknownOutcome, err)
	}
	return nil
}

// BatchCancel cancels orders by exchange ID in batches of at most 10, each counted by its
// size in the order bucket. It returns the IDs the exchange acknowledged; on an error, those
// of the batches before it.
func (c *Client) BatchCancel(ctx context.Context, sysIDs []string) ([]string, error) {
	var received []string
	for len(sysIDs) > 0 {
		n := min(len(sysIDs), batchSize, c.limiter.Limit(OrderBucket))
		chunk := sysIDs[:n]
		sysIDs = sysIDs[n:]
		b := append([]byte(nil), `{"orderSysIDs":[`...)
		for i, id := range chunk {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendJSONString(b, id)
		}
		b = append(b, "]}"...)
		resp, err := c.do(ctx, request{op: "batch_cancel", method: http.MethodPost, path: "/v1/order/batchCancel",
			body: b, bucket: OrderBucket, cost: n, order: true})
		if err != nil {
			return received, fmt.Errorf("batch cancel of %d: %w", n, err)
		}
		ids, err := DecodeBatchCancelAck(resp)
		if err != nil {
			return received, fmt.Errorf("batch cancel of %d: %w: unreadable answer: %w", n, exchange.ErrUnknownOutcome, err)
		}
		received = append(received, ids...)
	}
	return received, nil
}

// OrderByLocalID returns the order while it is open; nil once it is done or if unknown.
func (c *Client) OrderByLocalID(ctx context.Context, localID string) (*exchange.Order, error) {
	body := append(appendField([]byte{'{'}, "orderLocalID", localID), '}')
	resp, err := c.do(ctx, request{op: "order_by_local_id", method: http.MethodPost, path: "/v1/order/getOrderByLocalID", body: body})
	if err != nil {
		return nil, fmt.Errorf("order %s: %w", localID, err)
	}
	o, err := DecodeOrderOrNull(resp)
	if err != nil {
		return nil, fmt.Errorf("order %s: %w", localID, err)
	}
	return o, nil
}

// OrderQuery filters getOrder; zero fields are left out.
type OrderQuery struct {
	Start, End   time.Time // insert time bounds (sent in seconds)
	Status       string    // "active", "closed" or "" for all
	InstrumentID string
	SysID        string
}

// Orders lists up to 100 orders, newest first (POST /v1/order/getOrder).
func (c *Client) Orders(ctx context.Context, q OrderQuery) ([]exchange.Order, error) {
	if q.Status != "" && q.Status != "active" && q.Status != "closed" {
		return nil, fmt.Errorf("orders: status %q, want active, closed or empty", q.Status)
	}
	b := []byte{'{'}
	b = appendTime(b, "startTimestamp", q.Start)
	b = appendTime(b, "endTimestamp", q.End)
	b = appendOptional(b, "orderStatus", q.Status)
	b = appendOptional(b, "instrumentID", q.InstrumentID)
	b = appendOptional(b, "orderSysID", q.SysID)
	b = append(b, '}')
	resp, err := c.do(ctx, request{op: "orders", method: http.MethodPost, path: "/v1/order/getOrder", body: b})
	if err != nil {
		return nil, err
	}
	orders, err := DecodeOrders(resp)
	if err != nil {
		return nil, fmt.Errorf("orders: %w", err)
	}
	return orders, nil
}

// TradeQuery filters getTrade; zero fields are left out.
type TradeQuery struct {
	Start, End   time.Time
	InstrumentID string
}

// Trades lists up to 100 of the account's fills, newest first (POST /v1/trade/getTrade).
func (c *Client) Trades(ctx context.Context, q TradeQuery) ([]exchange.Fill, error) {
	b := []byte{'{'}
	b = appendTime(b, "startTimestamp", q.Start)
	b = appendTime(b, "endTimestamp", q.End)
	b = appendOptional(b, "instrumentID", q.InstrumentID)
	b = append(b, '}')
	resp, err := c.do(ctx, request{op: "trades", method: http.MethodPost, path: "/v1/trade/getTrade", body: b})
	if err != nil {
		return nil, err
	}
	fills, err := DecodeFills(resp)
	if err != nil {
		return nil, fmt.Errorf("trades: %w", err)
	}
	return fills, nil
}

// OpenOrders lists the orders resting in the book for one instrument ("" for all). getOrder
// answers at most 100, newest first, so it pages backwards by endTimestamp (seconds,
// taken as inclusive: repeats are dropped by orderSysID).
func (c *Client) OpenOrders(ctx context.Context, instrumentID string) ([]exchange.Order, error) {
	var out []exchange.Order
	seen := make(map[string]bool)
	q := OrderQuery{Status: "active", InstrumentID: instrumentID}
	for range maxPages {
		page, err := c.Orders(ctx, q)
		if err != nil {
			return nil, fmt.Errorf("open orders: %w", err)
		}
		var oldest time.Time
		for _, o := range page {
			t := o.Inserted
			if t.IsZero() {
				t = o.Updated
			}
			if oldest.IsZero() || t.Before(oldest) {
				oldest = t
			}
			if seen[o.SysID] {
				continue
			}
			seen[o.SysID] = true
			if o.Status.Open() {
				out = append(out, o)
			}
		}
		if len(page) < pageSize {
			return out, nil
		}
		if q.End, err = c.nextPageEnd("open orders", "open_orders_page_overflow", instrumentID, oldest, q.End); err != nil {
			return nil, err
		}
	}
	return nil, fmt.Errorf("open orders: more than %d pages", maxPages)
}

// Fills lists the account's fills on one instrument ("" for all) since a time, oldest
// first. getTrade answers at most 100, newest first, so it pages backwards by
// endTimestamp (seconds, inclusive: repeats are dropped by tradeID).
func (c *Client) Fills(ctx context.Context, instrumentID string, since time.Time) ([]exchange.Fill, error) {
	var out []exchange.Fill
	seen := make(map[string]bool)
	// getTrade speaks whole seconds: start at the second that holds since.
	from := since.Truncate(time.Second)
	q := TradeQuery{Start: from, InstrumentID: instrumentID}
	for range maxPages {
		page, err := c.Trades(ctx, q)
		if err != nil {
			return nil, fmt.Errorf("fills: %w", err)
		}
		var oldest time.Time
		for _, f := range page {
			// A fill without a time cannot be placed: keep it (the engine ignores repeats by
			// trade ID) rather than lose it, and leave it out of the paging.
			if !f.Time.IsZero() && (oldest.IsZero() || f.Time.Before(oldest)) {
				oldest = f.Time
			}
			if seen[f.TradeID] || !f.Time.IsZero() && f.Time.Before(from) {
				continue
			}
			seen[f.TradeID] = true
			out = append(out, f)
		}
		if len(page) < pageSize || oldest.Before(from) && !oldest.IsZero() {
			slices.SortStableFunc(out, func(a, b exchange.Fill) int { return a.Time.Compare(b.Time) })
			return out, nil
		}
		if q.End, err = c.nextPageEnd("fills", "fills_page_overflow", instrumentID, oldest, q.End); err != nil {
			return nil, err
		}
	}
	return nil, fmt.Errorf("fills: more than %d pages", maxPages)
}

// nextPageEnd is the endTimestamp of the next page back, after a full page whose oldest
// entry is at oldest, the last page having ended at end (zero: now). It fails rather than
// return a list that may be short: a page without timestamps cannot be paged past, and a
// whole page inside one second cannot be paged within (the exchange pages by whole seconds).
// what names the list in errors, overflow the event logged for a crowded second.
func (c *Client) nextPageEnd(what, overflow, instrumentID string, oldest, end time.Time) (time.Time, error) {
	if oldest.IsZero() {
		return time.Time{}, fmt.Errorf("%s: a full page of %d without timestamps: cannot page past it", what, pageSize)
	}
	next := oldest.Truncate(time.Second)
	if !end.IsZero() && !next.Before(end) {
		c.log.Warn(overflow, zap.String("instrument", instrumentID), zap.Time("second", next))
		return time.Time{}, fmt.Errorf("%s: %d or more in the second %s: cannot page within it",
			what, pageSize, next.UTC().Format(time.RFC3339))
	}
	return next, nil
}

// request is one REST call.
type request struct {
	op       string // stable name for logs and errors
	method   string
	path     string // from "/v1", without the query
	query    url.Values
	body     []byte // nil for GET
	bucket   Bucket
	cost     int  // rate-limit tokens, default 1
	order    bool // insert or cancel: never resent once written
	public   bool // market data: may go unsigned without credentials
	unsigned bool // send without auth headers (clock-sync fallback)
}

// do sends r with rate limiting, 1001 handling and, for queries, retries.
func (c *Client) do(ctx context.Context, r request) ([]byte, error) {
	if r.cost == 0 {
		r.cost = 1
	}
	if c.signer == nil && !r.public {
		return nil, fmt.Errorf("hashkey %s: %w", r.op, errNoCredentials)
	}
	resynced := false
	for attempt := 0; ; attempt++ {
		if err := c.limiter.Wait(ctx, r.bucket, r.cost); err != nil {
			return nil, fmt.Errorf("hashkey %s: %w", r.op, err)
		}
		stamped := c.clock()
		body, err := c.once(ctx, r)
		if err == nil {
			return body, nil
		}
		var apiErr *APIError
		var te *TransportError
		if errors.As(err, &te) && te.Status == http.StatusTooManyRequests {
			c.tighten(r) // a 429 without a respCode means the same as 1004
		}
		if errors.As(err, &apiErr) {
			switch apiErr.Code {
			case 1001:
				if !resynced && c.signer != nil && !r.unsigned {
					resynced = true
					if serr := c.resync(ctx, stamped); serr != nil {
						return nil, fmt.Errorf("%w (clock resync failed: %v)", err, serr)
					}
					attempt-- // refused, not failed: the resend does not count as a retry
					continue
				}
			case 1004:
				c.tighten(r)
			}
		}
		if r.order || !retryable(err) || attempt >= c.retries || ctx.Err() != nil {
			return nil, err
		}
		d := c.retryBase << attempt
		d = d/2 + rand.N(d/2+1) // jitter: callers retrying together spread out
		c.log.Debug("rest_retry", zap.String("op", r.op), zap.Int("attempt", attempt+1), zap.Duration("backoff", d), zap.Error(err))
		t := time.NewTimer(d)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil, err
		case <-t.C:
		}
	}
}

// tighten shrinks r's bucket after the exchange said we sent too much.
func (c *Client) tighten(r request) {
	c.limiter.Tighten(r.bucket)
	c.log.Warn("rate_limit_tightened", zap.String("op", r.op), zap.Stringer("bucket", r.bucket),
		zap.Int("limit", c.limiter.Limit(r.bucket)))
}

// retryable reports whether a query may be sent again after err.
func retryable(err error) bool {
	var apiErr *APIError
	if errors.As(err, &apiErr) {
		return apiErr.Code == 1005
	}
	var te *TransportError
	if errors.As(err, &te) {
		return te.Status == 0 || te.Status >= 500
	}
	return false
}

// once sends r one time: sign, send, read, classify.
func (c *Client) once(ctx context.Context, r request) ([]byte, error) {
	target := r.path
	if len(r.query) > 0 {
		target += "?" + r.query.Encode()
	}
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	// Once the request's bytes may have left, an insert or cancel is no longer known to
	// have failed: the exchange may have acted on it.
	var written atomic.Bool
	ctx = httptrace.WithClientTrace(ctx, &httptrace.ClientTrace{
		WroteHeaders: func() { written.Store(true) },
		WroteRequest: func(httptrace.WroteRequestInfo) {
			if r.order && c.orderWritten != nil {
				c.orderWritten(r.op, time.Now())
			}
		},
	})
	var rd io.Reader
	if r.body != nil {
		rd = bytes.NewReader(r.body)
	}
	req, err := http.NewRequestWithContext(ctx, r.method, c.rest+target, rd)
	if err != nil {
		return nil, fmt.Errorf("hashkey %s: %w", r.op, err)
	}
	// Header names as the reference spells them (HTTP/1.1 sends them verbatim).
	req.Header["Content-Type"] = []string{"application/json"}
	if c.signer != nil && !r.unsigned {
		ts := strconv.FormatInt(c.Now().UnixMilli(), 10)
		sig, err := c.signer.SignREST(ts, r.method, target, r.body)
		if err != nil {
			return nil, fmt.Errorf("hashkey %s: sign: %w", r.op, err)
		}
		req.Header["API-KEY"] = []string{c.signer.APIKey()}
		req.Header["API-TIMESTAMP"] = []string{ts}
		req.Header["API-SIGNATURE"] = []string{sig}
		req.Header["AUTH-TYPE"] = []string{string(c.signer.AuthType())}
	}
	start := c.clock()
	resp, err := c.http.Do(req)
	if err != nil {
		c.logCall(r, 0, start, err)
		return nil, lost(r, written.Load(), &TransportError{Op: r.op, Err: err})
	}
	body, err := readBody(resp.Body)
	if err != nil {
		c.logCall(r, resp.StatusCode, start, err)
		return nil, lost(r, true, &TransportError{Op: r.op, Status: resp.StatusCode, Err: err})
	}
	if err := CheckResp(r.op, body); err != nil {
		c.logCall(r, resp.StatusCode, start, err)
		var apiErr *APIError
		if r.order && errors.As(err, &apiErr) && apiErr.Code == 1005 {
			// "Internal service error" after the order reached the exchange: it may exist.
			return nil, fmt.Errorf("%w: %w", exchange.ErrUnknownOutcome, err)
		}
		return nil, err
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		err := &TransportError{Op: r.op, Status: resp.StatusCode}
		if len(body) > 0 {
			err.Err = fmt.Errorf("body %q", excerpt(body))
		}
		c.logCall(r, resp.StatusCode, start, err)
		if resp.StatusCode >= 500 {
			return nil, lost(r, true, err)
		}
		return nil, err
	}
	c.logCall(r, resp.StatusCode, start, nil)
	return body, nil
}

// lost marks the error of an insert or cancel whose request was written as an unknown
// outcome; the caller must reconcile, never resend.
func lost(r request, written bool, err error) error {
	if r.order && written {
		return fmt.Errorf("%w: %w", exchange.ErrUnknownOutcome, err)
	}
	return err
}

func (c *Client) logCall(r request, status int, start time.Time, err error) {
	if ce := c.log.Check(zap.DebugLevel, "rest_call"); ce != nil {
		ce.Write(zap.String("op", r.op), zap.String("method", r.method), zap.String("path", r.path),
			zap.Int("status", status), zap.Duration("duration", c.clock().Sub(start)), zap.Error(err))
	}
}

func readBody(rc io.ReadCloser) ([]byte, error) {
	defer rc.Close()
	b, err := io.ReadAll(io.LimitReader(rc, maxBody+1))
	if err != nil {
		return nil, err
	}
	if len(b) > maxBody {
		return nil, fmt.Errorf("answer longer than %d bytes", maxBody)
	}
	return b, nil
}

func excerpt(b []byte) string {
	const n = 128
	if len(b) > n {
		return string(b[:n]) + "…"
	}
	return string(b)
}

// appendField appends "key":"value" to a JSON object being built in b (which starts with '{').
func appendField(b []byte, key, value string) []byte {
	if len(b) > 1 {
		b = append(b, ',')
	}
	b = appendJSONString(b, key)
	b = append(b, ':')
	return appendJSONString(b, value)
}

func appendOptional(b []byte, key, value string) []byte {
	if value == "" {
		return b
	}
	return appendField(b, key, value)
}

func appendTime(b []byte, key string, t time.Time) []byte {
	if t.IsZero() {
		return b
	}
	return appendField(b, key, strconv.FormatInt(t.Unix(), 10))
}

// appendJSONString appends s as a JSON string. Every value the API takes is a string.
func appendJSONString(b []byte, s string) []byte {
	const hex = "0123456789abcdef"
	b = append(b, '"')
	for i := 0; i < len(s); i++ {
		switch ch := s[i]; {
		case ch == '"' || ch == '\\':
			b = append(b, '\\', ch)
		case ch < 0x20:
			b = append(b, '\\', 'u', '0', '0', hex[ch>>4], hex[ch&0xf])
		default:
			b = append(b, ch)
		}
	}
	return append(b, '"')
}

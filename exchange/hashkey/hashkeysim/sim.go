// Package hashkeysim is a simulated HashKey Pro exchange that speaks the exchange's wire
// protocol (REST under /APITrade/v1/…, WebSocket at /APITradeWS/v1/messages) over one local
// listener, so that any HashKey Pro client works against it unchanged. mmd paper-trades on
// it, and every test and benchmark runs against it over loopback.
//
// It verifies both signing schemes (HMAC and PUB-PRIV, revisions v4.3 and v4.2), enforces the
// published rate limits, validates orders like the exchange, matches client orders with
// price-time priority against each other and a seeded synthetic market, moves balances with
// fills and fees, and publishes level-2 books, trades and private order events. Faults can
// be switched on while it runs (see Faults).
//
// Wire choices where the reference is silent:
//   - Every subscribe or unsubscribe is acknowledged per channel with
//     {"type":"subscribe_rsp","channel":"level2@10","respCode":"0","respMsg":"success"}
//     (unsubscribe_rsp likewise); the private login answers the same with channel "user".
//     An unknown instrument gets its own respCode 2006 answer naming it ("instrumentID");
//     an unknown channel or a malformed request gets respCode 1007. Failed logins leave the
//     connection open and unauthenticated.
//   - An insert is answered {"orderLocalID":…} once its fields are valid (field errors and
//     maintenance 2007 are REST errors); it is then processed in order on the engine
//     goroutine: accepted (order_return, status 3) or refused for balance
//     (order_insert_rsp 2011).
//   - Single cancels are decided before they are answered: 2004/2014/2015 come back as REST
//     errors, never as order_cancel_rsp. A batch cancel answers the IDs it received and
//     reports each refused ID as an order_cancel_rsp.
//   - At one price, client orders stand ahead of synthetic liquidity.
package hashkeysim

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"
	"github.com/mmd-dev/mmd/exchange"
	"github.com/shopspring/decimal"
	"go.uber.org/zap"
)

// Config configures a Server. The zero value is a usable paper-trading exchange.
type Config struct {
	Listen       string           // default "127.0.0.1:0"
	Accounts     []Account        // none: one demo HMAC account with a random key and secret
	Instruments  []InstrumentSpec // none: DefaultInstruments()
	Signing      string           // "v4.3" (default), "v4.2", or "any" (accept both revisions)
	Seed         int64            // market randomness
	Clock        func() time.Time // default time.Now; every timestamp comes from it (plus ClockSkew)
	TickInterval time.Duration    // market step period, default 500ms; unused when Manual
	Manual       bool             // no background ticking: call Step
	Volatility   decimal.Decimal  // per-step std-dev of the fair value in bps; zero: 2 (a tiny value holds the market still)
	Logger       *zap.Logger      // nil: zap.NewNop()

	// RateLimits are published by /v1/referenceData/rateLimit and enforced per key over a
	// sliding second; zero fields take the exchange's 10 query and 300 order calls/s.
	RateLimits exchange.RateLimits
	// NoRateLimit enforces no rate limit at all, for benchmarks that measure the simulator
	// rather than the limit; rateLimit still publishes RateLimits.
	NoRateLimit bool
	// IdleTimeout drops a WebSocket connection silent this long (no request, ping or pong);
	// default 60s.
	IdleTimeout time.Duration
	// RetainClosed caps the closed orders and the fills kept per account for queries;
	// default 10 000.
	RetainClosed int
}

// Account is one API key. HMAC keys carry Secret (the string itself is the HMAC key);
// PUB-PRIV keys carry PublicKey, a base64 secp256k1 public key, compressed or not.
// Nil Balances get DefaultBalances().
type Account struct {
	APIKey    string
	AuthType  string // AuthHMAC or AuthPubPriv
	Secret    string
	PublicKey string
	Balances  map[string]decimal.Decimal
}

// InstrumentSpec is a tradable instrument and the synthetic market's starting fair value.
type InstrumentSpec struct {
	exchange.Instrument
	StartPrice decimal.Decimal
}

// Request is an authenticated REST request as the Observe hook sees it.
type Request struct {
	Received time.Time // the simulator's clock when the request arrived
	Method   string
	Path     string // e.g. "/v1/order/insert"
	APIKey   string
	Body     []byte // the raw body; the hook may keep it
}

// DefaultInstruments are ETH-BTC (price 6 / volume 3 decimals), BTC-USDT (2/4) and
// ETH-USDT (2/3).
func DefaultInstruments() []InstrumentSpec {
	mk := func(id, base, quote string, pp, vp int32, start string) InstrumentSpec {
		return InstrumentSpec{
			Instrument: exchange.Instrument{ID: id, Base: base, Quote: quote, PricePrecision: pp, VolumePrecision: vp},
			StartPrice: decimal.RequireFromString(start),
		}
	}
	return []InstrumentSpec{
		mk("ETH-BTC", "ETH", "BTC", 6, 3, "0.031"),
		mk("BTC-USDT", "BTC", "USDT", 2, 4, "65000"),
		mk("ETH-USDT", "ETH", "USDT", 2, 3, "2000"),
	}
}

// DefaultBalances are what an account without configured balances starts with.
func DefaultBalances() map[string]decimal.Decimal {
	return map[string]decimal.Decimal{
		"BTC":  decimal.NewFromInt(10),
		"ETH":  decimal.NewFromInt(1000),
		"USDT": decimal.NewFromInt(1_000_000),
	}
}

var errClosed = errors.New("simulator closed")

// Server is a running simulated exchange.
type Server struct {
	cfg      Config
	log      *zap.Logger
	clock    func() time.Time
	revs     revision
	limits   exchange.RateLimits
	idle     time.Duration
	retain   int
	makerFee decimal.Decimal
	takerFee decimal.Decimal

	instruments []*instrument
	instByID    map[string]*instrument
	accounts    []*account
	byKey       map[string]*account // fixed after New: read without locking
	routes      map[string]endpoint
	upgrader    websocket.Upgrader

	faults  *Faults
	hub     *hub
	disp    *dispatcher
	limiter *limiter
	observe atomic.Pointer[func(Request)]

	mu        sync.Mutex // the exchange state: books, markets, orders, balances, ID counters
	nextSys   uint64
	nextTrade uint64

	cmds chan command
	quit chan struct{}
	wg   sync.WaitGroup

	lifeMu   sync.Mutex
	state    int // stateNew, stateStarted, stateClosed
	ln       net.Listener
	httpSrv  *http.Server
	serveErr error
}

const (
	stateNew = iota
	stateStarted
	stateClosed
)

// command is work for the engine goroutine; done (if set) closes once it ran and its
// effects were published.
type command struct {
	fn   func()
	done chan struct{}
}

// maxBatch bounds how many queued commands share one publish.
const maxBatch = 256

// New checks the configuration and builds a Server; Start makes it listen.
func New(cfg Config) (*Server, error) {
	s := &Server{
		cfg:      cfg,
		log:      cfg.Logger,
		clock:    cfg.Clock,
		limits:   cfg.RateLimits,
		idle:     cfg.IdleTimeout,
		retain:   cfg.RetainClosed,
		makerFee: decimal.New(1, -3), // 0.1 %
		takerFee: decimal.New(2, -3), // 0.2 %
		instByID: make(map[string]*instrument),
		byKey:    make(map[string]*account),
		cmds:     make(chan command, 1024),
		quit:     make(chan struct{}),
		limiter:  newLimiter(),
		upgrader: websocket.Upgrader{CheckOrigin: func(*http.Request) bool { return true }},
	}
	if s.log == nil {
		s.log = zap.NewNop()
	}
	if s.clock == nil {
		s.clock = time.Now
	}
	if s.cfg.Listen == "" {
		s.cfg.Listen = "127.0.0.1:0"
	}
	if s.cfg.TickInterval <= 0 {
		s.cfg.TickInterval = 500 * time.Millisecond
	}
	if s.limits.Query <= 0 {
		s.limits.Query = 10
	}
	if s.limits.Order <= 0 {
		s.limits.Order = 300
	}
	if s.idle <= 0 {
		s.idle = 60 * time.Second
	}
	if s.retain <= 0 {
		s.retain = 10_000
	}
	vol := cfg.Volatility
	if vol.IsZero() {
		vol = decimal.NewFromInt(2)
	}
	if vol.IsNegative() {
		return nil, fmt.Errorf("volatility %s: must not be negative", vol)
	}
	var err error
	if s.revs, err = parseSigning(cfg.Signing); err != nil {
		return nil, err
	}
	specs := cfg.Instruments
	if len(specs) == 0 {
		specs = DefaultInstruments()
	}
	for i, spec := range specs {
		in, err := newInstrument(i, spec, uint64(cfg.Seed), vol)
		if err != nil {
			return nil, err
		}
		if s.instByID[in.spec.ID] != nil {
			return nil, fmt.Errorf("instrument %s listed twice", in.spec.ID)
		}
		s.instruments = append(s.instruments, in)
		s.instByID[in.spec.ID] = in
	}
	accounts := cfg.Accounts
	if len(accounts) == 0 {
		demo, err := demoAccount()
		if err != nil {
			return nil, err
		}
		accounts = []Account{demo}
	}
	for i, ac := range accounts {
		if ac.APIKey == "" {
			return nil, fmt.Errorf("account %d: empty apiKey", i+1)
		}
		if s.byKey[ac.APIKey] != nil {
			return nil, fmt.Errorf("account %s listed twice", ac.APIKey)
		}
		v, err := newVerifier(ac)
		if err != nil {
			return nil, fmt.Errorf("account %s: %w", ac.APIKey, err)
		}
		if ac.Balances == nil {
			ac.Balances = DefaultBalances()
		}
		a := &account{
			cfg: ac, id: fmt.Sprintf("%d", 10001+i), verifier: v,
			assets: make(map[string]*asset), bySys: make(map[string]*order), byLocal: make(map[string]*order),
		}
		for name, amount := range ac.Balances {
			if amount.IsNegative() {
				return nil, fmt.Errorf("account %s: balance %s %s is negative", ac.APIKey, amount, name)
			}
			a.asset(name).total = amount
		}
		s.accounts = append(s.accounts, a)
		s.byKey[ac.APIKey] = a
	}
	s.routes = s.endpoints()
	s.faults = newFaults(s, cfg.Seed)
	s.hub = newHub(len(s.instruments))
	s.disp = newDispatcher(s.hub)
	s.mu.Lock()
	s.publishLocked() // the initial books, so the first snapshot is not empty
	s.mu.Unlock()
	return s, nil
}

func newInstrument(idx int, spec InstrumentSpec, seed uint64, vol decimal.Decimal) (*instrument, error) {
	inst := spec.Instrument
	if inst.Base == "" || inst.Quote == "" {
		base, quote, found := strings.Cut(inst.ID, "-")
		if !found || base == "" || quote == "" || strings.Contains(quote, "-") {
			return nil, fmt.Errorf("instrument %q: want BASE-QUOTE, e.g. ETH-BTC", inst.ID)
		}
		if inst.Base == "" {
			inst.Base = base
		}
		if inst.Quote == "" {
			inst.Quote = quote
		}
	}
	if inst.PricePrecision < 0 || inst.PricePrecision > 10 || inst.VolumePrecision < 0 || inst.VolumePrecision > 10 {
		return nil, fmt.Errorf("instrument %s: precisions must be 0 to 10 decimals", inst.ID)
	}
	start := spec.StartPrice.Shift(inst.PricePrecision).Round(0)
	if !start.IsPositive() || spec.StartPrice.GreaterThanOrEqual(maxAmount) {
		return nil, fmt.Errorf("instrument %s: start price %s must be positive, below 10000000 and at least one tick",
			inst.ID, spec.StartPrice)
	}
	return &instrument{
		idx:   idx,
		spec:  inst,
		mkt:   newMarket(seed, idx, start.IntPart(), inst.PricePrecision, inst.VolumePrecision, vol),
		dirty: true,
	}, nil
}

// demoAccount makes the throwaway HMAC account used when none is configured.
func demoAccount() (Account, error) {
	var key [4]byte
	var secret [32]byte
	if _, err := rand.Read(key[:]); err != nil {
		return Account{}, fmt.Errorf("demo account: %w", err)
	}
	if _, err := rand.Read(secret[:]); err != nil {
		return Account{}, fmt.Errorf("demo account: %w", err)
	}
	return Account{
		APIKey:   "demo-" + hex.EncodeToString(key[:]),
		AuthType: AuthHMAC,
		Secret:   base64.StdEncoding.EncodeToString(secret[:]),
	}, nil
}

// Start listens on Config.Listen and serves REST and WebSocket on that one listener, and
// starts the engine (and, unless Manual, the market ticker).
func (s *Server) Start() error {
	s.lifeMu.Lock()
	if s.state != stateNew {
		s.lifeMu.Unlock()
		return errors.New("simulator already started or closed")
	}
	ln, err := net.Listen("tcp", s.cfg.Listen)
	if err != nil {
		s.lifeMu.Unlock()
		return fmt.Errorf("simulator listen %s: %w", s.cfg.Listen, err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc(restPrefix+"/", s.serveREST)
	mux.HandleFunc(wsPath, s.serveWS)
	s.ln = ln
	s.httpSrv = &http.Server{
		Handler:           mux,
		ReadHeaderTimeout: 10 * time.Second,
		ErrorLog:          zap.NewStdLog(s.log),
	}
	s.state = stateStarted
	s.wg.Go(func() {
		if err := s.httpSrv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.lifeMu.Lock()
			s.serveErr = err
			s.lifeMu.Unlock()
		}
	})
	s.wg.Go(s.runEngine)
	s.wg.Go(func() { s.disp.run(s.quit) })
	s.lifeMu.Unlock()
	s.log.Info("sim_started", zap.String("rest", s.RESTURL()), zap.String("ws", s.WSURL()),
		zap.Int("instruments", len(s.instruments)), zap.Int("accounts", len(s.accounts)),
		zap.Bool("manual", s.cfg.Manual), zap.Stringer("signing", s.revs))
	return nil
}

// Close stops everything and waits for every goroutine. It is safe to call more than once.
func (s *Server) Close() error {
	s.lifeMu.Lock()
	if s.state == stateClosed {
		s.lifeMu.Unlock()
		return nil
	}
	started := s.state == stateStarted
	s.state = stateClosed
	close(s.quit)
	s.lifeMu.Unlock()
	if !started {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if err := s.httpSrv.Shutdown(ctx); err != nil {
		s.httpSrv.Close()
	}
	for _, c := range s.hub.all() { // hijacked: Shutdown does not touch them
		c.close()
	}
	s.wg.Wait()
	s.log.Info("sim_stopped")
	s.lifeMu.Lock()
	defer s.lifeMu.Unlock()
	return s.serveErr
}

// track registers a WebSocket handler with the Server's wait group unless it is closing.
func (s *Server) track() bool {
	s.lifeMu.Lock()
	defer s.lifeMu.Unlock()
	if s.state == stateClosed {
		return false
	}
	s.wg.Add(1)
	return true
}

func (s *Server) addr() string {
	s.lifeMu.Lock()
	defer s.lifeMu.Unlock()
	if s.ln == nil {
		return s.cfg.Listen
	}
	a, ok := s.ln.Addr().(*net.TCPAddr)
	if !ok {
		return s.ln.Addr().String()
	}
	if a.IP.IsUnspecified() {
		return net.JoinHostPort("127.0.0.1", fmt.Sprint(a.Port))
	}
	return a.String()
}

// RESTURL is the REST base URL, e.g. "http://127.0.0.1:PORT/APITrade".
func (s *Server) RESTURL() string { return "http://" + s.addr() + restPrefix }

// WSURL is the WebSocket URL, e.g. "ws://127.0.0.1:PORT/APITradeWS/v1/messages".
func (s *Server) WSURL() string { return "ws://" + s.addr() + wsPath }

// Accounts returns the accounts as configured, including a generated demo account.
func (s *Server) Accounts() []Account {
	out := make([]Account, len(s.accounts))
	for i, a := range s.accounts {
		out[i] = a.cfg
		out[i].Balances = make(map[string]decimal.Decimal, len(a.cfg.Balances))
		for k, v := range a.cfg.Balances {
			out[i].Balances[k] = v
		}
	}
	return out
}

// Faults returns the fault switches.
func (s *Server) Faults() *Faults { return s.faults }

// Observe installs a hook called on every authenticated REST request, on the request's
// goroutine, before it is processed; nil removes it. Keep it quick.
func (s *Server) Observe(fn func(Request)) {
	if fn == nil {
		s.observe.Store(nil)
		return
	}
	s.observe.Store(&fn)
}

// Step advances the synthetic market one step and publishes the result; it returns once the
// step's messages are queued on every connection. Requests received before it are processed
// before it.
func (s *Server) Step() {
	s.call(context.Background(), s.stepLocked)
}

// SetFairValue moves an instrument's fair value to p now (filling client orders it moves
// through) and publishes at once. Once every connection has written the resulting messages
// it returns when the last of them began to be written (by the simulator's clock; zero for an
// unknown instrument or a closed simulator). Latency is measured from that instant, not from
// when this call returns, which is a goroutine wake-up later.
func (s *Server) SetFairValue(instrumentID string, p decimal.Decimal) time.Time {
	in := s.instByID[instrumentID]
	if in == nil {
		s.log.Warn("sim_unknown_instrument", zap.String("instrumentID", instrumentID))
		return time.Time{}
	}
	ticks := p.Shift(in.spec.PricePrecision).Round(0).IntPart()
	if err := s.call(context.Background(), func() { s.setFairLocked(in, ticks) }); err != nil {
		return time.Time{}
	}
	timeout := time.NewTimer(5 * time.Second)
	defer timeout.Stop()
	var last time.Time
	for _, w := range s.hub.flush() {
		select {
		case t := <-w.flushed:
			if t.After(last) {
				last = t
			}
		case <-w.done:
		case <-timeout.C:
			return s.now()
		case <-s.quit:
			return time.Time{}
		}
	}
	if last.IsZero() {
		return s.now()
	}
	return last
}

// OpenOrders returns the account's orders resting in the book, oldest first.
func (s *Server) OpenOrders(apiKey string) []exchange.Order {
	a := s.byKey[apiKey]
	if a == nil {
		return nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []exchange.Order
	for _, o := range a.history {
		if !o.evicted && o.status.Open() {
			out = append(out, o.toExchange())
		}
	}
	return out
}

// Balances returns the account's balances, sorted by asset.
func (s *Server) Balances(apiKey string) []exchange.Balance {
	a := s.byKey[apiKey]
	if a == nil {
		return nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	names := sortedAssets(a)
	out := make([]exchange.Balance, 0, len(names))
	for _, name := range names {
		x := a.assets[name]
		out = append(out, exchange.Balance{Asset: name, Balance: x.total, Available: x.total.Sub(x.frozen)})
	}
	return out
}

// now is the simulator's clock, skewed by the ClockSkew fault.
func (s *Server) now() time.Time { return s.clock().Add(s.faults.clockSkew()) }

func (s *Server) started() (bool, error) {
	s.lifeMu.Lock()
	defer s.lifeMu.Unlock()
	switch s.state {
	case stateNew:
		return false, nil
	case stateClosed:
		return false, errClosed
	}
	return true, nil
}

// call runs fn on the engine goroutine and waits until it ran and its effects were published.
// Before Start there is no engine: fn runs inline.
func (s *Server) call(ctx context.Context, fn func()) error {
	return s.enqueue(ctx, fn, true)
}

// submit queues fn for the engine goroutine without waiting for it.
func (s *Server) submit(ctx context.Context, fn func()) error {
	return s.enqueue(ctx, fn, false)
}

func (s *Server) enqueue(ctx context.Context, fn func(), wait bool) error {
	running, err := s.started()
	if err != nil {
		return err
	}
	if !running {
		s.mu.Lock()
		fn()
		s.publishLocked()
		s.mu.Unlock()
		return nil
	}
	c := command{fn: fn}
	if wait {
		c.done = make(chan struct{})
	}
	select {
	case s.cmds <- c:
	case <-s.quit:
		return errClosed
	case <-ctx.Done():
		return ctx.Err()
	}
	if !wait {
		return nil
	}
	select {
	case <-c.done:
		return nil
	case <-s.quit:
		return errClosed
	}
}

// runEngine is the one goroutine that changes the exchange state (besides inline calls
// before Start): queued commands in order, and market steps on the ticker.
func (s *Server) runEngine() {
	var tick <-chan time.Time
	if !s.cfg.Manual {
		t := time.NewTicker(s.cfg.TickInterval)
		defer t.Stop()
		tick = t.C
	}
	for {
		select {
		case <-s.quit:
			return
		case c := <-s.cmds:
			s.runBatch(c)
		case <-tick:
			s.runBatch(command{fn: s.stepLocked})
		}
	}
}

// runBatch runs the command and whatever else is already queued (up to maxBatch), then
// publishes once: under load, updates are batched like the exchange's; when idle, they go
// out at once.
func (s *Server) runBatch(c command) {
	var waiters []chan struct{}
	s.mu.Lock()
	for n := 0; ; n++ {
		c.fn()
		if c.done != nil {
			waiters = append(waiters, c.done)
		}
		if n+1 >= maxBatch {
			break
		}
		select {
		case next := <-s.cmds:
			c = next
			continue
		default:
		}
		break
	}
	s.publishLocked()
	s.mu.Unlock()
	for _, w := range waiters {
		close(w)
	}
}

// Package hashkey is the HashKey Pro adapter: request signing, the REST client with its
// local rate limiter and clock offset, the WebSocket streams and the order book builder.
package hashkey

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"go.uber.org/zap"
)

// Environment names one of the exchange's deployments.
type Environment string

const (
	Production Environment = "production"
	Staging    Environment = "staging" // the exchange guide's "test"
	Preview    Environment = "preview" // new API releases land here first
)

// endpoints are the published base URLs of each environment (reference §1).
var endpoints = map[Environment][2]string{
	Production: {"https://pro.hashkey.com/APITrade", "wss://pro.hashkey.com/APITradeWS/v1/messages"},
	Staging:    {"https://api-test.pro.hashkey.com/APITrade", "wss://api-test.pro.hashkey.com/APITradeWS/v1/messages"},
	Preview:    {"https://preview-pro.hashkey.com/APITrade", "wss://preview-pro.hashkey.com/APITradeWS/v1/messages"},
}

// Config configures a Client and the streams it opens.
type Config struct {
	Environment Environment
	// RESTURL and WSURL override the environment's URLs (the simulator, hosts we don't know
	// yet). With both set, Environment may be empty or any name.
	RESTURL, WSURL string
	// DialAddress is an optional host:port to connect to instead of resolving the URL's
	// host, for every REST and WebSocket connection. TLS still verifies the URL's host name
	// (like curl --resolve); the exchange's guide pins staging to 45.249.244.103:443.
	DialAddress string
	// LocalAddress is an optional local IP that outgoing connections bind to: the exchange
	// whitelists the source address, and a host may have several.
	LocalAddress string
	Credentials  Credentials
	Timeout      time.Duration    // per REST call (one attempt), default 10s
	RateMargin   float64          // fraction of the published rate limits to use, default 0.8 (not money)
	Clock        func() time.Time // default time.Now
	Logger       *zap.Logger      // default zap.NewNop()
	// OrderWritten, if set, is called when an insert's or a cancel's request has been
	// written out in full, with its op ("insert", "cancel_by_local_id"…) and the time: the
	// end point of order-path latency measurements (tick-to-order). It must not block.
	OrderWritten func(op string, at time.Time)

	// rootCAs replaces the system roots; tests use it to trust their own certificate.
	rootCAs *x509.CertPool
}

// URLs returns the REST base URL (without a trailing slash) and the WebSocket URL: the
// overrides where given, else the environment's.
func (c Config) URLs() (rest, ws string, err error) {
	if e, ok := endpoints[c.Environment]; ok {
		rest, ws = e[0], e[1]
	} else if c.RESTURL == "" || c.WSURL == "" {
		return "", "", fmt.Errorf("unknown environment %q (want production, staging or preview, or set both URLs)", c.Environment)
	}
	if c.RESTURL != "" {
		rest = c.RESTURL
	}
	if c.WSURL != "" {
		ws = c.WSURL
	}
	rest = strings.TrimRight(rest, "/")
	if err := checkURL(rest, "http", "https"); err != nil {
		return "", "", fmt.Errorf("REST URL: %w", err)
	}
	if err := checkURL(ws, "ws", "wss"); err != nil {
		return "", "", fmt.Errorf("WebSocket URL: %w", err)
	}
	return rest, ws, nil
}

func checkURL(raw string, schemes ...string) error {
	u, err := url.Parse(raw)
	if err != nil {
		return err
	}
	if u.Host == "" {
		return fmt.Errorf("%q has no host", raw)
	}
	for _, s := range schemes {
		if u.Scheme == s {
			return nil
		}
	}
	return fmt.Errorf("%q: scheme %q, want %s", raw, u.Scheme, strings.Join(schemes, " or "))
}

// dialFunc opens a TCP connection.
type dialFunc func(ctx context.Context, network, addr string) (net.Conn, error)

// newDialer returns the one dial function shared by REST and WebSocket: it binds to
// LocalAddress and connects to DialAddress instead of the resolved host when set. The
// caller's TLS layer still uses the URL's host name for SNI and verification.
func newDialer(cfg Config) (dialFunc, error) {
	d := &net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}
	if cfg.LocalAddress != "" {
		ip := net.ParseIP(cfg.LocalAddress)
		if ip == nil {
			return nil, fmt.Errorf("local address %q is not an IP address", cfg.LocalAddress)
		}
		d.LocalAddr = &net.TCPAddr{IP: ip}
	}
	override := cfg.DialAddress
	if override != "" {
		if _, _, err := net.SplitHostPort(override); err != nil {
			return nil, fmt.Errorf("dial address %q: %w", override, err)
		}
	}
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		if override != "" {
			addr = override
		}
		return d.DialContext(ctx, network, addr)
	}, nil
}

// newTransport builds the one HTTP transport of a client: connections are kept alive and
// reused (an insert should not pay a TLS handshake). Proxies from the environment are not
// used: the exchange whitelists our own source address.
func newTransport(dial dialFunc, tlsConf *tls.Config) *http.Transport {
	return &http.Transport{
		DialContext:           dial,
		TLSClientConfig:       tlsConf,
		TLSHandshakeTimeout:   10 * time.Second,
		MaxIdleConns:          32,
		MaxIdleConnsPerHost:   16,
		IdleConnTimeout:       90 * time.Second,
		ExpectContinueTimeout: time.Second,
		// HTTP/1.1 only: it sends the header names as the reference spells them (API-KEY…),
		// as the exchange's own sample clients do; HTTP/2 would lower-case them.
		ForceAttemptHTTP2: false,
	}
}

func tlsConfig(cfg Config) *tls.Config {
	return &tls.Config{MinVersion: tls.VersionTLS12, RootCAs: cfg.rootCAs}
}

// errNoCredentials is returned by calls that must be signed when no API key is configured.
var errNoCredentials = errors.New("no API credentials configured")

package hashkey

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"io"
	stdlog "log"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/mmd-dev/mmd/exchange"
)

func TestConfigURLs(t *testing.T) {
	tests := []struct {
		name     string
		cfg      Config
		rest, ws string
		err      bool
	}{
		{name: "production", cfg: Config{Environment: Production},
			rest: "https://pro.hashkey.com/APITrade", ws: "wss://pro.hashkey.com/APITradeWS/v1/messages"},
		{name: "staging", cfg: Config{Environment: Staging},
			rest: "https://api-test.pro.hashkey.com/APITrade", ws: "wss://api-test.pro.hashkey.com/APITradeWS/v1/messages"},
		{name: "preview", cfg: Config{Environment: Preview},
			rest: "https://preview-pro.hashkey.com/APITrade", ws: "wss://preview-pro.hashkey.com/APITradeWS/v1/messages"},
		{name: "preview, old host name", cfg: Config{Environment: Preview, RESTURL: "https://api-preview.pro.hashkey.com/APITrade/"},
			rest: "https://api-preview.pro.hashkey.com/APITrade", ws: "wss://preview-pro.hashkey.com/APITradeWS/v1/messages"},
		{name: "simulator", cfg: Config{Environment: "sim", RESTURL: "http://127.0.0.1:8790/APITrade", WSURL: "ws://127.0.0.1:8790/APITradeWS/v1/messages"},
			rest: "http://127.0.0.1:8790/APITrade", ws: "ws://127.0.0.1:8790/APITradeWS/v1/messages"},
		{name: "unknown environment", cfg: Config{Environment: "prod"}, err: true},
		{name: "unknown environment, one override", cfg: Config{Environment: "sim", RESTURL: "http://127.0.0.1:1/APITrade"}, err: true},
		{name: "REST with ws scheme", cfg: Config{Environment: Production, RESTURL: "ws://x/APITrade"}, err: true},
		{name: "WS with https scheme", cfg: Config{Environment: Production, WSURL: "https://x/y"}, err: true},
		{name: "no host", cfg: Config{Environment: Production, RESTURL: "https:///APITrade"}, err: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rest, ws, err := tt.cfg.URLs()
			if (err != nil) != tt.err {
				t.Fatalf("err = %v, want error %v", err, tt.err)
			}
			if rest != tt.rest || ws != tt.ws {
				t.Fatalf("URLs %q %q, want %q %q", rest, ws, tt.rest, tt.ws)
			}
		})
	}
}

func TestNewClientRejectsBadConfig(t *testing.T) {
	base := Config{Environment: Production}
	tests := map[string]func(*Config){
		"local address not an IP": func(c *Config) { c.LocalAddress = "eth0" },
		"dial address no port":    func(c *Config) { c.DialAddress = "45.249.244.103" },
		"negative timeout":        func(c *Config) { c.Timeout = -time.Second },
		"margin above 1":          func(c *Config) { c.RateMargin = 1.5 },
		"unknown auth type":       func(c *Config) { c.Credentials = Credentials{APIKey: "k", AuthType: "RSA", Secret: NewSecret("x")} },
		"HMAC without secret":     func(c *Config) { c.Credentials = Credentials{APIKey: "k", AuthType: AuthHMAC} },
	}
	for name, mod := range tests {
		cfg := base
		mod(&cfg)
		if _, err := NewClient(cfg); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	if _, err := NewClient(base); err != nil {
		t.Fatalf("public-only production client: %v", err)
	}
}

// testCert makes a self-signed certificate for host and a pool that trusts it.
func testCert(t *testing.T, host string) (tls.Certificate, *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	must(t, err)
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: host},
		DNSNames:              []string{host},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		IsCA:                  true,
		BasicConstraintsValid: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	must(t, err)
	cert, err := x509.ParseCertificate(der)
	must(t, err)
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}, pool
}

// seenConn records what a loopback server saw of a connection.
type seenConn struct {
	remote, sni, path string
}

type connLog struct {
	mu   sync.Mutex
	seen []seenConn
}

func (l *connLog) add(r *http.Request) {
	s := seenConn{remote: r.RemoteAddr, path: r.URL.Path}
	if r.TLS != nil {
		s.sni = r.TLS.ServerName
	}
	l.mu.Lock()
	l.seen = append(l.seen, s)
	l.mu.Unlock()
}

func (l *connLog) all() []seenConn {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]seenConn(nil), l.seen...)
}

// timeAndWSHandler answers /APITrade/v1/info/time and upgrades /APITradeWS/v1/messages
// (reading until the client goes), recording every request.
func timeAndWSHandler(log *connLog) http.Handler {
	up := websocket.Upgrader{}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		log.add(r)
		switch r.URL.Path {
		case "/APITrade/v1/info/time":
			fmt.Fprintf(w, `{"timestamp":"%d"}`, time.Now().UnixMilli())
		case "/APITradeWS/v1/messages":
			conn, err := up.Upgrade(w, r, nil)
			if err != nil {
				return
			}
			defer conn.Close()
			for {
				if _, _, err := conn.ReadMessage(); err != nil {
					return
				}
			}
		default:
			http.NotFound(w, r)
		}
	})
}

// waitPublicUp runs a trades-only stream until its public stream reports up.
func waitPublicUp(t *testing.T, c *Client) {
	t.Helper()
	st := c.NewStream(StreamConfig{Instruments: []exchange.Instrument{{ID: "ETH-BTC", PricePrecision: 6, VolumePrecision: 3}}, Trades: true})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- st.Run(ctx) }()
	defer func() {
		cancel()
		for range st.Events() {
		}
		must(t, <-done)
	}()
	deadline := time.After(10 * time.Second)
	for {
		select {
		case ev := <-st.Events():
			if s, ok := ev.(exchange.StreamStatus); ok && s.Up {
				return
			}
		case <-deadline:
			t.Fatal("stream did not come up")
		}
	}
}

// TestDialAddress: the URL names exchange.test, which does not resolve; the connection goes
// to DialAddress and TLS still verifies (and sends SNI for) exchange.test, for REST and
// WebSocket alike.
func TestDialAddress(t *testing.T) {
	cert, pool := testCert(t, "exchange.test")
	var log connLog
	srv := httptest.NewUnstartedServer(timeAndWSHandler(&log))
	srv.TLS = &tls.Config{Certificates: []tls.Certificate{cert}}
	srv.Config.ErrorLog = stdlog.New(io.Discard, "", 0) // the wrong-name case fails handshakes on purpose
	srv.StartTLS()
	defer srv.Close()
	_, port, _ := net.SplitHostPort(srv.Listener.Addr().String())

	cfg := Config{
		RESTURL:     "https://exchange.test:" + port + "/APITrade",
		WSURL:       "wss://exchange.test:" + port + "/APITradeWS/v1/messages",
		DialAddress: srv.Listener.Addr().String(),
		rootCAs:     pool,
	}
	c, err := NewClient(cfg)
	must(t, err)
	if _, err := c.ServerTime(context.Background()); err != nil {
		t.Fatalf("REST through the dial address: %v", err)
	}
	waitPublicUp(t, c)
	seen := log.all()
	if len(seen) < 2 {
		t.Fatalf("server saw %v", seen)
	}
	for _, s := range seen {
		if s.sni != "exchange.test" {
			t.Fatalf("%s: SNI %q, want exchange.test", s.path, s.sni)
		}
	}

	// TLS still checks the name: the same server under another name fails verification.
	cfg.RESTURL = "https://other.test:" + port + "/APITrade"
	c, err = NewClient(cfg)
	must(t, err)
	c.retries = 0
	_, err = c.ServerTime(context.Background())
	var certErr *tls.CertificateVerificationError
	if !errors.As(err, &certErr) {
		t.Fatalf("wrong host name: err = %v, want a certificate verification error", err)
	}
}

// TestLocalAddress: outgoing connections bind to the configured source address. Linux
// routes all of 127/8 to loopback, so binding 127.0.0.2 and seeing it at the server proves
// the bind; elsewhere the test falls back to 127.0.0.1.
func TestLocalAddress(t *testing.T) {
	local := "127.0.0.2"
	if ln, err := net.Listen("tcp", local+":0"); err != nil {
		local = "127.0.0.1"
	} else {
		ln.Close()
	}
	var log connLog
	srv := httptest.NewServer(timeAndWSHandler(&log))
	defer srv.Close()
	c, err := NewClient(Config{
		RESTURL:      srv.URL + "/APITrade",
		WSURL:        "ws" + strings.TrimPrefix(srv.URL, "http") + "/APITradeWS/v1/messages",
		LocalAddress: local,
	})
	must(t, err)
	if _, err := c.ServerTime(context.Background()); err != nil {
		t.Fatal(err)
	}
	waitPublicUp(t, c)
	seen := log.all()
	if len(seen) < 2 {
		t.Fatalf("server saw %v", seen)
	}
	for _, s := range seen {
		host, _, _ := net.SplitHostPort(s.remote)
		if host != local {
			t.Fatalf("%s came from %s, want %s", s.path, host, local)
		}
	}
}

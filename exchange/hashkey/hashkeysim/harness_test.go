package hashkeysim

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/decred/dcrd/dcrec/secp256k1/v4"
	"github.com/decred/dcrd/dcrec/secp256k1/v4/ecdsa"
	"github.com/gorilla/websocket"
	"github.com/shopspring/decimal"
	"golang.org/x/crypto/sha3"
)

// The tests sign by hand, from the client's side, with nothing but the standard library and
// the curve package: no adapter code, so the verifier is checked against the vectors alone.

type vectorFile struct {
	HMACSecret      string `json:"hmac_secret"`
	PrivateKey      string `json:"pubpriv_private_key_b64"`
	PubCompressed   string `json:"pubpriv_public_key_compressed_b64"`
	PubUncompressed string `json:"pubpriv_public_key_uncompressed_b64"`
	SpecExamples    []struct {
		AuthType  string `json:"auth_type"`
		Kind      string `json:"kind"`
		Message   string `json:"message"`
		Scheme    string `json:"scheme"`
		Secret    string `json:"secret"`
		SHA256Hex string `json:"sha256_hex"`
		Signature string `json:"signature"`
	} `json:"spec_examples"`
	Vectors []vector `json:"vectors"`
}

type vector struct {
	Name      string `json:"name"`
	Scheme    string `json:"scheme"`
	AuthType  string `json:"auth_type"`
	Kind      string `json:"kind"`
	Timestamp string `json:"timestamp"`
	Method    string `json:"method"`
	Path      string `json:"path"`
	Body      string `json:"body"`
	Message   string `json:"message"`
	Signature string `json:"signature"`
}

func loadVectors(t testing.TB) vectorFile {
	t.Helper()
	data, err := os.ReadFile("../testdata/signing.json")
	if err != nil {
		t.Fatalf("read vectors: %v", err)
	}
	var v vectorFile
	if err := json.Unmarshal(data, &v); err != nil {
		t.Fatalf("decode vectors: %v", err)
	}
	return v
}

// Test account keys.
const (
	keyHMAC   = "test-hmac"
	keyHMAC2  = "test-hmac-2"
	keyECDSA  = "test-ecdsa"     // compressed public key
	keyECDSAU = "test-ecdsa-unc" // the same key, uncompressed
)

// vectorTime is the timestamp of most signing vectors.
var vectorTime = time.UnixMilli(1542104001056)

// testClock is a clock the test moves by hand.
type testClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *testClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *testClock) Set(t time.Time) {
	c.mu.Lock()
	c.t = t
	c.mu.Unlock()
}

func (c *testClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

type harness struct {
	t      testing.TB
	s      *Server
	clock  *testClock
	v      vectorFile
	priv   *secp256k1.PrivateKey
	client *http.Client
}

// newHarness starts a Manual simulator with the vector keys on a fixed clock, accepting both
// signing revisions and without rate limits unless mutate says otherwise.
func newHarness(t testing.TB, mutate func(*Config)) *harness {
	t.Helper()
	v := loadVectors(t)
	raw, err := base64.StdEncoding.DecodeString(v.PrivateKey)
	if err != nil {
		t.Fatalf("private key: %v", err)
	}
	h := &harness{
		t:      t,
		clock:  &testClock{t: vectorTime},
		v:      v,
		priv:   secp256k1.PrivKeyFromBytes(raw),
		client: &http.Client{Timeout: 10 * time.Second},
	}
	cfg := Config{
		Manual:      true,
		Signing:     "any",
		NoRateLimit: true,
		Seed:        1,
		Clock:       h.clock.Now,
		Accounts: []Account{
			{APIKey: keyHMAC, AuthType: AuthHMAC, Secret: v.HMACSecret},
			{APIKey: keyHMAC2, AuthType: AuthHMAC, Secret: "second-secret"},
			{APIKey: keyECDSA, AuthType: AuthPubPriv, PublicKey: v.PubCompressed},
			{APIKey: keyECDSAU, AuthType: AuthPubPriv, PublicKey: v.PubUncompressed},
		},
	}
	if mutate != nil {
		mutate(&cfg)
	}
	s, err := New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	if err := s.Start(); err != nil {
		t.Fatalf("Start: %v", err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
		h.client.CloseIdleConnections()
	})
	h.s = s
	return h
}

func (h *harness) secret(key string) string {
	for _, a := range h.s.Accounts() {
		if a.APIKey == key {
			return a.Secret
		}
	}
	h.t.Fatalf("no account %s", key)
	return ""
}

func (h *harness) authType(key string) string {
	if key == keyECDSA || key == keyECDSAU {
		return AuthPubPriv
	}
	return AuthHMAC
}

// signMessage signs message for key under a revision ("v4.3" or "v4.2").
func (h *harness) signMessage(key, rev string, message []byte) string {
	if rev == "v4.2" {
		sum := sha256.Sum256(message)
		message = []byte(hex.EncodeToString(sum[:]))
	}
	if h.authType(key) == AuthHMAC {
		mac := hmac.New(sha256.New, []byte(h.secret(key)))
		mac.Write(message)
		return base64.StdEncoding.EncodeToString(mac.Sum(nil))
	}
	kh := sha3.NewLegacyKeccak256()
	kh.Write(message)
	sig := ecdsa.SignCompact(h.priv, kh.Sum(nil), false)
	return fmt.Sprintf(`{"r":"%s","s":"%s","v":%d}`,
		base64.StdEncoding.EncodeToString(sig[1:33]), base64.StdEncoding.EncodeToString(sig[33:]), sig[0])
}

// headers builds the four authentication headers for a REST call signed without the query.
func (h *harness) headers(key, method, target string, body []byte) http.Header {
	ts := fmt.Sprint(h.s.now().UnixMilli())
	path, _, _ := strings.Cut(target, "?")
	hd := http.Header{}
	hd.Set("API-KEY", key)
	hd.Set("API-TIMESTAMP", ts)
	hd.Set("API-SIGNATURE", h.signMessage(key, "v4.3", []byte(ts+method+path+string(body))))
	hd.Set("AUTH-TYPE", h.authType(key))
	hd.Set("Content-Type", "application/json")
	return hd
}

// send makes one REST call with exactly these headers; target is "/v1/…[?query]".
func (h *harness) send(method, target string, body []byte, hd http.Header) (int, []byte) {
	h.t.Helper()
	req, err := http.NewRequest(method, h.s.RESTURL()+target, bytes.NewReader(body))
	if err != nil {
		h.t.Fatalf("request: %v", err)
	}
	if hd != nil {
		req.Header = hd
	}
	resp, err := h.client.Do(req)
	if err != nil {
		h.t.Fatalf("%s %s: %v", method, target, err)
	}
	defer resp.Body.Close()
	out, err := io.ReadAll(resp.Body)
	if err != nil {
		h.t.Fatalf("%s %s: read: %v", method, target, err)
	}
	return resp.StatusCode, out
}

// call makes a correctly signed REST call as key.
func (h *harness) call(key, method, target, body string) (int, []byte) {
	h.t.Helper()
	return h.send(method, target, []byte(body), h.headers(key, method, target, []byte(body)))
}

// mustOK makes a signed call and fails the test unless it answered 200.
func (h *harness) mustOK(key, method, target, body string) []byte {
	h.t.Helper()
	status, out := h.call(key, method, target, body)
	if status != http.StatusOK {
		h.t.Fatalf("%s %s %s: HTTP %d %s", key, method, target, status, out)
	}
	return out
}

// insert sends a limit GTC order and expects it to be received.
func (h *harness) insert(key, inst, side, price, volume, localID string) {
	h.t.Helper()
	body := fmt.Sprintf(`{"instrumentID":"%s","orderPriceType":"limit","direction":"%s","limitPrice":"%s","volumeTotalOriginal":"%s","timeCondition":"GTC","orderLocalID":"%s"}`,
		inst, side, price, volume, localID)
	out := h.mustOK(key, http.MethodPost, "/v1/order/insert", body)
	if want := `{"orderLocalID":"` + localID + `"}`; string(out) != want {
		h.t.Fatalf("insert answer %s, want %s", out, want)
	}
}

// sync waits until the engine has processed every command queued before it.
func (h *harness) sync() {
	h.t.Helper()
	if err := h.s.call(context.Background(), func() {}); err != nil {
		h.t.Fatalf("sync: %v", err)
	}
}

// respCode returns the respCode of an answer, "" if it has none.
func respCode(body []byte) string {
	var m map[string]any
	if json.Unmarshal(body, &m) != nil {
		return ""
	}
	c, _ := m["respCode"].(string)
	return c
}

func dec(s string) decimal.Decimal { return decimal.RequireFromString(s) }

// wsClient is a test WebSocket client; its reader goroutine is owned by the test cleanup.
type wsClient struct {
	t    testing.TB
	c    *websocket.Conn
	msgs chan []byte
	done chan struct{}
}

func (h *harness) dial() *wsClient {
	h.t.Helper()
	c, _, err := websocket.DefaultDialer.Dial(h.s.WSURL(), nil)
	if err != nil {
		h.t.Fatalf("dial: %v", err)
	}
	w := &wsClient{t: h.t, c: c, msgs: make(chan []byte, 100_000), done: make(chan struct{})}
	go func() {
		defer close(w.done)
		for {
			_, data, err := c.ReadMessage()
			if err != nil {
				return
			}
			w.msgs <- data
		}
	}()
	h.t.Cleanup(w.close)
	return w
}

func (w *wsClient) close() {
	w.c.Close()
	<-w.done
}

func (w *wsClient) send(msg string) {
	w.t.Helper()
	if err := w.c.WriteMessage(websocket.TextMessage, []byte(msg)); err != nil {
		w.t.Fatalf("ws send: %v", err)
	}
}

// waitFor reads messages until one satisfies pred and returns it, failing after 5 s.
func (w *wsClient) waitFor(what string, pred func(m map[string]any) bool) map[string]any {
	w.t.Helper()
	deadline := time.NewTimer(20 * time.Second)
	defer deadline.Stop()
	for {
		select {
		case data := <-w.msgs:
			var m map[string]any
			if err := json.Unmarshal(data, &m); err != nil {
				w.t.Fatalf("ws message %s: %v", data, err)
			}
			if pred(m) {
				return m
			}
		case <-w.done:
			w.t.Fatalf("connection closed while waiting for %s", what)
		case <-deadline.C:
			w.t.Fatalf("timed out waiting for %s", what)
		}
	}
}

// expectNone fails if a message satisfying pred arrives before the connection is quiet: it
// sends a ping-like probe (an unsubscribe of nothing) and reads up to its answer.
func (w *wsClient) expectNone(what string, pred func(m map[string]any) bool) {
	w.t.Helper()
	w.send(`{"type":"unsubscribe","channel":{"ticker":["PROBE-END"]}}`)
	w.waitFor("probe answer", func(m map[string]any) bool {
		if pred(m) {
			w.t.Fatalf("unexpected %s: %v", what, m)
		}
		return m["instrumentID"] == "PROBE-END"
	})
}

func isType(typ string) func(map[string]any) bool {
	return func(m map[string]any) bool { return m["type"] == typ }
}

// login logs the connection in as key and waits for the acknowledgement.
func (h *harness) login(w *wsClient, key string) {
	h.t.Helper()
	sig, _ := json.Marshal(h.signMessage(key, "v4.3", []byte(wsLoginMessage)))
	w.send(fmt.Sprintf(`{"type":"subscribe","channel":{"user":["%s",%s,"%s"]}}`, key, sig, h.authType(key)))
	m := w.waitFor("login answer", func(m map[string]any) bool { return m["channel"] == "user" })
	if m["respCode"] != "0" {
		h.t.Fatalf("login %s: %v", key, m)
	}
}

// orderReturn waits for the order_return of localID with the given status.
func (w *wsClient) orderReturn(localID, status string) map[string]any {
	w.t.Helper()
	return w.waitFor("order_return "+localID+" status "+status, func(m map[string]any) bool {
		return m["type"] == "order_return" && m["orderLocalID"] == localID && m["orderStatus"] == status
	})
}

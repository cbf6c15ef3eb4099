package hashkeysim

import (
	"net/http"
	"strings"
	"testing"
	"time"
)

// TestObserveTickToOrder is the measurement a tick-to-order benchmark makes: SetFairValue
// returns when the update is written, Observe sees the order that reacts to it.
func TestObserveTickToOrder(t *testing.T) {
	h := newHarness(t, nil)
	seen := make(chan Request, 10)
	h.s.Observe(func(r Request) { seen <- r })
	w := h.dial()
	w.send(`{"type":"subscribe","channel":{"level2@10":["ETH-BTC"]}}`)
	w.waitFor("snapshot", isType("level2@10_snapshot"))

	h.clock.Advance(time.Second)
	tick := h.s.SetFairValue("ETH-BTC", dec("0.0305"))
	if !tick.Equal(vectorTime.Add(time.Second)) {
		t.Errorf("SetFairValue returned %v, want the simulator clock", tick)
	}
	select { // "returns when the update was written": it is already on the socket
	case data := <-w.msgs:
		if !strings.Contains(string(data), "level2@10_update") {
			t.Errorf("first message after SetFairValue: %s", data)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("update not written")
	}
	h.clock.Advance(3 * time.Millisecond)
	h.insert(keyHMAC, "ETH-BTC", "buy", "0.0304", "1", "react")
	r := <-seen
	if r.Path != "/v1/order/insert" || r.Method != http.MethodPost || r.APIKey != keyHMAC ||
		!strings.Contains(string(r.Body), `"orderLocalID":"react"`) {
		t.Errorf("observed %+v", r)
	}
	if d := r.Received.Sub(tick); d != 3*time.Millisecond {
		t.Errorf("tick-to-order %v, want 3ms on the test clock", d)
	}
	// Unsigned public calls are not observed; removing the hook stops it.
	h.send("GET", "/v1/info/time", nil, nil)
	h.s.Observe(nil)
	h.mustOK(keyHMAC, "GET", "/v1/info/time", "")
	select {
	case r := <-seen:
		t.Errorf("unexpected observation %+v", r)
	default:
	}
	if got := h.s.SetFairValue("NOPE", dec("1")); !got.IsZero() {
		t.Errorf("unknown instrument: %v", got)
	}
}

// TestWSOversizedFrame: a frame over the cap closes the connection cleanly, not a hang.
func TestWSOversizedFrame(t *testing.T) {
	h := newHarness(t, nil)
	w := h.dial()
	w.send(`{"type":"subscribe","channel":{"ticker":["` + strings.Repeat("A", maxWSMessage) + `"]}}`)
	select {
	case <-w.done:
	case <-time.After(20 * time.Second):
		t.Fatal("oversized frame did not close the connection")
	}
}

// TestBeforeStartAndAfterClose: Step and SetFairValue work before Start (inline), and
// everything is harmless after Close.
func TestBeforeStartAndAfterClose(t *testing.T) {
	s, err := New(Config{Manual: true, Seed: 3})
	if err != nil {
		t.Fatal(err)
	}
	before := s.hub.view(0)
	s.Step()
	if s.SetFairValue("ETH-BTC", dec("0.03")).IsZero() {
		t.Error("SetFairValue before Start")
	}
	if after := s.hub.view(0); after.bids[0] == before.bids[0] {
		t.Error("the book did not move")
	}
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	if err := s.Start(); err == nil {
		t.Error("second Start accepted")
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s.Step()
	if !s.SetFairValue("ETH-BTC", dec("0.03")).IsZero() {
		t.Error("SetFairValue after Close")
	}
	if err := s.Faults().PublishCrossedBook("ETH-BTC"); err == nil {
		t.Error("PublishCrossedBook after Close")
	}
}

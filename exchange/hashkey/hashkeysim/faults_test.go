package hashkeysim

import (
	"net/http"
	"slices"
	"testing"
	"time"
)

// Tests from an adversarial review of the simulator as a test oracle: each one failed before
// the fix it names.

// TestRateLimitIgnoresClockSkewChanges: the calls a key makes under a ClockSkew fault
// must not stay in its rate window once the skew is lifted. They were stamped an hour ahead,
// so the window kept them for an hour: a key that used its query budget in the last second
// of the skew met 1004 for the next hour while staying within every published limit. The
// same holds for a clock that steps back on its own (a test clock set earlier, a wall-clock
// correction).
func TestRateLimitIgnoresClockSkewChanges(t *testing.T) {
	t.Run("skew lifted", func(t *testing.T) {
		h := newHarness(t, func(c *Config) {
			c.NoRateLimit = false
			c.RateLimits.Query = 2
		})
		h.s.Faults().ClockSkew(time.Hour)
		for range 2 { // the whole query budget, under the skew (the harness signs on the skewed clock)
			h.mustOK(keyHMAC, http.MethodGet, "/v1/account/assets", "")
		}
		h.s.Faults().ClockSkew(0)
		h.clock.Advance(2 * time.Second) // well past the one-second window
		if status, out := h.call(keyHMAC, http.MethodGet, "/v1/account/assets", ""); status != http.StatusOK {
			t.Fatalf("2 s after lifting the skew: HTTP %d %s, want 200 (the window still holds the skewed calls)", status, out)
		}
	})
	t.Run("clock stepped back", func(t *testing.T) {
		h := newHarness(t, func(c *Config) {
			c.NoRateLimit = false
			c.RateLimits.Query = 2
		})
		h.clock.Advance(time.Hour)
		for range 2 {
			h.mustOK(keyHMAC, http.MethodGet, "/v1/account/assets", "")
		}
		h.clock.Set(vectorTime.Add(2 * time.Second)) // an hour back, then 2 s on
		if status, out := h.call(keyHMAC, http.MethodGet, "/v1/account/assets", ""); status != http.StatusOK {
			t.Fatalf("after the clock stepped back: HTTP %d %s, want 200", status, out)
		}
	})
}

// TestDuplicateAndReorderTogether: with PrivateDuplicate and PrivateReorder both on
// (as TestChaos runs them), private messages must still be reordered. The duplicate copy
// was queued right behind its original, so the reorder fault swapped every message with its
// own copy and the stream went out in order: c1 c1 c2 c2. Reordered and duplicated, two
// cancels must come out as c2 c2 c1 c1.
func TestDuplicateAndReorderTogether(t *testing.T) {
	h := newHarness(t, nil)
	w := h.dial()
	h.login(w, keyHMAC)
	h.insert(keyHMAC, "ETH-BTC", "buy", "0.02", "1", "dr1")
	h.insert(keyHMAC, "ETH-BTC", "buy", "0.02", "1", "dr2")
	s1 := w.orderReturn("dr1", "3")["orderSysID"].(string)
	s2 := w.orderReturn("dr2", "3")["orderSysID"].(string)

	h.s.Faults().PrivateDuplicate(true)
	h.s.Faults().PrivateReorder(true)
	defer h.s.Faults().PrivateDuplicate(false)
	defer h.s.Faults().PrivateReorder(false)
	h.mustOK(keyHMAC, http.MethodPost, "/v1/order/batchCancel", `{"orderSysIDs":["`+s1+`","`+s2+`"]}`)
	var got []string
	for len(got) < 4 {
		m := w.waitFor("cancel", func(m map[string]any) bool { return m["type"] == "order_return" && m["orderStatus"] == "5" })
		got = append(got, m["orderLocalID"].(string))
	}
	if want := []string{"dr2", "dr2", "dr1", "dr1"}; !slices.Equal(got, want) {
		t.Errorf("cancels went out as %v, want %v: duplication must not stop the reordering", got, want)
	}
}

// TestPrivateDelayHoldsOnlyItsOwnAccount: the private stream was one queue, and the
// dispatcher slept on its head until it fell due. A message delayed under PrivateDelay held
// up every later private message of every other account, even after the fault was lifted
// ("takes effect for the next ... message"): here an hour. Each account's stream keeps its
// order; other accounts' messages go out at once.
func TestPrivateDelayHoldsOnlyItsOwnAccount(t *testing.T) {
	h := newHarness(t, nil)
	mine, theirs := h.dial(), h.dial()
	h.login(mine, keyHMAC)
	h.login(theirs, keyHMAC2)
	h.s.Faults().PrivateDelay(time.Hour)
	h.insert(keyHMAC2, "ETH-BTC", "buy", "0.02", "1", "delayed")
	h.sync() // its acceptance is queued, due in an hour
	h.s.Faults().PrivateDelay(0)
	h.insert(keyHMAC, "ETH-BTC", "buy", "0.02", "1", "prompt")
	mine.orderReturn("prompt", "3") // fails after waitFor's deadline while it waits behind "delayed"

	// The delayed account's own later messages stay behind its delayed one, in order.
	h.insert(keyHMAC2, "ETH-BTC", "buy", "0.02", "1", "after")
	h.sync()
	theirs.expectNone("a message overtaking the delayed one", func(m map[string]any) bool {
		return m["orderLocalID"] == "after"
	})
}

package hashkeysim

import (
	"encoding/json"
	"testing"

	"github.com/mmd-dev/mmd/exchange"
)

func TestAppendFixed(t *testing.T) {
	for _, tc := range []struct {
		v    int64
		prec int32
		want string
	}{
		{31000, 6, "0.031"}, {0, 6, "0"}, {6500000, 2, "65000"}, {6500001, 2, "65000.01"},
		{5, 3, "0.005"}, {1500, 3, "1.5"}, {7, 0, "7"}, {-31, 3, "-0.031"}, {1, 10, "0.0000000001"},
	} {
		if got := string(appendFixed(nil, tc.v, tc.prec)); got != tc.want {
			t.Errorf("appendFixed(%d, %d) = %q, want %q", tc.v, tc.prec, got, tc.want)
		}
	}
}

func TestAppendString(t *testing.T) {
	for _, s := range []string{"test", `quote"back\slash`, "ctl\x00\x01\n\t\r", "ünïcødé", ""} {
		b := appendString(nil, s)
		var got string
		if err := json.Unmarshal(b, &got); err != nil || got != s {
			t.Errorf("appendString(%q) = %s (%v)", s, b, err)
		}
	}
}

func TestAppendBookShape(t *testing.T) {
	spec := exchange.Instrument{ID: "ETH-BTC", PricePrecision: 6, VolumePrecision: 3}
	got := string(appendBook(nil, "level2@10_snapshot", spec,
		[]exchange.Level{{Price: 31000, Volume: 1500}}, []exchange.Level{{Price: 31100, Volume: 0}}, vectorTime))
	want := `{"type":"level2@10_snapshot","instrumentID":"ETH-BTC","buy":[["0.031","1.5"]],"sell":[["0.0311","0"]],"pubDate":"20181113","pubTime":"10:13:21","pubTimestamp":"1542104001056"}`
	if got != want {
		t.Errorf("book\n got %s\nwant %s", got, want)
	}
}

func TestDiffLevels(t *testing.T) {
	prev := []exchange.Level{{Price: 10, Volume: 1}, {Price: 9, Volume: 2}, {Price: 8, Volume: 3}}
	cur := []exchange.Level{{Price: 11, Volume: 5}, {Price: 10, Volume: 1}, {Price: 8, Volume: 4}}
	got := diffLevels(exchange.Buy, prev, cur)
	want := []exchange.Level{{Price: 11, Volume: 5}, {Price: 9, Volume: 0}, {Price: 8, Volume: 4}}
	if len(got) != len(want) {
		t.Fatalf("diff %v, want %v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("diff %v, want %v", got, want)
		}
	}
	if d := diffLevels(exchange.Sell, cur, cur); len(d) != 0 {
		t.Errorf("diff of equal books %v", d)
	}
}

// FuzzInsertBody: any insert body is refused with a code or yields a valid order.
func FuzzInsertBody(f *testing.F) {
	for _, seed := range []string{
		`{"instrumentID":"ETH-BTC","orderPriceType":"limit","direction":"buy","limitPrice":"0.031","volumeTotalOriginal":"1.5","timeCondition":"GTC","orderLocalID":"15421040010560001"}`,
		`{"orderLocalID":"test","timeCondition":"GTC","volumeTotalOriginal":"0.5","limitPrice":"0.001","direction":"sell","orderPriceType":"limit","instrumentID":"BTC-USDT"}`,
		`{"instrumentID":"ETH-BTC","limitPrice":1}`,
		`{"instrumentID ":"ETH-BTC"}`,
		`{"limitPrice":"1e-999999999","volumeTotalOriginal":"9999999.9999"}`,
		`{}`, `[]`, `null`, ``, `{"a":`,
	} {
		f.Add([]byte(seed))
	}
	s, err := New(Config{Manual: true})
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		req, code, msg := s.validateInsert(body)
		if code != 0 {
			if msg == "" {
				t.Fatalf("code %d without a message", code)
			}
			return
		}
		if req.inst == nil || req.price <= 0 || req.volume <= 0 || req.localID == "" {
			t.Fatalf("accepted an invalid order %+v", req)
		}
		var other getOrderBody
		decodeBody(body, &other)
	})
}

package hashkey

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/mmd-dev/mmd/exchange"
)

var l2Instruments = []exchange.Instrument{
	{ID: "ETH-BTC", Base: "ETH", Quote: "BTC", PricePrecision: 6, VolumePrecision: 4},
	{ID: "CYB-BTC", Base: "CYB", Quote: "BTC", PricePrecision: 8, VolumePrecision: 2},
}

func l2lv(p, v int64) exchange.Level { return exchange.Level{Price: p, Volume: v} }

// The exchange's own example message.
const l2Sample = `{"type":"level2@50_update","instrumentID":"ETH-BTC","buy":[["0.031","1.5"],["0.0309","0"]],"sell":[["0.0311","2"]],"pubDate":"20181113","pubTime":"10:13:21","pubTimestamp":"1542104001056"}`

var l2SampleTime = time.UnixMilli(1542104001056).UTC()

func TestLevel2Decode(t *testing.T) {
	sampleBids := []exchange.Level{l2lv(31000, 15000), l2lv(30900, 0)}
	sampleAsks := []exchange.Level{l2lv(31100, 20000)}
	tests := []struct {
		name       string
		frame      string
		kind       Level2Kind
		depth      int
		id         string
		bids, asks []exchange.Level
		pub        time.Time
	}{
		{
			name: "exchange sample update", frame: l2Sample,
			kind: Level2Update, depth: 50, id: "ETH-BTC", bids: sampleBids, asks: sampleAsks, pub: l2SampleTime,
		},
		{
			name:  "snapshot at 10",
			frame: `{"type":"level2@10_snapshot","instrumentID":"ETH-BTC","buy":[["0.031","1.5"]],"sell":[["0.0311","2"],["0.0312","3.25"]],"pubTimestamp":"1542104001056"}`,
			kind:  Level2Snapshot, depth: 10, id: "ETH-BTC",
			bids: []exchange.Level{l2lv(31000, 15000)}, asks: []exchange.Level{l2lv(31100, 20000), l2lv(31200, 32500)}, pub: l2SampleTime,
		},
		{
			name:  "plain level2 snapshot has no depth",
			frame: `{"type":"level2_snapshot","instrumentID":"CYB-BTC","buy":[["0.00001234","100.5"]],"sell":[]}`,
			kind:  Level2Snapshot, depth: 0, id: "CYB-BTC", bids: []exchange.Level{l2lv(1234, 10050)},
		},
		{
			name:  "level2@5 update",
			frame: `{"type":"level2@5_update","instrumentID":"ETH-BTC","sell":[["0.0311","0"]]}`,
			kind:  Level2Update, depth: 5, id: "ETH-BTC", asks: []exchange.Level{l2lv(31100, 0)},
		},
		{
			name:  "REST answer without type is a snapshot",
			frame: `{"instrumentID":"ETH-BTC","buy":[["0.031","1.5"],["0.0309","0.1"]],"sell":[["0.0311","2"]],"pubDate":"20181113","pubTime":"10:13:21","pubTimestamp":"1542104001056"}`,
			kind:  Level2Snapshot, id: "ETH-BTC", bids: []exchange.Level{l2lv(31000, 15000), l2lv(30900, 1000)}, asks: sampleAsks, pub: l2SampleTime,
		},
		{
			name:  "trailing-space keys",
			frame: `{"type ":"level2@50_update","instrumentID ":"ETH-BTC","buy ":[["0.031","1.5"],["0.0309","0"]]," sell":[["0.0311","2"]],"pubTimestamp ":"1542104001056"}`,
			kind:  Level2Update, depth: 50, id: "ETH-BTC", bids: sampleBids, asks: sampleAsks, pub: l2SampleTime,
		},
		{
			name:  "old spelling instrumentId",
			frame: `{"type":"level2@50_update","instrumentId":"ETH-BTC","buy":[["0.031","1.5"],["0.0309","0"]],"sell":[["0.0311","2"]],"pubTimestamp":"1542104001056"}`,
			kind:  Level2Update, depth: 50, id: "ETH-BTC", bids: sampleBids, asks: sampleAsks, pub: l2SampleTime,
		},
		{
			name:  "seconds timestamp",
			frame: `{"type":"level2@50_update","instrumentID":"ETH-BTC","buy":[],"sell":[],"pubTimestamp":"1542104001"}`,
			kind:  Level2Update, depth: 50, id: "ETH-BTC", pub: time.Unix(1542104001, 0).UTC(),
		},
		{
			name:  "numbers not strings",
			frame: `{"type":"level2@50_update","instrumentID":"ETH-BTC","buy":[[0.031,1.5],[0.0309,0]],"sell":[[0.0311,2]],"pubTimestamp":1542104001056}`,
			kind:  Level2Update, depth: 50, id: "ETH-BTC", bids: sampleBids, asks: sampleAsks, pub: l2SampleTime,
		},
		{
			name: "nested unknown fields",
			frame: `{"meta":{"a":[1,2,{"b":null}],"c":"x\"y\\u00e9\u00e9"},"type":"level2@50_update","flags":[true,false,null,-1.5e-3],` +
				`"instrumentID":"ETH-BTC","buy":[["0.031","1.5"],["0.0309","0"]],"empty":{},"list":[],"sell":[["0.0311","2"]],"pubTimestamp":"1542104001056"}`,
			kind: Level2Update, depth: 50, id: "ETH-BTC", bids: sampleBids, asks: sampleAsks, pub: l2SampleTime,
		},
		{
			name:  "instrument after the levels",
			frame: `{"buy":[["0.031","1.5"],["0.0309","0"]],"sell":[["0.0311","2"]],"pubTimestamp":"1542104001056","type":"level2@50_update","instrumentID":"ETH-BTC"}`,
			kind:  Level2Update, depth: 50, id: "ETH-BTC", bids: sampleBids, asks: sampleAsks, pub: l2SampleTime,
		},
		{
			name:  "whitespace everywhere",
			frame: "\r\n {\n\t\"type\" :\t\"level2@50_update\" ,\n \"instrumentID\"\r: \"ETH-BTC\",\n \"buy\" : [ [ \"0.031\" , \"1.5\" ] ,\n[\"0.0309\",\"0\"] ] , \"sell\":[ [\"0.0311\" ,\"2\"]\t],\"pubTimestamp\" : \"1542104001056\"\n}\n ",
			kind:  Level2Update, depth: 50, id: "ETH-BTC", bids: sampleBids, asks: sampleAsks, pub: l2SampleTime,
		},
		{
			name:  "trailing zeros beyond precision",
			frame: `{"type":"level2@20_update","instrumentID":"ETH-BTC","buy":[["0.03100000000","1.500000000"]]}`,
			kind:  Level2Update, depth: 20, id: "ETH-BTC", bids: []exchange.Level{l2lv(31000, 15000)},
		},
		{
			name:  "null sides, null timestamp, extra pair elements",
			frame: `{"type":"level2@20_update","instrumentID":"CYB-BTC","buy":null,"sell":[["0.00001235","7",3,{"x":1}]],"pubTimestamp":null}`,
			kind:  Level2Update, depth: 20, id: "CYB-BTC", asks: []exchange.Level{l2lv(1235, 700)},
		},
		{
			name:  "a later instrumentID changes the precision of levels already read",
			frame: `{"instrumentID":"ETH-BTC","buy":[["0.031","1.5"]],"sell":null,"instrumentID":"CYB-BTC"}`,
			kind:  Level2Snapshot, id: "CYB-BTC", bids: []exchange.Level{l2lv(3100000, 150)},
		},
		{
			name:  "unknown instrument before a known one",
			frame: `{"instrumentID":"XRP-BTC","sell":[["0.00001234","1"]],"instrumentID":"CYB-BTC"}`,
			kind:  Level2Snapshot, id: "CYB-BTC", asks: []exchange.Level{l2lv(1234, 100)},
		},
		{
			name:  "duplicate key: the last wins",
			frame: `{"type":"level2@20_update","instrumentID":"CYB-BTC","buy":[["1","1"]],"buy":[["2","2"]]}`,
			kind:  Level2Update, depth: 20, id: "CYB-BTC", bids: []exchange.Level{l2lv(200000000, 200)},
		},
	}
	d := NewLevel2Decoder(l2Instruments)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, err := d.Decode([]byte(tt.frame))
			if err != nil {
				t.Fatalf("Decode: %v", err)
			}
			if m.Kind != tt.kind || m.Depth != tt.depth {
				t.Errorf("kind, depth = %v, %d; want %v, %d", m.Kind, m.Depth, tt.kind, tt.depth)
			}
			if string(m.InstrumentID) != tt.id || m.Instrument == nil || m.Instrument.ID != tt.id {
				t.Errorf("instrument = %q / %+v, want %s", m.InstrumentID, m.Instrument, tt.id)
			}
			if !slices.Equal(m.Bids, tt.bids) || !slices.Equal(m.Asks, tt.asks) {
				t.Errorf("levels = %v / %v, want %v / %v", m.Bids, m.Asks, tt.bids, tt.asks)
			}
			if !m.PubTime.Equal(tt.pub) {
				t.Errorf("PubTime = %v, want %v", m.PubTime, tt.pub)
			}
			if !m.Received.IsZero() {
				t.Errorf("Received = %v, want zero", m.Received)
			}
		})
	}
}

func TestLevel2DecodeErrors(t *testing.T) {
	deep := strings.Repeat("[", 100) + strings.Repeat("]", 100)
	tests := []struct {
		name  string
		frame string
		want  error
	}{
		{"empty", ``, ErrLevel2Syntax},
		{"not an object", `["level2_update"]`, ErrLevel2Syntax},
		{"truncated", l2Sample[:len(l2Sample)-20], ErrLevel2Syntax},
		{"truncated in a string", `{"type":"level2_upd`, ErrLevel2Syntax},
		{"trailing garbage", l2Sample + `x`, ErrLevel2Syntax},
		{"two objects", l2Sample + l2Sample, ErrLevel2Syntax},
		{"missing colon", `{"type" "level2_update"}`, ErrLevel2Syntax},
		{"trailing comma", `{"instrumentID":"ETH-BTC",}`, ErrLevel2Syntax},
		{"single quotes", `{'instrumentID':'ETH-BTC'}`, ErrLevel2Syntax},
		{"bad escape", `{"x":"\q","instrumentID":"ETH-BTC"}`, ErrLevel2Syntax},
		{"short unicode escape", `{"x":"\u12","instrumentID":"ETH-BTC"}`, ErrLevel2Syntax},
		{"control character in string", "{\"x\":\"a\nb\",\"instrumentID\":\"ETH-BTC\"}", ErrLevel2Syntax},
		{"bad literal", `{"x":nul,"instrumentID":"ETH-BTC"}`, ErrLevel2Syntax},
		{"bad number", `{"x":01,"instrumentID":"ETH-BTC"}`, ErrLevel2Syntax},
		{"nesting too deep", `{"x":` + deep + `,"instrumentID":"ETH-BTC"}`, ErrLevel2Syntax},
		{"type not a string", `{"type":5,"instrumentID":"ETH-BTC"}`, ErrLevel2Syntax},
		{"buy is a string", `{"instrumentID":"ETH-BTC","buy":"0.031"}`, ErrLevel2Syntax},
		{"buy is an object", `{"instrumentID":"ETH-BTC","buy":{"0.031":"1"}}`, ErrLevel2Syntax},
		{"level of one element", `{"instrumentID":"ETH-BTC","buy":[["0.031"]]}`, ErrLevel2Syntax},
		{"level not an array", `{"instrumentID":"ETH-BTC","buy":["0.031","1"]}`, ErrLevel2Syntax},
		{"level value null", `{"instrumentID":"ETH-BTC","buy":[[null,"1"]]}`, ErrLevel2Syntax},
		{"other message type", `{"type":"trade_detail","instrumentID":"ETH-BTC","price":"0.031"}`, ErrLevel2Type},
		{"level2 without suffix", `{"type":"level2@50","instrumentID":"ETH-BTC"}`, ErrLevel2Type},
		{"level2 at zero depth", `{"type":"level2@0_update","instrumentID":"ETH-BTC"}`, ErrLevel2Type},
		{"no instrument", `{"type":"level2_update","buy":[]}`, ErrLevel2NoInstrument},
		{"too many decimals in price", `{"instrumentID":"ETH-BTC","buy":[["0.0310001","1"]]}`, ErrLevel2Value},
		{"too many decimals in volume", `{"instrumentID":"ETH-BTC","sell":[["0.031","1.00001"]]}`, ErrLevel2Value},
		{"negative volume", `{"instrumentID":"ETH-BTC","buy":[["0.031","-1"]]}`, ErrLevel2Value},
		{"negative number price", `{"instrumentID":"ETH-BTC","buy":[[-0.031,1]]}`, ErrLevel2Value},
		{"zero price", `{"instrumentID":"ETH-BTC","buy":[["0","1"]]}`, ErrLevel2Value},
		{"exponent", `{"instrumentID":"ETH-BTC","buy":[[3.1e-2,1]]}`, ErrLevel2Value},
		{"empty price", `{"instrumentID":"ETH-BTC","buy":[["","1"]]}`, ErrLevel2Value},
		{"escaped price", `{"instrumentID":"ETH-BTC","buy":[["0.03\u0031","1"]]}`, ErrLevel2Value},
		{"levels too precise for a later instrumentID", `{"instrumentID":"CYB-BTC","buy":[["0.00001234","1"]],"instrumentID":"ETH-BTC"}`, ErrLevel2Value},
		{"syntax error after levels read on the spot", `{"instrumentID":"ETH-BTC","buy":[["0.031","1"]],"sell":[["0.0311","1"]`, ErrLevel2Syntax},
		{"bad timestamp", `{"instrumentID":"ETH-BTC","pubTimestamp":"2018-11-13"}`, ErrLevel2Timestamp},
		{"negative timestamp", `{"instrumentID":"ETH-BTC","pubTimestamp":-1}`, ErrLevel2Timestamp},
		{"overflowing timestamp", `{"instrumentID":"ETH-BTC","pubTimestamp":"9999999999999999999"}`, ErrLevel2Timestamp},
		{"too many levels", `{"instrumentID":"ETH-BTC","buy":[` + strings.Repeat(`["1","1"],`, level2MaxLevels) + `["1","1"]]}`, ErrLevel2TooMany},
	}
	d := NewLevel2Decoder(l2Instruments)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, err := d.Decode([]byte(tt.frame))
			if !errors.Is(err, tt.want) {
				t.Fatalf("Decode = %v, want %v", err, tt.want)
			}
			if m != nil {
				t.Fatalf("Decode returned a message with %v", err)
			}
		})
	}
}

func TestLevel2DecodeUnknownInstrument(t *testing.T) {
	d := NewLevel2Decoder(l2Instruments)
	for _, frame := range []string{
		`{"type":"level2@50_update","instrumentID":"XRP-BTC","buy":[["1","2"]]}`,
		`{"type":"level2@50_update","instrumentID":"ETH-BTC","buy":[["1","2"]],"instrumentID":"XRP-BTC"}`,
		`{"type":"level2@50_update","instrumentID":"","buy":[["1","2"]]}`,
		`{"type":"level2@50_update","instrumentID":"eth-btc","buy":[["1","2"]]}`,
	} {
		m, err := d.Decode([]byte(frame))
		if !errors.Is(err, ErrUnknownInstrument) {
			t.Fatalf("Decode(%s) = %v, want ErrUnknownInstrument", frame, err)
		}
		if m == nil || m.Instrument != nil || m.Kind != Level2Update || !strings.Contains(frame, `"`+string(m.InstrumentID)+`"`) {
			t.Fatalf("Decode(%s) message = %+v", frame, m)
		}
		// The stream goes on: the next frame decodes.
		if _, err := d.Decode([]byte(l2Sample)); err != nil {
			t.Fatalf("Decode after unknown instrument: %v", err)
		}
	}
}

func TestLevel2DecodeAllocs(t *testing.T) {
	frames := [][]byte{
		[]byte(l2Sample),
		[]byte(`{"type ":"level2@50_snapshot","instrumentId":"CYB-BTC","buy":[[0.00001234,100.5]],"x":{"y":[1,{}]},"pubTimestamp":1542104001}`),
		[]byte(`{"type":"level2@50_update","instrumentID":"XRP-BTC","buy":[["1","2"]]}`), // unknown instrument
		[]byte(`{"instrumentID":"ETH-BTC","buy":[["0.0310001","1"]]}`),                   // bad value
		[]byte(l2Sample[:40]), // truncated
		[]byte(l2BenchUpdates()[0]),
	}
	d := NewLevel2Decoder(l2Instruments)
	for _, f := range frames { // grow the buffers once
		_, _ = d.Decode(f)
	}
	allocs := testing.AllocsPerRun(200, func() {
		for _, f := range frames {
			_, _ = d.Decode(f)
		}
	})
	if allocs != 0 {
		t.Fatalf("Decode allocates %v times per run, want 0", allocs)
	}
}

func TestIsLevel2(t *testing.T) {
	tests := []struct {
		in   string
		kind Level2Kind
		ok   bool
	}{
		{"level2_snapshot", Level2Snapshot, true},
		{"level2_update", Level2Update, true},
		{"level2@5_snapshot", Level2Snapshot, true},
		{"level2@10_update", Level2Update, true},
		{"level2@20_snapshot", Level2Snapshot, true},
		{"level2@50_update", Level2Update, true},
		{"level2", 0, false},
		{"level2@", 0, false},
		{"level2@_update", 0, false},
		{"level2@0_update", 0, false},
		{"level2@12345_update", 0, false},
		{"level2@50_updates", 0, false},
		{"level2_snapshot ", 0, false},
		{"level3_update", 0, false},
		{"trade_detail", 0, false},
		{"order_return", 0, false},
		{"", 0, false},
	}
	for _, tt := range tests {
		k, ok := IsLevel2(tt.in)
		kb, okb := IsLevel2([]byte(tt.in))
		if k != tt.kind || ok != tt.ok || kb != k || okb != ok {
			t.Errorf("IsLevel2(%q) = %v, %v / bytes %v, %v; want %v, %v", tt.in, k, ok, kb, okb, tt.kind, tt.ok)
		}
	}
}

func TestApplyLevel2(t *testing.T) {
	eth := l2Instruments[0]
	d := NewLevel2Decoder(l2Instruments)
	book := exchange.NewBook(eth, 50)
	recv := time.Date(2018, 11, 13, 2, 13, 21, 100_000_000, time.UTC)

	apply := func(frame string) error {
		t.Helper()
		m, err := d.Decode([]byte(frame))
		if err != nil {
			t.Fatalf("Decode: %v", err)
		}
		m.Received = recv
		return ApplyLevel2(book, m)
	}

	if err := apply(l2Sample); !errors.Is(err, exchange.ErrBookNotReady) {
		t.Fatalf("update before snapshot: %v, want ErrBookNotReady", err)
	}
	snap := `{"type":"level2@10_snapshot","instrumentID":"ETH-BTC","buy":[["0.031","1"],["0.0309","2"],["0.0308","3"]],"sell":[["0.0311","1"]],"pubTimestamp":"1542104000000"}`
	if err := apply(snap); err != nil {
		t.Fatalf("snapshot: %v", err)
	}
	if !book.Ready() || book.Depth() != 10 {
		t.Fatalf("after snapshot: ready %v depth %d, want true 10", book.Ready(), book.Depth())
	}
	if err := apply(l2Sample); err != nil {
		t.Fatalf("update: %v", err)
	}
	s := book.Snapshot()
	if want := []exchange.Level{l2lv(31000, 15000), l2lv(30800, 30000)}; !slices.Equal(s.Bids, want) {
		t.Errorf("bids = %v, want %v", s.Bids, want)
	}
	if want := []exchange.Level{l2lv(31100, 20000)}; !slices.Equal(s.Asks, want) {
		t.Errorf("asks = %v, want %v", s.Asks, want)
	}
	if !s.ExchangeTime.Equal(l2SampleTime) || !s.Received.Equal(recv) {
		t.Errorf("stamped %v / %v, want %v / %v", s.ExchangeTime, s.Received, l2SampleTime, recv)
	}

	// A message for another instrument, or one the decoder could not place, is refused.
	other, err := d.Decode([]byte(`{"type":"level2@10_update","instrumentID":"CYB-BTC","buy":[["0.00001","1"]]}`))
	if err != nil {
		t.Fatal(err)
	}
	if err := ApplyLevel2(book, other); !errors.Is(err, ErrLevel2WrongBook) {
		t.Fatalf("other instrument: %v, want ErrLevel2WrongBook", err)
	}
	unknown, _ := d.Decode([]byte(`{"type":"level2@10_update","instrumentID":"XRP-BTC"}`))
	if err := ApplyLevel2(book, unknown); !errors.Is(err, ErrLevel2WrongBook) {
		t.Fatalf("unknown instrument: %v, want ErrLevel2WrongBook", err)
	}
	precision := eth
	precision.PricePrecision = 8
	if err := ApplyLevel2(exchange.NewBook(precision, 5), &Level2{Kind: Level2Snapshot, Instrument: &eth}); !errors.Is(err, ErrLevel2WrongBook) {
		t.Fatalf("other precision: %v, want ErrLevel2WrongBook", err)
	}
	if !book.Ready() {
		t.Fatal("refused messages made the book unready")
	}

	// An update that fails part way leaves a book that no longer matches the exchange's: reset.
	bad := &Level2{Kind: Level2Update, Instrument: &eth, Bids: []exchange.Level{l2lv(31000, 1), l2lv(0, 1)}}
	if err := ApplyLevel2(book, bad); !errors.Is(err, exchange.ErrBookLevel) {
		t.Fatalf("bad update: %v, want ErrBookLevel", err)
	}
	if book.Ready() {
		t.Fatal("book still Ready after a failed update")
	}

	// An unsorted snapshot is refused and leaves the book unready.
	if err := apply(`{"type":"level2@10_snapshot","instrumentID":"ETH-BTC","buy":[["0.0309","1"],["0.031","2"]]}`); err == nil {
		t.Fatal("unsorted snapshot accepted")
	}
	if book.Ready() {
		t.Fatal("book Ready after an unsorted snapshot")
	}
}

// FuzzLevel2Decode must never panic. When a frame decodes, it must be valid JSON, its levels
// must be valid fixed-point values, and writing the result back out as a canonical frame
// must decode to the same thing.
func FuzzLevel2Decode(f *testing.F) {
	seeds := []string{
		l2Sample,
		`{"type":"level2@50_snapshot","instrumentID":"ETH-BTC","buy":[["0.031","1.5"],["0.0309","2"]],"sell":[["0.0311","2"]],"pubDate":"20181113","pubTime":"10:13:21","pubTimestamp":"1542104001056"}`,
		`{"type":"level2_update","instrumentID":"ETH-BTC","buy":[["0.0309","0"]],"sell":[]}`,
		`{"type ":"level2@50_update","instrumentID ":"ETH-BTC","buy ":[["0.031","1.5"]],"sell ":[["0.0311","2"]]}`,
		`{"type":"level2@10_update","instrumentId":"CYB-BTC","buy":[["0.00001234","5"]]}`,
		`{"type":"level2@20_update","instrumentID":"ETH-BTC","buy":[],"sell":[],"pubTimestamp":"1542104001"}`,
		`{"type":"level2@50_update","instrumentID":"ETH-BTC","buy":[[0.031,1.5]],"sell":[[0.0311,2]],"pubTimestamp":1542104001056}`,
		`{"meta":{"a":[1,2,{"b":null}],"c":"x\"y"},"type":"level2@5_update","flags":[true,false,null],"instrumentID":"ETH-BTC","sell":[["0.0311","2"]]}`,
		`{"instrumentID":"ETH-BTC","buy":[["0.031","1.5"]],"sell":[["0.0311","2"]],"pubTimestamp":"1542104001056"}`,
		l2Sample[:len(l2Sample)/2],
		`{"type":"level2@50_update","instrumentID":"XRP-BTC","buy":[["1","1"]]}`,
		`{"instrumentID":"ETH-BTC","buy":[["0.0310001","1"]]}`,
		``, `{}`, `null`, `[[[`,
	}
	for _, s := range seeds {
		f.Add([]byte(s))
	}
	d := NewLevel2Decoder(l2Instruments)
	check := NewLevel2Decoder(l2Instruments)
	f.Fuzz(func(t *testing.T, frame []byte) {
		m, err := d.Decode(frame)
		if err != nil {
			if m != nil && !errors.Is(err, ErrUnknownInstrument) {
				t.Fatalf("message returned with error %v", err)
			}
			return
		}
		if !json.Valid(frame) {
			t.Fatalf("decoded a frame encoding/json calls invalid: %q", frame)
		}
		if m.Instrument == nil || m.Instrument.ID != string(m.InstrumentID) {
			t.Fatalf("instrument %+v for id %q", m.Instrument, m.InstrumentID)
		}
		if m.Kind != Level2Snapshot && m.Kind != Level2Update {
			t.Fatalf("kind %v", m.Kind)
		}
		for _, ls := range [][]exchange.Level{m.Bids, m.Asks} {
			for _, l := range ls {
				if l.Price <= 0 || l.Volume < 0 {
					t.Fatalf("invalid level %v", l)
				}
			}
		}
		// Round trip through a canonical frame.
		canon := l2CanonicalFrame(m)
		m2, err := check.Decode(canon)
		if err != nil {
			t.Fatalf("canonical frame %s: %v", canon, err)
		}
		if m2.Kind != m.Kind || m2.Depth != m.Depth || *m2.Instrument != *m.Instrument || !m2.PubTime.Equal(m.PubTime) ||
			!slices.Equal(m2.Bids, m.Bids) || !slices.Equal(m2.Asks, m.Asks) {
			t.Fatalf("round trip differs:\n%+v\n%+v", m, m2)
		}
		// Applying never panics, whatever the levels' order.
		b := exchange.NewBook(*m.Instrument, 50)
		_ = ApplyLevel2(b, m)
		m.Kind = Level2Update
		_ = ApplyLevel2(b, m)
	})
}

// l2CanonicalFrame writes a decoded message back out in the exchange's format.
func l2CanonicalFrame(m *Level2) []byte {
	var sb strings.Builder
	sb.WriteString(`{"type":"level2`)
	if m.Depth > 0 {
		fmt.Fprintf(&sb, "@%d", m.Depth)
	}
	if m.Kind == Level2Snapshot {
		sb.WriteString(`_snapshot"`)
	} else {
		sb.WriteString(`_update"`)
	}
	fmt.Fprintf(&sb, `,"instrumentID":%q`, m.InstrumentID)
	side := func(key string, ls []exchange.Level) {
		fmt.Fprintf(&sb, `,%q:[`, key)
		for i, l := range ls {
			if i > 0 {
				sb.WriteByte(',')
			}
			fmt.Fprintf(&sb, `[%q,%q]`,
				exchange.FixedToDecimal(l.Price, m.Instrument.PricePrecision).String(),
				exchange.FixedToDecimal(l.Volume, m.Instrument.VolumePrecision).String())
		}
		sb.WriteByte(']')
	}
	side("buy", m.Bids)
	side("sell", m.Asks)
	if !m.PubTime.IsZero() {
		fmt.Fprintf(&sb, `,"pubTimestamp":"%d"`, l2WireTimestamp(m.PubTime))
	}
	sb.WriteByte('}')
	return []byte(sb.String())
}

// l2WireTimestamp finds the integer, in whichever unit, that pubTime reads back as t.
func l2WireTimestamp(t time.Time) int64 {
	for _, n := range []int64{t.Unix(), t.UnixMilli(), t.UnixMicro(), t.UnixNano()} {
		if got, err := l2PubTime([]byte(fmt.Sprint(n))); err == nil && got.Equal(t) {
			return n
		}
	}
	panic(fmt.Sprintf("no wire timestamp for %v", t))
}

// l2BenchSnapshot is a level2@50 snapshot of ETH-BTC: bids at even ticks below 0.031000,
// asks at odd ticks from 0.031001.
func l2BenchSnapshot() string {
	var sb strings.Builder
	sb.WriteString(`{"type":"level2@50_snapshot","instrumentID":"ETH-BTC","buy":[`)
	for i := range 50 {
		if i > 0 {
			sb.WriteByte(',')
		}
		fmt.Fprintf(&sb, `["0.%06d","%d.%04d"]`, 31000-2*i, 1+i%7, i*37%10000)
	}
	sb.WriteString(`],"sell":[`)
	for i := range 50 {
		if i > 0 {
			sb.WriteByte(',')
		}
		fmt.Fprintf(&sb, `["0.%06d","%d.%04d"]`, 31001+2*i, 1+i%5, i*53%10000)
	}
	sb.WriteString(`],"pubDate":"20181113","pubTime":"10:13:21","pubTimestamp":"1542104001056"}`)
	return sb.String()
}

// l2BenchUpdates are two typical level2@50 updates (6 levels changed each: removals first,
// then an insert and replacements) that undo each other, so cycling them keeps a 50-level
// book in the same state.
func l2BenchUpdates() []string {
	return []string{
		`{"type":"level2@50_update","instrumentID":"ETH-BTC","buy":[["0.030990","0"],["0.030991","2.5"],["0.030998","1.1"]],"sell":[["0.031011","0"],["0.031010","0.75"],["0.031003","3.2"]],"pubDate":"20181113","pubTime":"10:13:21","pubTimestamp":"1542104001056"}`,
		`{"type":"level2@50_update","instrumentID":"ETH-BTC","buy":[["0.030991","0"],["0.030990","4"],["0.030998","2.0037"]],"sell":[["0.031010","0"],["0.031011","1.1"],["0.031003","2.053"]],"pubDate":"20181113","pubTime":"10:13:21","pubTimestamp":"1542104001556"}`,
	}
}

func TestBenchFramesKeepBookSteady(t *testing.T) {
	d := NewLevel2Decoder(l2Instruments)
	book := exchange.NewBook(l2Instruments[0], 50)
	m, err := d.Decode([]byte(l2BenchSnapshot()))
	if err != nil {
		t.Fatal(err)
	}
	if err := ApplyLevel2(book, m); err != nil {
		t.Fatal(err)
	}
	for range 10 {
		for _, u := range l2BenchUpdates() {
			m, err := d.Decode([]byte(u))
			if err != nil {
				t.Fatal(err)
			}
			if err := ApplyLevel2(book, m); err != nil {
				t.Fatal(err)
			}
		}
	}
	s := book.Snapshot()
	if len(s.Bids) != 50 || len(s.Asks) != 50 || book.Crossed() {
		t.Fatalf("book drifted: %d bids, %d asks, crossed %v", len(s.Bids), len(s.Asks), book.Crossed())
	}
}

func BenchmarkLevel2Decode(b *testing.B) {
	d := NewLevel2Decoder(l2Instruments)
	frame := []byte(l2BenchUpdates()[0])
	b.SetBytes(int64(len(frame)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := d.Decode(frame); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkLevel2DecodeApply(b *testing.B) {
	d := NewLevel2Decoder(l2Instruments)
	book := exchange.NewBook(l2Instruments[0], 50)
	m, err := d.Decode([]byte(l2BenchSnapshot()))
	if err != nil {
		b.Fatal(err)
	}
	if err := ApplyLevel2(book, m); err != nil {
		b.Fatal(err)
	}
	frames := [][]byte{[]byte(l2BenchUpdates()[0]), []byte(l2BenchUpdates()[1])}
	recv := time.Unix(1542104001, 0)
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		m, err := d.Decode(frames[i&1])
		if err != nil {
			b.Fatal(err)
		}
		m.Received = recv
		if err := ApplyLevel2(book, m); err != nil {
			b.Fatal(err)
		}
		i++
	}
}

// jsonLevel2 is how encoding/json would take the same frame: strings, to be parsed after.
type jsonLevel2 struct {
	Type         string     `json:"type"`
	InstrumentID string     `json:"instrumentID"`
	Buy          [][]string `json:"buy"`
	Sell         [][]string `json:"sell"`
	PubDate      string     `json:"pubDate"`
	PubTime      string     `json:"pubTime"`
	PubTimestamp string     `json:"pubTimestamp"`
}

// BenchmarkEncodingJSONLevel2 is the baseline: the same frame through encoding/json into
// [][]string, before any conversion to numbers.
func BenchmarkEncodingJSONLevel2(b *testing.B) {
	frame := []byte(l2BenchUpdates()[0])
	b.SetBytes(int64(len(frame)))
	b.ReportAllocs()
	for b.Loop() {
		var m jsonLevel2
		if err := json.Unmarshal(frame, &m); err != nil {
			b.Fatal(err)
		}
	}
}

package hashkey

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/shopspring/decimal"

	"github.com/mmd-dev/mmd/exchange"
)

func fxDec(s string) decimal.Decimal { return decimal.RequireFromString(s) }

func fxMs(n int64) time.Time { return time.UnixMilli(n).UTC() }

// Frames from the reference and the exchange's published examples, quirks included.
const (
	fxOrderReturn = `{"type":"order_return","orderSysID":"2018112917171337","orderLocalID":"15421040010560001","instrumentID":"ETH-BTC","direction":"buy","orderPriceType":"limit","limitPrice":"0.031","volumeTotalOriginal":"1.5","volumeTotal":"1","volumeTraded":"0.5","timeCondition":"GTC","orderStatus":"1","actionTimestamp":"1542104001056","insertDate":"20181113","insertTime":"10:13:21","insertTimestamp":"1542104001","cancelDate":"","cancelTime":""}`
	// trailing-space keys, the old …Id spelling ("orderId" = orderSysID), bare numbers,
	// seconds in actionTimestamp.
	fxOrderQuirk  = `{"orderId":"2018112917171337","orderLocalId":"15421040010560001","instrumentId ":"ETH-BTC","direction":"sell","orderPriceType":"limit","limitPrice ":0.031,"volumeTotalOriginal":1.5,"volumeTotal ":"1.5","volumeTraded":"0","timeCondition":"GTC","orderStatus":3,"actionTimestamp":"1542104001","insertTimestamp":1542104001}`
	fxTradeReturn = `{"type":"trade_return","tradeID":"1002","orderSysID":"2018112917171337","orderLocalID":"15421040010560001","instrumentID":"ETH-BTC","direction":"buy","price":"0.031","priceSource":"buy","volume":"0.5","fee":"0.0005","tradeDate":"20181113","tradeTime":"10:13:21","tradeTimestamp":"1542104001056"}`
	fxFillQuirk   = `{"tradeID":"1003","orderId":"77","instrumentId":"ETH-BTC","direction":"sell","price ":"0.032","priceSource":"buy","volume ":"2","fee ":"-0.001","tradeTimestamp":"1542104001"}`
	fxTradeDetail = `{"type":"trade_detail","instrumentID":"ETH-BTC","price":"0.031","priceSource":"buy","volume":"0.5","tradeDate":"20181113","tradeTime":"10:13:21","tradeTimestamp":"1542104001056"}`
	fxInsertRsp   = `{"type":"order_insert_rsp","orderLocalID":"15421040010560001","respCode":"2011","respMsg":"insufficient balance"}`
	fxCancelRsp   = `{"type":"order_cancel_rsp","orderSysID":"2018112917171337","orderLocalID":"15421040010560001","respCode":"2015","respMsg":"order already cancelled"}`
	fxInstruments = `[{"instrumentID":"ETH-BTC","tradingAsset":"BTC","tradingTarget":"ETH","volumePrecision":"4","pricePrecision":"6","minimumVolume":"0.01"},{"instrumentId ":"CYB-BTC","volumePrecision":2,"pricePrecision":8}]`
	fxBalances    = `[{"accountID":"1","asset":"BTC","balance":"1.5","available":"1.2"},{"accountID":"1","asset ":"ETH","balance ":10,"available":"0"}]`
)

func fxWantOrderReturn() exchange.Order {
	return exchange.Order{
		SysID: "2018112917171337", LocalID: "15421040010560001", Instrument: "ETH-BTC",
		Side: exchange.Buy, Price: fxDec("0.031"), Volume: fxDec("1.5"), Remaining: fxDec("1"), Traded: fxDec("0.5"),
		Status: exchange.StatusPartFilled, Updated: fxMs(1542104001056), Inserted: time.Unix(1542104001, 0).UTC(),
	}
}

func fxOrderEqual(a, b exchange.Order) bool {
	return a.SysID == b.SysID && a.LocalID == b.LocalID && a.Instrument == b.Instrument &&
		a.Side == b.Side && a.Price.Equal(b.Price) && a.Volume.Equal(b.Volume) &&
		a.Remaining.Equal(b.Remaining) && a.Traded.Equal(b.Traded) && a.Status == b.Status &&
		a.Updated.Equal(b.Updated) && a.Inserted.Equal(b.Inserted)
}

func fxFillEqual(a, b exchange.Fill) bool {
	return a.TradeID == b.TradeID && a.SysID == b.SysID && a.LocalID == b.LocalID &&
		a.Instrument == b.Instrument && a.Side == b.Side && a.Price.Equal(b.Price) &&
		a.Volume.Equal(b.Volume) && a.Fee.Equal(b.Fee) && a.PriceSource == b.PriceSource && a.Time.Equal(b.Time)
}

func TestDecodeOrder(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		want    exchange.Order
		wantErr string // substring; "" means success
	}{
		{name: "order_return", in: fxOrderReturn, want: fxWantOrderReturn()},
		{name: "quirks", in: fxOrderQuirk, want: exchange.Order{
			SysID: "2018112917171337", LocalID: "15421040010560001", Instrument: "ETH-BTC",
			Side: exchange.Sell, Price: fxDec("0.031"), Volume: fxDec("1.5"), Remaining: fxDec("1.5"), Traded: fxDec("0"),
			Status: exchange.StatusNew, Updated: time.Unix(1542104001, 0).UTC(), Inserted: time.Unix(1542104001, 0).UTC(),
		}},
		{name: "mixed case keys and padding", in: `{ "ORDERSYSID" : "9" , "OrderLocalID":"1","instrumentid":"ETH-BTC","  direction  ":" Buy ","limitPrice":" 0.031 ","volumeTotalOriginal":"2","volumeTraded":"0.5","orderStatus":" 1 "} `,
			want: exchange.Order{SysID: "9", LocalID: "1", Instrument: "ETH-BTC", Side: exchange.Buy, Price: fxDec("0.031"),
				Volume: fxDec("2"), Remaining: fxDec("1.5"), Traded: fxDec("0.5"), Status: exchange.StatusPartFilled}},
		{name: "traded derived", in: `{"orderSysID":"9","instrumentID":"ETH-BTC","direction":"sell","limitPrice":"1","volumeTotalOriginal":"2","volumeTotal":"0.25","orderStatus":"6","actionTimestamp":"0","insertTimestamp":""}`,
			want: exchange.Order{SysID: "9", Instrument: "ETH-BTC", Side: exchange.Sell, Price: fxDec("1"), Volume: fxDec("2"),
				Remaining: fxDec("0.25"), Traded: fxDec("1.75"), Status: exchange.StatusPartCancelled}},
		{name: "escaped key and value", in: `{"order\u004cocalID":"a\"b","instrumentID":"ETH-BTC","direction":"buy","limitPrice":"1","volumeTotalOriginal":"1","volumeTotal":"1","orderStatus":"3","extra":{"nested":[1,{"x":null}]},"flag":true}`,
			want: exchange.Order{LocalID: `a"b`, Instrument: "ETH-BTC", Side: exchange.Buy, Price: fxDec("1"), Volume: fxDec("1"),
				Remaining: fxDec("1"), Traded: fxDec("0"), Status: exchange.StatusNew}},
		{name: "null field is absent", in: strings.Replace(fxOrderReturn, `"volumeTotal":"1"`, `"volumeTotal":null`, 1),
			want: fxWantOrderReturn()}, // volumeTotal derived from volumeTraded
		{name: "status 7", in: strings.Replace(fxOrderReturn, `"orderStatus":"1"`, `"orderStatus":"7"`, 1), wantErr: "orderStatus: 7 is not an order status"},
		{name: "status negative", in: strings.Replace(fxOrderReturn, `"orderStatus":"1"`, `"orderStatus":-1`, 1), wantErr: "not an order status"},
		{name: "status text", in: strings.Replace(fxOrderReturn, `"orderStatus":"1"`, `"orderStatus":"open"`, 1), wantErr: "not an integer"},
		{name: "status missing", in: strings.Replace(fxOrderReturn, `"orderStatus":"1"`, `"orderStatus":""`, 1), wantErr: "missing orderStatus"},
		{name: "side unknown", in: strings.Replace(fxOrderReturn, `"direction":"buy"`, `"direction":"hold"`, 1), wantErr: "direction"},
		{name: "price NaN", in: strings.Replace(fxOrderReturn, `"limitPrice":"0.031"`, `"limitPrice":"NaN"`, 1), wantErr: "limitPrice"},
		{name: "price Inf", in: strings.Replace(fxOrderReturn, `"limitPrice":"0.031"`, `"limitPrice":"Infinity"`, 1), wantErr: "not a decimal"},
		{name: "price empty", in: strings.Replace(fxOrderReturn, `"limitPrice":"0.031"`, `"limitPrice":""`, 1), wantErr: "missing limitPrice"},
		{name: "price negative", in: strings.Replace(fxOrderReturn, `"limitPrice":"0.031"`, `"limitPrice":"-0.031"`, 1), wantErr: "negative"},
		{name: "price object", in: strings.Replace(fxOrderReturn, `"limitPrice":"0.031"`, `"limitPrice":{"v":"1"}`, 1), wantErr: "want a string or number"},
		{name: "price huge exponent", in: strings.Replace(fxOrderReturn, `"limitPrice":"0.031"`, `"limitPrice":"1e999999999"`, 1), wantErr: "limitPrice"},
		{name: "price hex", in: strings.Replace(fxOrderReturn, `"limitPrice":"0.031"`, `"limitPrice":"0x10"`, 1), wantErr: "not a decimal"},
		{name: "traded above volume", in: `{"orderSysID":"9","instrumentID":"ETH-BTC","direction":"sell","limitPrice":"1","volumeTotalOriginal":"2","volumeTraded":"3","orderStatus":"0"}`, wantErr: "exceeds"},
		{name: "no volumes", in: `{"orderSysID":"9","instrumentID":"ETH-BTC","direction":"sell","limitPrice":"1","volumeTotalOriginal":"2","orderStatus":"0"}`, wantErr: "missing volumeTotal"},
		{name: "no ids", in: `{"instrumentID":"ETH-BTC","direction":"sell","limitPrice":"1","volumeTotalOriginal":"2","volumeTotal":"2","orderStatus":"3"}`, wantErr: "missing orderSysID"},
		{name: "bad timestamp", in: strings.Replace(fxOrderReturn, `"actionTimestamp":"1542104001056"`, `"actionTimestamp":"15421040010560000"`, 1), wantErr: "actionTimestamp"},
		{name: "array", in: `[` + fxOrderReturn + `]`, wantErr: "want a JSON object"},
		{name: "truncated", in: fxOrderReturn[:len(fxOrderReturn)-5], wantErr: "malformed JSON"},
		{name: "trailing garbage", in: fxOrderReturn + `x`, wantErr: "data after the object"},
		{name: "two objects", in: fxOrderReturn + fxOrderReturn, wantErr: "data after the object"},
		{name: "trailing comma", in: `{"orderSysID":"9",}`, wantErr: "want a key"},
		{name: "bad nested unknown", in: `{"x":[1,}],"orderSysID":"9"}`, wantErr: "malformed"},
		{name: "empty", in: ``, wantErr: "want a JSON object"},
		{name: "empty object", in: `{}`, wantErr: "missing"},
		{name: "control char", in: "{\"orderSysID\":\"9\x01\"}", wantErr: "control character"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := DecodeOrder([]byte(tt.in))
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want containing %q", err, tt.wantErr)
				}
				if !strings.HasPrefix(err.Error(), "decode order: ") {
					t.Fatalf("error lacks context: %v", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !fxOrderEqual(got, tt.want) {
				t.Fatalf("got  %+v\nwant %+v", got, tt.want)
			}
		})
	}
}

func TestDecodeOrderErrorNamesOrder(t *testing.T) {
	_, err := DecodeOrder([]byte(strings.Replace(fxOrderReturn, `"orderStatus":"1"`, `"orderStatus":"9"`, 1)))
	if err == nil || !strings.Contains(err.Error(), "order 15421040010560001") {
		t.Fatalf("error does not name the order: %v", err)
	}
}

func TestDecodeOrders(t *testing.T) {
	got, err := DecodeOrders([]byte(` [ ` + fxOrderReturn + ` , ` + fxOrderQuirk + ` ] `))
	if err != nil || len(got) != 2 || !fxOrderEqual(got[0], fxWantOrderReturn()) || got[1].Side != exchange.Sell {
		t.Fatalf("DecodeOrders = %+v, %v", got, err)
	}
	for _, in := range []string{`[]`, ` [ ] `, `null`} {
		got, err := DecodeOrders([]byte(in))
		if err != nil || len(got) != 0 {
			t.Errorf("DecodeOrders(%s) = %v, %v", in, got, err)
		}
	}
	for _, in := range []string{fxOrderReturn, `[` + fxOrderReturn, `[` + fxOrderReturn + `,]`, `[1]`, `[] x`, `[{}]`} {
		if _, err := DecodeOrders([]byte(in)); err == nil {
			t.Errorf("DecodeOrders(%.40s) accepted", in)
		}
	}
	_, err = DecodeOrders([]byte(`[` + fxOrderReturn + `,{"orderSysID":"1"}]`))
	if err == nil || !strings.Contains(err.Error(), "element 1") {
		t.Errorf("error does not name the element: %v", err)
	}
}

func TestDecodeOrderOrNull(t *testing.T) {
	for _, in := range []string{`null`, " null\n", `[]`} {
		o, err := DecodeOrderOrNull([]byte(in))
		if o != nil || err != nil {
			t.Errorf("DecodeOrderOrNull(%q) = %v, %v", in, o, err)
		}
	}
	for _, in := range []string{fxOrderReturn, `[` + fxOrderReturn + `]`} {
		o, err := DecodeOrderOrNull([]byte(in))
		if err != nil || o == nil || !fxOrderEqual(*o, fxWantOrderReturn()) {
			t.Errorf("DecodeOrderOrNull = %+v, %v", o, err)
		}
	}
	for _, in := range []string{``, `nul`, `{}`, `"x"`, `[` + fxOrderReturn + `,` + fxOrderReturn + `]`} {
		if o, err := DecodeOrderOrNull([]byte(in)); err == nil {
			t.Errorf("DecodeOrderOrNull(%.30q) = %v, nil", in, o)
		}
	}
}

func TestDecodeFill(t *testing.T) {
	tests := []struct {
		name, in, wantErr string
		want              exchange.Fill
	}{
		{name: "trade_return", in: fxTradeReturn, want: exchange.Fill{TradeID: "1002", SysID: "2018112917171337",
			LocalID: "15421040010560001", Instrument: "ETH-BTC", Side: exchange.Buy, Price: fxDec("0.031"), Volume: fxDec("0.5"),
			Fee: fxDec("0.0005"), PriceSource: exchange.Buy, Time: fxMs(1542104001056)}},
		{name: "quirks", in: fxFillQuirk, want: exchange.Fill{TradeID: "1003", SysID: "77", Instrument: "ETH-BTC",
			Side: exchange.Sell, Price: fxDec("0.032"), Volume: fxDec("2"), Fee: fxDec("-0.001"), PriceSource: exchange.Buy,
			Time: time.Unix(1542104001, 0).UTC()}},
		{name: "no fee, no source", in: `{"tradeID":1,"orderLocalID":2,"instrumentID":"ETH-BTC","direction":"buy","price":1,"volume":1}`,
			want: exchange.Fill{TradeID: "1", LocalID: "2", Instrument: "ETH-BTC", Side: exchange.Buy, Price: fxDec("1"), Volume: fxDec("1")}},
		{name: "no trade id", in: strings.Replace(fxTradeReturn, `"tradeID":"1002"`, `"tradeID":""`, 1), wantErr: "missing tradeID"},
		{name: "no order id", in: `{"tradeID":"1","instrumentID":"ETH-BTC","direction":"buy","price":"1","volume":"1"}`, wantErr: "missing orderSysID"},
		{name: "negative volume", in: strings.Replace(fxTradeReturn, `"volume":"0.5"`, `"volume":"-0.5"`, 1), wantErr: "volume: negative"},
		{name: "bad source", in: strings.Replace(fxTradeReturn, `"priceSource":"buy"`, `"priceSource":"maker"`, 1), wantErr: "priceSource"},
		{name: "missing price", in: strings.Replace(fxTradeReturn, `"price":"0.031"`, `"price":null`, 1), wantErr: "missing price"},
		{name: "bool volume", in: strings.Replace(fxTradeReturn, `"volume":"0.5"`, `"volume":true`, 1), wantErr: "want a string or number"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := DecodeFill([]byte(tt.in))
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) || !strings.HasPrefix(err.Error(), "decode fill: ") {
					t.Fatalf("err = %v, want containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !fxFillEqual(got, tt.want) {
				t.Fatalf("got  %+v\nwant %+v", got, tt.want)
			}
		})
	}
	fills, err := DecodeFills([]byte(`[` + fxTradeReturn + `,` + fxFillQuirk + `]`))
	if err != nil || len(fills) != 2 || fills[1].TradeID != "1003" {
		t.Fatalf("DecodeFills = %+v, %v", fills, err)
	}
	if fills, err := DecodeFills([]byte(`null`)); err != nil || fills != nil {
		t.Fatalf("DecodeFills(null) = %v, %v", fills, err)
	}
}

func TestDecodeTrade(t *testing.T) {
	got, err := DecodeTrade([]byte(fxTradeDetail))
	want := exchange.Trade{Instrument: "ETH-BTC", Price: fxDec("0.031"), Volume: fxDec("0.5"), PriceSource: exchange.Buy, Time: fxMs(1542104001056)}
	if err != nil || got.Instrument != want.Instrument || !got.Price.Equal(want.Price) || !got.Volume.Equal(want.Volume) ||
		got.PriceSource != want.PriceSource || !got.Time.Equal(want.Time) {
		t.Fatalf("DecodeTrade = %+v, %v", got, err)
	}
	got, err = DecodeTrade([]byte(`{"type":"trade_detail","instrumentID ":"ETH-BTC","price ":0.5,"volume ":"1","tradeTimestamp":"1542104001"}`))
	if err != nil || !got.Time.Equal(time.Unix(1542104001, 0)) || got.PriceSource != 0 {
		t.Fatalf("DecodeTrade quirks = %+v, %v", got, err)
	}
	for _, in := range []string{`{"type":"trade_detail","price":"1","volume":"1"}`, `{"instrumentID":"X","volume":"1"}`,
		`{"instrumentID":"X","price":"1"}`, `{"instrumentID":"X","price":"1","volume":"1","tradeTimestamp":"-5"}`} {
		if _, err := DecodeTrade([]byte(in)); err == nil || !strings.HasPrefix(err.Error(), "decode trade: ") {
			t.Errorf("DecodeTrade(%s) err = %v", in, err)
		}
	}
}

func TestDecodeRejects(t *testing.T) {
	ir, err := DecodeInsertRejected([]byte(fxInsertRsp))
	if err != nil || ir.LocalID != "15421040010560001" || ir.Code != 2011 || ir.Message != "insufficient balance" || !ir.Received.IsZero() {
		t.Fatalf("DecodeInsertRejected = %+v, %v", ir, err)
	}
	ir, err = DecodeInsertRejected([]byte(`{"type":"order_insert_rsp","orderLocalId ":"7","respCode":2002}`))
	if err != nil || ir.LocalID != "7" || ir.Code != 2002 || ir.Message != "" {
		t.Fatalf("DecodeInsertRejected quirks = %+v, %v", ir, err)
	}
	cr, err := DecodeCancelRejected([]byte(fxCancelRsp))
	if err != nil || cr.SysID != "2018112917171337" || cr.LocalID != "15421040010560001" || cr.Code != 2015 || cr.Message != "order already cancelled" {
		t.Fatalf("DecodeCancelRejected = %+v, %v", cr, err)
	}
	cr, err = DecodeCancelRejected([]byte(`{"orderId":"5","respCode":"2004"}`))
	if err != nil || cr.SysID != "5" || cr.Code != 2004 {
		t.Fatalf("DecodeCancelRejected quirks = %+v, %v", cr, err)
	}
	for _, in := range []string{`{"respCode":"2011"}`, `{"orderLocalID":"1"}`, `{"orderLocalID":"1","respCode":"x"}`, `{"orderLocalID":"1","respCode":"-3"}`, `[]`} {
		if _, err := DecodeInsertRejected([]byte(in)); err == nil {
			t.Errorf("DecodeInsertRejected(%s) accepted", in)
		}
		if _, err := DecodeCancelRejected([]byte(in)); err == nil {
			t.Errorf("DecodeCancelRejected(%s) accepted", in)
		}
	}
}

func TestDecodeReferenceData(t *testing.T) {
	insts, err := DecodeInstruments([]byte(fxInstruments))
	if err != nil {
		t.Fatal(err)
	}
	want := []exchange.Instrument{
		{ID: "ETH-BTC", Base: "ETH", Quote: "BTC", PricePrecision: 6, VolumePrecision: 4},
		{ID: "CYB-BTC", Base: "CYB", Quote: "BTC", PricePrecision: 8, VolumePrecision: 2},
	}
	if len(insts) != 2 || insts[0] != want[0] || insts[1] != want[1] {
		t.Fatalf("DecodeInstruments = %+v", insts)
	}
	for _, in := range []string{`[{"instrumentID":"ETH-BTC","pricePrecision":"6"}]`, `[{"instrumentID":"ETH-BTC","pricePrecision":"-1","volumePrecision":"1"}]`,
		`[{"instrumentID":"ETHBTC","pricePrecision":"6","volumePrecision":"1"}]`, `[{"pricePrecision":"6","volumePrecision":"1"}]`,
		`[{"instrumentID":"ETH-BTC","pricePrecision":"99","volumePrecision":"1"}]`, `{}`} {
		if _, err := DecodeInstruments([]byte(in)); err == nil {
			t.Errorf("DecodeInstruments(%s) accepted", in)
		}
	}

	bals, err := DecodeBalances([]byte(fxBalances))
	if err != nil || len(bals) != 2 || bals[0].Asset != "BTC" || !bals[0].Balance.Equal(fxDec("1.5")) || !bals[0].Available.Equal(fxDec("1.2")) ||
		bals[1].Asset != "ETH" || !bals[1].Balance.Equal(fxDec("10")) || !bals[1].Available.IsZero() {
		t.Fatalf("DecodeBalances = %+v, %v", bals, err)
	}
	for _, in := range []string{`[{"asset":"BTC","balance":"1"}]`, `[{"asset":"BTC","available":"1"}]`, `[{"balance":"1","available":"1"}]`, `[{"asset":"BTC","balance":"x","available":"1"}]`} {
		if _, err := DecodeBalances([]byte(in)); err == nil {
			t.Errorf("DecodeBalances(%s) accepted", in)
		}
	}

	rl, err := DecodeRateLimits([]byte(`{"queryRateLimit":"10","orderRateLimit":"300"}`))
	if err != nil || rl != (exchange.RateLimits{Query: 10, Order: 300}) {
		t.Fatalf("DecodeRateLimits = %+v, %v", rl, err)
	}
	for _, in := range []string{`{"queryRateLimit":"10"}`, `{"queryRateLimit":"0","orderRateLimit":"300"}`, `{"queryRateLimit":"1.5","orderRateLimit":"3"}`, `[]`} {
		if _, err := DecodeRateLimits([]byte(in)); err == nil {
			t.Errorf("DecodeRateLimits(%s) accepted", in)
		}
	}

	st, err := DecodeServerTime([]byte(`{"timestamp":"1420674445201"}`))
	if err != nil || !st.Equal(fxMs(1420674445201)) {
		t.Fatalf("DecodeServerTime = %v, %v", st, err)
	}
	for _, in := range []string{`{}`, `{"timestamp":""}`, `{"timestamp":"0"}`, `{"timestamp":"abc"}`, `"1420674445201"`} {
		if _, err := DecodeServerTime([]byte(in)); err == nil {
			t.Errorf("DecodeServerTime(%s) accepted", in)
		}
	}

	v, err := DecodeVersion([]byte(`{"version":"4.1.2"}`))
	if err != nil || v != "4.1.2" {
		t.Fatalf("DecodeVersion = %q, %v", v, err)
	}
	if _, err := DecodeVersion([]byte(`{"Version":""}`)); err == nil {
		t.Error("empty version accepted")
	}
}

func TestDecodeAcks(t *testing.T) {
	id, err := DecodeInsertAck([]byte(`{"orderLocalID":"15421040010560001"}`))
	if err != nil || id != "15421040010560001" {
		t.Fatalf("DecodeInsertAck = %q, %v", id, err)
	}
	if _, err := DecodeInsertAck([]byte(`{"message":"received"}`)); err == nil {
		t.Error("insert ack without ID accepted")
	}
	for in, want := range map[string]string{
		`{"orderLocalID":"1234567891234","message":"received"}`:  "1234567891234",
		`{"orderSysID":"2018112917171337","message":"received"}`: "2018112917171337",
		`{"orderId ":"55","message":"received"}`:                 "55",
	} {
		if id, err := DecodeCancelAck([]byte(in)); err != nil || id != want {
			t.Errorf("DecodeCancelAck(%s) = %q, %v", in, id, err)
		}
	}
	if _, err := DecodeCancelAck([]byte(`{"message":"received"}`)); err == nil {
		t.Error("cancel ack without ID accepted")
	}
	for in, want := range map[string][]string{
		`["1","2",3]`:                 {"1", "2", "3"},
		`[]`:                          {},
		`null`:                        nil,
		`{"orderSysIDs":["7"," 8"]}`:  {"7", " 8"},
		`{"orderSysIDs ":[],"x":"y"}`: {},
	} {
		got, err := DecodeBatchCancelAck([]byte(in))
		if err != nil || len(got) != len(want) {
			t.Errorf("DecodeBatchCancelAck(%s) = %q, %v", in, got, err)
			continue
		}
		for i := range want {
			if got[i] != want[i] {
				t.Errorf("DecodeBatchCancelAck(%s)[%d] = %q, want %q", in, i, got[i], want[i])
			}
		}
	}
	for _, in := range []string{`[""]`, `[{}]`, `[true]`, `{"orderSysIDs":"1"}`, `"1"`, `{"message":"received"}`} {
		if _, err := DecodeBatchCancelAck([]byte(in)); err == nil {
			t.Errorf("DecodeBatchCancelAck(%s) accepted", in)
		}
	}
}

func TestCheckResp(t *testing.T) {
	tests := []struct {
		name, in string
		code     int
		msg      string
		isErr    bool
	}{
		{"string code", `{"respCode":"2011","respMsg":"insufficient balance"}`, 2011, "insufficient balance", true},
		{"number code", `{"respCode":1004,"respMsg":"too many"}`, 1004, "too many", true},
		{"spaced key", `{"respCode ":"1001"}`, 1001, "", true},
		{"other fields", `{"orderLocalID":"1","respCode":"2003","respMsg":"too long"}`, 2003, "too long", true},
		{"code before garbage", `{"respCode":"1005","respMsg":"x",`, 1005, "x", true},
		{"bad code kept", `{"respCode":"E42","respMsg":"odd"}`, 0, `respCode "E42": odd`, true},
		{"object code kept", `{"respCode":{"a":1}}`, 0, `respCode "{\"a\":1}": `, true},
		{"null code", `{"respCode":null}`, 0, "", false},
		{"empty code", `{"respCode":""}`, 0, "", false},
		{"success object", `{"orderLocalID":"1"}`, 0, "", false},
		{"array", `[{"respCode":"1"}]`, 0, "", false},
		{"null body", `null`, 0, "", false},
		{"empty body", ``, 0, "", false},
		{"html", `<html>502</html>`, 0, "", false},
		{"nested code ignored", `{"data":{"respCode":"1"}}`, 0, "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := CheckResp("insert 1", []byte(tt.in))
			if !tt.isErr {
				if err != nil {
					t.Fatalf("CheckResp = %v, want nil", err)
				}
				return
			}
			var ae *APIError
			if !errors.As(err, &ae) {
				t.Fatalf("CheckResp = %v, want *APIError", err)
			}
			if ae.Op != "insert 1" || ae.Code != tt.code || ae.Message != tt.msg {
				t.Fatalf("CheckResp = %+v, want code %d msg %q", ae, tt.code, tt.msg)
			}
		})
	}
}

func TestParseTimestamp(t *testing.T) {
	tests := []struct {
		in   string
		want time.Time
		ok   bool
	}{
		{"1542104001056", fxMs(1542104001056), true},
		{"1542104001", time.Unix(1542104001, 0).UTC(), true},
		{" 1542104001 ", time.Unix(1542104001, 0).UTC(), true},
		{"99999999999", time.Unix(99999999999, 0).UTC(), true}, // largest seconds value
		{"100000000000", fxMs(100000000000), true},             // smallest milliseconds value
		{"99999999999999", fxMs(99999999999999), true},
		{"100000000000000", time.Time{}, false},
		{"0", time.Time{}, false},
		{"", time.Time{}, false},
		{"-1542104001", time.Time{}, false},
		{"1542104001.5", time.Time{}, false},
		{"+1542104001", time.Time{}, false},
		{"1e12", time.Time{}, false},
		{"99999999999999999999999", time.Time{}, false},
	}
	for _, tt := range tests {
		got, err := ParseTimestamp(tt.in)
		if (err == nil) != tt.ok || !got.Equal(tt.want) {
			t.Errorf("ParseTimestamp(%q) = %v, %v; want %v ok=%v", tt.in, got, err, tt.want, tt.ok)
		}
		if err == nil && got.Location() != time.UTC {
			t.Errorf("ParseTimestamp(%q) not in UTC", tt.in)
		}
	}
}

func TestWireDecimal(t *testing.T) {
	good := map[string]string{
		"0.031": "0.031", "-1": "-1", "0": "0", "-0": "0", "1.50": "1.5", "123456789012345678": "123456789012345678",
		"1234567890.123456789012": "1234567890.123456789012", "1.5e-3": "0.0015", "2E2": "200", " 7 ": "7",
	}
	for in, want := range good {
		got, err := wireDecimal([]byte(in))
		if err != nil || !got.Equal(fxDec(want)) {
			t.Errorf("wireDecimal(%q) = %s, %v; want %s", in, got, err, want)
		}
	}
	for _, in := range []string{"", " ", "NaN", "Inf", "-Inf", "Infinity", "+1", ".5", "5.", "0x10", "1_000", "01", "1e", "1e99999", "1e-99",
		"--1", "1..2", "1.2.3", "\u22121", strings.Repeat("1", 65), "1,5"} {
		if got, err := wireDecimal([]byte(in)); err == nil {
			t.Errorf("wireDecimal(%q) = %s, want error", in, got)
		}
	}
}

func TestMessageType(t *testing.T) {
	tests := []struct {
		in   string
		want string
		ok   bool
	}{
		{fxOrderReturn, "order_return", true},
		{fxTradeReturn, "trade_return", true},
		{fxInsertRsp, "order_insert_rsp", true},
		{fxCancelRsp, "order_cancel_rsp", true},
		{fxTradeDetail, "trade_detail", true},
		{`{"instrumentID":"ETH-BTC","buy":[["1","2"]],"type":"level2@10_snapshot"}`, "level2@10_snapshot", true},
		{`{"type ":"level2_update"}`, "level2_update", true},
		{`{"Type":"something_new","x":1}`, "something_new", true},
		{`{"type":"order_return","x":`, "order_return", true}, // cheap: no validation past "type"
		{`{"channel":{"type":"x"}}`, "", false},
		{`{"type":1}`, "", false},
		{`{"type":null}`, "", false},
		{`{"type":""}`, "", false},
		{`{"x":}`, "", false},
		{`[]`, "", false},
		{``, "", false},
		{`{}`, "", false},
	}
	for _, tt := range tests {
		got, ok := MessageType([]byte(tt.in))
		if got != tt.want || ok != tt.ok {
			t.Errorf("MessageType(%.40s) = %q, %v; want %q, %v", tt.in, got, ok, tt.want, tt.ok)
		}
	}
	frame := []byte(fxOrderReturn)
	if n := testing.AllocsPerRun(100, func() { MessageType(frame) }); n != 0 {
		t.Errorf("MessageType allocates %v times for a known type", n)
	}
}

// ---- fuzzing: never panic; on success the result is sane ----

func fuzzCheckDecimal(t *testing.T, name string, v decimal.Decimal, signed bool) {
	t.Helper()
	if e := v.Exponent(); e > maxDecimalExp || e < -maxDecimalExp {
		t.Fatalf("%s exponent %d out of bounds", name, e)
	}
	if !signed && v.IsNegative() {
		t.Fatalf("%s negative: %s", name, v)
	}
	_ = v.String()
}

// fuzzMustBeJSON holds the scanner to be no laxer than encoding/json.
func fuzzMustBeJSON(t *testing.T, b []byte) {
	t.Helper()
	if !json.Valid(b) {
		t.Fatalf("accepted invalid JSON %q", b)
	}
}

func fuzzCheckSide(t *testing.T, name string, s exchange.Side, optional bool) {
	t.Helper()
	if !(s == exchange.Buy || s == exchange.Sell || optional && s == 0) {
		t.Fatalf("%s = %v", name, s)
	}
}

func FuzzDecodeOrder(f *testing.F) {
	for _, s := range []string{fxOrderReturn, fxOrderQuirk, `{"orderSysID":"9","instrumentID":"ETH-BTC","direction":"sell","limitPrice":"1","volumeTotalOriginal":"2","volumeTotal":"0.25","orderStatus":"6","actionTimestamp":"0"}`,
		`{"order\u004cocalID":"a\"b","instrumentID":"ETH-BTC","direction":"buy","limitPrice":1e2,"volumeTotalOriginal":"1","volumeTotal":"1","orderStatus":"3","extra":{"nested":[1,{"x":null}]}}`,
		`[` + fxOrderReturn + `]`, `{}`, `null`, ``} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		o, err := DecodeOrder(b)
		if err == nil {
			fuzzMustBeJSON(t, b)
			if !o.Status.Valid() || o.Instrument == "" || o.SysID == "" && o.LocalID == "" {
				t.Fatalf("accepted an invalid order: %+v", o)
			}
			fuzzCheckSide(t, "side", o.Side, false)
			for name, v := range map[string]decimal.Decimal{"price": o.Price, "volume": o.Volume, "remaining": o.Remaining, "traded": o.Traded} {
				fuzzCheckDecimal(t, name, v, false)
			}
		}
		if list, err := DecodeOrders(b); err == nil {
			for _, o := range list {
				if !o.Status.Valid() {
					t.Fatalf("invalid status %d", o.Status)
				}
			}
		}
		_, _ = DecodeOrderOrNull(b)
	})
}

func FuzzDecodeFill(f *testing.F) {
	for _, s := range []string{fxTradeReturn, fxFillQuirk, `[` + fxTradeReturn + `]`,
		`{"tradeID":1,"orderLocalID":2,"instrumentID":"ETH-BTC","direction":"buy","price":1,"volume":1}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		fl, err := DecodeFill(b)
		if err == nil {
			fuzzMustBeJSON(t, b)
			if fl.TradeID == "" || fl.Instrument == "" || fl.SysID == "" && fl.LocalID == "" {
				t.Fatalf("accepted an invalid fill: %+v", fl)
			}
			fuzzCheckSide(t, "side", fl.Side, false)
			fuzzCheckSide(t, "priceSource", fl.PriceSource, true)
			fuzzCheckDecimal(t, "price", fl.Price, false)
			fuzzCheckDecimal(t, "volume", fl.Volume, false)
			fuzzCheckDecimal(t, "fee", fl.Fee, true)
		}
		_, _ = DecodeFills(b)
	})
}

func FuzzDecodeTrade(f *testing.F) {
	for _, s := range []string{fxTradeDetail, `{"type":"trade_detail","instrumentID ":"ETH-BTC","price ":0.5,"volume ":"1","tradeTimestamp":"1542104001"}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		tr, err := DecodeTrade(b)
		if err == nil {
			fuzzMustBeJSON(t, b)
			if tr.Instrument == "" {
				t.Fatal("accepted a trade without instrument")
			}
			fuzzCheckSide(t, "priceSource", tr.PriceSource, true)
			fuzzCheckDecimal(t, "price", tr.Price, false)
			fuzzCheckDecimal(t, "volume", tr.Volume, false)
		}
	})
}

func FuzzDecodeInstruments(f *testing.F) {
	for _, s := range []string{fxInstruments, `[]`, `null`, `[{"instrumentID":"ETH-BTC","pricePrecision":"99","volumePrecision":"1"}]`,
		`{"queryRateLimit":"10","orderRateLimit":"300"}`, `{"timestamp":"1420674445201"}`, `{"version":"4.1.2"}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		if insts, err := DecodeInstruments(b); err == nil {
			for _, in := range insts {
				if in.ID == "" || in.Base == "" || in.Quote == "" || in.PricePrecision < 0 || in.PricePrecision > maxPrecision ||
					in.VolumePrecision < 0 || in.VolumePrecision > maxPrecision {
					t.Fatalf("accepted an invalid instrument: %+v", in)
				}
				_ = in.TickSize().String()
			}
		}
		if rl, err := DecodeRateLimits(b); err == nil && (rl.Query <= 0 || rl.Order <= 0) {
			t.Fatalf("accepted rate limits %+v", rl)
		}
		if ts, err := DecodeServerTime(b); err == nil && ts.IsZero() {
			t.Fatal("accepted a zero server time")
		}
		_, _ = DecodeVersion(b)
	})
}

func FuzzDecodeBalances(f *testing.F) {
	for _, s := range []string{fxBalances, `[]`, `[{"asset":"BTC","balance":"1e3","available":"-0"}]`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		bals, err := DecodeBalances(b)
		if err == nil {
			fuzzMustBeJSON(t, b)
			for _, bal := range bals {
				if bal.Asset == "" {
					t.Fatal("accepted a balance without asset")
				}
				fuzzCheckDecimal(t, "balance", bal.Balance, true)
				fuzzCheckDecimal(t, "available", bal.Available, true)
			}
		}
	})
}

func FuzzCheckResp(f *testing.F) {
	for _, s := range []string{`{"respCode":"2011","respMsg":"insufficient balance"}`, `{"respCode":1004}`, `{"respCode ":"1001"}`,
		`{"respCode":"E42"}`, `{"orderLocalID":"1"}`, `[]`, `<html>`, `{"respCode":"1005","respMsg":"x"`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		err := CheckResp("op", b)
		if err == nil {
			return
		}
		var ae *APIError
		if !errors.As(err, &ae) {
			t.Fatalf("CheckResp returned %T", err)
		}
		if ae.Code < 0 {
			t.Fatalf("negative code %d", ae.Code)
		}
		_ = ae.Error()
		_ = ae.Class()
	})
}

func FuzzDecodeRejects(f *testing.F) {
	for _, s := range []string{fxInsertRsp, fxCancelRsp, `{"type":"order_insert_rsp","orderLocalId ":"7","respCode":2002}`,
		`{"orderId":"5","respCode":"2004"}`, `{"orderLocalID":"1","message":"received"}`, `["1","2"]`, `{"orderSysIDs":["7"]}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		if r, err := DecodeInsertRejected(b); err == nil && (r.LocalID == "" || r.Code < 0) {
			t.Fatalf("accepted %+v", r)
		}
		if r, err := DecodeCancelRejected(b); err == nil && (r.SysID == "" && r.LocalID == "" || r.Code < 0) {
			t.Fatalf("accepted %+v", r)
		}
		if id, err := DecodeInsertAck(b); err == nil && id == "" {
			t.Fatal("accepted an empty insert ack")
		}
		if id, err := DecodeCancelAck(b); err == nil && id == "" {
			t.Fatal("accepted an empty cancel ack")
		}
		if ids, err := DecodeBatchCancelAck(b); err == nil {
			for _, id := range ids {
				if id == "" {
					t.Fatal("accepted an empty ID in a batch cancel ack")
				}
			}
		}
	})
}

func FuzzMessageType(f *testing.F) {
	for _, s := range []string{fxOrderReturn, fxTradeDetail, fxInsertRsp, `{"type ":"level2_update"}`, `{"type":1}`, `{"x":}`, `[]`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		typ, ok := MessageType(b)
		if !ok && typ != "" {
			t.Fatalf("ok=false with type %q", typ)
		}
		if ok && typ == "" {
			t.Fatal("ok=true with an empty type")
		}
	})
}

func BenchmarkDecodeOrderReturn(b *testing.B) {
	frame := []byte(fxOrderReturn)
	b.ReportAllocs()
	b.SetBytes(int64(len(frame)))
	for b.Loop() {
		if typ, _ := MessageType(frame); typ != "order_return" {
			b.Fatal(typ)
		}
		if _, err := DecodeOrder(frame); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkDecodeTradeReturn(b *testing.B) {
	frame := []byte(fxTradeReturn)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := DecodeFill(frame); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkMessageType(b *testing.B) {
	frame := []byte(fxTradeDetail)
	b.ReportAllocs()
	for b.Loop() {
		if _, ok := MessageType(frame); !ok {
			b.Fatal("no type")
		}
	}
}

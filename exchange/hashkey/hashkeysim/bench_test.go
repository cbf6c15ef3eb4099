package hashkeysim

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/shopspring/decimal"
)

// BenchmarkSimInsertCancel measures the order round trips the simulator sustains over
// loopback: each iteration is a signed insert followed by a signed cancel of that order,
// through a plain net/http client with hand-made HMAC headers. The server runs with
// NoRateLimit (the published 300 orders/s would otherwise be what is measured).
func BenchmarkSimInsertCancel(b *testing.B) {
	const key, secret = "bench", "bench-secret"
	s, err := New(Config{
		Manual:      true,
		NoRateLimit: true,
		Accounts: []Account{{APIKey: key, AuthType: AuthHMAC, Secret: secret,
			Balances: map[string]decimal.Decimal{"BTC": decimal.NewFromInt(1_000_000_000)}}},
	})
	if err != nil {
		b.Fatal(err)
	}
	if err := s.Start(); err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	tr := &http.Transport{MaxIdleConnsPerHost: 64, MaxConnsPerHost: 64}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr}
	base := s.RESTURL()
	do := func(path, body string) (int, error) {
		ts := strconv.FormatInt(time.Now().UnixMilli(), 10)
		mac := hmac.New(sha256.New, []byte(secret))
		mac.Write([]byte(ts + "POST" + path + body))
		req, err := http.NewRequest(http.MethodPost, base+path, strings.NewReader(body))
		if err != nil {
			return 0, err
		}
		req.Header.Set("API-KEY", key)
		req.Header.Set("API-TIMESTAMP", ts)
		req.Header.Set("API-SIGNATURE", base64.StdEncoding.EncodeToString(mac.Sum(nil)))
		req.Header.Set("AUTH-TYPE", AuthHMAC)
		req.Header.Set("Content-Type", "application/json")
		resp, err := client.Do(req)
		if err != nil {
			return 0, err
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp.StatusCode, nil
	}
	var seq atomic.Int64
	b.ReportAllocs()
	b.SetParallelism(4)
	b.ResetTimer()
	start := time.Now()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			id := strconv.FormatInt(seq.Add(1), 10)
			insert := `{"instrumentID":"ETH-BTC","orderPriceType":"limit","direction":"buy","limitPrice":"0.001","volumeTotalOriginal":"1","timeCondition":"GTC","orderLocalID":"` + id + `"}`
			if st, err := do("/v1/order/insert", insert); err != nil || st != http.StatusOK {
				b.Errorf("insert: %d %v", st, err)
				return
			}
			if st, err := do("/v1/order/cancelByLocalID", `{"orderLocalID":"`+id+`"}`); err != nil || st != http.StatusOK {
				b.Errorf("cancel: %d %v", st, err)
				return
			}
		}
	})
	elapsed := time.Since(start)
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "orders/s")
	if open := s.OpenOrders(key); len(open) != 0 {
		b.Errorf("%d orders left open", len(open))
	}
}

// BenchmarkStepPublish is one market step of the three default instruments and the publish
// that follows, with no connection attached (the engine's share of a tick).
func BenchmarkStepPublish(b *testing.B) {
	s, err := New(Config{Manual: true, Seed: 1})
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		s.mu.Lock()
		s.stepLocked()
		s.publishLocked()
		s.mu.Unlock()
	}
}

// BenchmarkVerify is the signature check every signed request pays.
func BenchmarkVerify(b *testing.B) {
	v := loadVectors(b)
	for _, vec := range v.Vectors {
		if vec.Name != "post-insert" || vec.Scheme != "v4.3" {
			continue
		}
		acct := Account{AuthType: vec.AuthType, Secret: v.HMACSecret}
		if vec.AuthType == AuthPubPriv {
			acct = Account{AuthType: AuthPubPriv, PublicKey: v.PubCompressed}
		}
		ver, err := newVerifier(acct)
		if err != nil {
			b.Fatal(err)
		}
		b.Run(vec.AuthType, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, ok := ver.verify([]byte(vec.Message), vec.Signature, revV43); !ok {
					b.Fatal("rejected")
				}
			}
		})
	}
}

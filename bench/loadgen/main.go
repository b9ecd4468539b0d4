// Command loadgen drives the load that wrk cannot: an open-loop HTTP load at a
// fixed arrival rate, and a closed-loop unary gRPC load. It prints one JSON
// object with the counts and latency percentiles.
//
//	loadgen http -rate 500 -duration 10s -url URL [-url URL ...] [-header "K: V" ...]
//	loadgen http -rate 0 -connections 32 -duration 10s -url-file FILE   (closed loop)
//	loadgen grpc -target host:port -method /pkg.Service/Method -body-hex HEX \
//	        -concurrency 32 -duration 5s
//
// Open loop: request i is due at start + i/rate, whether or not earlier ones
// have been answered, and its latency is measured from that intended time, so
// a server that stalls is charged for every request that waited behind the
// stall (no coordinated omission). URLs (each with its own headers, as
// "URL<TAB>Header: value<TAB>...") are used in turn. A 2xx answer whose body
// holds the -bad-body text (a degraded answer, say) counts as failed.
//
// Built offline from Debian's packages in GOPATH mode (see scripts/bench.sh).
package main

import (
	"bufio"
	"context"
	"encoding/hex"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"sort"
	"strings"
	"sync"
	"time"

	"google.golang.org/grpc"
)

// quantiles are the points of the latency distribution that are reported.
var quantiles = []struct {
	name string
	q    float64
}{{"p50", 0.5}, {"p75", 0.75}, {"p90", 0.9}, {"p95", 0.95}, {"p99", 0.99},
	{"p99.5", 0.995}, {"p99.9", 0.999}, {"p99.99", 0.9999}}

// Result is what one run prints.
type Result struct {
	Mode        string             `json:"mode"`
	TargetRate  float64            `json:"target_rate,omitempty"`
	Concurrency int                `json:"concurrency,omitempty"`
	DurationS   float64            `json:"duration_s"`
	Sent        int                `json:"sent"`
	OK          int                `json:"ok"`
	Errors      map[string]int     `json:"errors"`
	Unfinished  int                `json:"unfinished"`
	Throughput  float64            `json:"throughput_rps"`
	LatencyMS   map[string]float64 `json:"latency_ms"`
	// ByOutcome: p50/p99/max per outcome ("ok", "status 503", ...), so fast
	// refusals and the answers admitted beside them are seen apart.
	ByOutcome map[string]map[string]float64 `json:"latency_by_outcome_ms"`
}

type sample struct {
	latency time.Duration
	outcome string // "" for success
}

type target struct {
	url     string
	headers http.Header
}

type listFlag []string

func (l *listFlag) String() string     { return strings.Join(*l, ",") }
func (l *listFlag) Set(v string) error { *l = append(*l, v); return nil }

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: loadgen http|grpc [flags]")
		os.Exit(2)
	}
	var result Result
	switch os.Args[1] {
	case "http":
		result = runHTTP(os.Args[2:])
	case "grpc":
		result = runGRPC(os.Args[2:])
	default:
		fmt.Fprintf(os.Stderr, "unknown mode %q\n", os.Args[1])
		os.Exit(2)
	}
	json.NewEncoder(os.Stdout).Encode(result)
}

// --- open-loop HTTP ---------------------------------------------------------------

func runHTTP(args []string) Result {
	fs := flag.NewFlagSet("http", flag.ExitOnError)
	rate := fs.Float64("rate", 100, "requests per second (arrival rate); 0: closed loop")
	duration := fs.Duration("duration", 10*time.Second, "how long requests are sent")
	connections := fs.Int("connections", 128, "most requests in flight (one connection each)")
	timeout := fs.Duration("timeout", 10*time.Second, "per-request timeout")
	grace := fs.Duration("grace", 10*time.Second, "how long to wait for late answers")
	urlFile := fs.String("url-file", "", "file of targets, one per line: URL<TAB>Header: v...")
	badBody := fs.String("bad-body", "", "a 2xx answer whose body holds this counts as failed")
	var urls, headers listFlag
	fs.Var(&urls, "url", "target URL (repeatable)")
	fs.Var(&headers, "header", "header for every -url, 'Name: value' (repeatable)")
	fs.Parse(args)

	targets := readTargets(urls, headers, *urlFile)
	client := &http.Client{
		Timeout: *timeout,
		Transport: &http.Transport{
			MaxIdleConnsPerHost: *connections,
			MaxConnsPerHost:     *connections,
			DisableCompression:  true,
		},
	}
	if *rate <= 0 {
		return closedHTTP(client, targets, *connections, *duration, *badBody)
	}
	total := int(*rate * duration.Seconds())
	due := make(chan int, total)
	samples := make([]sample, total)
	done := make([]bool, total)
	var mu sync.Mutex
	start := time.Now()
	interval := time.Duration(float64(time.Second) / *rate)
	var wg sync.WaitGroup
	for w := 0; w < *connections; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range due {
				intended := start.Add(time.Duration(i) * interval)
				outcome := doHTTP(client, targets[i%len(targets)], *badBody)
				mu.Lock()
				samples[i] = sample{time.Since(intended), outcome}
				done[i] = true
				mu.Unlock()
			}
		}()
	}
	for i := 0; i < total; i++ {
		if wait := time.Until(start.Add(time.Duration(i) * interval)); wait > 0 {
			time.Sleep(wait)
		}
		due <- i
	}
	close(due)
	finished := make(chan struct{})
	go func() { wg.Wait(); close(finished) }()
	select {
	case <-finished:
	case <-time.After(*grace):
	}
	mu.Lock()
	defer mu.Unlock()
	// A request still unanswered counts with the time it has waited so far
	// (a lower bound) and as "unfinished".
	unfinished := 0
	for i := range samples {
		if !done[i] {
			unfinished++
			intended := start.Add(time.Duration(i) * interval)
			samples[i] = sample{time.Since(intended), "unfinished"}
		}
	}
	// Throughput: answers over the time from the first send to the last answer.
	r := summarize("http-open-loop", samples, time.Since(start))
	r.TargetRate = *rate
	r.Unfinished = unfinished
	return r
}

// closedHTTP keeps `connections` requests in flight for `duration`, each
// sent as soon as the one before it on its connection is answered.
func closedHTTP(client *http.Client, targets []target, connections int,
	duration time.Duration, badBody string) Result {
	per := make([][]sample, connections)
	start := time.Now()
	stop := start.Add(duration)
	var wg sync.WaitGroup
	for w := 0; w < connections; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for n := w; time.Now().Before(stop); n += connections {
				began := time.Now()
				outcome := doHTTP(client, targets[n%len(targets)], badBody)
				per[w] = append(per[w], sample{time.Since(began), outcome})
			}
		}(w)
	}
	wg.Wait()
	r := summarize("http-closed-loop", flatten(per), time.Since(start))
	r.Concurrency = connections
	return r
}

func flatten(per [][]sample) []sample {
	var samples []sample
	for _, s := range per {
		samples = append(samples, s...)
	}
	return samples
}

func doHTTP(client *http.Client, t target, badBody string) string {
	req, err := http.NewRequest(http.MethodGet, t.url, nil)
	if err != nil {
		return "bad request: " + err.Error()
	}
	req.Header = t.headers
	resp, err := client.Do(req)
	if err != nil {
		if os.IsTimeout(err) || strings.Contains(err.Error(), "Timeout") {
			return "timeout"
		}
		return "connection error"
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		return "read error"
	}
	if resp.StatusCode >= 400 {
		refused := resp.StatusCode == 429 || resp.StatusCode == 503
		if refused && resp.Header.Get("Retry-After") == "" {
			return fmt.Sprintf("status %d without Retry-After", resp.StatusCode)
		}
		return fmt.Sprintf("status %d", resp.StatusCode)
	}
	if badBody != "" && strings.Contains(string(body), badBody) {
		return "bad body"
	}
	return ""
}

func readTargets(urls, headers []string, file string) []target {
	common := parseHeaders(headers)
	var targets []target
	for _, u := range urls {
		targets = append(targets, target{u, common})
	}
	if file != "" {
		f, err := os.Open(file)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(2)
		}
		defer f.Close()
		scanner := bufio.NewScanner(f)
		for scanner.Scan() {
			fields := strings.Split(strings.TrimSpace(scanner.Text()), "\t")
			if fields[0] == "" {
				continue
			}
			h := parseHeaders(fields[1:])
			for k, v := range common {
				h[k] = v
			}
			targets = append(targets, target{fields[0], h})
		}
	}
	if len(targets) == 0 {
		fmt.Fprintln(os.Stderr, "no target: give -url or -url-file")
		os.Exit(2)
	}
	return targets
}

func parseHeaders(lines []string) http.Header {
	h := http.Header{}
	for _, line := range lines {
		name, value, ok := strings.Cut(line, ":")
		if ok {
			h.Add(strings.TrimSpace(name), strings.TrimSpace(value))
		}
	}
	return h
}

// --- closed-loop gRPC -------------------------------------------------------------

// rawCodec sends and receives message bytes as they are, so no generated Go code is needed.
type rawCodec struct{}

func (rawCodec) Marshal(v interface{}) ([]byte, error) { return *(v.(*[]byte)), nil }
func (rawCodec) Unmarshal(data []byte, v interface{}) error {
	*(v.(*[]byte)) = append([]byte(nil), data...)
	return nil
}
func (rawCodec) Name() string { return "proto" }

func runGRPC(args []string) Result {
	fs := flag.NewFlagSet("grpc", flag.ExitOnError)
	addr := fs.String("target", "127.0.0.1:50051", "host:port")
	method := fs.String("method", "", "full method name, /package.Service/Method")
	bodyHex := fs.String("body-hex", "", "the serialized request message, hex")
	concurrency := fs.Int("concurrency", 32, "calls in flight")
	connections := fs.Int("connections", 2, "HTTP/2 connections the calls share")
	duration := fs.Duration("duration", 5*time.Second, "how long to run")
	fs.Parse(args)

	body, err := hex.DecodeString(*bodyHex)
	if err != nil {
		fmt.Fprintln(os.Stderr, "-body-hex:", err)
		os.Exit(2)
	}
	conns := make([]*grpc.ClientConn, *connections)
	for i := range conns {
		conns[i], err = grpc.Dial(*addr, grpc.WithInsecure(), grpc.WithBlock(),
			grpc.WithDefaultCallOptions(grpc.ForceCodec(rawCodec{})))
		if err != nil {
			fmt.Fprintln(os.Stderr, "dial:", err)
			os.Exit(1)
		}
		defer conns[i].Close()
	}
	per := make([][]sample, *concurrency)
	start := time.Now()
	stop := start.Add(*duration)
	var wg sync.WaitGroup
	for w := 0; w < *concurrency; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			conn := conns[w%len(conns)]
			for time.Now().Before(stop) {
				began := time.Now()
				var reply []byte
				ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				err := conn.Invoke(ctx, *method, &body, &reply)
				cancel()
				outcome := ""
				if err != nil {
					outcome = "rpc error"
				}
				per[w] = append(per[w], sample{time.Since(began), outcome})
			}
		}(w)
	}
	wg.Wait()
	r := summarize("grpc-closed-loop", flatten(per), time.Since(start))
	r.Concurrency = *concurrency
	return r
}

// --- summary ----------------------------------------------------------------------

func summarize(mode string, samples []sample, elapsed time.Duration) Result {
	r := Result{Mode: mode, DurationS: elapsed.Seconds(), Sent: len(samples),
		Errors: map[string]int{}, LatencyMS: map[string]float64{},
		ByOutcome: map[string]map[string]float64{}}
	latencies := make([]float64, 0, len(samples))
	byOutcome := map[string][]float64{}
	var sum float64
	for _, s := range samples {
		ms := float64(s.latency.Nanoseconds()) / 1e6
		latencies = append(latencies, ms)
		sum += ms
		if s.outcome == "" {
			r.OK++
			byOutcome["ok"] = append(byOutcome["ok"], ms)
		} else {
			r.Errors[s.outcome]++
			byOutcome[s.outcome] = append(byOutcome[s.outcome], ms)
		}
	}
	r.Throughput = float64(r.OK) / elapsed.Seconds()
	if len(latencies) == 0 {
		return r
	}
	sort.Float64s(latencies)
	for _, q := range quantiles {
		r.LatencyMS[q.name] = quantile(latencies, q.q)
	}
	r.LatencyMS["max"] = latencies[len(latencies)-1]
	r.LatencyMS["mean"] = sum / float64(len(latencies))
	for outcome, ms := range byOutcome {
		sort.Float64s(ms)
		r.ByOutcome[outcome] = map[string]float64{
			"p50": quantile(ms, 0.5), "p99": quantile(ms, 0.99), "max": ms[len(ms)-1]}
	}
	return r
}

// quantile is the q-th quantile of sorted, by the nearest rank.
func quantile(sorted []float64, q float64) float64 {
	idx := int(q*float64(len(sorted))+0.5) - 1
	if idx < 0 {
		idx = 0
	}
	if idx >= len(sorted) {
		idx = len(sorted) - 1
	}
	return sorted[idx]
}

// Command gokitbench serves GET /books/{id} from an in-memory catalogue, the same
// work as bench/transport_servers.py, in one of two ways:
//
//	-mode gokit  Go kit 0.10: an endpoint wrapped in instrumenting (Prometheus),
//	             logging (one JSON line per call) and deadline middlewares,
//	             served by go-kit/kit/transport/http: kitcore's server chain in Go kit.
//	-mode bare   a plain net/http handler: the baseline.
//
// Built offline from Debian's packages in GOPATH mode (see scripts/bench.sh).
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/go-kit/kit/endpoint"
	"github.com/go-kit/kit/log"
	httptransport "github.com/go-kit/kit/transport/http"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Book is one catalogue entry, encoded as kitcore's book service encodes it.
type Book struct {
	ID     string `json:"id"`
	Title  string `json:"title"`
	Author string `json:"author"`
	Year   int    `json:"year"`
	Stock  int    `json:"stock"`
}

// BookReply is the response body of GET /books/{id}; the instance is named in
// the X-Served-By header, as kitcore's services name it.
type BookReply struct {
	Book Book `json:"book"`
}

var errNotFound = errors.New("no such book")

// catalogue holds the same 100 books as bench/catalogue.py.
func catalogue() map[string]Book {
	books := make(map[string]Book, 100)
	for i := 0; i < 100; i++ {
		id := fmt.Sprintf("book-%03d", i)
		books[id] = Book{id, fmt.Sprintf("Title %d", i), fmt.Sprintf("Author %d", i%10), 1900 + i, i}
	}
	return books
}

// makeGetBookEndpoint is the service method as a Go kit endpoint.
func makeGetBookEndpoint(books map[string]Book) endpoint.Endpoint {
	return func(ctx context.Context, request interface{}) (interface{}, error) {
		book, ok := books[request.(string)]
		if !ok {
			return nil, errNotFound
		}
		return BookReply{book}, nil
	}
}

// instrumenting counts, times and tracks in flight every call, as kitcore.metrics does.
func instrumenting(name string) endpoint.Middleware {
	requests := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "kit_requests_total", Help: "Endpoint calls by outcome.",
	}, []string{"service", "endpoint", "outcome"})
	duration := prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name: "kit_request_duration_seconds", Help: "Endpoint call latency.",
	}, []string{"service", "endpoint"})
	inFlight := prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "kit_requests_in_flight", Help: "Endpoint calls running now.",
	}, []string{"service", "endpoint"})
	prometheus.MustRegister(requests, duration, inFlight)
	return func(next endpoint.Endpoint) endpoint.Endpoint {
		return func(ctx context.Context, request interface{}) (interface{}, error) {
			started := time.Now()
			gauge := inFlight.WithLabelValues("bench", name)
			gauge.Inc()
			response, err := next(ctx, request)
			gauge.Dec()
			outcome := "ok"
			if err != nil {
				outcome = "error"
			}
			requests.WithLabelValues("bench", name, outcome).Inc()
			duration.WithLabelValues("bench", name).Observe(time.Since(started).Seconds())
			return response, err
		}
	}
}

// logging writes one JSON line per call, as kitcore.log.middleware does.
func logging(logger log.Logger, name string) endpoint.Middleware {
	return func(next endpoint.Endpoint) endpoint.Endpoint {
		return func(ctx context.Context, request interface{}) (interface{}, error) {
			started := time.Now()
			response, err := next(ctx, request)
			outcome := "ok"
			if err != nil {
				outcome = "error"
			}
			ms := float64(time.Since(started).Microseconds()) / 1000
			logger.Log("msg", "call", "endpoint", name, "outcome", outcome, "duration_ms", ms)
			return response, err
		}
	}
}

// deadline gives a call without a deadline one of `timeout`, as kitcore's deadline_middleware.
func deadline(timeout time.Duration) endpoint.Middleware {
	return func(next endpoint.Endpoint) endpoint.Endpoint {
		return func(ctx context.Context, request interface{}) (interface{}, error) {
			if _, ok := ctx.Deadline(); !ok {
				var cancel context.CancelFunc
				ctx, cancel = context.WithTimeout(ctx, timeout)
				defer cancel()
			}
			if err := ctx.Err(); err != nil {
				return nil, err
			}
			return next(ctx, request)
		}
	}
}

func decodeGetBook(_ context.Context, r *http.Request) (interface{}, error) {
	return strings.TrimPrefix(r.URL.Path, "/books/"), nil
}

func encodeJSON(_ context.Context, w http.ResponseWriter, response interface{}) error {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Served-By", "bench")
	return json.NewEncoder(w).Encode(response)
}

func encodeError(_ context.Context, err error, w http.ResponseWriter) {
	w.Header().Set("Content-Type", "application/json")
	status := http.StatusInternalServerError
	if err == errNotFound {
		status = http.StatusNotFound
	}
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(map[string]interface{}{
		"error": map[string]string{"code": "not_found", "message": err.Error()},
	})
}

// gokitHandler serves the catalogue through Go kit's endpoint and HTTP transport.
func gokitHandler(books map[string]Book) http.Handler {
	logger := log.NewJSONLogger(log.NewSyncWriter(os.Stderr))
	logger = log.With(logger, "ts", log.DefaultTimestampUTC, "service", "bench")
	getBook := endpoint.Chain(
		instrumenting("get_book"),   // count and time every call, failed ones too
		logging(logger, "get_book"), // one JSON line per call
		deadline(5*time.Second),     // a call without a deadline gets 5 s
	)(makeGetBookEndpoint(books))
	mux := http.NewServeMux()
	mux.Handle("/books/", httptransport.NewServer(getBook, decodeGetBook, encodeJSON,
		httptransport.ServerErrorEncoder(encodeError)))
	mux.Handle("/metrics", promhttp.Handler())
	return mux
}

// bareHandler serves the catalogue with net/http alone.
func bareHandler(books map[string]Book) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("/books/", func(w http.ResponseWriter, r *http.Request) {
		book, ok := books[strings.TrimPrefix(r.URL.Path, "/books/")]
		if !ok {
			encodeError(r.Context(), errNotFound, w)
			return
		}
		encodeJSON(r.Context(), w, BookReply{book})
	})
	return mux
}

func main() {
	mode := flag.String("mode", "gokit", "gokit or bare")
	addr := flag.String("addr", "127.0.0.1:8080", "listen address")
	flag.Parse()
	books := catalogue()
	var handler http.Handler
	switch *mode {
	case "gokit":
		handler = gokitHandler(books)
	case "bare":
		handler = bareHandler(books)
	default:
		fmt.Fprintf(os.Stderr, "unknown -mode %q (gokit or bare)\n", *mode)
		os.Exit(2)
	}
	if err := http.ListenAndServe(*addr, handler); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}

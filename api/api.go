// Package api is the node's HTTP JSON API: the tutorial's endpoints with
// their paths and response shapes, the node's own, and Prometheus metrics.
// It holds no chain logic: every handler calls package node.
//
// The tutorial's endpoints:
//
//	GET|POST /mine            200 {"message":"New Block Forged","index","transactions","proof","previous_hash","hash"}
//	POST /transactions/new    {"recipient","amount"[,"fee"][,"sender"]} sends from this node's wallet
//	                          ("sender", if given, must be its address; "nonce" is then ignored);
//	                          {"sender","recipient","amount","fee","nonce","signature"[,"id"]} submits
//	                          a transaction signed elsewhere.
//	                          201 {"message":"Transaction will be added to Block N","id"}, N = head index + 1
//	                          (a node-wallet transfer behind the wallet's parked ones says it waits)
//	GET /chain                200 {"chain":[blocks],"length":N}
//	POST /nodes/register      {"nodes":[...]}: multiaddrs ending in /p2p/<peer-id>, or another node's
//	                          API as http://host:port or host:port (its /status gives its multiaddrs).
//	                          201 {"message":"New nodes have been added","total_nodes":[peer ids],
//	                          "failed":[{"node","error"}] (only if some failed)}; 502 if none connected
//	GET|POST /nodes/resolve   200 {"message":"Our chain was replaced","new_chain":[blocks]} or
//	                          {"message":"Our chain is authoritative","chain":[blocks]} plus
//	                          "errors":[...] naming peers that could not be asked
//
// The node's own:
//
//	GET /status               {"peer_id","addrs","address","index","head","peers","mempool","parked",
//	                          "parked_acknowledged","difficulty",
//	                          "leading_zero_bits","mining","hashrate","genesis","network","work"};
//	                          difficulty is the head's compact bits (as each block's "difficulty"),
//	                          leading_zero_bits the same in the --difficulty flag's unit
//	GET /health               {"status":"ok","index":N}
//	GET /peers                {"peers":[{"id","addrs","index","head","score"}],"total":N}
//	GET /transactions/pending {"transactions":[...],"count":N}
//	GET /blocks/{id}          a block by main-chain index (decimal) or hash (64 hex), plus "main_chain"
//	GET /balance/{address}    {"address","balance","nonce"}; nonce is the next one, counting pending
//	POST /mining/start|stop   {"message","mining"}
//	GET /metrics              Prometheus text format (see Metrics)
//	GET /                     {"name","endpoints":[...]}
//
// Blocks are chain.BlockJSON, transactions chain.TxJSON. Every error is
// JSON, {"error": "..."}, with a status code chosen by errors.Is on the
// chain's sentinel errors:
//
//	400  a broken rule or bad input: bad JSON, missing fields, an amount that is
//	     not a positive integer (1.5, -3, "10", 0 and 1e3 are refused), a bad
//	     address, signature or nonce, insufficient balance, a malformed
//	     multiaddr, URL or block id, an unknown JSON field (named in the
//	     error: a misspelt "fees" must not mean fee 0)
//	401  no or a wrong "Authorization: Bearer <token>" where one is needed
//	403  refused by the guard: a Host, Origin or Sec-Fetch-Site of another site
//	404  an unknown block or path
//	405  a known path with the wrong method
//	409  a transaction that is already pending (chain.ErrKnownTx)
//	413  a request body over Options.MaxBodyBytes (64 KiB by default)
//	415  a POST body that is not Content-Type: application/json
//	502  /nodes/register could connect to none of the nodes given
//	503  the mempool is full and the fee too low to evict anything
//	     (chain.ErrMempoolFull), or the chain kept changing while read
//	504  mining or resolving took longer than its timeout
//	500  anything else
//
// # Who may call it
//
// The API moves the node's coins and mines, so no web page may drive it,
// and off loopback nobody without the token. A middleware (guard.go) checks
// every request before its handler:
//
//   - Host must be an IP address, localhost, the host of the listen address
//     or a name in Options.VHosts (--http-vhosts; "*" is any), else 403:
//     a page that rebinds its DNS name to the node (DNS rebinding) sends
//     that name.
//   - Origin, when a browser sends one, must be the node's own
//     (http://<Host>), else 403.
//   - Sec-Fetch-Site: cross-site or same-site (a browser's <img>, link or
//     form without Origin) is refused (403) on what changes the node:
//     GET /mine, /nodes/resolve and every POST.
//   - Off loopback (Options.ListenAddr), or whenever Options.Token is set,
//     everything but GET /health and GET /status needs
//     "Authorization: Bearer <token>" (401). Those two stay open for the
//     container health check and for another node's /nodes/register, which
//     asks /status without a token.
//   - A POST body must be Content-Type: application/json (415). A POST with
//     neither body nor Content-Type passes (curl -X POST .../mine); any
//     other Content-Type is refused. Browsers send text/plain and form posts
//     to other sites without asking first; application/json needs a CORS
//     preflight, and the API never answers one with CORS headers.
//
// Requests with neither Origin nor Sec-Fetch-* (curl, scripts) to a
// loopback address pass, so the tutorial's curl commands work unchanged.
package api

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/gossipchain/gossipchain/chain"
	"github.com/gossipchain/gossipchain/node"
)

// Options configure the API. Zero values take defaults.
type Options struct {
	Logger *slog.Logger
	// Metrics is what /metrics serves. Create it with NewMetrics before the
	// node (its Observe method goes in node.Config.Observe); New attaches
	// the node to it. Nil means New makes one, without the timings.
	Metrics *Metrics
	// MaxBodyBytes caps request bodies (413 above). Default 64 KiB.
	MaxBodyBytes int64
	// MineTimeout bounds GET/POST /mine; default 2 minutes.
	MineTimeout time.Duration
	// ResolveTimeout bounds GET /nodes/resolve; default 2 minutes.
	ResolveTimeout time.Duration
	// RegisterTimeout bounds POST /nodes/register; default 30 s.
	RegisterTimeout time.Duration
	// HTTPClient asks other nodes for their /status when /nodes/register is
	// given the tutorial's http://host:port form. Default: 5 s timeout.
	HTTPClient *http.Client
	// ChainPageSize is how many blocks /chain reads from the store at once.
	// Default 256.
	ChainPageSize int

	// ListenAddr is the address the API listens on, as given (--http).
	// Unless its host is "localhost" or a loopback IP, the API is public and
	// every endpoint but GET /health and GET /status needs Token; its host
	// is also a name the Host header may carry. Empty means loopback.
	ListenAddr string
	// VHosts are further names the Host header may carry besides IP
	// addresses and localhost (--http-vhosts); "*" allows any.
	VHosts []string
	// Token, if set, must come as "Authorization: Bearer <token>" on every
	// request but GET /health and GET /status, also on loopback. A public
	// ListenAddr without a Token refuses all those requests (401). A
	// browser may send it as the cookie TokenCookie instead (web.go).
	Token string

	// Web, if set, is the browser dashboard (package web), served behind
	// the same guard: everything under /web/, and GET / when the request
	// accepts text/html (curl keeps the JSON index).
	Web http.Handler
}

const (
	defaultMaxBody = 64 << 10
	// maxRegisterNodes caps the entries of one /nodes/register request.
	maxRegisterNodes = 64
)

func (o *Options) setDefaults() {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.MaxBodyBytes <= 0 {
		o.MaxBodyBytes = defaultMaxBody
	}
	if o.MineTimeout <= 0 {
		o.MineTimeout = 2 * time.Minute
	}
	if o.ResolveTimeout <= 0 {
		o.ResolveTimeout = 2 * time.Minute
	}
	if o.RegisterTimeout <= 0 {
		o.RegisterTimeout = 30 * time.Second
	}
	if o.HTTPClient == nil {
		// No redirects: the URL a caller gives /nodes/register is asked
		// once, and cannot bounce the request to another address.
		o.HTTPClient = &http.Client{Timeout: 5 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse
		}}
	}
	if o.ChainPageSize <= 0 {
		o.ChainPageSize = 256
	}
}

// WriteTimeout is the http.Server write timeout NewHTTPServer sets: longer
// than the default mine and resolve timeouts, so those end with a JSON error
// rather than a cut connection.
const WriteTimeout = 150 * time.Second

// NewHTTPServer wraps h in an http.Server with the API's timeouts and header
// limit. Serve it on a listener of your own (so that port 0 can be printed).
func NewHTTPServer(h http.Handler, logger *slog.Logger) *http.Server {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      WriteTimeout,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(logger.Handler(), slog.LevelWarn),
	}
}

type server struct {
	n       *node.Node
	opts    Options
	log     *slog.Logger
	mux     *http.ServeMux
	metrics *Metrics
	routes  []string
	guard   *guard

	// pendingURLs are registered http://host:port nodes being retried.
	pendingMu   sync.Mutex
	pendingURLs map[string]bool
}

// New returns the API's handler for n.
func New(n *node.Node, opts Options) http.Handler {
	opts.setDefaults()
	s := &server{n: n, opts: opts, log: opts.Logger, mux: http.NewServeMux(), metrics: opts.Metrics, guard: newGuard(&opts)}
	if s.metrics == nil {
		s.metrics = NewMetrics()
	}
	s.metrics.Attach(n)

	// The tutorial's endpoints.
	s.handle("GET /mine", s.handleMine)
	s.handle("POST /mine", s.handleMine)
	s.handle("POST /transactions/new", s.handleNewTx)
	s.handle("GET /chain", s.handleChain)
	s.handle("POST /nodes/register", s.handleRegister)
	s.handle("GET /nodes/resolve", s.handleResolve)
	s.handle("POST /nodes/resolve", s.handleResolve)
	// The node's own.
	s.handle("GET /status", s.handleStatus)
	s.handle("GET /health", s.handleHealth)
	s.handle("GET /peers", s.handlePeers)
	s.handle("GET /peers/banned", s.handleBanned) // bans.go
	s.handle("POST /peers/unban", s.handleUnban)
	s.handle("GET /transactions/pending", s.handlePending)
	s.handle("GET /blocks/{id}", s.handleBlock)
	s.handle("GET /balance/{address}", s.handleBalance)
	s.handle("POST /mining/start", s.handleMiningStart)
	s.handle("POST /mining/stop", s.handleMiningStop)
	s.mux.Handle("GET /metrics", s.metrics.Handler())
	s.routes = append(s.routes, "GET /metrics")
	s.handle("GET /{$}", s.handleIndex)
	if opts.Web != nil { // web.go
		s.mux.Handle("/web/", opts.Web)
		s.handle("GET /web/login", s.handleWebLogin)
		s.routes = append(s.routes, "GET /web/")
	}
	return s
}

func (s *server) handle(pattern string, h http.HandlerFunc) {
	s.mux.HandleFunc(pattern, h)
	s.routes = append(s.routes, pattern)
}

// ServeHTTP runs the guard (guard.go), limits the body, recovers panics,
// counts the request and turns the mux's own plain-text 404 and 405 replies
// into JSON.
func (s *server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	rec := &statusRecorder{ResponseWriter: w}
	_, pattern := s.mux.Handler(r)
	defer func() {
		if v := recover(); v != nil {
			if v == http.ErrAbortHandler {
				panic(v)
			}
			s.log.Error("api handler panic", "method", r.Method, "path", r.URL.Path, "panic", v)
			if !rec.wroteHeader {
				writeError(rec, http.StatusInternalServerError, "internal error")
			}
		}
		route := pattern
		if route == "" {
			route = "unmatched"
		}
		s.metrics.countRequest(route, rec.status())
		s.log.Debug("http request", "method", r.Method, "path", r.URL.Path, "status", rec.status(), "duration", time.Since(start))
	}()

	if code, msg := s.guard.check(r, pattern); code != 0 {
		if code == http.StatusUnauthorized && s.webLogin(rec, r) {
			return
		}
		if code == http.StatusUnauthorized {
			rec.Header().Set("WWW-Authenticate", `Bearer realm="gossipchain"`)
		}
		s.log.Debug("http request refused", "method", r.Method, "path", r.URL.Path, "host", r.Host, "origin", r.Header.Get("Origin"), "status", code, "reason", msg)
		writeError(rec, code, "%s", msg)
		return
	}
	if r.ContentLength > s.opts.MaxBodyBytes {
		writeError(rec, http.StatusRequestEntityTooLarge, "request body of %d bytes is over the limit of %d bytes", r.ContentLength, s.opts.MaxBodyBytes)
		return
	}
	if r.Body != nil {
		// The real writer, not the recorder: MaxBytesReader tells the
		// server to close the connection after an oversized body.
		r.Body = http.MaxBytesReader(w, r.Body, s.opts.MaxBodyBytes)
	}
	if pattern == "" {
		// No route: the mux answers 404, 405 (with Allow) or a redirect.
		s.mux.ServeHTTP(&jsonErrorWriter{statusRecorder: rec, method: r.Method, path: r.URL.Path}, r)
		return
	}
	s.mux.ServeHTTP(rec, r)
}

// statusRecorder remembers the status code written.
type statusRecorder struct {
	http.ResponseWriter
	code        int
	wroteHeader bool
}

func (w *statusRecorder) WriteHeader(code int) {
	if !w.wroteHeader {
		w.code, w.wroteHeader = code, true
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusRecorder) Write(b []byte) (int, error) {
	if !w.wroteHeader {
		w.WriteHeader(http.StatusOK)
	}
	return w.ResponseWriter.Write(b)
}

func (w *statusRecorder) status() int {
	if !w.wroteHeader {
		return http.StatusOK
	}
	return w.code
}

// Unwrap lets http.ResponseController reach the real writer.
func (w *statusRecorder) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// jsonErrorWriter replaces the body of an error reply written by the mux
// (text/plain "404 page not found", "Method Not Allowed") with JSON.
type jsonErrorWriter struct {
	*statusRecorder
	method, path string
	swallow      bool
}

func (w *jsonErrorWriter) WriteHeader(code int) {
	if code < 400 {
		w.statusRecorder.WriteHeader(code)
		return
	}
	w.swallow = true
	msg := fmt.Sprintf("%s: no such endpoint (GET / lists them)", w.path)
	if code == http.StatusMethodNotAllowed {
		msg = fmt.Sprintf("method %s not allowed on %s (allowed: %s)", w.method, w.path, w.Header().Get("Allow"))
	}
	writeError(w.statusRecorder, code, "%s", msg)
}

func (w *jsonErrorWriter) Write(b []byte) (int, error) {
	if w.swallow {
		return len(b), nil
	}
	return w.statusRecorder.Write(b)
}

// writeJSON writes v as the response body.
// HTML characters are not escaped: an error that says "<peer-id>" must
// read so in a terminal (the reply is application/json with nosniff, never
// rendered as HTML).
func writeJSON(w http.ResponseWriter, code int, v any) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	b := []byte(nil)
	if err := enc.Encode(v); err != nil {
		code, b = http.StatusInternalServerError, []byte(`{"error":"encoding the response failed"}`)
	} else {
		b = bytes.TrimSuffix(buf.Bytes(), []byte("\n"))
	}
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Del("Content-Length")
	h.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(code)
	w.Write(append(b, '\n'))
}

type errorBody struct {
	Error string `json:"error"`
}

// writeError writes {"error": msg}.
func writeError(w http.ResponseWriter, code int, format string, args ...any) {
	writeJSON(w, code, errorBody{Error: fmt.Sprintf(format, args...)})
}

// writeErr writes err with the code statusFor picks.
func writeErr(w http.ResponseWriter, err error) {
	writeError(w, statusFor(err), "%s", err.Error())
}

// ruleBreaks are the chain's sentinels for input that breaks a rule: the
// client's fault, 400.
var ruleBreaks = []error{
	chain.ErrMalformed, chain.ErrBadSignature, chain.ErrBadAmount, chain.ErrInsufficientBalance,
	chain.ErrBadNonce, chain.ErrBadAddress, chain.ErrBadCoinbase,
	chain.ErrBadPoW, chain.ErrBadDifficulty, chain.ErrUnknownParent, chain.ErrBadPrevHash,
	chain.ErrBadIndex, chain.ErrBadMerkleRoot, chain.ErrTimeTooNew, chain.ErrTimeTooOld,
	chain.ErrBlockTooBig, chain.ErrTooManyTxs, chain.ErrDuplicateTx, chain.ErrInvalidAncestor,
	chain.ErrBadGenesis,
	node.ErrNoPeerID, node.ErrBadMultiaddr,
	errBadRequest,
}

// statusFor maps an error to its HTTP status code.
func statusFor(err error) int {
	switch {
	case err == nil:
		return http.StatusOK
	case errors.Is(err, chain.ErrNotFound):
		return http.StatusNotFound
	case errors.Is(err, chain.ErrKnownTx):
		return http.StatusConflict
	case errors.Is(err, chain.ErrMempoolFull), errors.Is(err, errChainChanging), errors.Is(err, chain.ErrTxLogUnavailable):
		return http.StatusServiceUnavailable
	case errors.Is(err, context.DeadlineExceeded):
		return http.StatusGatewayTimeout
	}
	var mbe *http.MaxBytesError
	if errors.As(err, &mbe) {
		return http.StatusRequestEntityTooLarge
	}
	for _, e := range ruleBreaks {
		if errors.Is(err, e) {
			return http.StatusBadRequest
		}
	}
	return http.StatusInternalServerError
}

// errBadRequest marks input errors found by the API itself.
var errBadRequest = errors.New("bad request")

// badRequest is an input error with its message as is.
type badRequest struct{ msg string }

func (e *badRequest) Error() string { return e.msg }
func (e *badRequest) Is(target error) bool {
	return target == errBadRequest
}

func badf(format string, args ...any) error { return &badRequest{msg: fmt.Sprintf(format, args...)} }

// decodeBody reads one JSON object from the body into v. An unknown field
// is an error that names it (a misspelt "fees" must not mean fee 0), and so
// is trailing data after the object.
func decodeBody(r *http.Request, v any) (int, error) {
	code, err := decodeJSON(r, v)
	if err != nil && code == http.StatusBadRequest {
		err = fmt.Errorf("%w; %s", err, jsonHint(v))
	}
	return code, err
}

// bodyExamples are the smallest successful bodies, for jsonHint.
var bodyExamples = map[reflect.Type]string{
	reflect.TypeFor[newTxRequest]():    `{"recipient":"<64 hex characters>","amount":5}`,
	reflect.TypeFor[registerRequest](): `{"nodes":["http://127.0.0.1:5001"]}`,
}

// jsonHint says how to send a body that parses: a JSON object with
// Content-Type: application/json (not a form), with an example.
func jsonHint(v any) string {
	hint := "send a JSON object with Content-Type: application/json (not a form: curl -H 'Content-Type: application/json' -d '{…}')"
	if ex, ok := bodyExamples[reflect.TypeOf(v).Elem()]; ok {
		hint += ", e.g. " + ex
	}
	return hint
}

func decodeJSON(r *http.Request, v any) (int, error) {
	if r.Body == nil {
		return http.StatusBadRequest, errors.New("empty body: want a JSON object")
	}
	dec := json.NewDecoder(r.Body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		// encoding/json has no type for this error, only its text.
		if field, ok := strings.CutPrefix(err.Error(), "json: unknown field "); ok {
			return http.StatusBadRequest, fmt.Errorf("unknown field %s (this endpoint takes %s)", field, strings.Join(jsonFields(v), ", "))
		}
		var mbe *http.MaxBytesError
		switch {
		case errors.As(err, &mbe):
			return http.StatusRequestEntityTooLarge, fmt.Errorf("request body over the limit of %d bytes", mbe.Limit)
		case errors.Is(err, io.EOF):
			return http.StatusBadRequest, errors.New("empty body: want a JSON object")
		}
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) {
			if te.Field != "" {
				return http.StatusBadRequest, fmt.Errorf("bad JSON: field %q: want %s, got %s", te.Field, jsonKind(te.Type.Kind().String()), te.Value)
			}
			return http.StatusBadRequest, fmt.Errorf("bad JSON: want an object, got %s", te.Value)
		}
		return http.StatusBadRequest, fmt.Errorf("bad JSON: %v", err)
	}
	var extra json.RawMessage
	switch err := dec.Decode(&extra); {
	case errors.Is(err, io.EOF):
		return 0, nil
	case err == nil:
		return http.StatusBadRequest, errors.New("bad JSON: data after the object")
	default:
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return http.StatusRequestEntityTooLarge, fmt.Errorf("request body over the limit of %d bytes", mbe.Limit)
		}
		return http.StatusBadRequest, fmt.Errorf("bad JSON after the object: %v", err)
	}
}

// jsonFields lists the JSON names of the fields of the struct v points to.
func jsonFields(v any) []string {
	t := reflect.TypeOf(v)
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t.Kind() != reflect.Struct {
		return nil
	}
	var out []string
	for f := range t.Fields() {
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if name == "-" || !f.IsExported() {
			continue
		}
		if name == "" {
			name = f.Name
		}
		out = append(out, strconv.Quote(name))
	}
	return out
}

func jsonKind(goKind string) string {
	switch {
	case goKind == "string":
		return "a string"
	case goKind == "slice":
		return "an array"
	case goKind == "struct", goKind == "map":
		return "an object"
	case strings.HasPrefix(goKind, "int"), strings.HasPrefix(goKind, "uint"), strings.HasPrefix(goKind, "float"):
		return "a number"
	case goKind == "bool":
		return "a boolean"
	}
	return goKind
}

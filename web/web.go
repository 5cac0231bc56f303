// Package web is the node's dashboard and block explorer: one page that
// shows the node, its peers, its mempool, the recent block tree and the
// whole network (from the stats beacons), updated live by server-sent
// events, plus server-rendered pages for a block, a transaction and an
// address. Everything it serves is embedded: no CDN, no build step.
//
// The handler is mounted inside the HTTP API (api.Options.Web), so the
// API's guard checks every request first: Host (DNS rebinding), Origin
// (same-origin only), Sec-Fetch-Site on POSTs, the token off loopback, and
// Content-Type: application/json on POSTs. The page's actions (mine, start
// and stop mining, send) also need the X-CSRF-Token header carrying a
// per-process random token that only the page itself can read.
//
// Routes (under the API's address):
//
//	GET /              the dashboard, when the request accepts text/html (the API negotiates)
//	GET /web/          the dashboard
//	GET /web/block/{id}     a block by hash or main-chain index
//	GET /web/tx/{id}        a transaction (mempool, or the last ScanBlocks blocks)
//	GET /web/address/{addr} balance, nonce and transactions (the last ScanBlocks blocks)
//	GET /web/snapshot  the dashboard's data, JSON
//	GET /web/events    server-sent events: "snapshot" (the same JSON) on every change, coalesced
//	GET /web/static/{file}  app.js, style.css
//	POST /web/action/mine      mine one block
//	POST /web/action/mining    {"on": bool}
//	POST /web/action/send      {"recipient", "amount", "fee"}
package web

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"embed"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/gossipchain/gossipchain/chain"
	"github.com/gossipchain/gossipchain/node"
)

//go:embed assets
var assets embed.FS

// CSRFHeader is the header the page's POSTs carry the token in.
const CSRFHeader = "X-CSRF-Token"

// Options configure the handler.
type Options struct {
	Logger *slog.Logger
	// ScanBlocks bounds how many recent main-chain blocks the tx and
	// address pages read; default 1000.
	ScanBlocks int
	// TreeDepth is how many recent heights the block tree shows; default 24.
	TreeDepth int
	// MineTimeout bounds "mine one block"; default 2 minutes.
	MineTimeout time.Duration
	// MinPush is the least time between two pushes to the dashboards;
	// default 250 ms.
	MinPush time.Duration
}

// Handler serves the dashboard. Close ends its event streams.
type Handler struct {
	n     *node.Node
	opts  Options
	log   *slog.Logger
	csrf  string
	mux   *http.ServeMux
	hub   *hub
	pages *template.Template
}

// New returns the web handler for n and starts its event hub.
func New(n *node.Node, opts Options) *Handler {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.ScanBlocks <= 0 {
		opts.ScanBlocks = 1000
	}
	if opts.TreeDepth <= 0 {
		opts.TreeDepth = 24
	}
	if opts.MineTimeout <= 0 {
		opts.MineTimeout = 2 * time.Minute
	}
	if opts.MinPush <= 0 {
		opts.MinPush = 250 * time.Millisecond
	}
	var b [32]byte
	rand.Read(b[:])
	h := &Handler{n: n, opts: opts, log: opts.Logger, csrf: hex.EncodeToString(b[:]), mux: http.NewServeMux()}
	h.pages = template.Must(template.New("").Funcs(funcs).ParseFS(assets, "assets/*.html"))
	h.hub = newHub(h)
	h.mux.HandleFunc("GET /{$}", h.dashboard)
	h.mux.HandleFunc("GET /web/{$}", h.dashboard)
	h.mux.HandleFunc("GET /web/block/{id}", h.blockPage)
	h.mux.HandleFunc("GET /web/tx/{id}", h.txPage)
	h.mux.HandleFunc("GET /web/address/{addr}", h.addressPage)
	h.mux.HandleFunc("GET /web/snapshot", h.snapshotJSON)
	h.mux.HandleFunc("GET /web/events", h.hub.serve)
	static, _ := fs.Sub(assets, "assets")
	h.mux.Handle("GET /web/static/", http.StripPrefix("/web/static/", staticServer(static)))
	h.mux.HandleFunc("POST /web/action/mine", h.action(h.mineOne))
	h.mux.HandleFunc("POST /web/action/mining", h.action(h.setMining))
	h.mux.HandleFunc("POST /web/action/send", h.action(h.send))
	return h
}

// Close ends every open event stream (call it before shutting the HTTP
// server down, or register it with RegisterOnShutdown).
func (h *Handler) Close() { h.hub.close() }

// CSRFToken is the token the page embeds (for tests).
func (h *Handler) CSRFToken() string { return h.csrf }

func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	hd := w.Header()
	// The page runs only its own scripts and styles, and is never framed.
	hd.Set("Content-Security-Policy", "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'")
	hd.Set("X-Frame-Options", "DENY")
	hd.Set("X-Content-Type-Options", "nosniff")
	hd.Set("Referrer-Policy", "no-referrer")
	h.mux.ServeHTTP(w, r)
}

func staticServer(fsys fs.FS) http.Handler {
	files := http.FileServerFS(fsys)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasSuffix(r.URL.Path, ".html") || r.URL.Path == "" || strings.HasSuffix(r.URL.Path, "/") {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Cache-Control", "no-cache")
		files.ServeHTTP(w, r)
	})
}

func (h *Handler) dashboard(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Vary", "Accept")
	h.render(w, http.StatusOK, "dashboard.html", map[string]any{"CSRF": h.csrf, "Title": "gossipchain node"})
}

func (h *Handler) render(w http.ResponseWriter, code int, name string, data any) {
	var sb strings.Builder
	if err := h.pages.ExecuteTemplate(&sb, name, data); err != nil {
		h.log.Error("web template", "page", name, "err", err)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(code)
	w.Write([]byte(sb.String()))
}

func (h *Handler) notFound(w http.ResponseWriter, what string) {
	h.render(w, http.StatusNotFound, "notfound.html", map[string]any{"Title": "not found", "What": what})
}

// action wraps a POST handler: the CSRF header must carry the page's token.
func (h *Handler) action(f func(ctx context.Context, r *http.Request) (any, int, error)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if subtle.ConstantTimeCompare([]byte(r.Header.Get(CSRFHeader)), []byte(h.csrf)) != 1 {
			writeJSON(w, http.StatusForbidden, map[string]string{"error": "missing or wrong " + CSRFHeader + " header: actions come from this node's own page"})
			return
		}
		v, code, err := f(r.Context(), r)
		if err != nil {
			writeJSON(w, code, map[string]string{"error": err.Error()})
			return
		}
		writeJSON(w, code, v)
	}
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		code, b = http.StatusInternalServerError, []byte(`{"error":"encoding failed"}`)
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	w.Write(append(b, '\n'))
}

func (h *Handler) mineOne(ctx context.Context, _ *http.Request) (any, int, error) {
	ctx, cancel := context.WithTimeout(ctx, h.opts.MineTimeout)
	defer cancel()
	b, err := h.n.MineBlock(ctx)
	if err != nil {
		code := http.StatusInternalServerError
		if errors.Is(err, context.DeadlineExceeded) {
			code = http.StatusGatewayTimeout
		}
		return nil, code, err
	}
	return map[string]any{"index": b.Index, "hash": b.Hash().String()}, http.StatusOK, nil
}

func (h *Handler) setMining(_ context.Context, r *http.Request) (any, int, error) {
	var req struct {
		On *bool `json:"on"`
	}
	if err := decode(r, &req); err != nil || req.On == nil {
		return nil, http.StatusBadRequest, errors.New(`want {"on": true|false}`)
	}
	if *req.On {
		h.n.StartMining()
	} else {
		h.n.StopMining()
	}
	return map[string]any{"mining": h.n.Mining()}, http.StatusOK, nil
}

func (h *Handler) send(ctx context.Context, r *http.Request) (any, int, error) {
	var req struct {
		Recipient string `json:"recipient"`
		Amount    uint64 `json:"amount"`
		Fee       uint64 `json:"fee"`
	}
	if err := decode(r, &req); err != nil {
		return nil, http.StatusBadRequest, err
	}
	to, err := chain.ParseAddress(strings.TrimSpace(req.Recipient))
	if err != nil {
		return nil, http.StatusBadRequest, fmt.Errorf("recipient: %w", err)
	}
	if req.Amount == 0 {
		return nil, http.StatusBadRequest, errors.New("amount: must be a positive integer")
	}
	tx, err := h.n.Send(ctx, to, req.Amount, req.Fee)
	if err != nil {
		code := http.StatusBadRequest
		if errors.Is(err, chain.ErrMempoolFull) {
			code = http.StatusServiceUnavailable
		}
		return nil, code, err
	}
	return map[string]any{"id": tx.ID().String(), "nonce": tx.Nonce}, http.StatusCreated, nil
}

func decode(r *http.Request, v any) error {
	dec := json.NewDecoder(http.MaxBytesReader(nil, r.Body, 4096))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return fmt.Errorf("bad JSON: %w", err)
	}
	return nil
}

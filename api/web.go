package api

import (
	"crypto/subtle"
	"mime"
	"net/http"
	"net/url"
	"strings"
)

// The browser dashboard (package web) is mounted in the API's mux, so the
// guard checks it like any route: Host, Origin, Sec-Fetch-Site on POSTs,
// Content-Type on POSTs, and the token where one is needed. A browser
// cannot add an Authorization header to a navigation, so it may carry the
// token in the cookie TokenCookie instead, which the page at GET
// /web/login sets (SameSite=Strict: other sites' requests never carry it;
// and their Origin is refused anyway).

// TokenCookie is the cookie a browser may send the API token in.
const TokenCookie = "gossipchain_token"

const loginPage = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>gossipchain: token</title>
<meta name="viewport" content="width=device-width, initial-scale=1"></head>
<body style="font:15px system-ui,sans-serif;max-width:40em;margin:3em auto;padding:0 1em">
<h1>This node's API needs its token</h1>
<p>The node listens off loopback. Paste its token (<code>--http-token</code>, or the
<code>.cookie</code> file in its data directory); it is kept in a cookie for this site only.</p>
<form id="f"><input id="t" type="password" size="70" autofocus> <button>Open the dashboard</button></form>
<script>
document.getElementById("f").addEventListener("submit", function (e) {
  e.preventDefault();
  document.cookie = "gossipchain_token=" + encodeURIComponent(document.getElementById("t").value.trim()) + "; path=/; SameSite=Strict";
  location.href = "/web/";
});
</script>
</body></html>
`

// wantsHTML reports whether a request prefers an HTML page: a browser's
// navigation (Accept: text/html), not curl (*/*) or a JSON client.
func wantsHTML(r *http.Request) bool {
	for _, part := range strings.Split(r.Header.Get("Accept"), ",") {
		mt, _, err := mime.ParseMediaType(strings.TrimSpace(part))
		if err == nil && (mt == "text/html" || mt == "application/xhtml+xml") {
			return true
		}
	}
	return false
}

// webLogin answers what the guard refused for want of the token, when a
// browser asked for a page: the token form (GET /web/login is open) or a
// redirect to it. It reports whether it answered.
func (s *server) webLogin(w http.ResponseWriter, r *http.Request) bool {
	if s.opts.Web == nil || r.Method != http.MethodGet || !wantsHTML(r) {
		return false
	}
	http.Redirect(w, r, "/web/login", http.StatusSeeOther)
	return true
}

// cookieOK reports whether the request carries the token as TokenCookie.
func (g *guard) cookieOK(r *http.Request) bool {
	c, err := r.Cookie(TokenCookie)
	if err != nil || g.token == nil {
		return false
	}
	v, err := url.QueryUnescape(c.Value)
	if err != nil {
		return false
	}
	return subtle.ConstantTimeCompare([]byte(v), g.token) == 1
}

func (s *server) handleWebLogin(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Cache-Control", "no-store")
	w.Write([]byte(loginPage))
}

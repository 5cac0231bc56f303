// gossipchain dashboard: renders the node's snapshot and follows its
// server-sent events. No framework, no external code.
"use strict";
(function () {
  const $ = (id) => document.getElementById(id);
  const csrf = document.querySelector('meta[name="csrf-token"]').content;
  const SVG = "http://www.w3.org/2000/svg";
  let snap = null;
  let prevMain = null; // hashes on the main chain in the last render
  let clockSkew = 0; // server now - our now

  function el(tag, attrs, ...kids) {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (k === "class") e.className = v; else if (k === "text") e.textContent = v; else e.setAttribute(k, v);
    }
    for (const k of kids) e.append(k);
    return e;
  }
  function sel(tag, attrs) {
    const e = document.createElementNS(SVG, tag);
    for (const [k, v] of Object.entries(attrs || {})) e.setAttribute(k, v);
    return e;
  }
  const short = (h) => (h && h.length > 16 ? h.slice(0, 8) + "…" + h.slice(-6) : h || "");
  const link = (href, text, cls) => el("a", { href, class: cls || "mono", text });
  function ago(msTime) {
    if (!msTime) return "–";
    const s = Math.max(0, (Date.now() + clockSkew - msTime) / 1000);
    if (s < 60) return s.toFixed(0) + " s";
    if (s < 3600) return (s / 60).toFixed(0) + " min";
    if (s < 86400) return (s / 3600).toFixed(1) + " h";
    return (s / 86400).toFixed(1) + " d";
  }
  function rate(h) {
    if (!h) return "0 H/s";
    const u = ["H/s", "kH/s", "MH/s", "GH/s"];
    let i = 0;
    while (h >= 1000 && i < u.length - 1) { h /= 1000; i++; }
    return h.toFixed(h < 10 ? 2 : 1) + " " + u[i];
  }
  function fill(tbody, rows) {
    tbody.replaceChildren(...rows);
  }
  function td(content, cls) {
    const c = el("td", cls ? { class: cls } : {});
    c.append(content === undefined || content === null ? "" : content);
    return c;
  }
  const peerName = (id) => (id === "local" ? "this node" : short(id));

  function renderHead(s) {
    const h = s.head;
    const idx = $("head-index");
    if (idx.textContent !== String(h.index)) {
      idx.textContent = String(h.index);
      idx.classList.remove("flash"); void idx.offsetWidth; idx.classList.add("flash");
    }
    const hh = $("head-hash");
    hh.textContent = short(h.hash); hh.href = "/web/block/" + h.hash; hh.title = h.hash;
    $("head-age").textContent = ago(h.time);
    $("head-diff").textContent = h.difficulty + " bits";
    $("head-rate").textContent = rate(h.hashrate);
    $("head-peers").textContent = String(h.peers);
    $("head-mempool").textContent = String(h.mempool);
    $("head-mining").textContent = h.mining ? "on" : "off";
    $("btn-mining").textContent = h.mining ? "Stop mining" : "Start mining";
    $("node-id").textContent = s.node.id + " · " + s.node.network + (s.node.beacon ? "" : " · beacon off");
    const w = $("wallet"); w.textContent = s.node.address; w.href = "/web/address/" + s.node.address;
  }

  let knownBlocks = new Set();
  function renderBlocks(s) {
    const rows = (s.blocks || []).map((b) => {
      const tr = el("tr", { "data-hash": b.hash });
      if (knownBlocks.size && !knownBlocks.has(b.hash)) tr.className = "new";
      tr.append(td(String(b.index)), td(link("/web/block/" + b.hash, short(b.hash), "mono block-link")), td(String(b.txs), "num"),
        td(link("/web/address/" + b.miner, short(b.miner))), td(b.source ? peerName(b.source) : "–", "mono"), td(ago(b.time), "num"));
      return tr;
    });
    knownBlocks = new Set((s.blocks || []).map((b) => b.hash));
    fill($("blocks"), rows);
  }

  function renderNetwork(s) {
    fill($("network"), (s.network || []).map((n) => {
      const tr = el("tr", { class: n.self ? "self" : "", "data-peer": n.id });
      tr.append(td(short(n.id) + (n.self ? " (this node)" : ""), "mono"),
        td(link("/web/block/" + n.hash, "#" + n.index + " " + n.hash.slice(0, 6)), "num"),
        td(n.self ? "–" : n.same_head ? "0" : String(n.lag), "num"), td(String(n.peers), "num"),
        td(rate(n.hashrate), "num"), td(n.mining ? "on" : "off"));
      return tr;
    }));
    const hist = $("hist");
    const bins = s.propagation || [];
    const max = Math.max(1, ...bins.map((b) => b.count));
    const bw = 400 / Math.max(1, bins.length);
    const kids = [sel("line", { x1: 0, y1: 110, x2: 400, y2: 110, class: "axis" })];
    bins.forEach((b, i) => {
      const hgt = (b.count / max) * 95;
      const r = sel("rect", { x: i * bw + 4, y: 110 - hgt, width: bw - 8, height: hgt });
      const t = sel("title"); t.textContent = b.label + ": " + b.count; r.append(t);
      const lab = sel("text", { x: i * bw + bw / 2, y: 123 }); lab.textContent = b.label;
      kids.push(r, lab);
      if (b.count) { const c = sel("text", { x: i * bw + bw / 2, y: 106 - hgt }); c.textContent = String(b.count); kids.push(c); }
    });
    hist.replaceChildren(...kids);
    $("prop-n").textContent = "(" + (s.propagation_samples || 0) + " arrivals reported by other nodes, delay after the first report)";
  }

  function renderPeers(s) {
    fill($("peers"), (s.peers || []).map((p) => {
      const tr = el("tr");
      tr.append(td(short(p.id), "mono"), td((p.addrs || [])[0] || "", "mono small"), td(p.direction), td(p.found_by),
        td(p.latency_ms ? p.latency_ms.toFixed(1) + " ms" : "–", "num"),
        td(p.head ? link("/web/block/" + p.head, "#" + p.index) : "–", "num"), td(ago(p.since), "num"));
      return tr;
    }));
    const bans = s.bans || [];
    fill($("bans"), bans.length ? bans.map((b) => {
      const tr = el("tr");
      tr.append(td(short(b.peer), "mono"), td(b.reason), td("until " + new Date(b.until).toLocaleString()));
      return tr;
    }) : [el("tr", {}, td("none", "muted"))]);
  }

  function renderMempool(s) {
    $("mempool-n").textContent = "(" + s.mempool_count + " pending, best fee first)";
    fill($("mempool"), (s.mempool || []).map((t) => {
      const tr = el("tr");
      tr.append(td(link("/web/tx/" + t.id, short(t.id))), td(link("/web/address/" + t.from, short(t.from))),
        td(link("/web/address/" + t.to, short(t.to))), td(String(t.amount), "num"), td(String(t.fee), "num"));
      return tr;
    }));
  }

  // The block tree: one column per height, the main chain on the top row,
  // each side branch on a row of its own. Nodes are keyed by hash and move
  // (CSS transition) when a reorg swaps rows.
  const CW = 62, RH = 34, BW = 50, BH = 22, PAD = 8;
  const gs = new Map(); // hash -> <g>
  function layoutTree(nodes) {
    const byHash = new Map(nodes.map((n) => [n.hash, n]));
    const minIdx = nodes.length ? nodes[0].index : 0;
    const row = new Map();
    const rowEnd = [Infinity]; // row -> last index used
    for (const n of nodes) {
      if (n.main) { row.set(n.hash, 0); continue; }
      const p = byHash.get(n.parent);
      let r = -1;
      if (p && !p.main && row.has(p.hash) && rowEnd[row.get(p.hash)] === p.index) r = row.get(p.hash);
      if (r < 0) {
        for (let i = 1; i < rowEnd.length; i++) if (rowEnd[i] < n.index - 1) { r = i; break; }
        if (r < 0) { r = rowEnd.length; rowEnd.push(0); }
      }
      row.set(n.hash, r);
      rowEnd[r] = n.index;
    }
    return { byHash, row, minIdx, rows: rowEnd.length };
  }
  function renderTree(s) {
    const nodes = s.tree || [];
    const svg = $("tree");
    const { byHash, row, minIdx, rows } = layoutTree(nodes);
    const pos = (n) => [PAD + (n.index - minIdx) * CW, PAD + row.get(n.hash) * RH];
    const maxIdx = nodes.length ? nodes[nodes.length - 1].index : minIdx;
    svg.setAttribute("width", PAD * 2 + (maxIdx - minIdx + 1) * CW);
    svg.setAttribute("height", PAD * 2 + Math.max(1, rows) * RH);
    const mainNow = new Set(nodes.filter((n) => n.main).map((n) => n.hash));
    const lost = new Set(), won = new Set();
    if (prevMain) {
      for (const h of prevMain) if (!mainNow.has(h) && byHash.has(h)) lost.add(h);
      if (lost.size) for (const h of mainNow) if (!prevMain.has(h)) won.add(h);
    }
    prevMain = mainNow;
    // Edges first, under the blocks.
    let edges = svg.querySelector("g.edges");
    if (!edges) { edges = sel("g", { class: "edges" }); svg.prepend(edges); }
    const lines = [];
    for (const n of nodes) {
      const [x, y] = pos(n);
      const p = byHash.get(n.parent);
      if (p) {
        const [px, py] = pos(p);
        lines.push(sel("path", { d: `M${px + BW} ${py + BH / 2} C${px + BW + 8} ${py + BH / 2} ${x - 8} ${y + BH / 2} ${x} ${y + BH / 2}`, class: "edge" + (n.main ? " main" : "") }));
      } else if (n.index > minIdx || n.orphan) {
        lines.push(sel("path", { d: `M${x - 10} ${y + BH / 2} L${x} ${y + BH / 2}`, class: "edge missing" }));
      }
    }
    edges.replaceChildren(...lines);
    const keep = new Set();
    const head = s.head.hash;
    for (const n of nodes) {
      keep.add(n.hash);
      let g = gs.get(n.hash);
      if (!g) {
        g = sel("g", { "data-hash": n.hash });
        const r = sel("rect", { width: BW, height: BH, rx: 4 });
        const t = sel("text", { x: BW / 2, y: 9 }); t.textContent = "#" + n.index;
        const t2 = sel("text", { x: BW / 2, y: 19 }); t2.textContent = n.hash.slice(0, 6);
        const title = sel("title");
        g.append(r, t, t2, title);
        g.addEventListener("click", () => { location.href = "/web/block/" + n.hash; });
        const [x, y] = pos(n);
        g.style.transform = `translate(${x}px, ${y}px)`;
        svg.append(g);
        gs.set(n.hash, g);
      }
      const [x, y] = pos(n);
      g.style.transform = `translate(${x}px, ${y}px)`;
      const cls = ["blk", n.main ? "main" : n.orphan ? "orphan" : "side"];
      if (n.invalid) cls.push("invalid");
      if (n.hash === head) cls.push("head");
      if (lost.has(n.hash)) cls.push("lost");
      if (won.has(n.hash)) cls.push("won");
      g.setAttribute("class", cls.join(" "));
      g.querySelector("title").textContent = `#${n.index} ${n.hash}\n${n.main ? "main chain" : n.orphan ? "orphan (parent unknown)" : n.invalid ? "invalid" : "side branch"}${n.source ? "\nfrom " + peerName(n.source) : ""}`;
    }
    for (const [h, g] of gs) if (!keep.has(h)) { g.remove(); gs.delete(h); }
    const r = s.last_reorg;
    const banner = $("reorg-banner");
    if (r) {
      banner.hidden = false;
      banner.textContent = `Reorg at ${new Date(r.at).toLocaleTimeString()}: ${r.disconnected} block(s) left the main chain, ${r.connected} joined it (head #${r.index}, from ${peerName(r.source)}). The branch with the most work wins.`;
      if (lost.size) { banner.classList.remove("flash"); void banner.offsetWidth; banner.classList.add("flash"); }
    }
  }

  function render(s) {
    if (snap && s.now) clockSkew = s.now - Date.now();
    snap = s;
    renderHead(s);
    renderBlocks(s);
    renderTree(s);
    renderNetwork(s);
    renderPeers(s);
    renderMempool(s);
    document.body.dataset.headIndex = String(s.head.index);
    if (!window.firstRenderMs) window.firstRenderMs = performance.now(); // for the benchmark
  }

  async function post(path, body) {
    const res = await fetch(path, { method: "POST", headers: { "Content-Type": "application/json", "X-CSRF-Token": csrf }, body: JSON.stringify(body || {}), credentials: "same-origin" });
    const data = await res.json().catch(() => ({ error: "bad reply" }));
    if (!res.ok) throw new Error(data.error || res.statusText);
    return data;
  }
  function busy(btn, msgEl, p, ok) {
    btn.disabled = true;
    msgEl.textContent = "…";
    p.then((d) => { msgEl.textContent = ok(d); }).catch((e) => { msgEl.textContent = "error: " + e.message; })
      .finally(() => { btn.disabled = false; });
  }

  function connect() {
    const es = new EventSource("/web/events");
    es.addEventListener("snapshot", (ev) => {
      $("live").textContent = "live"; $("live").className = "tag ok";
      render(JSON.parse(ev.data));
    });
    es.onerror = () => { $("live").textContent = "reconnecting…"; $("live").className = "tag warn"; };
  }

  document.addEventListener("DOMContentLoaded", () => {
    $("btn-mine-one").addEventListener("click", (e) => busy(e.target, $("action-msg"), post("/web/action/mine"), (d) => "mined #" + d.index));
    $("btn-mining").addEventListener("click", (e) => busy(e.target, $("action-msg"), post("/web/action/mining", { on: !(snap && snap.head.mining) }), (d) => "mining " + (d.mining ? "on" : "off")));
    $("send-form").addEventListener("submit", (e) => {
      e.preventDefault();
      const body = { recipient: $("send-to").value.trim(), amount: Number($("send-amount").value), fee: Number($("send-fee").value || 0) };
      busy($("send-btn"), $("send-msg"), post("/web/action/send", body), (d) => "sent: " + short(d.id));
    });
    connect();
    // Ages tick without the server.
    setInterval(() => { if (snap) { $("head-age").textContent = ago(snap.head.time); } }, 1000);
  });
})();

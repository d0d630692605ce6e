"use strict";
// The cluster's nodes, for a page whose node is gone (集群): it moves to a live node. Used by
// the console, the dispatch console and the wall kiosk.
// GET /api/v1/nodes names every node with the base URL of its API (`http`); a page keeps the
// last list it read, so that once its own node stops answering it can still pick another.
// A single server lists only itself, and a page never moves.
window.mediacoreCluster = (() => {
  let nodes = [];

  // Read the nodes again; true when this page's node answered.
  async function learn(token) {
    try {
      const response = await fetch("/api/v1/nodes", { headers: { Authorization: "Bearer " + token } });
      if (response.ok) { nodes = await response.json(); return true; }
    } catch (error) { /* this node is gone: keep the nodes known before */ }
    return false;
  }

  // The base URL of a live node other than this page's that answers now; null when none does,
  // or when this page's node still answers (a dropped socket or a restarting worker: stay).
  async function elsewhere(token) {
    if (await learn(token)) return null;
    for (const node of nodes) {
      if (!node.http || node.state !== "up" || new URL(node.http).origin === location.origin) continue;
      try {
        // Another origin: the answer is opaque, but it comes only from a node that is there.
        await fetch(new URL("/api/v1/health", node.http), { mode: "no-cors", cache: "no-store" });
        return node.http;
      } catch (error) { /* down too: try the next */ }
    }
    return null;
  }

  // Open this page on `base` with the same path and query, `token` (one token serves the whole
  // cluster) and `extra` parameters.
  function moveTo(base, token, extra) {
    const url = new URL(location.pathname + location.search, base);
    url.searchParams.set("token", token);
    for (const [key, value] of Object.entries(extra || {})) url.searchParams.set(key, value);
    location.assign(url.toString());
  }

  // Once this page's node has stopped answering: open the page on a live node (true), with
  // `extra` parameters (what to join again there); false while it answers or none is up.
  async function follow(token, extra) {
    const base = await elsewhere(token);
    if (base) moveTo(base, token, extra);
    return Boolean(base);
  }

  return { learn, elsewhere, moveTo, follow, get nodes() { return nodes; } };
})();

// The consoles' GB/T 28181 positions panel (位置): where body cams, drones and cameras are, drawn
// offline (no map tiles: a command centre may have no internet) as an SVG scatter of longitude
// and latitude scaled to the points' bounding box, with a short trail per moving device and
// the latest device alarms (报警) listed under it. Kept apart from the page's own script: it
// reads only the token field, and talks to the server by itself: GET /api/v1/gb28181/devices
// (catalog locations and latest positions), then gb.position and gb.alarm events from the
// event WebSocket.
"use strict";
(() => {
  const TRAIL = 30;          // positions kept per device for its trail
  const ALARM_HOT_MS = 60000; // a device alarmed this recently is drawn red
  const ALARMS_SHOWN = 5;
  const W = 300, H = 220, PAD = 28;
  const map = { points: new Map(), alarms: [], connected: false };
  window.mediacoreGbMap = map;  // the browser tests read it

  const style = document.createElement("style");
  style.textContent = `
    #gbmap svg { width: 100%; height: auto; background: #0b0f13; border-radius: 4px; display: block; }
    #gbmap .grid { stroke: #2a3643; stroke-width: 1; }
    #gbmap .tick { fill: #8d9aa7; font-size: 9px; }
    #gbmap .label { fill: #e8e8e8; font-size: 10px; }
    #gbmap .fixed { fill: #8d9aa7; }
    #gbmap .moving { fill: #4f8fd6; }
    #gbmap .alarmed { fill: #ff3b3b; }
    #gbmap .trail { fill: none; stroke: #4f8fd6; stroke-opacity: .5; }
    #gbmap ul { font-size: 12px; margin-top: 6px; }
    #gbmap li.alarm { color: #ff7b7b; }`;
  document.head.append(style);
  const panel = document.createElement("div");
  panel.id = "gbmap";
  panel.innerHTML = `<h2 style="margin-top:14px">Positions / 位置</h2>
    <svg viewBox="0 0 ${W} ${H}" role="img" aria-label="device positions"></svg><ul></ul>`;
  const anchor = document.getElementById("log");
  (anchor ? anchor.parentElement : document.body).append(panel);
  const svg = panel.querySelector("svg");
  const list = panel.querySelector("ul");

  const token = () => ((document.getElementById("token") || {}).value || "").trim();
  const text = (value) => String(value).replace(/[&<>"]/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;" })[c]);

  function place(key, label, lon, lat, moving, at) {
    if (typeof lon !== "number" || typeof lat !== "number") return;
    const point = map.points.get(key) || { label, trail: [], moving: false, alarmAt: 0 };
    point.label = label || point.label;
    point.lon = lon; point.lat = lat; point.at = at || point.at;
    point.moving = point.moving || moving;
    const last = point.trail[point.trail.length - 1];
    const moved = !last || last[0] !== lon || last[1] !== lat;  // the list and an event may repeat a fix
    if (moving && moved) { point.trail.push([lon, lat]); if (point.trail.length > TRAIL) point.trail.shift(); }
    map.points.set(key, point);
  }

  // -- drawing --------------------------------------------------------------------------------

  function bounds(points) {
    const lons = [], lats = [];
    for (const p of points) { lons.push(p.lon); lats.push(p.lat); for (const [x, y] of p.trail) { lons.push(x); lats.push(y); } }
    const [west, east, south, north] = [Math.min(...lons), Math.max(...lons), Math.min(...lats), Math.max(...lats)];
    // a degree of longitude is cos(latitude) of one of latitude: keep the shape true, and
    // fill the plot's aspect, with a margin round the points
    const squash = Math.cos(((south + north) / 2) * Math.PI / 180) || 1;
    const aspect = (W - 2 * PAD) / (H - 2 * PAD);
    const across = Math.max((east - west) * squash, (north - south) * aspect, 0.0005) * 1.15;
    const spanLon = across / squash, spanLat = across / aspect;
    const midLon = (west + east) / 2, midLat = (south + north) / 2;
    return { west: midLon - spanLon / 2, east: midLon + spanLon / 2, south: midLat - spanLat / 2, north: midLat + spanLat / 2 };
  }

  function draw() {
    const points = [...map.points.values()];
    const now = Date.now();
    if (!points.length) {
      svg.innerHTML = `<text class="tick" x="${W / 2}" y="${H / 2}" text-anchor="middle">no positions yet / 暂无位置</text>`;
      return;
    }
    const box = bounds(points);
    const x = (lon) => PAD + (lon - box.west) / (box.east - box.west) * (W - 2 * PAD);
    const y = (lat) => H - PAD - (lat - box.south) / (box.north - box.south) * (H - 2 * PAD);
    const parts = [];
    for (let i = 0; i <= 4; i++) {
      const lon = box.west + (box.east - box.west) * i / 4, lat = box.south + (box.north - box.south) * i / 4;
      parts.push(`<line class="grid" x1="${x(lon)}" y1="${PAD}" x2="${x(lon)}" y2="${H - PAD}"/>`,
        `<line class="grid" x1="${PAD}" y1="${y(lat)}" x2="${W - PAD}" y2="${y(lat)}"/>`);
      if (i % 2 === 0) {
        parts.push(`<text class="tick" x="${x(lon)}" y="${H - 8}" text-anchor="middle">${lon.toFixed(4)}</text>`,
          `<text class="tick" x="2" y="${y(lat) - 2}">${lat.toFixed(4)}</text>`);
      }
    }
    for (const p of points) {
      if (p.trail.length > 1) {
        parts.push(`<polyline class="trail" points="${p.trail.map(([lon, lat]) => `${x(lon).toFixed(1)},${y(lat).toFixed(1)}`).join(" ")}"/>`);
      }
      const kind = now - p.alarmAt < ALARM_HOT_MS ? "alarmed" : (p.moving ? "moving" : "fixed");
      const cx = x(p.lon).toFixed(1), cy = y(p.lat).toFixed(1);
      parts.push(p.moving || kind === "alarmed"
        ? `<circle class="${kind}" cx="${cx}" cy="${cy}" r="4"><title>${text(p.label)} ${p.lon}, ${p.lat}</title></circle>`
        : `<rect class="${kind}" x="${cx - 3}" y="${cy - 3}" width="6" height="6"><title>${text(p.label)}</title></rect>`,
        `<text class="label" x="${Number(cx) + 6}" y="${Number(cy) - 5}">${text(p.label)}</text>`);
    }
    svg.innerHTML = parts.join("");
    list.innerHTML = map.alarms.slice(-ALARMS_SHOWN).reverse().map((a) =>
      `<li class="alarm">⚠ ${text(a.time || "")} ${text(a.label)}: ${text(a.description || "alarm / 报警")} (P${text(a.priority ?? "?")})</li>`).join("");
  }

  // -- data -----------------------------------------------------------------------------------

  async function load() {
    if (!token()) return;
    const response = await fetch("/api/v1/gb28181/devices", { headers: { Authorization: "Bearer " + token() } });
    if (!response.ok) return;
    for (const device of await response.json()) {
      for (const channel of device.channels || []) {
        place(`${device.id}/${channel.id}`, channel.name || channel.id.slice(-4), channel.longitude, channel.latitude, false);
        if (channel.position) place(`${device.id}/${channel.id}`, channel.name, channel.position.longitude, channel.position.latitude, true);
      }
      if (device.position) position({ device: device.id, ...device.position }, device.name);
      if (device.alarm) alarm({ device: device.id, ...device.alarm }, device.name);
    }
    draw();
  }

  function keyOf(event) {
    return event.channel && event.channel !== event.device ? `${event.device}/${event.channel}` : event.device;
  }

  function position(event, name) {
    const known = map.points.get(keyOf(event));
    place(keyOf(event), name || (known && known.label) || event.device.slice(-6), event.longitude, event.latitude, true, event.time);
  }

  function alarm(event, name) {
    const key = keyOf(event);
    const known = map.points.get(key) || map.points.get(event.device);
    const label = name || (known && known.label) || event.device.slice(-6);
    map.alarms.push({ ...event, label });
    if (map.alarms.length > 50) map.alarms.shift();
    if (typeof event.longitude === "number") place(key, label, event.longitude, event.latitude, false);
    const point = map.points.get(key) || known;
    if (point) point.alarmAt = Date.now();
  }

  let socket = null, socketToken = null, refused = false;
  function connect() {
    if ((socket || refused) && socketToken === token()) return;
    refused = false;
    if (socket) { socket.onclose = null; socket.close(); socket = null; map.connected = false; }
    socketToken = token();
    if (!socketToken) return;
    const scheme = location.protocol === "https:" ? "wss" : "ws";
    socket = new WebSocket(`${scheme}://${location.host}/api/v1/events?token=${encodeURIComponent(socketToken)}`);
    socket.onopen = () => { map.connected = true; load(); };
    socket.onmessage = (message) => {
      const event = JSON.parse(message.data);
      if (event.type === "gb.position") { position(event); draw(); }
      else if (event.type === "gb.alarm") { alarm(event); draw(); }
      else if (event.type === "gb.catalog") load();
    };
    socket.onclose = (event) => {
      map.connected = false; socket = null;
      refused = event.code === 4401 || event.code === 4403;
    };
  }
  setInterval(connect, 1000);  // a new login (or the socket closed): connect again
  setInterval(draw, 5000);     // alarms cool down
  connect();
  draw();
})();

// The dispatch console (调度台): a dispatcher's seat in one room (WebRTC), every other room
// beside it with monitor (监听) and select (选中) toggles, level meters and a per-room PTT, the
// roster with one-click call, whisper, cut and drag-to-move, broadcast, calls, plans and text
// messages. It talks to the server only through the HTTP API and the event WebSocket; the
// alarms module (/console/alarms.js) adds the emergency banner, its sound and button.
"use strict";
(() => {
  const $ = (id) => document.getElementById(id);
  const params = new URLSearchParams(location.search);
  const rawAudio = params.get("raw_audio") === "1";  // tests measure tones: no voice processing
  // Moved here from a node that died (cluster.js): take the seat again in its room. The
  // token and the move's parameters stay out of the address shown.
  let rejoin = params.get("rejoin") === "1" ? params.get("room") : null;
  if (["token", "rejoin", "name"].some((key) => params.has(key))) {
    const shown = new URL(location.href);
    for (const key of ["token", "rejoin", "name"]) shown.searchParams.delete(key);
    history.replaceState(null, "", shown);
  }
  const state = {
    room: null, me: null, rooms: [], rosters: {}, focus: null, monitor: {}, selected: new Set(),
    pttHeld: false, roomPtt: null, broadcast: null, whispers: {}, calls: [], ws: null, pc: null,
    stream: null, wanted: false, muted: false, events: null, bannerKey: null, applied: "",
    lost: 0,  // event stream drops in a row: its node may be gone
  };
  window.mediacoreConsole = state;  // the alarms module and the browser tests read it

  // -- talking to the server ------------------------------------------------------------------

  const token = () => $("token").value.trim();
  function banner(text, kind, key) {
    $("banner").textContent = text || "";
    $("banner").className = text ? "show " + (kind || "") : "";
    state.bannerKey = text ? (key || "message") : null;
  }
  function log(text) {
    const line = document.createElement("div");
    line.textContent = new Date().toISOString().slice(11, 19) + "  " + text;
    $("log").prepend(line);
    while ($("log").childNodes.length > 200) $("log").lastChild.remove();
  }
  async function api(method, path, body) {
    const response = await fetch(path, { method, headers: { Authorization: "Bearer " + token(),
      ...(body ? { "Content-Type": "application/json" } : {}) }, body: body ? JSON.stringify(body) : undefined });
    if (response.status === 204) return null;
    const data = await response.json().catch(() => ({}));
    if (!response.ok) {
      const error = new Error(data.detail || `${response.status} ${response.statusText}`);
      error.status = response.status; throw error;
    }
    return data;
  }
  async function act(what, action) {
    try { const result = await action(); refreshSoon(); return result; }
    catch (error) { banner(`${what}: ${error.message}`); return null; }
  }
  const roomPath = (room) => `/api/v1/rooms/${encodeURIComponent(room)}`;

  // -- logging in -----------------------------------------------------------------------------

  async function login() {
    const user = $("user").value.trim(), password = $("password").value;
    if (user && password) {
      const response = await fetch("/api/v1/login", { method: "POST",
        headers: { "Content-Type": "application/json" }, body: JSON.stringify({ user, password }) });
      const data = await response.json().catch(() => ({}));
      if (!response.ok) { banner("Login failed / 登录失败: " + (data.detail || response.status)); return; }
      $("password").value = ""; $("token").value = data.token;
      sessionStorage.setItem("mediacore-session", JSON.stringify(data));
    }
    sessionStorage.setItem("mediacore-token", token());
    try {
      await loadRooms();
      banner(); $("status").textContent = "online / 在线";
      const session = JSON.parse(sessionStorage.getItem("mediacore-session") || "null");
      $("who").textContent = session && token() === session.token ? `${session.name || session.user} · ${session.role}` : "";
      $("logout").hidden = !$("who").textContent;
      listen(); refreshSide();
      mediacoreCluster.learn(token());
    } catch (error) { banner("Login failed / 登录失败: " + error.message); }
  }
  async function logout() {
    leave();
    try { await api("POST", "/api/v1/logout"); } catch (error) { /* ended already */ }
    $("token").value = ""; sessionStorage.removeItem("mediacore-token"); sessionStorage.removeItem("mediacore-session");
    location.reload();
  }

  // -- rooms: cards with monitor, select, gain, PTT, meters; drop targets for moves ------------

  async function loadRooms() {
    state.rooms = await api("GET", "/api/v1/rooms");
    const names = state.rooms.map((r) => r.name);
    if (!state.focus || !names.includes(state.focus)) state.focus = state.room || names[0] || null;
    const chosen = $("home").value || state.room || params.get("room") || "";
    $("home").replaceChildren(...names.map((n) => new Option(n, n, false, n === chosen)));
    $("join").disabled = !names.length || Boolean(state.me);
    renderCards();
    // The seat's room comes back once a survivor has reopened it (listed again).
    if (rejoin && names.includes(rejoin) && !state.wanted) {
      $("home").value = rejoin; rejoin = null; join();
    }
  }

  const cards = new Map();
  function renderCards() {
    const seen = new Set();
    state.rooms.forEach((room, index) => {
      seen.add(room.name);
      if (!cards.has(room.name)) cards.set(room.name, makeCard(room.name));
      const card = cards.get(room.name);
      updateCard(card, room);
      if ($("rooms").children[index] !== card.el) $("rooms").insertBefore(card.el, $("rooms").children[index] || null);
    });
    for (const [name, card] of cards) if (!seen.has(name)) { card.el.remove(); cards.delete(name); }
  }
  function makeCard(name) {
    const el = document.createElement("div");
    el.className = "card"; el.dataset.room = name;
    const title = document.createElement("div"); title.className = "title";
    const dot = document.createElement("span"); dot.className = "dot";
    const label = document.createElement("b");
    const count = document.createElement("span"); count.className = "kind";
    const meter = document.createElement("span"); meter.className = "meter";
    const bar = document.createElement("i"); meter.append(bar);
    title.append(dot, label, count, meter);
    title.onclick = () => { state.focus = name; renderCards(); renderRoster(); };
    const tools = document.createElement("div"); tools.className = "tools";
    const monitor = button("Monitor / 监听", "monitor", () => toggleMonitor(name));
    const gain = document.createElement("input");
    gain.type = "range"; gain.min = -20; gain.max = 6; gain.step = 1; gain.value = 0; gain.title = "monitor gain / 监听音量 (dB)";
    gain.onchange = () => { if (name in state.monitor) { state.monitor[name] = Number(gain.value); applyRelays(); } };
    const select = button("Select / 选中", "select", () => {
      if (state.selected.has(name)) state.selected.delete(name); else state.selected.add(name);
      renderCards();
    });
    const ptt = button("PTT / 对讲", "ptt", null);
    ptt.onmousedown = () => roomPtt(name, true);
    ptt.onmouseup = ptt.onmouseleave = () => roomPtt(name, false);
    tools.append(monitor, gain, select, ptt);
    el.append(title, tools);
    el.ondragover = (event) => { event.preventDefault(); el.classList.add("drop"); };
    el.ondragleave = () => el.classList.remove("drop");
    el.ondrop = (event) => {
      event.preventDefault(); el.classList.remove("drop");
      const moved = JSON.parse(event.dataTransfer.getData("application/json") || "{}");
      if (moved.id && moved.room !== name) move(moved.room, moved.id, name);
    };
    return { el, dot, label, count, bar, monitor, gain, select, ptt };
  }
  function updateCard(card, room) {
    const roster = state.rosters[room.name] || [];
    const people = roster.filter((p) => p.kind !== "monitor");
    const loudest = people.reduce((top, p) => Math.max(top, p.talking ? p.level_db : -127), -127);
    card.el.classList.toggle("focus", room.name === state.focus);
    card.el.classList.toggle("home", room.name === state.room && Boolean(state.me));
    card.label.textContent = room.name;
    card.count.textContent = String(roster.length ? people.length : room.participants);
    card.dot.className = "dot" + (people.some((p) => p.talking) ? " talking" : "");
    card.bar.style.width = Math.max(0, Math.min(100, (loudest + 60) * 100 / 60)) + "%";
    const home = room.name === state.room && Boolean(state.me);
    card.monitor.classList.toggle("on", room.name in state.monitor);
    card.monitor.disabled = home || !state.me;
    card.select.classList.toggle("on", state.selected.has(room.name));
    card.select.disabled = home || !state.me;
    card.ptt.disabled = home || !state.me;
    card.ptt.classList.toggle("held", state.roomPtt === room.name);
  }
  function button(label, className, onclick) {
    const b = document.createElement("button");
    b.textContent = label; b.className = className || "";
    if (onclick) b.onclick = onclick;
    return b;
  }

  // Monitor, select and PTT become one PATCH of the seat: the rooms it hears (at their gains)
  // and the rooms it talks into right now (the selected ones while PTT is held, or one room
  // while its own PTT is held).
  function toggleMonitor(name) {
    if (name in state.monitor) delete state.monitor[name];
    else state.monitor[name] = Number(cards.get(name).gain.value);
    applyRelays(); renderCards();
  }
  function transmitting() {
    if (state.roomPtt) return [state.roomPtt];
    return state.pttHeld ? [...state.selected].filter((r) => r !== state.room) : [];
  }
  async function applyRelays() {
    if (!state.me || !state.room) return;
    const body = {
      monitor: Object.entries(state.monitor).map(([room, gain]) => ({ room, gain_db: gain })),
      transmit: transmitting(),
    };
    const key = JSON.stringify(body);
    if (key === state.applied) return;
    state.applied = key;
    await act("Monitor / 监听", () => api("PATCH", `${roomPath(state.room)}/participants/${state.me}`, body));
  }
  function roomPtt(name, press) {
    if (!state.me || name === state.room) return;
    if (press) state.roomPtt = name; else if (state.roomPtt === name) state.roomPtt = null; else return;
    renderCards(); applyRelays();
  }
  function ptt(press) {
    if (!state.me || press === state.pttHeld) return;
    state.pttHeld = press;
    $("ptt").classList.toggle("held", press);
    if (state.ws) state.ws.send(JSON.stringify({ type: "ptt", action: press ? "press" : "release" }));
    applyRelays();
  }

  // -- the roster of the room in focus: call, whisper, cut, drag to move ------------------------

  const rows = new Map();
  function renderRoster() {
    const room = state.focus;
    $("focustitle").textContent = room ? `Roster / 成员: ${room}` : "Roster / 成员";
    const roster = state.rosters[room] || [];
    const seen = new Set();
    roster.forEach((p, index) => {
      seen.add(p.id);
      if (!rows.has(p.id)) rows.set(p.id, makeRow(p.id));
      const row = rows.get(p.id);
      row.room = room; updateRow(row, p);
      if ($("roster").children[index] !== row.tr) $("roster").insertBefore(row.tr, $("roster").children[index] || null);
    });
    for (const [id, row] of rows) if (!seen.has(id)) { row.tr.remove(); rows.delete(id); }
    $("dial").disabled = !room; $("call").disabled = !state.me;
  }
  function makeRow(id) {
    const row = { tr: document.createElement("tr"), p: null, room: null };
    row.tr.dataset.id = id; row.tr.draggable = true;
    row.tr.ondragstart = (event) => {
      event.dataTransfer.setData("application/json", JSON.stringify({ id, room: row.room }));
    };
    row.dot = document.createElement("span");
    row.name = document.createElement("span");
    row.kind = document.createElement("span"); row.kind.className = "kind";
    const meter = document.createElement("span"); meter.className = "meter";
    row.bar = document.createElement("i"); meter.append(row.bar);
    const actions = document.createElement("td"); actions.className = "actions";
    row.call = button("Call / 单呼", "call", () => callWith(id));
    row.whisper = button("Whisper / 耳语", "whisper", () => toggleWhisper(id));
    row.cut = button("Cut / 强拆", "cut", () => act("Cut / 强拆", () => api("DELETE", `${roomPath(row.room)}/participants/${id}`)));
    row.park = button("Park / 驻留", "park", () => act("Park / 驻留", () => api("POST", `${roomPath(row.room)}/participants/${id}/park`)));
    actions.append(row.call, row.whisper, row.park, row.cut);
    for (const cell of [row.dot, row.name, row.kind, meter]) {
      const td = document.createElement("td"); td.append(cell); row.tr.append(td);
    }
    row.tr.append(actions);
    return row;
  }
  function updateRow(row, p) {
    row.p = p;
    row.dot.className = "dot" + (p.talking ? " talking" : "");
    row.name.textContent = p.name + (p.id === state.me ? " (me / 我)" : "");
    row.kind.textContent = p.kind + (p.duplex === "half" ? " · PTT" : "") + (p.monitor_of ? " · " + p.monitor_from : "");
    row.bar.style.width = Math.max(0, Math.min(100, (p.level_db + 60) * 100 / 60)) + "%";
    row.tr.className = p.has_floor ? "floor" : "";
    const mine = p.id === state.me;
    row.call.disabled = !state.me || mine || p.kind === "monitor";
    row.whisper.disabled = !state.me || mine || row.room !== state.room;
    row.whisper.classList.toggle("on", Boolean(state.whispers[p.id]));
    row.cut.disabled = mine;
    row.park.disabled = mine || p.kind === "monitor" || p.held;
  }
  async function callWith(party) {
    const call = await act("Call / 单呼", () => api("POST", "/api/v1/calls", { a: state.me, b: party }));
    if (call) log(`call ${call.id} in ${call.room}`);
  }
  async function toggleWhisper(id) {
    const wid = state.whispers[id];
    if (wid) {
      delete state.whispers[id];
      await act("Whisper / 耳语", () => api("DELETE", `${roomPath(state.room)}/whispers/${wid}`));
    } else {
      const made = await act("Whisper / 耳语", () => api("POST", `${roomPath(state.room)}/whispers`, { from: state.me, to: [id] }));
      if (made) state.whispers[id] = made.id;
    }
    renderRoster();
  }
  async function move(from, id, to) {
    const done = await act("Move / 调度", () => api("POST", `${roomPath(from)}/participants/${id}/move`, { to }));
    if (done !== null) log(`moved ${id}: ${from} → ${to}`);
  }

  // -- broadcast, calls, plans, messages ------------------------------------------------------

  async function broadcast(rooms) {
    if (state.broadcast) {
      const id = state.broadcast; state.broadcast = null;
      await act("Broadcast / 广播", () => api("DELETE", `/api/v1/broadcasts/${id}`));
    } else {
      const started = await act("Broadcast / 广播", () => api("POST", "/api/v1/broadcasts", { participant: state.me, rooms }));
      if (started) state.broadcast = started.id;
    }
    $("broadcast").classList.toggle("on", Boolean(state.broadcast));
    $("broadcast").textContent = state.broadcast ? "Stop broadcast / 停止广播" : "Broadcast to selected / 向选中房间广播";
  }
  function items(list, entries, render) {
    $(list).replaceChildren(...entries.map((entry) => {
      const li = document.createElement("li"); li.className = "item";
      render(entry, li); return li;
    }));
  }
  function text(li, value, grow) {
    const span = document.createElement("span"); span.textContent = value;
    if (grow) span.className = "grow";
    li.append(span);
  }
  async function refreshSide() {
    if (!token()) return;
    const [calls, plans, messages, parked] = await Promise.all([
      api("GET", "/api/v1/calls/private").catch(() => []),  // GET /calls: the SIP dialogs
      api("GET", "/api/v1/groups").catch(() => []),
      api("GET", "/api/v1/messages?limit=20").catch(() => []),
      api("GET", "/api/v1/parked").catch(() => []),
    ]);
    items("queue", Array.isArray(parked) ? parked : [], (waiting, li) => {
      const since = Math.round((Date.now() - Date.parse(waiting.parked_at)) / 1000);
      text(li, `${waiting.name} · ${waiting.from} · ${since} s`, true);
      li.append(button("Pick up / 接起", "pickup", () => act("Pick up / 接起",
        () => api("POST", `/api/v1/parked/${waiting.id}/pickup`, { room: state.room || waiting.from }))));
    });
    state.calls = (Array.isArray(calls) ? calls : []).filter((call) => call.state !== "ended");
    items("calls", state.calls, (call, li) => {
      const parties = (call.parties || []).map((p) => `${p.name || p.party || p.participant || "?"} (${p.state || ""})`).join(" ↔ ");
      text(li, `${call.room}: ${parties}`, true);
      li.append(button(call.room in state.monitor ? "Unlisten / 停听" : "Listen / 监听", "", () => toggleMonitor(call.room)),
                 button("Barge / 强插", "", () => act("Barge / 强插", () => api("POST", `/api/v1/calls/${call.id}/barge`, { participant: state.me }))),
                 button("End / 强拆", "", () => act("End / 强拆", () => api("DELETE", `/api/v1/calls/${call.id}`))));
    });
    items("plans", Array.isArray(plans) ? plans : [], (plan, li) => {
      text(li, `${plan.name} (${(plan.members || []).length})`, true);
      li.append(button("Dial into room / 一键拉会", "", () => act("Plan / 预案",
        () => api("POST", `${roomPath(state.focus)}/dial`, { group: plan.name }))));
    });
    const list = Array.isArray(messages) ? messages : (messages.messages || []);
    items("messages", list.slice(-20).reverse(), (m, li) => {  // the newest first
      const way = m.direction === "out" ? `→ ${m.to}` : `${m.from_name || m.from} →`;
      text(li, `${way} ${m.text}`, true);
      if (m.status) text(li, m.status);
    });
    $("msgsend").disabled = false;
  }

  // -- polling rosters, and the event stream of every room ------------------------------------

  let soon = null;
  function refreshSoon() { if (!soon) soon = setTimeout(() => { soon = null; pollRosters(); refreshSide(); }, 150); }
  async function pollRosters() {
    if (!token() || !state.rooms.length) return;
    const shown = state.rooms.slice(0, 40).map((r) => r.name);
    await Promise.all(shown.map(async (name) => {
      try { state.rosters[name] = await api("GET", `${roomPath(name)}/participants`); }
      catch (error) { delete state.rosters[name]; }
    }));
    renderCards(); renderRoster();
  }
  function listen() {
    if (state.events) return;
    const scheme = location.protocol === "https:" ? "wss" : "ws";
    const ws = new WebSocket(`${scheme}://${location.host}/api/v1/events?token=${encodeURIComponent(token())}`);
    state.events = ws;
    ws.onmessage = (message) => {
      const event = JSON.parse(message.data);
      if (event.type === "talking") return;
      if (/^(room|call|dial|message|broadcast|whisper|participant\.held|participant\.resumed)\b/.test(event.type)) { loadRooms().catch(() => {}); refreshSide(); }
      if (event.type === "participant.left" && event.participant === state.me && event.reason === "moved") {
        state.room = event.to;  // barged into a call, or moved by a colleague: the seat follows
        delete state.monitor[event.to]; state.selected.delete(event.to); state.applied = "";
        renderCards();
      }
      const who = (event.participant && event.participant.name) || event.name || event.party || event.participant || "";
      log(`${event.room || ""} ${event.type} ${typeof who === "string" ? who : ""} ${event.reason || event.state || ""}`);
    };
    ws.onopen = () => { state.lost = 0; };
    ws.onclose = () => {
      state.events = null;
      // Its node still gone after two tries: another live node of the cluster serves every room.
      if (++state.lost >= 2) {
        const seat = state.wanted ? { room: state.room, rejoin: "1", name: $("myname").value } : {};
        mediacoreCluster.follow(token(), seat);
      }
      setTimeout(() => { if (token()) listen(); }, 2000);
    };
  }

  // -- the seat: WebRTC in the home room -------------------------------------------------------

  async function join() {
    state.room = $("home").value;
    localStorage.setItem("mediacore-name", $("myname").value);
    try {
      state.stream = await navigator.mediaDevices.getUserMedia({
        audio: { echoCancellation: !rawAudio, noiseSuppression: !rawAudio, autoGainControl: !rawAudio } });
    } catch (error) { banner("No microphone / 无法打开麦克风: " + error.message); return; }
    state.wanted = true; connect();
  }
  function connect() {
    const scheme = location.protocol === "https:" ? "wss" : "ws";
    const ws = new WebSocket(`${scheme}://${location.host}${roomPath(state.room)}/webrtc?token=${encodeURIComponent(token())}`);
    state.ws = ws;
    ws.onopen = async () => {
      const pc = new RTCPeerConnection({ iceServers: [] });
      state.pc = pc;
      for (const track of state.stream.getTracks()) pc.addTrack(track, state.stream);
      pc.ontrack = (event) => {
        let audio = $("remote-audio");
        if (!audio) { audio = document.createElement("audio"); audio.id = "remote-audio"; audio.autoplay = true; document.body.append(audio); }
        audio.srcObject = event.streams[0] || new MediaStream([event.track]);
      };
      await pc.setLocalDescription(await pc.createOffer());
      await new Promise((resolve) => {
        if (pc.iceGatheringState === "complete") { resolve(); return; }
        pc.addEventListener("icegatheringstatechange", () => { if (pc.iceGatheringState === "complete") resolve(); });
        setTimeout(resolve, 3000);
      });
      ws.send(JSON.stringify({ type: "join", name: $("myname").value.trim() || undefined, offer: pc.localDescription.sdp }));
    };
    ws.onmessage = async (message) => {
      const data = JSON.parse(message.data);
      if (data.type === "joined") {
        state.me = data.participant; state.applied = "";
        await state.pc.setRemoteDescription({ type: "answer", sdp: data.answer });
        seated(true); applyRelays(); log("joined " + state.room + " as " + data.participant);
      } else if (data.type === "offer") {
        await state.pc.setRemoteDescription({ type: "offer", sdp: data.sdp });
        await state.pc.setLocalDescription(await state.pc.createAnswer());
        ws.send(JSON.stringify({ type: "answer", sdp: state.pc.localDescription.sdp }));
      } else if (data.type === "error") banner(`${data.code}: ${data.detail}`);
      else if (data.type === "left" && data.participant === state.me) { leave(); }
    };
    ws.onclose = () => {
      if (state.pc) state.pc.close();
      state.pc = null; state.me = null; seated(false);
      if (state.wanted) setTimeout(() => { if (state.wanted) connect(); }, 2000);  // the worker restarted
    };
  }
  function leave() {
    state.wanted = false;
    if (state.ws) { try { state.ws.send(JSON.stringify({ type: "leave" })); } catch (e) { /* closed */ } state.ws.close(); }
    state.ws = null; state.me = null;
    if (state.stream) state.stream.getTracks().forEach((t) => t.stop());
    state.stream = null; state.monitor = {}; state.selected.clear(); state.whispers = {}; seated(false);
  }
  function seated(joined) {
    $("join").disabled = joined; $("leave").disabled = !joined; $("mutebtn").disabled = !joined;
    $("ptt").disabled = !joined; $("broadcast").disabled = !joined; $("broadcastall").disabled = !joined;
    $("me").textContent = joined ? `${state.room} · ${state.me}` : "";
    $("status").textContent = joined ? "on duty / 值守中" : (token() ? "online / 在线" : "offline / 离线");
    renderCards(); renderRoster();
  }

  // -- wiring ----------------------------------------------------------------------------------

  $("token").value = params.get("token") || sessionStorage.getItem("mediacore-token") || "";
  $("myname").value = params.get("name") || localStorage.getItem("mediacore-name") || "";
  $("loginform").onsubmit = (event) => { event.preventDefault(); login(); };
  $("logout").onclick = logout;
  $("join").onclick = join;
  $("leave").onclick = leave;
  $("mutebtn").onclick = () => {
    state.muted = !state.muted;
    if (state.stream) state.stream.getAudioTracks().forEach((t) => { t.enabled = !state.muted; });
    if (state.ws) state.ws.send(JSON.stringify({ type: "mute", muted: state.muted }));
    $("mutebtn").classList.toggle("on", state.muted);
  };
  $("broadcast").onclick = () => broadcast([...state.selected]);
  $("broadcastall").onclick = () => broadcast("all");
  $("call").onclick = () => callWith($("dialparty").value.trim());
  $("dial").onclick = () => act("Dial / 呼叫", () => api("POST", `${roomPath(state.focus)}/dial`,
    { uri: $("dialparty").value.trim(), name: $("dialparty").value.trim() }));
  $("msgsend").onclick = () => act("Message / 短信", () => api("POST", "/api/v1/messages",
    { to: $("msgto").value.trim(), text: $("msgtext").value }));
  $("ptt").onmousedown = () => ptt(true);
  $("ptt").onmouseup = $("ptt").onmouseleave = () => ptt(false);
  const typing = (e) => e.target.matches("input, textarea, select, [contenteditable]");
  document.addEventListener("keydown", (e) => { if (e.code === "Space" && !typing(e)) { e.preventDefault(); if (!e.repeat) ptt(true); } });
  document.addEventListener("keyup", (e) => { if (e.code === "Space" && !typing(e)) { e.preventDefault(); ptt(false); } });
  setInterval(pollRosters, 1000);
  setInterval(() => { if (token()) loadRooms().catch(() => {}); }, 5000);
  setInterval(refreshSide, 5000);
  if (token()) login();
})();

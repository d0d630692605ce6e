// The console's emergency alarms: a red banner and an alarm sound for every active alarm of
// any room until a dispatcher acknowledges it, and an emergency button. Kept apart from the
// console page's own script: it reads only the token field and window.mediacoreConsole (the
// room selected, the participant joined), and talks to the server by itself:
// GET /api/v1/alarms, the event WebSocket of all rooms, POST /api/v1/alarms/{id}/ack.
"use strict";
(() => {
  const POLL_MS = 5000;      // the list is read again this often, besides every alarm event
  const BEEP_EVERY_MS = 1000;
  const alarms = { active: [], beeps: 0, connected: false, error: null };
  window.mediacoreAlarms = alarms;  // the browser tests read it

  const style = document.createElement("style");
  style.textContent = `
    #alarms { position: sticky; top: 0; z-index: 10; }
    #alarms .alarm { display: flex; gap: 10px; align-items: center; padding: 8px 14px;
      background: #b3171d; color: #fff; font-weight: 600; border-bottom: 1px solid #ff7b7b;
      animation: alarm-blink 1s steps(2, start) infinite; }
    #alarms .alarm span { flex: 1; }
    #alarms .alarm button { background: #fff; color: #b3171d; font-weight: 700; }
    @keyframes alarm-blink { 50% { background: #7d0f14; } }
    #emergency { width: 100%; padding: 10px; margin-top: 6px; background: #7d0f14; font-weight: 700; }
    #emergency.held { background: #ff3b3b; color: #111; }`;
  document.head.append(style);
  const list = document.createElement("div");
  list.id = "alarms";
  document.querySelector("header").after(list);

  const token = () => (document.getElementById("token").value || "").trim();
  const consoleState = () => window.mediacoreConsole || {};

  async function call(method, path, body) {
    const response = await fetch(path, { method, headers: { Authorization: "Bearer " + token(),
      ...(body ? { "Content-Type": "application/json" } : {}) }, body: body ? JSON.stringify(body) : undefined });
    const data = await response.json().catch(() => ({}));
    if (!response.ok) { const error = new Error(data.detail || String(response.status)); error.status = response.status; throw error; }
    return data;
  }

  // -- the banner -----------------------------------------------------------------------------

  async function refresh() {
    if (!token()) { show([]); return; }
    try { show(await call("GET", "/api/v1/alarms?state=active")); alarms.error = null; }
    catch (error) { alarms.error = error.message; }
  }

  function show(active) {
    alarms.active = active;
    list.replaceChildren(...active.map((alarm) => {
      const row = document.createElement("div");
      row.className = "alarm"; row.dataset.id = alarm.id;
      const text = document.createElement("span");
      const who = alarm.name || alarm.participant || "—";
      const time = new Date(alarm.last_at).toLocaleTimeString();
      const times = alarm.count > 1 ? ` ×${alarm.count}` : "";
      text.textContent = `EMERGENCY / 紧急告警: ${who} · room / 房间 ${alarm.room} · ${alarm.source}${times} · ${time}`
        + (alarm.text ? ` · ${alarm.text}` : "");
      const ack = document.createElement("button");
      ack.className = "ack"; ack.textContent = "Acknowledge / 确认";
      ack.onclick = async () => {
        ack.disabled = true;
        try { await call("POST", `/api/v1/alarms/${encodeURIComponent(alarm.id)}/ack`); }
        catch (error) { if (error.status !== 409) text.textContent += ` — ${error.message}`; }
        refresh();
      };
      row.append(text, ack);
      return row;
    }));
    sound();
  }

  // -- the sound: two tones a second while any alarm is active ------------------------------------

  let audio = null, beeper = null, analyser = null;
  // The loudest sample of what the alarm sound plays now (0 when silent): the tests measure it.
  alarms.peak = () => {
    if (!analyser) return 0;
    const samples = new Float32Array(analyser.fftSize);
    analyser.getFloatTimeDomainData(samples);
    return samples.reduce((peak, x) => Math.max(peak, Math.abs(x)), 0);
  };
  function sound() {
    if (alarms.active.length && !beeper) { beep(); beeper = setInterval(beep, BEEP_EVERY_MS); }
    if (!alarms.active.length && beeper) { clearInterval(beeper); beeper = null; }
  }
  function beep() {
    try {
      if (!audio) {
        audio = new AudioContext();
        analyser = audio.createAnalyser();
        analyser.connect(audio.destination);
      }
      if (audio.state === "suspended") audio.resume();
      const start = audio.currentTime;
      for (const [offset, frequency] of [[0, 880], [0.25, 660]]) {
        const tone = audio.createOscillator(), gain = audio.createGain();
        tone.frequency.value = frequency;
        gain.gain.setValueAtTime(0.2, start + offset);
        gain.gain.setValueAtTime(0, start + offset + 0.22);
        tone.connect(gain).connect(analyser);
        tone.start(start + offset); tone.stop(start + offset + 0.25);
      }
      alarms.beeps++;
    } catch (error) { alarms.error = "sound: " + error.message; }
  }
  // Browsers start audio only after a user gesture: the first click or key lets it sound.
  for (const kind of ["click", "keydown"]) {
    document.addEventListener(kind, () => { if (audio && audio.state === "suspended") audio.resume(); });
  }

  // -- events of all rooms --------------------------------------------------------------------

  let socket = null, socketToken = null, refused = false;
  function connect() {
    // A token the server refused (4401, 4403: a role that reads no room) is not tried again.
    if ((socket || refused) && socketToken === token()) return;
    refused = false;
    if (socket) { socket.onclose = null; socket.close(); socket = null; alarms.connected = false; }
    socketToken = token();
    if (!socketToken) { show([]); return; }
    const scheme = location.protocol === "https:" ? "wss" : "ws";
    socket = new WebSocket(`${scheme}://${location.host}/api/v1/events?token=${encodeURIComponent(socketToken)}`);
    socket.onopen = () => { alarms.connected = true; refresh(); };
    socket.onmessage = (message) => {
      const event = JSON.parse(message.data);
      if (event.type.startsWith("alarm.")) refresh();
    };
    socket.onclose = (event) => {
      alarms.connected = false; socket = null;
      refused = event.code === 4401 || event.code === 4403;
    };
  }
  setInterval(connect, 1000);  // a new login (or the socket closed): connect again
  setInterval(refresh, POLL_MS);
  connect();

  // -- the emergency button: talk at emergency priority, or raise an alarm for the room ---------

  const button = document.createElement("button");
  button.id = "emergency";
  button.title = "hold to talk at emergency priority; raises an alarm on every console / 按住以紧急优先级讲话，并向所有调度台告警";
  button.textContent = "Emergency / 紧急呼叫";
  document.getElementById("ptt").after(button);
  setInterval(() => { button.disabled = !consoleState().room || !token(); }, 500);

  let pressing = null;  // the press's request: a release waits for it
  function press() { if (!pressing) pressing = pressed(); }
  async function pressed() {
    const { room, me } = consoleState();
    if (!room) return;
    button.classList.add("held");
    if (me) {
      try {
        await call("POST", `/api/v1/rooms/${encodeURIComponent(room)}/floor`, { participant: me, action: "request", priority: 3 });
        return;
      } catch (error) { if (error.status !== 403) { alarms.error = error.message; return; } }
    }
    // Not in the room, or not allowed to ask the floor at priority 3: an alarm all the same.
    try { await call("POST", "/api/v1/alarms", { room, ...(me ? { participant: me } : {}) }); }
    catch (error) { alarms.error = error.message; }
    refresh();
  }
  async function release() {
    const done = pressing;
    pressing = null;
    if (!done) return;
    await done;
    button.classList.remove("held");
    const { room, me } = consoleState();
    if (room && me) {
      try { await call("POST", `/api/v1/rooms/${encodeURIComponent(room)}/floor`, { participant: me, action: "release" }); }
      catch (error) { /* it did not hold the floor */ }
    }
  }
  button.onmousedown = press;
  button.onmouseup = button.onmouseleave = release;
  button.ontouchstart = (event) => { event.preventDefault(); press(); };
  button.ontouchend = release;
})();

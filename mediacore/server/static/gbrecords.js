// The console's record search (录像检索) for the camera chosen in the camera pad (云台): a time
// range, Search lists what the GB/T 28181 device recorded (GET
// /api/v1/gb28181/devices/{id}/channels/{ch}/records), "Play into this room" adds the recording
// as a source of the room the console shows (POST /api/v1/rooms/{room}/sources with
// gb28181://dev/ch?start=&end=), and pause, resume and speed steer the recording played last
// (POST …/sources/{source}/playback). Kept apart from the page's own script: it reads only the
// token field, the pad's camera choice and window.mediacoreConsole (the room).
"use strict";
(() => {
  const panel = { records: [], source: null, room: null, sent: [], error: null };
  window.mediacoreRecords = panel;  // the browser tests read it

  const box = document.createElement("div");
  box.id = "gbrecords";
  box.innerHTML = `
    <h2 style="margin-top:14px">Records / 录像</h2>
    <div class="row">
      <input id="recstart" type="datetime-local" step="1" title="from / 开始">
      <input id="recend" type="datetime-local" step="1" title="to / 结束">
      <button id="recsearch">Search / 查询</button>
    </div>
    <ul id="reclist" class="kind" style="max-height:160px;overflow:auto;padding-left:16px"></ul>
    <div class="row">
      <button id="recpause" data-action="pause">Pause / 暂停</button>
      <button id="recresume" data-action="resume">Resume / 继续</button>
      <select id="recspeed" title="speed / 倍速">
        <option value="0.5">0.5x</option><option value="1" selected>1x</option>
        <option value="2">2x</option><option value="4">4x</option>
      </select>
      <button id="recspeedset" data-action="speed">Speed / 倍速</button>
    </div>
    <div id="recstate" class="kind"></div>`;
  const pad = document.getElementById("camerapad");
  if (pad) pad.after(box); else document.body.append(box);

  const $ = (id) => document.getElementById(id);
  const token = () => ($("token").value || "").trim();
  const say = (text) => { $("recstate").textContent = text; };
  const room = () => (window.mediacoreConsole || {}).room || new URLSearchParams(location.search).get("room");
  const local = (date) => new Date(date.getTime() - date.getTimezoneOffset() * 60000).toISOString().slice(0, 19);
  const iso = (value) => new Date(value).toISOString().replace(".000Z", "Z");  // local input -> UTC

  const now = new Date();
  $("recend").value = local(now);
  $("recstart").value = local(new Date(now.getTime() - 86400000));

  async function call(method, path, body) {
    const response = await fetch(path, { method, headers: { Authorization: "Bearer " + token(),
      ...(body ? { "Content-Type": "application/json" } : {}) }, body: body ? JSON.stringify(body) : undefined });
    const data = await response.json().catch(() => ({}));
    if (!response.ok) throw new Error(data.detail || data.message || String(response.status));
    return data;
  }

  function chosen() {
    const [device, channel] = (($("ptzcamera") || {}).value || "").split("/");
    return device && channel ? { device, channel } : null;
  }

  async function search() {
    const camera = chosen();
    if (!camera) { say("choose a camera above / 请先选择摄像机"); return; }
    const start = iso($("recstart").value), end = iso($("recend").value);
    const path = `/api/v1/gb28181/devices/${encodeURIComponent(camera.device)}/channels/`
      + `${encodeURIComponent(camera.channel)}/records?start=${encodeURIComponent(start)}&end=${encodeURIComponent(end)}`;
    say("searching… / 查询中");
    try {
      const found = await call("GET", path);
      panel.records = found.map((r) => ({ ...r, device: camera.device }));
      panel.error = null;
      say(`${found.length} recording(s) / 条录像`);
    } catch (error) { panel.records = []; panel.error = error.message; say(error.message); }
    show();
  }

  function show() {
    $("reclist").replaceChildren(...panel.records.map((record, index) => {
      const item = document.createElement("li");
      const when = document.createElement("span");
      when.textContent = `${new Date(record.start).toLocaleString()} – ${new Date(record.end).toLocaleTimeString()} `;
      const play = document.createElement("button");
      play.textContent = "Play into this room / 播放到本房间";
      play.dataset.index = String(index);
      play.addEventListener("click", () => playInto(record));
      item.append(when, play);
      return item;
    }));
  }

  async function playInto(record) {
    const target = room();
    if (!target) { say("open a room first / 请先选择房间"); return; }
    const url = `gb28181://${record.device}/${record.channel}?start=${encodeURIComponent(iso(record.start))}`
      + `&end=${encodeURIComponent(iso(record.end))}`;
    try {
      const added = await call("POST", `/api/v1/rooms/${encodeURIComponent(target)}/sources`,
        { url, name: `${record.name || "录像"} ${new Date(record.start).toLocaleTimeString()}` });
      panel.source = added.id; panel.room = target; panel.error = null;
      say(`playing in ${target} / 播放中`);
    } catch (error) { panel.error = error.message; say(error.message); }
  }

  async function steer(action) {
    if (!panel.source) { say("play a recording first / 请先播放录像"); return; }
    const body = { action };
    if (action === "speed") body.speed = Number($("recspeed").value);
    const path = `/api/v1/rooms/${encodeURIComponent(panel.room)}/sources/${encodeURIComponent(panel.source)}/playback`;
    try {
      await call("POST", path, body);
      panel.sent.push(action); panel.error = null;
      say(`${action} / 已发送`);
    } catch (error) { panel.error = error.message; say(`${action}: ${error.message}`); }
  }

  $("recsearch").addEventListener("click", search);
  for (const id of ["recpause", "recresume", "recspeedset"]) {
    $(id).addEventListener("click", () => steer($(id).dataset.action));
  }
})();

// The console's camera pad (云台): arrows, zoom and presets for one GB/T 28181 camera channel.
// Kept apart from the console page's own script: it reads only the token field, lists the
// channels of online devices (GET /api/v1/gb28181/devices) and steers the chosen one with
// POST /api/v1/gb28181/devices/{id}/channels/{ch}/ptz. Pressing a direction moves the camera
// at the chosen speed until the button is released (then "stop"); the requests go one after
// another, so a stop never overtakes the move it ends.
"use strict";
(() => {
  const POLL_MS = 5000;
  const pad = { channels: [], sent: [], error: null };
  window.mediacoreCameraPad = pad;  // the browser tests read it

  const style = document.createElement("style");
  style.textContent = `
    #camerapad .grid { display: grid; grid-template-columns: repeat(3, 44px); gap: 4px; }
    #camerapad .grid button, #camerapad .zoom button { height: 36px; padding: 0; }
    #camerapad .zoom { display: flex; flex-direction: column; gap: 4px; }
    #camerapad .zoom button { width: 44px; }
    #camerapad button.moving { background: var(--accent); }
    #ptzstate { min-height: 1.2em; }`;
  document.head.append(style);

  const box = document.createElement("div");
  box.id = "camerapad";
  box.innerHTML = `
    <h2 style="margin-top:14px">Camera / 云台</h2>
    <div class="row"><select id="ptzcamera" title="camera channel / 摄像机通道"></select></div>
    <div class="row">
      <div class="grid">
        <button data-action="up_left" title="up left / 左上">↖</button>
        <button data-action="up" title="up / 上">↑</button>
        <button data-action="up_right" title="up right / 右上">↗</button>
        <button data-action="left" title="left / 左">←</button>
        <button data-action="stop" data-once="1" title="stop / 停止">■</button>
        <button data-action="right" title="right / 右">→</button>
        <button data-action="down_left" title="down left / 左下">↙</button>
        <button data-action="down" title="down / 下">↓</button>
        <button data-action="down_right" title="down right / 右下">↘</button>
      </div>
      <div class="zoom">
        <button data-action="zoom_in" title="zoom in / 放大">＋</button>
        <button data-action="zoom_out" title="zoom out / 缩小">－</button>
      </div>
    </div>
    <div class="row"><label>speed / 速度 <input id="ptzspeed" type="range" min="1" max="255" value="128"></label></div>
    <div class="row">
      <input id="ptzpreset" type="number" min="1" max="255" value="1" style="width:64px" title="preset / 预置位">
      <button id="ptzcall" data-action="preset_call" data-once="1">Call / 调用</button>
      <button id="ptzset" data-action="preset_set" data-once="1">Set / 设置</button>
      <button id="ptzdelete" data-action="preset_delete" data-once="1">Delete / 删除</button>
    </div>
    <div id="ptzstate" class="kind"></div>`;
  // Above the event log of the actions column: the log grows, and must not move the pad
  // from under a pressed button.
  const events = [...document.querySelectorAll("section h2")].find((h) => h.textContent.startsWith("Events"));
  if (events) events.before(box); else document.body.append(box);

  const $ = (id) => document.getElementById(id);
  const token = () => ($("token").value || "").trim();
  const say = (text) => { $("ptzstate").textContent = text; };

  async function call(method, path, body) {
    const response = await fetch(path, { method, headers: { Authorization: "Bearer " + token(),
      ...(body ? { "Content-Type": "application/json" } : {}) }, body: body ? JSON.stringify(body) : undefined });
    const data = await response.json().catch(() => ({}));
    if (!response.ok) { const error = new Error(data.detail || String(response.status)); error.status = response.status; throw error; }
    return data;
  }

  async function refresh() {
    if (!token()) return;
    let devices;
    try { devices = await call("GET", "/api/v1/gb28181/devices"); } catch (error) { return; }
    const chosen = $("ptzcamera").value;
    pad.channels = devices.filter((d) => d.online).flatMap((d) =>
      d.channels.map((c) => ({ device: d.id, channel: c.id, name: `${d.name || d.id} · ${c.name || c.id}` })));
    const select = $("ptzcamera");
    select.replaceChildren(...pad.channels.map((c) => {
      const option = document.createElement("option");
      option.value = `${c.device}/${c.channel}`; option.textContent = c.name; return option;
    }));
    if (pad.channels.some((c) => `${c.device}/${c.channel}` === chosen)) select.value = chosen;
    if (!pad.channels.length) say("no GB/T 28181 camera online / 无在线摄像机");
  }

  // One request at a time, in the order pressed: a stop must not overtake its move.
  let queue = Promise.resolve();
  function send(action) {
    const [device, channel] = ($("ptzcamera").value || "").split("/");
    if (!device || !channel) { say("choose a camera / 请选择摄像机"); return queue; }
    const body = { action, speed: Number($("ptzspeed").value) };
    if (action.startsWith("preset_")) body.preset = Number($("ptzpreset").value);
    const path = `/api/v1/gb28181/devices/${encodeURIComponent(device)}/channels/${encodeURIComponent(channel)}/ptz`;
    queue = queue.then(async () => {
      try {
        const answer = await call("POST", path, body);
        pad.sent.push(answer.command); pad.error = null;
        say(`${action} ${answer.command}`);
      } catch (error) { pad.error = error.message; say(`${action}: ${error.message}`); }
    });
    return queue;
  }

  let moving = null;
  function press(button) {
    if (button.dataset.once) { send(button.dataset.action); return; }
    moving = button; button.classList.add("moving");
    send(button.dataset.action);
  }
  function release() {
    if (!moving) return;
    moving.classList.remove("moving"); moving = null;
    send("stop");
  }
  for (const button of box.querySelectorAll("button[data-action]")) {
    button.addEventListener("pointerdown", (e) => {
      e.preventDefault();
      button.setPointerCapture(e.pointerId);  // held, it stays ours even if the page moves
      press(button);
    });
    button.addEventListener("pointerup", release);
    button.addEventListener("pointerleave", release);
    button.addEventListener("pointercancel", release);
  }
  window.addEventListener("blur", release);  // a release outside the window still stops it

  setInterval(refresh, POLL_MS);
  $("token").addEventListener("change", refresh);
  document.getElementById("login")?.addEventListener("click", () => setTimeout(refresh, 500));
  refresh();
})();

// The console's content sharing (双流): "Share screen" shares the screen as the room's content
// (shown large in the composed picture of every participant, SIP video terminals included),
// and the content someone else shares appears in a video of its own. Kept apart from the
// console page's own script: it reads window.mediacoreConsole (peer connection, signalling
// socket, who we are), uses the page's gathered(), banner() and api(), and speaks
// "share" {offer, mid} / "unshare" on the socket; the room events content.started and
// content.stopped say who shares.
"use strict";
(() => {
  const share = { sharing: false, source: null, transceiver: null, pc: null, stream: null,
                  watching: null, watchingName: "", tile: null, me: null, ws: null, retries: 0 };
  window.mediacoreContent = share;  // the browser tests read it
  const consoleState = () => window.mediacoreConsole || {};

  const style = document.createElement("style");
  style.textContent = `.tile.content { grid-column: 1 / -1; outline: 2px solid var(--accent); }`;
  document.head.append(style);
  const button = document.createElement("button");
  button.id = "share"; button.disabled = true;
  button.title = "share your screen as the room's content / 共享屏幕（双流）";
  document.getElementById("composed").after(button);

  function send(message) {
    const ws = consoleState().ws;
    if (ws && ws.readyState === WebSocket.OPEN) ws.send(JSON.stringify(message));
  }

  function render() {
    button.textContent = share.sharing ? "Stop sharing / 停止共享" : "Share screen / 共享屏幕";
    button.classList.toggle("on", share.sharing);
    button.disabled = !consoleState().me;
  }

  // A new screen track: on the transceiver shared before (no new offer), else on a new one,
  // offered to the server with the "share" message.
  async function start() {
    const pc = consoleState().pc;
    if (!pc || !consoleState().me) return;
    let stream;
    try {
      stream = await navigator.mediaDevices.getDisplayMedia({ video: { frameRate: 5 }, audio: false });
    } catch (error) {
      banner("Screen sharing did not start: " + error.message + " / 未能共享屏幕"); return;
    }
    const track = stream.getVideoTracks()[0];
    share.stream = stream;
    track.onended = () => stop();  // the browser's own "Stop sharing" bar
    if (share.transceiver && share.pc === pc) {
      await share.transceiver.sender.replaceTrack(track);
      send({ type: "share", mid: share.transceiver.mid });
    } else {
      share.pc = pc;
      share.transceiver = pc.addTransceiver(track, { direction: "sendonly" });
      await offer();
    }
  }

  async function offer() {
    const pc = share.pc;
    for (let i = 0; i < 50 && pc.signalingState !== "stable"; i++) await new Promise((r) => setTimeout(r, 100));
    await pc.setLocalDescription(await pc.createOffer());
    await gathered(pc);
    send({ type: "share", offer: pc.localDescription.sdp, mid: share.transceiver.mid });
  }

  // Our share ended (by us, an operator, a newer sharer): the screen capture stops.
  function release() {
    if (share.stream) share.stream.getTracks().forEach((t) => { t.onended = null; t.stop(); });
    if (share.transceiver && share.pc && share.pc.signalingState !== "closed") {
      share.transceiver.sender.replaceTrack(null).catch(() => {});
    }
    share.stream = null; share.sharing = false; share.source = null; render();
  }

  function stop() {
    if (share.sharing) send({ type: "unshare" });
    release();
  }

  function watch(source, name) {
    if (share.watching === source) return;
    unwatch();
    share.watching = source; share.watchingName = name || "";
    send({ type: "subscribe", source });
  }

  function unwatch() {
    if (share.watching) send({ type: "unsubscribe", source: share.watching });
    if (share.tile) share.tile.remove();
    share.watching = null; share.tile = null;
  }

  // The console makes a tile for every received video; the content's is marked and labelled.
  function onTrack(event) {
    if (event.track.kind !== "video" || !share.watching || share.tile) return;
    const tile = [...document.querySelectorAll("#tiles .tile")].find((t) => {
      const video = t.querySelector("video");
      return video && video.srcObject && video.srcObject.getTracks().includes(event.track);
    });
    if (!tile) return;
    tile.classList.add("content");
    tile.querySelector("span").textContent = `content / 共享 · ${share.watchingName}`;
    share.tile = tile;
  }

  async function onMessage(message) {
    const state = consoleState();
    if (message.type === "shared") {
      if (message.answer) await state.pc.setRemoteDescription({ type: "answer", sdp: message.answer });
      share.sharing = true; share.source = message.source; share.retries = 0; render();
    } else if (message.type === "error" && message.for === "share") {
      // the server's own offer crossed ours; once it is answered, offer again
      if (message.code === "negotiating" && share.retries++ < 5 && share.pc) setTimeout(() => offer().catch(release), 300);
      else release();
    } else if (message.type === "event" && message.event.type === "content.started") {
      if (message.event.participant !== state.me) watch(message.event.source, message.event.name);
    } else if (message.type === "event" && message.event.type === "content.stopped") {
      const event = message.event;
      if (event.participant === state.me && share.sharing && event.reason !== "unshared") {
        banner(`Your screen share ended: ${event.reason} / 屏幕共享已结束`, "info");
        release();
      }
      if (share.watching === event.source) unwatch();
    }
  }

  // A late joiner sees what is shared already.
  async function joined() {
    const state = consoleState();
    try {
      const found = await api("GET", `/api/v1/rooms/${encodeURIComponent(state.room)}/content`);
      const content = found.content;
      if (content && content.live && content.participant !== state.me) watch(content.source, content.name);
    } catch (error) { /* the roster's refresh says why */ }
  }

  button.onclick = () => (share.sharing ? stop() : start().catch((e) => banner(e.message)));
  // The page makes a new socket and peer connection on every (re)join: follow them.
  setInterval(() => {
    const state = consoleState();
    if (state.ws && state.ws !== share.ws) {
      share.ws = state.ws;
      state.ws.addEventListener("message", (m) => onMessage(JSON.parse(m.data)).catch((e) => banner(e.message)));
    }
    if (state.pc && state.pc !== share.pcSeen) {
      share.pcSeen = state.pc;
      state.pc.addEventListener("track", onTrack);
    }
    if (state.me !== share.me) {
      share.me = state.me;
      if (share.sharing || share.stream) release();
      share.transceiver = null; share.pc = null; share.watching = null; share.tile = null;
      if (state.me) joined();
    }
    render();
  }, 200);
  render();
})();

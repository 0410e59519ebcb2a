() => {
  // The studio's few browser-side behaviours, run once when the page loads (launch(js=...)).

  // 1. Honest pixels: an image in a `.whole-pixels` block is drawn at the largest whole number of device
  // pixels per image pixel that fits its box, at least 1 (a bigger image scrolls inside its box). A
  // picture over PICTURE_SIDE pixels on a side (a big texture; no pixel-art result is that large) is
  // shrunk to fit instead, so that it is seen whole (its download keeps every pixel).
  const PICTURE_SIDE = 768;
  const fit = (img) => {
    const box = img.closest(".image-container");
    if (!box || !img.naturalWidth || !img.closest(".whole-pixels")) return;
    const dpr = window.devicePixelRatio || 1;
    const frame = img.parentElement;
    frame.style.maxWidth = "100%";
    frame.style.maxHeight = "100%";
    frame.style.overflow = "auto";
    const room = Math.min(box.clientWidth * dpr / img.naturalWidth, box.clientHeight * dpr / img.naturalHeight);
    const picture = Math.max(img.naturalWidth, img.naturalHeight) > PICTURE_SIDE;
    const scale = room >= 1 ? Math.floor(room) : picture ? room : 1;
    for (const [side, natural] of [["width", img.naturalWidth], ["height", img.naturalHeight]]) {
      img.style.setProperty(side, `${natural * scale / dpr}px`, "important");
      img.style.setProperty(`max-${side}`, "none", "important");
    }
    img.style.setProperty("object-fit", "fill", "important");
    img.dataset.scale = String(scale);
  };
  const resized = new ResizeObserver((entries) => {
    for (const entry of entries) entry.target.querySelectorAll(".whole-pixels img").forEach(fit);
  });
  const watch = (img) => {
    if (img.dataset.watched) return;
    img.dataset.watched = "1";
    img.addEventListener("load", () => fit(img));
    const block = img.closest(".whole-pixels");
    if (block) resized.observe(block);
    fit(img);
  };
  new MutationObserver(() => document.querySelectorAll(".whole-pixels img").forEach(watch))
    .observe(document.body, { childList: true, subtree: true });

  // 2. Picking a grid cell: Gradio's select event maps a click to image pixels only for an image drawn at
  // most at its natural size. Re-send a click on an upscaled image where Gradio's arithmetic finds the
  // image pixel under the pointer.
  document.addEventListener("click", (event) => {
    const img = event.target.closest?.(".pick-cells .image-frame")?.querySelector("img");
    if (!event.isTrusted || !img || !img.naturalWidth) return;
    const rect = img.getBoundingClientRect();
    if (rect.width <= img.naturalWidth) return;  // not upscaled: Gradio maps this click right
    const x = Math.floor((event.clientX - rect.left) * img.naturalWidth / rect.width);
    const y = Math.floor((event.clientY - rect.top) * img.naturalHeight / rect.height);
    event.stopPropagation();
    event.preventDefault();
    img.dispatchEvent(new MouseEvent("click", {
      bubbles: true, clientX: rect.left + (rect.width - img.naturalWidth) / 2 + x,
      clientY: rect.top + (rect.height - img.naturalHeight) / 2 + y,
    }));
  }, true);

  // 3. A vertical swipe that starts on a slider scrolls the page and leaves the slider's value alone.
  let swipe = null;
  document.addEventListener("touchstart", (event) => {
    const slider = event.target.closest?.("input[type=range]");
    const touch = event.touches[0];
    swipe = slider ? { slider, value: slider.value, x: touch.clientX, y: touch.clientY, vertical: null } : null;
  }, { capture: true, passive: true });
  document.addEventListener("touchmove", (event) => {
    if (!swipe || swipe.vertical !== null) return;
    const touch = event.touches[0];
    const dx = Math.abs(touch.clientX - swipe.x), dy = Math.abs(touch.clientY - swipe.y);
    if (dx + dy > 6) swipe.vertical = dy > dx;
  }, { capture: true, passive: true });
  const keepValue = (event) => {
    if (!swipe || event.target !== swipe.slider || swipe.vertical === false) return;
    event.stopImmediatePropagation();
    swipe.slider.value = swipe.value;
  };
  for (const type of ["input", "change"]) document.addEventListener(type, keepValue, true);
  document.addEventListener("touchend", (event) => {
    if (swipe && swipe.vertical !== false) swipe.slider.value = swipe.value;
    setTimeout(() => { swipe = null; }, 0);
  }, { capture: true, passive: true });

  // 4. An error concerns the action just taken: the next action closes the errors shown before it.
  const closeErrors = (event) => {
    if (!event.isTrusted || event.target.closest?.(".toast-wrap")) return;
    document.querySelectorAll(".toast-body.error .toast-close").forEach((button) => button.click());
  };
  document.addEventListener("pointerdown", closeErrors, true);
  document.addEventListener("keydown", (event) => {
    if (event.key === "Enter" || event.key === " ") closeErrors(event);
  }, true);

  // 5. Live previews (studio/live.py): while a `.live-drag` slider is dragged, the page asks the studio's
  // preview route for the picture at each position and draws it in the tab's result image, up to
  // LIVE_IN_FLIGHT requests at a time (two hide a network's round trip). Gradio does not hear the drag's
  // moves; at release it hears the final value once and renders the result it keeps (saved, history).
  // Where the route does not answer, sliders keep Gradio's own updates and the tab's status line says so.
  const LIVE_IN_FLIGHT = 2;
  const root = (window.gradio_config?.root || location.href.split(/[?#]/)[0]).replace(/\/?$/, "/");
  const liveUrl = (tab) => `${root}studio/live${tab ? `/${tab}` : ""}`;
  let liveTabs = null;  // the tabs the route serves, once it has answered
  const live = { drags: [] };  // what the last drags showed, for people (status line) and browser tests
  window.studioLive = live;
  const setStatus = (tab, text) => {
    document.querySelectorAll(`.live-status[data-live-tab="${tab}"]`).forEach((p) => { p.textContent = text; });
  };
  const OFF = "Live preview is off here: the picture changes when the studio answers.";
  const statusAll = () => document.querySelectorAll(".live-status").forEach((p) => {
    if (!p.textContent.endsWith("checking…")) return;  // set once (setting it again would wake the observer)
    const on = liveTabs && liveTabs.includes(p.dataset.liveTab);
    p.textContent = on ? "Live preview: the picture follows a slider while you drag it." : OFF;
  });
  fetch(liveUrl(), { cache: "no-store" })
    .then((response) => (response.ok ? response.json() : Promise.reject(response.status)))
    .then((answer) => { liveTabs = answer.tabs; })
    .catch(() => { liveTabs = false; })
    .finally(statusAll);
  new MutationObserver(() => { if (liveTabs !== null) statusAll(); })
    .observe(document.body, { childList: true, subtree: true });

  const controlValue = (block) => {
    const range = block.querySelector("input[type=range]");
    if (range) return Number(range.value);
    const box = block.querySelector("input[type=checkbox]");
    if (box) return box.checked;
    const number = block.querySelector("input[type=number]");
    if (number) return number.value === "" ? null : Number(number.value);
    const text = block.querySelector("input, textarea");
    return text ? text.value : null;
  };
  // Every `live-<tab>-<key>` control's value under its key; `<key>-<n>` controls make a list; a `base`
  // control holds JSON of further parameters (what the server set for the tab's last result).
  const liveParams = (tab) => {
    const params = {};
    const prefix = `live-${tab}-`;
    for (const block of document.querySelectorAll(`.live-${tab}[id^="${prefix}"]`)) {
      const key = block.id.slice(prefix.length);
      const item = key.match(/^(.*)-(\d+)$/);
      if (key === "base") {
        try { Object.assign(params, JSON.parse(controlValue(block) || "{}")); } catch { /* not set yet */ }
      } else if (item) {
        (params[item[1]] ||= [])[Number(item[2])] = controlValue(block);
      } else {
        params[key] = controlValue(block);
      }
    }
    return params;
  };

  let drag = null;
  const resultImage = (tab) => document.querySelector(`#live-${tab}-result img`);
  const showPreview = (state, seq, blob) => {
    const img = resultImage(state.tab);
    if (!img || state.done || seq < state.shownSeq) return;
    if (state.released && img.src !== (state.url ?? state.startSrc)) {
      state.done = true;  // Gradio's final image has arrived: it stays
      return;
    }
    state.shownSeq = seq;
    if (state.url) URL.revokeObjectURL(state.url);
    state.url = URL.createObjectURL(blob);
    img.src = state.url;
    img.alt = "Live preview of the result while the slider moves";
    Object.assign(state.record, { previews: state.record.previews + 1, lastPreview: state.url,
                                  lastBody: state.bodies.get(seq) });
    for (const sent of state.bodies.keys()) if (sent <= seq) state.bodies.delete(sent);
  };
  const sendPreview = (state) => {
    if (state.done || state.inFlight >= LIVE_IN_FLIGHT) return;
    const body = JSON.stringify(liveParams(state.tab));
    if (body === state.lastBody) return;
    state.lastBody = body;
    state.inFlight += 1;
    const seq = ++state.seq;
    state.bodies.set(seq, body);
    fetch(liveUrl(state.tab), { method: "POST", body, headers: { "Content-Type": "application/json" } })
      .then((response) => (response.ok ? response.blob() : response.json().then((a) => Promise.reject(a.error))))
      .then((blob) => showPreview(state, seq, blob))
      .catch((error) => { state.error = String(error); })
      .finally(() => { state.inFlight -= 1; sendPreview(state); });
  };
  document.addEventListener("pointerdown", (event) => {
    const range = event.target.closest?.(".live-drag input[type=range]");
    const block = range?.closest(".live-drag");
    const tab = block?.id.match(/^live-([a-z]+)-/)?.[1];
    const img = tab && resultImage(tab);
    if (!range || !img || !liveTabs || !liveTabs.includes(tab)) return;
    const before = live.drags.at(-1);
    if (before?.lastPreview) URL.revokeObjectURL(before.lastPreview);  // only the last drag's is kept
    const record = { tab, previews: 0, moves: 0, seconds: 0, lastBody: null, lastPreview: null };
    live.drags = [...live.drags.slice(-9), record];
    drag = { tab, range, block, record, start: range.value, startSrc: img.src, seq: 0, shownSeq: 0, inFlight: 0,
             bodies: new Map(), began: performance.now(), released: false, done: false };
  }, true);
  document.addEventListener("input", (event) => {
    if (!drag || event.target !== drag.range || !event.isTrusted) return;
    event.stopImmediatePropagation();  // Gradio hears the value once, at release
    const { range, block } = drag;
    const share = (range.value - range.min) / (range.max - range.min) * 100;
    range.style.setProperty("--range_progress", `${share}%`);
    const number = block.querySelector("input[type=number]");
    if (number) number.value = range.value;
    drag.record.moves += 1;
    sendPreview(drag);
  }, true);
  const endDrag = () => {
    if (!drag) return;
    const state = drag;
    drag = null;
    state.released = true;
    sendPreview(state);  // the release's own position, if no preview asked for it yet
    const { record } = state;
    record.seconds = (performance.now() - state.began) / 1000;
    record.error = state.error || null;
    if (state.error && !record.previews) {
      setStatus(state.tab, `No live preview: ${state.error}`);
    } else if (record.previews) {
      setStatus(state.tab, `Live preview: ${Math.round(record.previews / record.seconds)} pictures a second in the last drag.`);
    }
    if (state.range.value !== state.start) {
      state.range.dispatchEvent(new Event("input", { bubbles: true }));  // Gradio renders the final image
    }
  };
  document.addEventListener("pointerup", endDrag, true);
  document.addEventListener("pointercancel", endDrag, true);
}

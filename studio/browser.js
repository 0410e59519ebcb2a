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
}

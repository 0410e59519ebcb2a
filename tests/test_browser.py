"""End-to-end tests in a real browser: Playwright drives Debian's Chromium against the studio served by `app_url`.

Every scenario uses real clicks, key presses, mouse strokes and file choosers, and saves a full-page screenshot
under its `tmp_path`. They need Debian's Chromium at /usr/bin/chromium (`apt-get install chromium`; .ci/run
installs it); Playwright never downloads a browser here.
"""

from __future__ import annotations

import io
import json
import os
import re
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from playwright import sync_api
from playwright.sync_api import expect

from studio import pnginfo
from studio.outputs import BURST_S

CHROMIUM = Path("/usr/bin/chromium")

ASSETS = Path(__file__).resolve().parents[1] / "assets"
TIMEOUT_MS = 30_000
TABS = {  # tab button -> labels of the main controls it shows
    "Latent sampling": ["Model", "Seed", "Truncation ψ", "Sample", "Restore parameters from a studio PNG or animation"],
    "Class-conditional": ["Class", "Seed", "Result", "Morph animation (GIF)"],
    "VAE interpolation": ["Slot A", "Slot B", "Examples and drawings fill slot", "Test-set examples (click to use)",
                          "Animation (GIF)"],
    "Inpainting": ["Image: paint over the part to fill", "Mask dilation (pixels)", "Before and after: drag the handle",
                   "Example photos (DTD, held out from training): click to use"],
    "Texture": ["Image", "DTD examples, two per class (click to use)", "Top 5 classes"],
    "PNG info": ["Studio PNG or animation (GIF, WebM, MP4)", "Parameters"],
}
DTD_CLASSES = ["banded", "blotchy", "braided", "bubbly", "bumpy", "chequered", "cobwebbed", "cracked", "crosshatched",
               "crystalline"]
A_DTD_CLASS = re.compile("|".join(DTD_CLASSES))


@pytest.fixture(scope="module")
def browser():
    assert CHROMIUM.exists(), f"the browser tests need Chromium at {CHROMIUM}: apt-get install chromium"
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), headless=True,
                                    args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"])
        yield browser
        browser.close()


def open_studio(browser, app_url, width: int, height: int, touch: bool = False):
    """A new browser context showing the studio at `width` x `height` (with touch: as a phone)."""
    context = browser.new_context(viewport={"width": width, "height": height}, has_touch=touch, is_mobile=touch)
    context.set_default_timeout(TIMEOUT_MS)
    page = context.new_page()
    page.goto(app_url)
    expect(page.get_by_role("tab", name="Latent sampling")).to_be_visible(timeout=TIMEOUT_MS)
    return context, page


@pytest.fixture
def page(browser, app_url):
    context, page = open_studio(browser, app_url, 1440, 900)
    yield page
    context.close()


@pytest.fixture
def phone(browser, app_url):
    context, page = open_studio(browser, app_url, 390, 844, touch=True)
    yield page
    context.close()


# Helpers. Gradio renders each component in a `.block` whose label is a `label[data-testid=block-label]` (images,
# files, galleries) or a `span[data-testid=block-info]` (form controls). Hidden tabs stay in the DOM, so lookups
# are scoped to the visible tab panel.


def panel(page):
    """The selected tab's panel (role queries skip the hidden ones)."""
    return page.get_by_role("tabpanel")


def open_tab(page, name: str):
    page.get_by_role("tab", name=name).click()
    expect(page.get_by_role("tab", name=name)).to_have_attribute("aria-selected", "true")
    return panel(page)


def block(page, label: str):
    """The component block whose label is exactly `label`, in the selected tab."""
    exact = re.compile(rf"^\s*{re.escape(label)}\s*$")
    title = page.locator("[data-testid=block-label], [data-testid=block-info]").filter(has_text=exact)
    return panel(page).locator(".block").filter(has=title)


def wait_for_image(page, label: str):
    """The `<img>` of the image block `label`, once it is visible with a source; returns the img locator."""
    img = block(page, label).locator("img").first
    expect(img).to_be_visible(timeout=TIMEOUT_MS)
    expect(img).to_have_attribute("src", re.compile(r"\S"), timeout=TIMEOUT_MS)
    return img


def fetch_image(page, img) -> Image.Image:
    """Download what an `<img>` shows, through the browser context (same cookies and session)."""
    return image_at(page, img.get_attribute("src"))


def image_at(page, src: str) -> Image.Image:
    response = page.request.get(src)
    assert response.ok, response.status
    image = Image.open(io.BytesIO(response.body()))
    image.load()
    return image


def pixels(image: Image.Image) -> np.ndarray:
    return np.asarray(image.convert("RGB"), dtype=int)


def parameters(image: Image.Image) -> dict:
    """The studio parameters a result PNG carries."""
    return json.loads(image.info["studio-parameters"])


def compared_images(page, check=lambda before, after: True) -> tuple[Image.Image, Image.Image, list[dict]]:
    """The inpainting slider's before and after images and where they are drawn, once both show and pass
    `check(before, after)` (read in one go: the slider re-renders its images as they load)."""
    shown = {}

    def ready() -> bool:
        found = block(page, "Before and after: drag the handle").locator("img").evaluate_all(
            "imgs => imgs.map(img => [img.src, JSON.parse(JSON.stringify(img.getBoundingClientRect()))])")
        if len(found) != 2 or any(box["height"] == 0 for _, box in found):
            return False  # both images are there and laid out (one that is still loading has no height yet)
        before, after = sorted((image_at(page, src) for src, _ in found), key=lambda image: bool(image.info))
        shown.update(before=before, after=after, boxes=[box for _, box in found])
        return check(before, after)

    wait_until(page, ready, "the before and after slider never showed the result")
    return shown["before"], shown["after"], shown["boxes"]


def editor_shows_a_picture(page) -> bool:
    """Whether the middle of the inpainting editor's canvas shows a picture rather than the blank canvas."""
    shot = Image.open(io.BytesIO(page.locator("#inpaint-editor canvas").first.screenshot()))
    w, h = shot.size
    return pixels(shot.crop((w // 3, h // 3, 2 * w // 3, 2 * h // 3))).std() > 10


def wait_until(page, check, message: str, timeout_ms: int = TIMEOUT_MS) -> None:
    """Poll `check()` (for what `expect` cannot see, such as canvas pixels) until it is true."""
    for _ in range(timeout_ms // 250):
        if check():
            return
        page.wait_for_timeout(250)
    pytest.fail(message)


README_SCREENSHOTS = ("latent", "conditional", "vae", "inpaint", "texture", "history", "pnginfo", "phone",
                     "texture-latent", "texture-conditional", "texture-vae")
README_WIDTH = 960


def screenshot(page, tmp_path: Path, name: str, full_page: bool = True) -> None:
    """A screenshot in `tmp_path`. With STUDIO_SCREENSHOTS=DIR, the README's ones are also written to DIR,
    reduced to at most README_WIDTH pixels and 128 colours (that is how assets/screenshots/ is made)."""
    path = tmp_path / f"{name}.png"
    page.screenshot(path=path, full_page=full_page)
    readme_dir = os.environ.get("STUDIO_SCREENSHOTS")
    if readme_dir and name in README_SCREENSHOTS:
        shot = Image.open(path).convert("RGB")
        if shot.width > README_WIDTH:
            shot = shot.resize((README_WIDTH, round(shot.height * README_WIDTH / shot.width)),
                               Image.Resampling.LANCZOS)
        shot.quantize(colors=128).save(Path(readme_dir) / f"{name}.png", optimize=True)


def set_file(page, label: str, path: Path) -> None:
    block(page, label).locator("input[type=file]").set_input_files(path)


def thumbnails(page, gallery_label: str):
    return block(page, gallery_label).locator("button.thumbnail-item")


# Scenarios.


def test_each_tab_shows_its_main_controls(page, tmp_path):
    for tab, labels in TABS.items():
        open_tab(page, tab)
        for label in labels:
            expect(block(page, label).first, f"{tab}: {label}").to_be_visible()
        screenshot(page, tmp_path, f"tab-{tab.split()[0].lower()}")
    expect(block(page, "Sample")).to_have_count(0)  # the latent tab's blocks are out of the last tab's panel


def test_latent_direction_slider_changes_the_sample(page, tmp_path):
    sample = wait_for_image(page, "Sample")
    old_src, before = sample.get_attribute("src"), fetch_image(page, sample)
    slider = page.get_by_role("slider", name=re.compile(r"^range slider for PC1\b"))
    slider.focus()
    for _ in range(10):
        page.keyboard.press("ArrowRight")
    expect(page.get_by_label(re.compile(r"^number input for PC1\b"))).to_have_value("1")
    expect(sample).not_to_have_attribute("src", old_src, timeout=TIMEOUT_MS)
    # every key press fires an event; the image settles on the last one
    wait_until(page, lambda: parameters(fetch_image(page, sample))["directions"][0] == 1.0,
               "the sample never showed PC1 = 1")
    after = fetch_image(page, sample)
    assert np.abs(pixels(after) - pixels(before)).max() > 0, "the sample's pixels did not change"
    screenshot(page, tmp_path, "latent")
    # ten key presses are one burst: the history holds its settled result alone, and it can be kept
    page.wait_for_timeout(1000 * BURST_S + 300)
    page.get_by_role("button", name="Toggle Sidebar").click()
    history = page.locator("#history-gallery button.thumbnail-item")
    expect(history).to_have_count(1, timeout=TIMEOUT_MS)
    expect(history.first.locator("img")).to_have_attribute("alt", "Latent sampling · fmnist-gan · seed 42 · PC1 +1.0")
    history.first.click()
    page.get_by_role("button", name="☆ Keep").click()
    expect(page.get_by_role("button", name="★ Kept")).to_be_visible(timeout=TIMEOUT_MS)
    page.reload()  # the history is kept in the browser: it survives a reload
    page.get_by_role("button", name="Toggle Sidebar").click()
    expect(history).to_have_count(1, timeout=TIMEOUT_MS)
    history.first.click()
    expect(page.get_by_role("button", name="★ Kept")).to_be_visible(timeout=TIMEOUT_MS)


def test_class_conditional_generates_the_chosen_class(page, tmp_path):
    open_tab(page, "Class-conditional")
    dropdown = panel(page).get_by_label("Class", exact=True)
    dropdown.click()
    page.get_by_role("option", name="Sneaker", exact=True).click()
    expect(dropdown).to_have_value("Sneaker")
    panel(page).get_by_role("button", name="Generate", exact=True).click()
    image = fetch_image(page, wait_for_image(page, "Result"))
    assert parameters(image)["class"] == "Sneaker"
    assert min(image.size) >= 28 and pixels(image).std() > 5  # a picture, not a blank
    screenshot(page, tmp_path, "conditional")


def interpolate_two_examples(page) -> None:
    """In the VAE tab: test-set examples 0 and 5 into slots A and B, then Interpolate."""
    open_tab(page, "VAE interpolation")
    examples = thumbnails(page, "Test-set examples (click to use)")
    for slot, index in (("A", 0), ("B", 5)):
        panel(page).get_by_label(slot, exact=True).check()
        examples.nth(index).click()
        wait_for_image(page, f"Slot {slot}")
    panel(page).get_by_role("button", name="Interpolate A → B").click()


def test_vae_interpolates_two_clicked_examples(page, tmp_path):
    interpolate_two_examples(page)
    gif = wait_for_image(page, "Animation (GIF)")
    expect(gif).to_have_attribute("src", re.compile(r"\.gif$"), timeout=TIMEOUT_MS)
    animation = fetch_image(page, gif)
    assert animation.format == "GIF" and animation.n_frames > 2
    wait_for_image(page, "Interpolation")
    screenshot(page, tmp_path, "vae")


def test_inpainting_fills_a_painted_stroke(page, tmp_path):
    open_tab(page, "Inpainting")
    source = ASSETS / "examples" / "dtd" / "cracked_0048.jpg"
    canvas = page.locator("#inpaint-editor canvas").first
    expect(canvas).to_be_visible()  # the editor is ready: an upload before this can be lost
    expect(page.locator("#inpaint-editor .zoom-number")).to_be_visible()
    page.locator("#inpaint-editor input[type=file]").set_input_files(source)
    wait_until(page, lambda: editor_shows_a_picture(page), "the uploaded photo never showed in the editor")
    stroke_across_the_editor(page)
    panel(page).get_by_role("button", name="Inpaint", exact=True).click()
    before, result, boxes = compared_images(page)
    screenshot(page, tmp_path, "inpaint")
    assert before.size == result.size, "the result is not compared with the input at the same size"
    assert boxes[0] == boxes[1], "before and after are not in the same place"

    assert parameters(result)["hole_pixels"] > 0, "the stroke did not reach the mask"
    original = Image.open(source).resize(result.size)
    changed = np.abs(pixels(result) - pixels(original)).max(axis=2) > 40
    assert 0 < changed.mean() < 0.5, f"{changed.mean():.1%} of the pixels changed"
    rows, cols = np.nonzero(changed)
    h, w = changed.shape
    assert rows.min() < h / 2 < rows.max() and cols.min() < w / 2 < cols.max(), "the fill is not where we painted"
    # the result goes back into the editor with an empty mask, ready for another round
    panel(page).get_by_role("button", name="Continue editing (result back into the editor)").click()
    page.wait_for_timeout(1000)
    panel(page).get_by_role("button", name="Inpaint", exact=True).click()
    expect(page.locator(".toast-body")).to_contain_text("The mask is empty", timeout=TIMEOUT_MS)


def stroke_across_the_editor(page) -> None:
    """One horizontal brush stroke across the middle of the inpainting editor."""
    page.locator("#inpaint-editor").get_by_role("button", name="Brush", exact=True).click()
    box = page.locator("#inpaint-editor canvas").first.bounding_box()
    cx, cy = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
    # Few steps: each mouse event costs the software-rendered canvas ~1 s.
    page.mouse.move(cx - 70, cy)
    page.mouse.down()
    page.mouse.move(cx + 70, cy, steps=6)
    page.mouse.up()


def test_inpainting_examples_fill_on_stroke_end_and_invert_the_mask(page):
    open_tab(page, "Inpainting")
    expect(page.locator("#inpaint-editor .zoom-number")).to_be_visible()
    thumbnails(page, "Example photos (DTD, held out from training): click to use").nth(7).click()  # cracked
    wait_until(page, lambda: editor_shows_a_picture(page), "the example never showed in the editor")
    panel(page).get_by_label("Fill as soon as a stroke ends").check()
    stroke_across_the_editor(page)
    _, filled, _ = compared_images(page)  # filled without pressing Inpaint
    hole = parameters(filled)["hole_pixels"]
    assert 0 < hole < 0.5 * filled.width * filled.height
    panel(page).get_by_label("Fill as soon as a stroke ends").uncheck()
    assert pink_share(page) < 0.2
    panel(page).get_by_role("button", name="Invert mask").click()
    wait_until(page, lambda: pink_share(page) > 0.5, "the inverted mask does not cover the rest of the photo")


def pink_share(page) -> float:
    """The share of the middle of the inpainting canvas under the pink mask."""
    shot = Image.open(io.BytesIO(page.locator("#inpaint-editor canvas").first.screenshot()))
    w, h = shot.size
    rgb = pixels(shot.crop((w // 4, h // 4, 3 * w // 4, 3 * h // 4)))
    return float(((rgb[..., 0] > rgb[..., 1] + 60) & (rgb[..., 2] > rgb[..., 1] + 20)).mean())


def test_the_editor_toolbar_leaves_a_wide_photo_uncovered(page, tmp_path):
    open_tab(page, "Inpainting")
    expect(page.locator("#inpaint-editor .zoom-number")).to_be_visible()
    wide = np.random.default_rng(0).integers(0, 160, (300, 900, 3), dtype=np.uint8)  # no pure red in it ...
    wide[:, :40] = (255, 0, 0)  # ... but its left edge
    Image.fromarray(wide).save(tmp_path / "wide.png")
    page.locator("#inpaint-editor input[type=file]").set_input_files(tmp_path / "wide.png")
    wait_until(page, lambda: editor_shows_a_picture(page), "the photo never showed in the editor")
    editor = page.locator("#inpaint-editor")
    shot = pixels(Image.open(io.BytesIO(editor.screenshot())))
    red = (shot[..., 0] > 200) & (shot[..., 1] < 60) & (shot[..., 2] < 60)
    toolbar = editor.locator(".toolbar-wrap").bounding_box()
    toolbar_right = toolbar["x"] + toolbar["width"] - editor.bounding_box()["x"]
    assert red.any() and np.nonzero(red.any(axis=0))[0].min() > toolbar_right, "the toolbar covers the photo"


def test_texture_example_is_classified(page, tmp_path):
    open_tab(page, "Texture")
    thumbnails(page, "DTD examples, two per class (click to use)").first.click()  # banded_0006
    wait_for_image(page, "Image")
    scores = block(page, "Top 5 classes")
    expect(scores).to_contain_text(A_DTD_CLASS, timeout=TIMEOUT_MS)
    expect(scores).to_contain_text("banded")
    wait_for_image(page, "Where the network sees that class (class activation map)")
    screenshot(page, tmp_path, "texture")


def test_send_latent_sample_to_texture(page, tmp_path):
    sample = pixels(fetch_image(page, wait_for_image(page, "Sample")))
    panel(page).get_by_role("button", name="Send to Texture").click()
    expect(page.get_by_role("tab", name="Texture")).to_have_attribute("aria-selected", "true", timeout=TIMEOUT_MS)
    received = page.locator("#texture-image img")
    expect(received).to_be_visible(timeout=TIMEOUT_MS)
    expect(block(page, "Top 5 classes")).to_contain_text(A_DTD_CLASS, timeout=TIMEOUT_MS)
    assert np.array_equal(pixels(fetch_image(page, received)), sample), "the Texture tab shows another image"
    screenshot(page, tmp_path, "sent-to-texture")


def test_restore_parameters_from_a_studio_png(page, tmp_path, client):
    png = client.predict("fmnist-gan", 7, 1, 0.8, *[0.0] * 10, api_name="/sample")
    sample = wait_for_image(page, "Sample")
    old_src = sample.get_attribute("src")
    set_file(page, "Restore parameters from a studio PNG or animation", Path(png))
    expect(panel(page).get_by_label("Seed", exact=True)).to_have_value("7", timeout=TIMEOUT_MS)
    expect(page.get_by_label("number input for Truncation ψ")).to_have_value("0.8")
    expect(sample).not_to_have_attribute("src", old_src, timeout=TIMEOUT_MS)
    assert np.array_equal(pixels(fetch_image(page, sample)), pixels(Image.open(png))), "not the saved image"
    screenshot(page, tmp_path, "restored")


def test_history_reopens_an_earlier_result_and_the_outputs_folder_has_both(page, tmp_path, outputs_dir):
    seed_box = panel(page).get_by_label("Seed", exact=True)
    sample = wait_for_image(page, "Sample")
    seeds = []
    for _ in range(2):
        old_src = sample.get_attribute("src")
        panel(page).get_by_role("button", name="Random seed").click()
        expect(sample).not_to_have_attribute("src", old_src, timeout=TIMEOUT_MS)
        seeds.append(parameters(fetch_image(page, sample))["seed"])
        page.wait_for_timeout(1000 * BURST_S + 300)  # settled: results closer together are one burst
    page.get_by_role("button", name="Toggle Sidebar").click()
    history = page.locator("#history-gallery button.thumbnail-item")
    expect(history).to_have_count(2, timeout=TIMEOUT_MS)
    history.nth(1).click()  # newest first: the second is the first seed
    reopen = page.get_by_role("button", name="Reopen in its tab")
    expect(reopen).to_be_enabled()
    reopen.click()
    expect(seed_box).to_have_value(str(seeds[0]), timeout=TIMEOUT_MS)
    wait_until(page, lambda: parameters(fetch_image(page, sample))["seed"] == seeds[0],
               "the reopened sample never showed the first seed")
    screenshot(page, tmp_path, "history")
    saved = {pnginfo.read(path)["seed"] for path in outputs_dir.glob("*-latent-*.png")}
    assert set(seeds) <= saved


def test_png_info_restores_a_saved_png_in_the_tab_that_made_it(page, tmp_path, client):
    made = client.predict("fmnist-cgan", "Bag", 3, 11, 0.6, api_name="/generate")
    open_tab(page, "PNG info")
    set_file(page, "Studio PNG or animation (GIF, WebM, MP4)", Path(made))
    expect(panel(page)).to_contain_text("Class-conditional", timeout=TIMEOUT_MS)
    screenshot(page, tmp_path, "pnginfo")
    panel(page).get_by_role("button", name="Restore in Class-conditional").click()
    expect(page.get_by_role("tab", name="Class-conditional")).to_have_attribute("aria-selected", "true")
    expect(panel(page).get_by_label("Class", exact=True)).to_have_value("Bag")
    expect(panel(page).get_by_label("Seed", exact=True)).to_have_value("11")
    result = wait_for_image(page, "Result")
    wait_until(page, lambda: parameters(fetch_image(page, result)).get("seed") == 11,
               "the restored result never showed seed 11")
    assert np.array_equal(pixels(fetch_image(page, result)), pixels(Image.open(made)))


LOW_CONTRAST_JS = """() => {
  const parse = c => { const m = c.match(/[\\d.]+/g).map(Number); return m.length >= 4 && m[3] === 0 ? null : m; };
  const lum = ([r, g, b]) => {
    const f = v => { v /= 255; return v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4; };
    return 0.2126 * f(r) + 0.7152 * f(g) + 0.0722 * f(b);
  };
  const background = el => {
    for (let e = el; e; e = e.parentElement) { const c = parse(getComputedStyle(e).backgroundColor); if (c) return c; }
    return [255, 255, 255];
  };
  const ratio = el => {
    const [hi, lo] = [lum(parse(getComputedStyle(el).color)), lum(background(el))].sort((a, b) => b - a);
    return (hi + 0.05) / (lo + 0.05);
  };
  const texts = [...document.querySelectorAll("body *")].filter(e => e.offsetParent && !e.closest(":disabled")
    && !["SCRIPT", "STYLE"].includes(e.tagName)
    && [...e.childNodes].some(n => n.nodeType === 3 && n.textContent.trim()));
  return texts.map(e => [ratio(e).toFixed(2), e.textContent.trim().slice(0, 40)]).filter(([r]) => r < 4.5);
}"""


def test_every_text_meets_wcag_aa_contrast_and_controls_show_a_focus_ring(page):
    wait_for_image(page, "Sample")
    for tab in ("Latent sampling", "Class-conditional", "VAE interpolation", "Inpainting", "Texture", "PNG info"):
        page.get_by_role("tab", name=tab).click()
        page.wait_for_timeout(300)
        assert page.evaluate(LOW_CONTRAST_JS) == [], f"{tab}: text under 4.5:1 (contrast, text)"
    page.get_by_role("tab", name="Latent sampling").click()
    page.get_by_role("slider", name=re.compile(r"^range slider for PC1\b")).focus()
    page.keyboard.press("Tab")
    page.keyboard.press("Shift+Tab")  # focused from the keyboard, as :focus-visible needs
    outline = page.evaluate("() => { const s = getComputedStyle(document.activeElement); "
                            "return [document.activeElement.type, s.outlineStyle, parseFloat(s.outlineWidth)]; }")
    assert outline[0] == "range" and outline[1] != "none" and outline[2] >= 2, outline


# An afternoon without friction (issue 14): results in view at honest pixels, grids to pick from, keyboard, phone.

DRAWN_JS = """img => { const r = img.getBoundingClientRect();
  return {width: r.width, height: r.height, top: r.top, bottom: r.bottom, natural: img.naturalWidth,
          naturalHeight: img.naturalHeight, alt: img.alt}; }"""


def drawn(img) -> dict:
    """Where and how big an <img> is drawn, and its natural size and alt text."""
    return img.evaluate(DRAWN_JS)


def scale_of(img) -> float:
    """Screen pixels per image pixel (the page's device pixel ratio is 1), once the image is sized."""
    expect(img).to_have_attribute("data-scale", re.compile(r"^\d+$"), timeout=TIMEOUT_MS)
    box = drawn(img)
    assert box["width"] / box["natural"] == box["height"] / box["naturalHeight"], box
    return box["width"] / box["natural"]


def slider_to(page, name: str, key: str, presses: int = 1) -> None:
    page.get_by_role("slider", name=re.compile(rf"^range slider for {re.escape(name)}\b")).focus()
    for _ in range(presses):
        page.keyboard.press(key)


def test_the_result_stays_in_view_at_whole_pixels_and_a_grid_cell_can_be_picked(page, tmp_path):
    sample = wait_for_image(page, "Sample")
    assert scale_of(sample) == 18  # 28 model pixels in a 518-pixel box: 18 screen pixels each, not 18.5
    assert "fmnist-gan" in drawn(sample)["alt"] and "seed 42" in drawn(sample)["alt"]
    slider_to(page, "PC10", "ArrowRight", 0)  # the last control: the page scrolls down to it
    box = drawn(sample)
    assert 0 <= box["top"] and box["bottom"] <= 900, f"the result left the screen: {box}"
    expect(panel(page).locator(".direction-strip img")).to_have_count(10)
    for k in range(1, 11):  # a track of at least 2 pixels a 0.1 step, a label on one line
        track = page.get_by_role("slider", name=re.compile(rf"^range slider for PC{k}\b")).bounding_box()
        assert track["width"] >= 200, f"PC{k}: {track['width']} pixels for 100 steps"
    label_heights = panel(page).locator(".direction-slider label span").first.evaluate(
        "span => [span.getBoundingClientRect().height, parseFloat(getComputedStyle(span).lineHeight)]")
    assert label_heights[0] < 1.5 * label_heights[1], "the direction label wraps"
    strip_heights = {drawn(img)["height"] for img in panel(page).locator(".direction-strip img").all()}
    assert strip_heights and all(h >= 28 for h in strip_heights)

    slider_to(page, "Samples", "End")  # 64 samples: 238 model pixels in a 518-pixel box are drawn 2x, not shrunk
    wait_until(page, lambda: parameters(fetch_image(page, sample))["num_samples"] == 64, "no 64-sample grid")
    assert scale_of(sample) == 2
    slider_to(page, "Samples", "Home")
    slider_to(page, "Samples", "ArrowRight", 8)  # 9 samples: a 3x3 grid from seeds 42 to 50
    wait_until(page, lambda: parameters(fetch_image(page, sample))["num_samples"] == 9, "no 9-sample grid")
    scale = scale_of(sample)
    screenshot(page, tmp_path, "latent-grid")

    # sending a grid asks for a cell, and the next action clears that error
    panel(page).get_by_role("button", name="Send to VAE slot A").click()
    error = page.locator(".toast-body.error")
    expect(error).to_contain_text("holds 9 pictures: click the one you want", timeout=TIMEOUT_MS)
    toggle = page.get_by_role("button", name="Toggle Sidebar").bounding_box()
    toast = error.bounding_box()
    assert toast["y"] > toggle["y"] + toggle["height"] or toast["x"] + toast["width"] < toggle["x"], "covers History"

    box = sample.bounding_box()
    page.mouse.click(box["x"] + scale * (30 + 14), box["y"] + scale * (30 + 14))  # the middle cell: seed 42 + 4
    expect(error).to_have_count(0, timeout=TIMEOUT_MS)
    expect(panel(page).get_by_label("Seed", exact=True)).to_have_value("46", timeout=TIMEOUT_MS)
    expect(page.get_by_label("number input for Samples")).to_have_value("1")
    wait_until(page, lambda: parameters(fetch_image(page, sample))["num_samples"] == 1, "the cell was not picked")
    picked = fetch_image(page, sample)
    assert parameters(picked)["seed"] == 46 and picked.size == (28, 28)
    panel(page).get_by_role("button", name="Send to VAE slot A").click()
    expect(page.get_by_role("tab", name="VAE interpolation")).to_have_attribute("aria-selected", "true")


def test_one_drag_of_a_slider_is_one_history_item_and_one_file(page, outputs_dir):
    wait_for_image(page, "Sample")
    page.wait_for_timeout(1000 * BURST_S + 300)
    page.get_by_role("button", name="Toggle Sidebar").click()
    history = page.locator("#history-gallery button.thumbnail-item")
    expect(history).to_have_count(0)  # the sample shown on opening is not something the person made
    files_before = set(outputs_dir.glob("*-latent-*.png"))
    slider = page.get_by_role("slider", name=re.compile(r"^range slider for PC3\b"))
    slider.scroll_into_view_if_needed()
    track = slider.bounding_box()
    y = track["y"] + track["height"] / 2
    page.mouse.move(track["x"] + track["width"] / 2, y)
    page.mouse.down()
    for step in range(1, 13):  # about a second of dragging: twelve values on the way
        page.mouse.move(track["x"] + track["width"] / 2 + 6 * step, y)
        page.wait_for_timeout(80)
    page.mouse.up()
    number = page.get_by_label(re.compile(r"^number input for PC3\b"))
    expect(number).not_to_have_value("0")
    page.wait_for_timeout(1000 * BURST_S + 1500)
    expect(history).to_have_count(1, timeout=TIMEOUT_MS)
    expect(history.first.locator("img")).to_have_attribute("alt", re.compile(r"PC3 \+\d\.\d$"))
    new_files = set(outputs_dir.glob("*-latent-*.png")) - files_before
    assert len(new_files) == 1, sorted(p.name for p in new_files)
    assert pnginfo.read(next(iter(new_files)))["directions"][2] == float(number.input_value())


def test_strip_frames_are_large_and_grids_of_other_tabs_can_be_picked(page, tmp_path):
    open_tab(page, "Class-conditional")
    panel(page).get_by_role("button", name="Morph", exact=True).click()
    gif = wait_for_image(page, "Morph animation (GIF)")
    expect(gif).to_have_attribute("src", re.compile(r"\.gif$"), timeout=TIMEOUT_MS)
    result = wait_for_image(page, "Result")
    wait_until(page, lambda: parameters(fetch_image(page, result))["mode"] == "morph", "no morph strip")
    assert 28 * scale_of(result) >= 84, "strip frames under 84 screen pixels"
    panel(page).get_by_role("button", name="One of each").click()
    wait_until(page, lambda: parameters(fetch_image(page, result))["mode"] == "one_of_each", "no one-of-each grid")
    grid = fetch_image(page, result)
    cell = json.loads(grid.info["studio-cells"])
    scale = scale_of(result)
    box = result.bounding_box()
    x = cell["origin"][0] + 2 * (cell["cell"][0] + cell["gap"]) + cell["cell"][0] // 2  # third column ...
    y = 7 * (cell["cell"][1] + cell["gap"]) + cell["cell"][1] // 2  # ... of the eighth row: Sneaker, seed 0 + 2
    page.mouse.click(box["x"] + scale * x, box["y"] + scale * y)
    expect(panel(page).get_by_label("Class", exact=True)).to_have_value("Sneaker", timeout=TIMEOUT_MS)
    expect(panel(page).get_by_label("Seed", exact=True)).to_have_value("2")
    wait_until(page, lambda: parameters(fetch_image(page, result)).get("num_samples") == 1, "the cell was not picked")
    screenshot(page, tmp_path, "conditional-picked")


def test_keyboard_reaches_the_results_actions_in_a_few_presses(page):
    wait_for_image(page, "Sample")
    skip = panel(page).get_by_role("link", name="Skip to the result")
    skip.focus()
    expect(skip).to_be_visible()
    page.keyboard.press("Enter")
    on_an_action = ("() => !!document.activeElement.closest('#latent-result') "
                    "&& document.activeElement.tagName === 'BUTTON'")
    presses = 0
    while presses < 5:
        page.keyboard.press("Tab")
        presses += 1
        if page.evaluate(on_an_action):
            break
    assert page.evaluate(on_an_action) and presses <= 4, f"{presses} presses and no result action has the focus"



def test_a_phone_reaches_every_tab_sees_the_result_first_and_swipes_without_moving_sliders(phone, tmp_path):
    for tab in TABS:
        button = phone.get_by_role("tab", name=tab)
        expect(button).to_be_visible()
        box = button.bounding_box()
        assert 0 <= box["x"] and box["x"] + box["width"] <= 390, f"{tab} is off the screen"
    sample = wait_for_image(phone, "Sample")
    assert sample.bounding_box()["y"] < panel(phone).get_by_label("Model").bounding_box()["y"], "the result is last"
    slider = phone.get_by_role("slider", name=re.compile(r"^range slider for PC2\b"))
    slider.scroll_into_view_if_needed()
    box = slider.bounding_box()
    x, y = box["x"] + box["width"] * 0.8, box["y"] + box["height"] / 2
    scrolled = phone.evaluate("() => window.scrollY")
    cdp = phone.context.new_cdp_session(phone)
    cdp.send("Input.dispatchTouchEvent", {"type": "touchStart", "touchPoints": [{"x": x, "y": y}]})
    for step in range(1, 11):
        cdp.send("Input.dispatchTouchEvent",
                 {"type": "touchMove", "touchPoints": [{"x": x - step, "y": y - 25 * step}]})
    cdp.send("Input.dispatchTouchEvent", {"type": "touchEnd", "touchPoints": []})
    phone.wait_for_timeout(1000)
    assert phone.evaluate("() => window.scrollY") > scrolled, "the swipe did not scroll the page"
    expect(phone.get_by_label(re.compile(r"^number input for PC2\b"))).to_have_value("0")
    phone.evaluate("() => window.scrollTo(0, 0)")
    screenshot(phone, tmp_path, "phone", full_page=False)


# The colour texture family (issue 15).

def choose(page, label: str, option: str) -> None:
    dropdown = panel(page).get_by_label(label, exact=True)
    dropdown.click()
    page.get_by_role("option", name=option, exact=True).click()
    expect(dropdown).to_have_value(option)


def test_a_seamless_texture_shows_tiled_at_whole_pixels_and_the_classes_follow_the_model(page, tmp_path):
    wait_for_image(page, "Sample")
    expect(panel(page).get_by_label("Seamless (tiles with no visible seam)")).to_be_hidden()
    choose(page, "Model", "dtd10-texgan")
    seamless = panel(page).get_by_label("Seamless (tiles with no visible seam)")
    expect(seamless).to_be_visible(timeout=TIMEOUT_MS)
    seamless.check()
    tiled = wait_for_image(page, "Seamless check: the texture tiled 2x2")
    sample = wait_for_image(page, "Sample")
    wait_until(page, lambda: parameters(fetch_image(page, sample)).get("seamless") is True, "no seamless texture")
    texture = fetch_image(page, sample)
    assert texture.mode == "RGB" and texture.size == (256, 256)
    assert scale_of(sample) == 2, "a 256-pixel texture in the 518-pixel box is drawn at 2 screen pixels a pixel"
    wait_until(page, lambda: np.array_equal(pixels(fetch_image(page, tiled)), np.tile(pixels(texture), (2, 2, 1))),
               "the tiled preview is not the texture repeated 2x2")
    screenshot(page, tmp_path, "texture-latent", full_page=False)
    open_tab(page, "Class-conditional")
    choose(page, "Model", "dtd10-texgan")
    choose(page, "Class", "cracked")
    expect(panel(page).get_by_label("From", exact=True)).to_have_value("bubbly")
    panel(page).get_by_role("button", name="Generate", exact=True).click()
    result = wait_for_image(page, "Result")
    wait_until(page, lambda: parameters(fetch_image(page, result)).get("class") == "cracked", "no cracked textures")
    screenshot(page, tmp_path, "texture-conditional", full_page=False)


def test_the_texture_vae_interpolates_two_clicked_dtd_photos_in_colour(page, tmp_path):
    open_tab(page, "VAE interpolation")
    choose(page, "Model", "dtd10-texvae")
    examples = thumbnails(page, "DTD example photos (click to use)")
    for slot, index in (("A", 3), ("B", 7)):  # bubbly, cracked
        panel(page).get_by_label(slot, exact=True).check()
        examples.nth(index).click()
        wait_for_image(page, f"Slot {slot}")
    panel(page).get_by_role("button", name="Interpolate A → B").click()
    strip = wait_for_image(page, "Interpolation")
    wait_until(page, lambda: parameters(fetch_image(page, strip)).get("model_id") == "dtd10-texvae", "no texture strip")
    frames = fetch_image(page, strip)
    assert frames.mode == "RGB" and json.loads(frames.info["studio-cells"])["cell"] == [64, 64]
    assert pixels(frames).std(axis=(0, 1)).min() > 5  # colour pictures, not a blank
    screenshot(page, tmp_path, "texture-vae", full_page=False)


# Latent animations to take away (issue 17).

PLAYS_JS = """async video => {
  video.muted = true;  // a muted video may play without a click (Chromium's autoplay policy)
  await video.play();
  const start = video.currentTime;
  await new Promise(resolve => setTimeout(resolve, 700));
  return {readyState: video.readyState, start, now: video.currentTime, width: video.videoWidth,
          error: video.error && video.error.code};
}"""


def set_number(page, label: str, value: str) -> None:
    """Type into a slider's or number's box and leave it, as a person would."""
    box = panel(page).get_by_label(f"number input for {label}")
    box.fill(value)
    box.press("Tab")
    expect(box).to_have_value(value)


def test_an_exported_webm_plays_a_gif_loads_and_the_webm_restores_through_png_info(browser, app_url, page, tmp_path):
    wait_for_image(page, "Sample")
    seed_box = panel(page).get_by_label("Seed", exact=True)
    seed_box.fill("7")
    seed_box.press("Enter")
    page.locator("#latent-animation .label-wrap").first.click()
    set_number(page, "Direction (PC) to sweep", "3")
    set_number(page, "Frames a second", "12")
    set_number(page, "Length (seconds)", "2")
    panel(page).get_by_role("button", name="Make animation").click()
    player = page.locator("#latent-animation-video video")
    expect(player).to_have_attribute("src", re.compile(r"\.webm$"), timeout=TIMEOUT_MS)
    played = player.evaluate(PLAYS_JS)
    assert played["error"] is None and played["readyState"] >= 2 and played["width"] == 252, played
    assert played["now"] > played["start"], f"the video did not play: {played}"
    webm = tmp_path / "loop.webm"
    response = page.request.get(player.get_attribute("src"))
    assert response.ok
    webm.write_bytes(response.body())
    params = pnginfo.read(webm)
    assert params["seed"] == 7 and params["animation"]["direction"] == 3 and params["animation"]["frames"] == 24
    screenshot(page, tmp_path, "latent-animation")

    choose(page, "Format", "GIF")
    panel(page).get_by_role("button", name="Make animation").click()
    gif = page.locator("#latent-animation-gif img")
    expect(gif).to_have_attribute("src", re.compile(r"\.gif$"), timeout=TIMEOUT_MS)
    wait_until(page, lambda: gif.evaluate("img => img.complete && img.naturalWidth") == 252, "the GIF did not load")
    animation = fetch_image(page, gif)
    assert animation.format == "GIF" and animation.n_frames == 24

    context, fresh = open_studio(browser, app_url, 1440, 900)  # a new page: nothing set by hand
    try:
        open_tab(fresh, "PNG info")
        set_file(fresh, "Studio PNG or animation (GIF, WebM, MP4)", webm)
        expect(panel(fresh)).to_contain_text("PC3 swept", timeout=TIMEOUT_MS)
        panel(fresh).get_by_role("button", name="Restore in Latent sampling").click()
        expect(fresh.get_by_role("tab", name="Latent sampling")).to_have_attribute("aria-selected", "true")
        expect(panel(fresh).get_by_label("Seed", exact=True)).to_have_value("7", timeout=TIMEOUT_MS)
        fresh.locator("#latent-animation .label-wrap").first.click()
        for label, value in (("Direction (PC) to sweep", "3"), ("Frames a second", "12"), ("Length (seconds)", "2")):
            expect(panel(fresh).get_by_label(f"number input for {label}")).to_have_value(value)
        expect(panel(fresh).get_by_label("Format", exact=True)).to_have_value("WebM (VP9)")
    finally:
        context.close()


def drag_slider(page, slider, moves: int = 60, seconds: float = 2.0) -> None:
    """A real mouse drag across a slider from near its left end to near its right end, `moves` moves evenly
    spread over `seconds`."""
    slider.scroll_into_view_if_needed()
    track = slider.bounding_box()
    y = track["y"] + track["height"] / 2
    left, right = track["x"] + 0.03 * track["width"], track["x"] + 0.97 * track["width"]
    page.mouse.move(left, y)
    page.mouse.down()
    for step in range(1, moves + 1):
        page.mouse.move(left + (right - left) * step / moves, y)
        page.wait_for_timeout(1000 * seconds / moves)
    page.mouse.up()


def final_parameters(page, img) -> dict:
    """The parameters of the image Gradio shows in `img` ({} while a live preview is drawn there)."""
    src = img.get_attribute("src")
    return {} if src.startswith("blob:") else parameters(image_at(page, src))


LAST_PREVIEW_AGAINST = """async (img) => {
  // the largest difference of any pixel between the last live preview and what the image shows now
  const drag = window.studioLive.drags.at(-1);
  const load = (src) => new Promise((done) => { const i = new Image(); i.onload = () => done(i); i.src = src; });
  const rgba = (i) => {
    const c = document.createElement("canvas");
    c.width = i.naturalWidth;
    c.height = i.naturalHeight;
    const g = c.getContext("2d"); g.drawImage(i, 0, 0); return g.getImageData(0, 0, c.width, c.height).data; };
  const [a, b] = [rgba(await load(drag.lastPreview)), rgba(await load(img.src))];
  return a.length === b.length ? Math.max(...a.map((v, k) => Math.abs(v - b[k]))) : 999;
}"""


def test_a_drag_previews_live_and_the_final_image_is_the_last_preview(page, tmp_path):
    sample = wait_for_image(page, "Sample")
    status = page.locator('.live-status[data-live-tab="latent"]')
    expect(status).to_have_text(re.compile("follows a slider"), timeout=TIMEOUT_MS)
    drag_slider(page, page.get_by_role("slider", name=re.compile(r"^range slider for PC2\b")))
    expect(status).to_have_text(re.compile(r"\d+ pictures a second"), timeout=TIMEOUT_MS)
    drag = page.evaluate("() => window.studioLive.drags.at(-1)")
    assert drag["tab"] == "latent" and drag["error"] is None
    assert drag["previews"] >= 10, drag  # the picture followed the drag, not only its end
    value = float(page.get_by_label(re.compile(r"^number input for PC2\b")).input_value())
    assert value > 4 and json.loads(drag["lastBody"])["directions"][1] == value
    # the final image (Gradio's, with parameters) arrives after the release and is the last preview's pixels
    wait_until(page, lambda: final_parameters(page, sample).get("directions", [0, 0])[1] == value,
               "the final image never came")
    assert sample.evaluate(LAST_PREVIEW_AGAINST) <= 2
    screenshot(page, tmp_path, "latent-live")


def drag_to_the_end_previews_live(page, tab: str, slider_label: str, result) -> None:
    """Drag a position slider from start to end: previews were shown and the final image is the last one."""
    drag_slider(page, panel(page).get_by_role("slider", name=f"range slider for {slider_label}"), 30, 1.0)
    wait_until(page, lambda: final_parameters(page, result).get("position", 0) > 0.9,
               f"the final image of {slider_label} never came")
    drag = page.evaluate("() => window.studioLive.drags.at(-1)")
    assert drag["tab"] == tab and drag["previews"] >= 5, drag
    assert result.evaluate(LAST_PREVIEW_AGAINST) <= 2


def test_the_morph_position_and_the_path_position_preview_live(page):
    open_tab(page, "Class-conditional")
    panel(page).get_by_role("button", name="Generate", exact=True).click()
    drag_to_the_end_previews_live(page, "conditional", "Morph position", wait_for_image(page, "Result"))
    interpolate_two_examples(page)
    drag_to_the_end_previews_live(page, "vae", "Position along the path", wait_for_image(page, "Along the path"))


def test_without_the_preview_route_sliders_update_as_before_and_the_page_says_so(browser, app_url):
    context = browser.new_context(viewport={"width": 1440, "height": 900})
    context.set_default_timeout(TIMEOUT_MS)
    context.route(re.compile(r"/studio/live"), lambda route: route.abort())
    page = context.new_page()
    page.goto(app_url)
    sample = wait_for_image(page, "Sample")
    expect(page.locator('.live-status[data-live-tab="latent"]')).to_have_text(re.compile("Live preview is off"),
                                                                             timeout=TIMEOUT_MS)
    old_src = sample.get_attribute("src")
    drag_slider(page, page.get_by_role("slider", name=re.compile(r"^range slider for PC1\b")), 12, 1.0)
    expect(sample).not_to_have_attribute("src", old_src, timeout=TIMEOUT_MS)
    assert not sample.get_attribute("src").startswith("blob:")  # Gradio's own image, as before
    value = float(page.get_by_label(re.compile(r"^number input for PC1\b")).input_value())
    wait_until(page, lambda: parameters(fetch_image(page, sample))["directions"][0] == value,
               "the sample never settled on the slider's value")
    context.close()

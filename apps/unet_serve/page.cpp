// The one page unet_serve shows: pick a .nii/.nii.gz, watch upload and inference progress, then
// browse axial slices (slider, arrow keys) with the predicted liver boundary in yellow over the
// windowed CT, read the liver volume in mL and download the NIfTI mask. Plain HTML/CSS/JS, no
// external assets, laid out for a laptop screen (1280x800 and up; narrower screens stack).
//
// Test hook: "/?demo=1" fetches /api/demo-volume and submits it through the same upload code as
// the file picker; when the first result slice has loaded, document.title becomes
// "done: <mL> mL" (or "failed: <message>"), which headless Chromium's --dump-dom can read.
#include "apps/unet_serve/serve_app.h"

namespace unet::apps::serve {
namespace {

const char* const kPage = R"PAGE(<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Liver segmentation</title>
<style>
  :root { --bg:#15181d; --panel:#1f242c; --line:#333b47; --text:#e6e9ee; --dim:#9aa4b2;
          --accent:#f5d90a; --bad:#ff6b6b; }
  * { box-sizing: border-box; }
  body { margin:0; background:var(--bg); color:var(--text);
         font:15px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; }
  header { display:flex; align-items:baseline; gap:16px; padding:12px 20px;
           border-bottom:1px solid var(--line); }
  header h1 { font-size:19px; margin:0; }
  header .model { color:var(--dim); font-size:13px; }
  main { display:grid; grid-template-columns:320px 1fr; gap:20px; padding:20px;
         max-width:1400px; margin:0 auto; }
  @media (max-width: 900px) { main { grid-template-columns:1fr; } }
  section.panel { background:var(--panel); border:1px solid var(--line); border-radius:8px;
                  padding:16px; }
  h2 { font-size:15px; margin:0 0 10px; color:var(--dim); font-weight:600; }
  label.file { display:block; border:2px dashed var(--line); border-radius:8px; padding:18px;
               text-align:center; cursor:pointer; color:var(--dim); }
  label.file:hover, label.file.drag { border-color:var(--accent); color:var(--text); }
  input[type=file] { display:none; }
  button, a.button { display:inline-block; background:#2d6cdf; color:#fff; border:0;
                     border-radius:6px; padding:8px 14px; font:inherit; cursor:pointer;
                     text-decoration:none; margin-top:10px; }
  button.secondary { background:#3a4250; }
  button:disabled { opacity:.5; cursor:default; }
  progress { width:100%; height:14px; margin-top:12px; }
  .hint { color:var(--dim); font-size:13px; margin-top:8px; }
  #error { display:none; margin-top:12px; padding:10px; border-radius:6px;
           background:#3b1d1f; color:var(--bad); white-space:pre-wrap; word-break:break-word; }
  .stat { font-size:34px; font-weight:700; color:var(--accent); }
  dl { display:grid; grid-template-columns:auto 1fr; gap:4px 12px; margin:10px 0 0;
       font-size:13px; }
  dt { color:var(--dim); }
  dd { margin:0; }
  #viewer { display:none; }
  .view { display:flex; flex-direction:column; align-items:center; }
  #slice { width:min(100%, calc(100vh - 230px)); min-width:256px; aspect-ratio:1;
           object-fit:contain; image-rendering:pixelated; background:#000;
           border:1px solid var(--line); border-radius:4px; }
  .controls { display:flex; align-items:center; gap:12px; width:100%; max-width:760px;
              margin-top:10px; }
  .controls input[type=range] { flex:1; accent-color:var(--accent); }
  #sliceLabel { min-width:150px; text-align:right; font-variant-numeric:tabular-nums; }
  #placeholder { color:var(--dim); text-align:center; padding:80px 20px; }
</style>
</head>
<body>
<header>
  <h1>Liver segmentation &middot; U-Net</h1>
  <span class="model" id="model">connecting&hellip;</span>
</header>
<main>
  <div>
    <section class="panel">
      <h2>CT volume</h2>
      <label class="file" id="drop">
        <input type="file" id="file" accept=".nii,.gz,.nii.gz,application/gzip">
        <span id="fileLabel">Choose a <b>.nii</b> or <b>.nii.gz</b> file, or drop it here</span>
      </label>
      <button id="run" disabled>Segment</button>
      <button id="demo" class="secondary">Try a synthetic phantom</button>
      <div class="hint" id="limit"></div>
      <progress id="progress" max="1" value="0" hidden></progress>
      <div class="hint" id="status" role="status"></div>
      <div id="error" role="alert"></div>
    </section>
    <section class="panel" id="summary" style="margin-top:20px; display:none">
      <h2>Result</h2>
      <div class="stat"><span id="ml"></span> mL</div>
      <div class="hint">predicted liver volume</div>
      <dl>
        <dt>File</dt><dd id="name"></dd>
        <dt>Grid</dt><dd id="grid"></dd>
        <dt>Spacing</dt><dd id="spacing"></dd>
        <dt>Liver slices</dt><dd id="range"></dd>
        <dt>Inference</dt><dd id="time"></dd>
      </dl>
      <a class="button" id="download" download>Download mask (.nii.gz)</a>
    </section>
  </div>
  <section class="panel">
    <div id="placeholder">Upload a CT volume to see its axial slices with the predicted liver
      boundary.</div>
    <div id="viewer" class="view">
      <img id="slice" alt="axial CT slice with the predicted liver boundary">
      <div class="controls">
        <input type="range" id="slider" min="0" max="0" value="0" aria-label="slice">
        <span id="sliceLabel"></span>
      </div>
      <div class="controls">
        <label><input type="checkbox" id="overlay" checked> liver boundary</label>
        <button class="secondary" id="largest" style="margin-top:0">Largest liver slice</button>
      </div>
    </div>
  </section>
</main>
<script>
"use strict";
const $ = (id) => document.getElementById(id);
let maxUpload = 0, job = null, chosen = null;
const demoMode = new URLSearchParams(location.search).get("demo") === "1";

function showError(msg) { const e = $("error"); e.textContent = msg; e.style.display = "block"; }
function clearError() { $("error").style.display = "none"; }
function setStatus(text, fraction) {
  $("status").textContent = text;
  const p = $("progress");
  p.hidden = fraction === null;
  if (fraction !== null) p.value = fraction;
}
function seconds(s) { return (s < 10 ? s.toFixed(2) : s.toFixed(1)) + " s"; }
function busy(on) { $("run").disabled = on || !chosen; $("demo").disabled = on; }

async function health() {
  try {
    const r = await fetch("/api/health");
    const h = await r.json();
    maxUpload = h.max_upload_bytes;
    $("model").textContent = h.model + " \u00b7 " + h.input.height + "\u00d7" + h.input.width +
        " input \u00b7 " + h.device;
    $("limit").textContent = "Up to " + (maxUpload / 1048576).toFixed(0) + " MB per upload.";
  } catch (e) { $("model").textContent = "server not reachable"; }
}

// The one upload path, shared by the file picker and the demo: raw body, progress from XHR.
function upload(blob, name) {
  clearError();
  if (maxUpload && blob.size > maxUpload) {
    showError(name + " is " + (blob.size / 1048576).toFixed(1) + " MB, over the server's limit of " +
              (maxUpload / 1048576).toFixed(0) + " MB.");
    return Promise.reject(new Error("too large"));
  }
  busy(true);
  return new Promise((resolve, reject) => {
    const x = new XMLHttpRequest();
    x.open("POST", "/api/jobs?name=" + encodeURIComponent(name));
    x.setRequestHeader("Content-Type", "application/octet-stream");
    x.upload.onprogress = (ev) => {
      if (ev.lengthComputable) setStatus("Uploading " + name + "\u2026", ev.loaded / ev.total);
    };
    x.onload = () => {
      let body = {};
      try { body = JSON.parse(x.responseText); } catch (e) {}
      if (x.status === 202) resolve(body);
      else reject(new Error(body.error || ("upload failed (HTTP " + x.status + ")")));
    };
    x.onerror = () => reject(new Error("upload failed: the server did not answer"));
    x.send(blob);
  }).then(follow).catch((e) => { busy(false); setStatus("", null); showError(e.message);
                                 if (demoMode) document.title = "failed: " + e.message;
                                 throw e; });
}

// Long polls the job until it is done; each answer comes when the job changes.
async function follow(j) {
  for (;;) {
    if (j.status === "queued") setStatus("Waiting in the queue (" + j.position + " ahead)", 0);
    if (j.status === "running") {
      const p = j.progress;
      setStatus("Segmenting: " + p.done_slices + " / " + p.total_slices + " slices",
                p.total_slices ? p.done_slices / p.total_slices : 0);
    }
    if (j.status === "done") return show(j);
    if (j.status === "failed") throw new Error(j.error);
    const r = await fetch(j.url + "?wait=10");
    const body = await r.json();
    if (!r.ok) throw new Error(body.error || ("HTTP " + r.status));
    j = body;
  }
}

function sliceUrl(k) {
  return job.result.slice_url.replace("{k}", k) + "?overlay=" + ($("overlay").checked ? 1 : 0);
}
function showSlice() {
  const k = Number($("slider").value), r = job.result;
  $("slice").src = sliceUrl(k);
  $("sliceLabel").textContent = "slice " + (k + 1) + " / " + r.nz + " \u00b7 liver " +
      r.liver_pixels_per_slice[k] + " px";
}

function show(j) {
  job = j;
  const r = j.result;
  busy(false);
  setStatus("Done in " + seconds(r.seconds) + ".", null);
  $("ml").textContent = r.liver_volume_ml.toFixed(1);
  $("name").textContent = j.name;
  $("grid").textContent = r.nx + " \u00d7 " + r.ny + " \u00d7 " + r.nz;
  $("spacing").textContent = r.spacing_mm.map((s) => s.toFixed(2)).join(" \u00d7 ") + " mm";
  $("range").textContent = r.first_liver_slice < 0 ? "none" :
      (r.first_liver_slice + 1) + "\u2013" + (r.last_liver_slice + 1) + " of " + r.nz;
  $("time").textContent = seconds(r.seconds);
  $("download").href = r.mask_url;
  $("summary").style.display = "block";
  $("placeholder").style.display = "none";
  $("viewer").style.display = "flex";
  const s = $("slider");
  s.max = r.nz - 1;
  s.value = r.largest_liver_slice;
  $("slice").onload = () => {
    $("slice").onload = null;
    if (demoMode) document.title = "done: " + r.liver_volume_ml.toFixed(1) + " mL";
  };
  showSlice();
  s.focus();
}

$("file").addEventListener("change", () => {
  chosen = $("file").files[0] || null;
  $("fileLabel").textContent = chosen ? chosen.name + " (" + (chosen.size / 1048576).toFixed(1) +
      " MB)" : "Choose a .nii or .nii.gz file";
  busy(false);
});
const drop = $("drop");
drop.addEventListener("dragover", (e) => { e.preventDefault(); drop.classList.add("drag"); });
drop.addEventListener("dragleave", () => drop.classList.remove("drag"));
drop.addEventListener("drop", (e) => {
  e.preventDefault(); drop.classList.remove("drag");
  if (e.dataTransfer.files.length) {
    chosen = e.dataTransfer.files[0];
    $("fileLabel").textContent = chosen.name;
    busy(false);
  }
});
$("run").addEventListener("click", () => { if (chosen) upload(chosen, chosen.name).catch(() => {}); });
async function runDemo() {
  clearError();
  setStatus("Fetching the synthetic phantom\u2026", 0);
  const r = await fetch("/api/demo-volume");
  if (!r.ok) throw new Error("could not fetch the demo volume (HTTP " + r.status + ")");
  return upload(await r.blob(), "phantom.nii.gz");
}
$("demo").addEventListener("click", () => runDemo().catch((e) => showError(e.message)));
$("slider").addEventListener("input", showSlice);
$("overlay").addEventListener("change", showSlice);
$("largest").addEventListener("click", () => {
  $("slider").value = job.result.largest_liver_slice; showSlice();
});

health().then(() => {
  if (demoMode) runDemo().catch((e) => { document.title = "failed: " + e.message; });
});
</script>
</body>
</html>
)PAGE";

}  // namespace

const char* page_html() { return kPage; }

}  // namespace unet::apps::serve

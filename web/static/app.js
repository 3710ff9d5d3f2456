// kaobot web page: plain JavaScript, no library, no build step.
// Data from the server is only ever put in the page with textContent, never parsed as markup.
"use strict";

const TOKEN_KEY = "kaobot-web-token";
const $ = (id) => document.getElementById(id);

function el(tag, props = {}, children = []) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(props)) {
    if (key === "text") node.textContent = value;
    else if (key === "class") node.className = value;
    else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else node.setAttribute(key, value);
  }
  for (const child of children) node.append(child);
  return node;
}

function say(id, message, kind = "") {
  const node = $(id);
  node.textContent = message;
  node.className = "status" + (kind ? " " + kind : "");
}

// -- the token: asked once, kept in this tab's sessionStorage only ------------------------------
function askToken() {
  const dialog = $("token-dialog");
  const input = $("token-input");
  input.value = "";
  return new Promise((resolve) => {
    dialog.addEventListener("close", () => {
      const token = dialog.returnValue === "ok" ? input.value.trim() : "";
      if (token) sessionStorage.setItem(TOKEN_KEY, token);
      resolve(token || null);
    }, { once: true });
    dialog.returnValue = "";
    dialog.showModal();
    input.focus();
  });
}

class ApiError extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

async function api(method, path, { body, write = false } = {}) {
  const headers = {};
  if (write) {
    let token = sessionStorage.getItem(TOKEN_KEY);
    if (!token) token = await askToken();
    if (!token) throw new ApiError(0, "cancelled: changes need the web token");
    headers.Authorization = "Bearer " + token;
  }
  if (body !== undefined && !(body instanceof FormData)) {
    headers["Content-Type"] = "application/json";
    body = JSON.stringify(body);
  }
  let response;
  try {
    response = await fetch(path, { method, headers, body, credentials: "omit", cache: "no-store" });
  } catch (err) {
    throw new ApiError(0, "the server cannot be reached");
  }
  let data = null;
  if ((response.headers.get("Content-Type") || "").includes("application/json")) data = await response.json();
  if (!response.ok) {
    if (write && (response.status === 401 || response.status === 403)) sessionStorage.removeItem(TOKEN_KEY);
    let message = (data && data.error) || response.statusText || "request failed";
    if (response.status === 503 && response.headers.get("Retry-After")) {
      message += ` (try again in ${response.headers.get("Retry-After")} s)`;
    }
    throw new ApiError(response.status, message);
  }
  return data;
}

// -- drawing the numbered boxes -------------------------------------------------------------------
async function drawFaces(canvas, file, faces, picked = null) {
  const bitmap = await createImageBitmap(file);
  canvas.width = bitmap.width;
  canvas.height = bitmap.height;
  const ctx = canvas.getContext("2d");
  ctx.drawImage(bitmap, 0, 0);
  const line = Math.max(2, Math.round(Math.max(bitmap.width, bitmap.height) / 300));
  const size = Math.max(14, Math.round(Math.max(bitmap.width, bitmap.height) / 30));
  faces.forEach((face, i) => {
    const [x1, y1, x2, y2] = face.box;
    const known = face.name !== null && face.name !== undefined;
    const colour = picked === i + 1 ? "#f0a500" : known ? "#1b9e4b" : "#d94a1e";
    ctx.lineWidth = line;
    ctx.strokeStyle = colour;
    ctx.strokeRect(x1, y1, x2 - x1, y2 - y1);
    const label = String(i + 1);
    ctx.font = `bold ${size}px sans-serif`;
    const w = ctx.measureText(label).width + size * 0.6;
    ctx.fillStyle = colour;
    ctx.fillRect(x1, Math.max(0, y1 - size * 1.3), w, size * 1.3);
    ctx.fillStyle = "#fff";
    ctx.fillText(label, x1 + size * 0.3, Math.max(size, y1 - size * 0.3));
  });
  canvas.setAttribute("aria-label", `The picture with ${faces.length} numbered face box${faces.length === 1 ? "" : "es"}`);
  bitmap.close();
}

function pct(similarity) {
  return similarity === null || similarity === undefined ? "" : similarity.toFixed(2);
}

// -- Recognise ------------------------------------------------------------------------------------
async function recognise(file) {
  const result = $("recognise-result");
  const list = $("recognise-faces");
  say("recognise-status", "Looking…");
  const form = new FormData();
  form.append("image", file);
  try {
    const data = await api("POST", "/api/whois", { body: form });
    list.replaceChildren();
    for (const [i, face] of data.faces.entries()) {
      const item = el("li", { "data-face": String(i + 1) });
      if (face.name !== null) {
        item.append(el("span", { class: "name", text: face.name }), ` — similarity ${pct(face.similarity)}`);
      } else {
        item.append(el("span", { class: "unknown", text: "unknown" }));
        if (face.similarity !== null) item.append(` — closest similarity ${pct(face.similarity)}`);
        else item.append(" — nobody is enrolled yet");
      }
      if (face.candidates.length) {
        const top = el("ol", { class: "candidates", "aria-label": `Candidates for face ${i + 1}` });
        for (const c of face.candidates) top.append(el("li", { text: `${c.name} (${pct(c.similarity)})` }));
        item.append(top);
      }
      if (data.answer) item.append(correctButton(data.answer, i + 1, face));
      list.append(item);
    }
    $("recognise-correct-help").hidden = !data.answer;
    if (data.answer) fillNames();
    await drawFaces($("recognise-canvas"), file, data.faces);
    result.hidden = false;
    const named = data.faces.filter((f) => f.name !== null).length;
    say("recognise-status", data.faces.length
      ? `${data.faces.length} face(s), ${named} recognised.`
      : "No face found in this picture.", "ok");
  } catch (err) {
    result.hidden = true;
    say("recognise-status", err.message, "error");
  }
}

// -- Correct a name: anyone may suggest; the token holder reviews (Review tab) --------------------
async function fillNames() {
  try {
    const data = await api("GET", "/api/characters");
    $("character-names").replaceChildren(...data.characters.map((c) => el("option", { value: c.name })));
  } catch (err) {
    // The list only helps typing; a name can still be typed without it.
  }
}

function correctButton(answer, number, face) {
  const button = el("button", {
    type: "button", class: "secondary correct-open", text: "Correct a name",
    "aria-label": `Correct the name of face ${number}`, "aria-expanded": "false",
  });
  button.addEventListener("click", () => {
    const item = button.closest("li");
    const open = item.querySelector("form.correct");
    if (open) {
      open.remove();
      button.setAttribute("aria-expanded", "false");
      return;
    }
    const inputId = `correct-name-${number}`;
    const input = el("input", {
      type: "text", id: inputId, list: "character-names", maxlength: "100", autocomplete: "off", required: "",
    });
    const form = el("form", { class: "correct", "aria-label": `Correct face ${number}` }, [
      el("p", {}, [el("label", { for: inputId, text: `Who is face ${number}?` }), input]),
      el("button", { type: "submit", text: "Suggest" }),
      el("button", {
        type: "button", class: "secondary", text: "Cancel", "aria-label": `Cancel the correction of face ${number}`,
        onclick: () => { form.remove(); button.setAttribute("aria-expanded", "false"); button.focus(); },
      }),
    ]);
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      const name = input.value.trim();
      if (!name) return say("recognise-status", "Type the character's name.", "error");
      try {
        const made = await api("POST", "/api/suggestions", { body: { answer, face: number, name } });
        form.remove();
        button.replaceWith(el("span", { class: "muted", text: ` · suggested: ${made.name}` }));
        say("recognise-status", made.status === "approved"
          ? `Thanks: face ${number} is now enrolled as ${made.name}.`
          : `Thanks: “${made.name}” for face ${number} waits for review.`, "ok");
      } catch (err) {
        say("recognise-status", err.message, "error");
      }
    });
    button.setAttribute("aria-expanded", "true");
    button.after(form);
    input.focus();
  });
  return button;
}

// -- Review: the token holder's queue of suggestions ----------------------------------------------
const cropUrls = { suggestions: [], unknowns: [] }; // blob: URLs per list, freed when it reloads

function freeCrops(kind) {
  for (const url of cropUrls[kind]) URL.revokeObjectURL(url);
  cropUrls[kind] = [];
}

async function loadCrop(img, path, kind = "suggestions") {
  // An <img> cannot send the token: fetch the crop with it and show it as a blob: URL.
  const token = sessionStorage.getItem(TOKEN_KEY);
  if (!token) return;
  try {
    const response = await fetch(path, { headers: { Authorization: "Bearer " + token }, credentials: "omit", cache: "no-store" });
    if (!response.ok) return;
    const url = URL.createObjectURL(await response.blob());
    cropUrls[kind].push(url);
    img.src = url;
  } catch (err) {
    // The crop only helps; the face can be decided on without it.
  }
}

function said(name) {
  return name === null || name === undefined ? "unknown" : name;
}

async function decide(s, action, asName = null) {
  const path = `/api/suggestions/${enc(s.id)}/${action}`;
  try {
    const data = await api("POST", path, { body: asName ? { name: asName } : undefined, write: true });
    const done = data.suggestion;
    let message;
    if (!data.changed) message = `That suggestion was already ${done.status}.`;
    else if (action === "reject") message = `Rejected “${s.name}”.`;
    else message = `Approved: the face is enrolled as ${done.enrolled_as}.`;
    await loadReview(message);
  } catch (err) {
    say("review-status", err.message, "error");
  }
}

function suggestionItem(s, index) {
  const item = el("li");
  const img = el("img", { alt: `The face suggested as ${s.name}`, width: "128", height: "128" });
  if (s.crop) loadCrop(img, s.crop);
  item.append(img);
  const about = el("div", { class: "about" });
  const headingId = `suggestion-${index}`;
  about.append(el("h3", { id: headingId, text: s.name }));
  const best = s.best ? `${s.best.name} (${pct(s.best.similarity)})` : "nobody enrolled is close";
  const facts = [
    ["Suggested name", s.name],
    ["kaobot said", said(s.answer)],
    ["Best match now", best],
    ["Suggested by", s.votes > 1 ? `${s.suggester} and ${s.votes - 1} other(s)` : s.suggester],
    ["When", new Date(s.created * 1000).toLocaleString()],
  ];
  if (s.stale) facts.push(["Note", "made with an older model: approving re-embeds the face"]);
  const list = el("dl");
  for (const [term, value] of facts) list.append(el("dt", { text: term }), el("dd", { text: value }));
  about.append(list);
  if (typeof s.message_link === "string" && s.message_link.startsWith("https://")) {
    about.append(el("p", {}, [el("a", { href: s.message_link, rel: "noreferrer noopener", target: "_blank", text: "The answer it corrects" })]));
  }

  const inputId = `approve-as-${index}`;
  const input = el("input", { type: "text", id: inputId, list: "character-names", maxlength: "100", autocomplete: "off", required: "" });
  input.value = s.name;
  const asForm = el("form", { class: "rename", hidden: "" }, [
    el("p", {}, [el("label", { for: inputId, text: `Enrol the face suggested as ${s.name} as` }), input]),
    el("button", { type: "submit", text: "Approve as this name" }),
  ]);
  asForm.addEventListener("submit", (event) => {
    event.preventDefault();
    const name = input.value.trim();
    if (!name) return say("review-status", "Give the name to enrol the face as.", "error");
    decide(s, "approve", name);
  });
  const asButton = el("button", {
    type: "button", class: "secondary", text: "Approve as…", "aria-label": `Approve ${s.name} as another name`,
    "aria-expanded": "false",
    onclick: () => {
      asForm.hidden = !asForm.hidden;
      asButton.setAttribute("aria-expanded", String(!asForm.hidden));
      if (!asForm.hidden) input.focus();
    },
  });
  about.append(el("p", { class: "buttons", role: "group", "aria-labelledby": headingId }, [
    el("button", { type: "button", text: "Approve", "aria-label": `Approve ${s.name}`, onclick: () => decide(s, "approve") }),
    asButton,
    el("button", { type: "button", class: "danger", text: "Reject", "aria-label": `Reject ${s.name}`, onclick: () => decide(s, "reject") }),
  ]), asForm);
  item.append(about);
  return item;
}

async function loadReview(message = "", unknownsMessage = "") {
  const list = $("review-list");
  try {
    const data = await api("GET", "/api/suggestions", { write: true });
    freeCrops("suggestions");
    list.replaceChildren(...data.suggestions.map(suggestionItem));
    if (data.suggestions.length) fillNames();
    const waiting = data.pending
      ? `${data.pending} suggestion(s) waiting${data.pending > data.suggestions.length ? `; the oldest ${data.suggestions.length} shown` : ""}.`
      : "No suggestion is waiting.";
    say("review-status", message ? `${message} ${waiting}` : waiting, "ok");
  } catch (err) {
    list.replaceChildren();
    freeCrops("suggestions");
    freeCrops("unknowns");
    $("unknowns-list").replaceChildren();
    say("unknowns-status", "");
    say("review-status", err.message, "error");
    return;
  }
  await loadUnknowns(unknownsMessage);
}

// -- Review: faces that keep coming back unknown (review.unknowns) --------------------------------
function times(n, one, many) {
  return `${n} ${n === 1 ? one : many}`;
}

async function nameCluster(c, name) {
  try {
    const data = await api("POST", `/api/unknowns/${enc(c.id)}/name`, { body: { name }, write: true });
    const message = data.enrolled
      ? `Enrolled ${times(data.enrolled, "face", "faces")} as ${data.name}.`
      : `Nothing new enrolled: those faces were already enrolled as ${data.name}.`;
    refreshHealth();
    await loadReview("", message); // the closest characters of what is left may have changed
  } catch (err) {
    say("unknowns-status", err.message, "error");
  }
}

async function dismissCluster(c) {
  try {
    const data = await api("POST", `/api/unknowns/${enc(c.id)}/dismiss`, { write: true });
    await loadUnknowns(`Not a character: forgot ${times(data.dismissed, "face", "faces")}, enrolling none.`);
  } catch (err) {
    say("unknowns-status", err.message, "error");
  }
}

function clusterItem(c, index) {
  const item = el("li");
  const img = el("img", { alt: `The most typical of the ${c.size} faces`, width: "128", height: "128" });
  loadCrop(img, c.crop, "unknowns");
  item.append(img);
  const about = el("div", { class: "about" });
  const headingId = `unknown-${index}`;
  about.append(el("h3", { id: headingId, text: `This face came back ${c.size} times: who is it?` }));
  const facts = [
    ["First seen", new Date(c.first * 1000).toLocaleString()],
    ["Last seen", new Date(c.last * 1000).toLocaleString()],
    ["Closest character now", c.best ? `${c.best.name} (${pct(c.best.similarity)})` : "nobody is enrolled yet"],
  ];
  const list = el("dl");
  for (const [term, value] of facts) list.append(el("dt", { text: term }), el("dd", { text: value }));
  about.append(list);

  const inputId = `unknown-name-${index}`;
  const input = el("input", { type: "text", id: inputId, list: "character-names", maxlength: "100", autocomplete: "off", required: "" });
  const nameForm = el("form", { class: "rename", hidden: "" }, [
    el("p", {}, [el("label", { for: inputId, text: `Who is the face that came back ${c.size} times?` }), input]),
    el("button", { type: "submit", text: `Enrol ${times(c.size, "face", "faces")}` }),
  ]);
  nameForm.addEventListener("submit", (event) => {
    event.preventDefault();
    const name = input.value.trim();
    if (!name) return say("unknowns-status", "Give the character's name.", "error");
    nameCluster(c, name);
  });
  const nameButton = el("button", {
    type: "button", text: "Name it…", "aria-expanded": "false",
    onclick: () => {
      nameForm.hidden = !nameForm.hidden;
      nameButton.setAttribute("aria-expanded", String(!nameForm.hidden));
      if (!nameForm.hidden) input.focus();
    },
  });
  about.append(el("p", { class: "buttons", role: "group", "aria-labelledby": headingId }, [
    nameButton,
    el("button", { type: "button", class: "danger", text: "Not a character", onclick: () => dismissCluster(c) }),
  ]), nameForm);
  item.append(about);
  return item;
}

async function loadUnknowns(message = "") {
  const list = $("unknowns-list");
  try {
    const data = await api("GET", "/api/unknowns", { write: true });
    freeCrops("unknowns");
    list.replaceChildren(...data.clusters.map(clusterItem));
    let state;
    if (!data.kept) {
      const scope = healthScope ? `"${healthScope}"` : "this scope's id";
      state = `This scope does not keep the faces kaobot answers “unknown”, so none are offered here. To opt in, add ${scope} (or "*" for every scope) to review.unknowns in config.yaml and restart kaobot web.`;
    } else if (!data.clusters.length) {
      state = `No unknown face has come back ${data.min_count} times yet.`;
    } else {
      fillNames();
      state = `${times(data.clusters.length, "unknown face keeps", "unknown faces keep")} coming back.`;
    }
    say("unknowns-status", message ? `${message} ${state}` : state, message || data.clusters.length ? "ok" : "");
  } catch (err) {
    freeCrops("unknowns");
    list.replaceChildren();
    say("unknowns-status", err.message, "error");
  }
}

// -- Enrol ----------------------------------------------------------------------------------------
let pending = null; // {name, file, faces} while the admin picks a face

async function enrolFace(name, file, face) {
  const form = new FormData();
  form.append("name", name);
  form.append("image", file);
  if (face) form.append("face", String(face));
  const data = await api("POST", "/api/enroll", { body: form, write: true });
  $("enrol-pick").hidden = true;
  pending = null;
  say("enrol-status", `Enrolled face ${data.face_number} of ${data.faces_in_picture} for ${data.name}.`, "ok");
  refreshHealth();
}

async function enrol(event) {
  event.preventDefault();
  const name = $("enrol-name").value.trim();
  const file = $("enrol-file").files[0];
  if (!name) return say("enrol-status", "Give the character's name.", "error");
  if (!file) return say("enrol-status", "Choose a picture.", "error");
  say("enrol-status", "Looking for faces…");
  $("enrol-pick").hidden = true;
  try {
    const form = new FormData();
    form.append("image", file);
    const found = await api("POST", "/api/whois", { body: form });
    if (!found.faces.length) return say("enrol-status", "No face found in this picture.", "error");
    if (found.faces.length === 1) return await enrolFace(name, file, 1);
    pending = { name, file, faces: found.faces };
    await drawFaces($("enrol-canvas"), file, found.faces);
    const buttons = $("enrol-buttons");
    buttons.replaceChildren();
    found.faces.forEach((face, i) => {
      const who = face.name ? ` (now: ${face.name})` : "";
      buttons.append(el("button", {
        type: "button", class: "secondary", text: `Face ${i + 1}${who}`,
        onclick: () => pick(i + 1),
      }));
    });
    $("enrol-pick").hidden = false;
    say("enrol-status", `${found.faces.length} faces: choose one.`);
  } catch (err) {
    say("enrol-status", err.message, "error");
  }
}

async function pick(number) {
  if (!pending) return;
  try {
    await drawFaces($("enrol-canvas"), pending.file, pending.faces, number);
    await enrolFace(pending.name, pending.file, number);
  } catch (err) {
    say("enrol-status", err.message, "error");
  }
}

function pickOnCanvas(event) {
  if (!pending) return;
  const canvas = event.currentTarget;
  const rect = canvas.getBoundingClientRect();
  const x = (event.clientX - rect.left) * (canvas.width / rect.width);
  const y = (event.clientY - rect.top) * (canvas.height / rect.height);
  const index = pending.faces.findIndex(({ box: [x1, y1, x2, y2] }) => x >= x1 && x <= x2 && y >= y1 && y <= y2);
  if (index >= 0) pick(index + 1);
}

// -- Characters -----------------------------------------------------------------------------------
function confirmAction(message) {
  const dialog = $("confirm-dialog");
  $("confirm-text").textContent = message;
  return new Promise((resolve) => {
    dialog.addEventListener("close", () => resolve(dialog.returnValue === "ok"), { once: true });
    dialog.returnValue = "";
    dialog.showModal();
  });
}

const enc = encodeURIComponent;

async function loadFaces(name, list) {
  list.replaceChildren(el("li", { text: "Loading…" }));
  try {
    const data = await api("GET", `/api/characters/${enc(name)}/faces`);
    list.replaceChildren();
    data.faces.forEach((face, i) => {
      const label = `face ${i + 1} of ${name}`;
      const item = el("li");
      if (face.crop) item.append(el("img", { src: face.crop, alt: label.charAt(0).toUpperCase() + label.slice(1), loading: "lazy" }));
      else item.append(el("span", { class: "muted", text: `Face ${i + 1} (no picture)` }));
      item.append(el("button", {
        type: "button", class: "danger", text: "Remove", "aria-label": `Remove ${label}`,
        onclick: async () => {
          if (!(await confirmAction(`Remove ${label}?`))) return;
          try {
            await api("DELETE", `/api/faces/${enc(face.id)}`, { write: true });
            say("characters-status", `Removed ${label}.`, "ok");
            await loadCharacters();
          } catch (err) {
            say("characters-status", err.message, "error");
          }
        },
      }));
      list.append(item);
    });
  } catch (err) {
    list.replaceChildren(el("li", { class: "status error", text: err.message }));
  }
}

function characterItem(c, index) {
  const item = el("li");
  const headingId = `character-${index}`;
  item.append(el("h3", { id: headingId, text: c.name }));
  item.append(el("p", { class: "muted", text: `${c.faces} face${c.faces === 1 ? "" : "s"}${c.series ? " · " + c.series : ""}` }));

  const details = el("details");
  const thumbs = el("ul", { class: "thumbs", "aria-label": `Faces of ${c.name}` });
  details.append(el("summary", { text: "Faces" }), thumbs);
  details.addEventListener("toggle", () => { if (details.open) loadFaces(c.name, thumbs); });
  item.append(details);

  const inputId = `rename-${index}`;
  const input = el("input", { type: "text", id: inputId, maxlength: "100", autocomplete: "off", required: "" });
  input.value = c.name;
  const rename = el("form", { class: "rename" }, [
    el("p", {}, [el("label", { for: inputId, text: `New name for ${c.name}` }), input]),
    el("button", { type: "submit", class: "secondary", text: "Rename" }),
    el("button", {
      type: "button", class: "danger", text: "Forget", "aria-label": `Forget ${c.name}`,
      onclick: async () => {
        if (!(await confirmAction(`Forget ${c.name} and all ${c.faces} face(s)? This cannot be undone.`))) return;
        try {
          const data = await api("DELETE", `/api/characters/${enc(c.name)}`, { write: true });
          say("characters-status", `Forgot ${c.name} (${data.removed} face(s)).`, "ok");
          await loadCharacters();
        } catch (err) {
          say("characters-status", err.message, "error");
        }
      },
    }),
  ]);
  rename.addEventListener("submit", async (event) => {
    event.preventDefault();
    const next = input.value.trim();
    if (!next || next === c.name) return;
    try {
      await api("PATCH", `/api/characters/${enc(c.name)}`, { body: { name: next }, write: true });
      say("characters-status", `Renamed ${c.name} to ${next}.`, "ok");
      await loadCharacters();
    } catch (err) {
      say("characters-status", err.message, "error");
    }
  });
  item.append(rename);
  return item;
}

async function loadCharacters() {
  const list = $("characters-list");
  try {
    const data = await api("GET", "/api/characters");
    list.replaceChildren(...data.characters.map(characterItem));
    if (!data.characters.length) say("characters-status", "Nobody is enrolled yet: use Enrol.");
    else if (!$("characters-status").classList.contains("ok")) say("characters-status", `${data.characters.length} character(s).`);
    refreshHealth();
  } catch (err) {
    say("characters-status", err.message, "error");
  }
}

// -- tabs, files, start-up ------------------------------------------------------------------------
const TABS = ["recognise", "enrol", "characters", "review"];

function show(tab, focus = false) {
  for (const name of TABS) {
    const button = $(`tab-${name}`);
    const selected = name === tab;
    button.setAttribute("aria-selected", String(selected));
    button.tabIndex = selected ? 0 : -1;
    $(`view-${name}`).hidden = !selected;
    if (selected && focus) button.focus();
  }
  if (tab === "characters") {
    say("characters-status", "");
    loadCharacters();
  }
  if (tab === "review") {
    say("review-status", "");
    say("unknowns-status", "");
    loadReview();
  }
}

function setFile(input, file) {
  const transfer = new DataTransfer();
  transfer.items.add(file);
  input.files = transfer.files;
  input.dispatchEvent(new Event("change", { bubbles: true }));
}

function dropZone(zone, input) {
  zone.addEventListener("dragover", (event) => { event.preventDefault(); zone.classList.add("over"); });
  zone.addEventListener("dragleave", () => zone.classList.remove("over"));
  zone.addEventListener("drop", (event) => {
    event.preventDefault();
    zone.classList.remove("over");
    const file = event.dataTransfer.files[0];
    if (file) setFile(input, file);
  });
}

let healthScope = null; // the server's scope, from /api/health

async function refreshHealth() {
  try {
    const h = await api("GET", "/api/health");
    healthScope = h.scope;
    const writes = h.writes ? "changes need the web token" : "read-only (KAOBOT_WEB_TOKEN is not set on the server)";
    $("health").textContent = `scope ${h.scope} · ${h.faces} face(s) stored · ${writes}`;
  } catch (err) {
    $("health").textContent = err.message;
  }
}

document.addEventListener("DOMContentLoaded", () => {
  for (const name of TABS) $(`tab-${name}`).addEventListener("click", () => show(name));
  $("tab-recognise").parentElement.addEventListener("keydown", (event) => {
    const current = TABS.findIndex((name) => $(`tab-${name}`).getAttribute("aria-selected") === "true");
    const moves = { ArrowRight: 1, ArrowLeft: -1, Home: -current, End: TABS.length - 1 - current };
    if (!(event.key in moves)) return;
    event.preventDefault();
    show(TABS[(current + moves[event.key] + TABS.length) % TABS.length], true);
  });

  const recogniseFile = $("recognise-file");
  recogniseFile.addEventListener("change", () => { if (recogniseFile.files[0]) recognise(recogniseFile.files[0]); });
  $("recognise-form").addEventListener("submit", (event) => event.preventDefault());
  dropZone($("recognise-form"), recogniseFile);
  dropZone($("enrol-file").parentElement, $("enrol-file"));
  $("enrol-form").addEventListener("submit", enrol);
  $("enrol-canvas").addEventListener("click", pickOnCanvas);
  $("characters-reload").addEventListener("click", () => { say("characters-status", ""); loadCharacters(); });
  $("review-reload").addEventListener("click", () => { say("review-status", ""); say("unknowns-status", ""); loadReview(); });

  document.addEventListener("paste", (event) => {
    const file = [...(event.clipboardData?.files || [])].find((f) => f.type.startsWith("image/"));
    if (!file) return;
    event.preventDefault();
    if (!$("view-enrol").hidden) setFile($("enrol-file"), file);
    else {
      show("recognise");
      setFile(recogniseFile, file);
    }
  });
  refreshHealth();
});

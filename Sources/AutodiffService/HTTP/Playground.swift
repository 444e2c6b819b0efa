import Hummingbird

/// `GET /`: a self-contained page (no scripts or styles from elsewhere) where a person edits a graph,
/// sets seeds, calls `/v1/backward` and `/v1/explain?format=svg`, and sees values, gradients, the picture
/// and the `curl` command for the same call.
enum Playground {
    static func response() -> Response {
        Response(
            status: .ok,
            headers: [
                .contentType: "text/html; charset=utf-8",
                // Everything is inline; nothing may load from anywhere else.
                .contentSecurityPolicy:
                    "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; "
                    + "img-src blob:; connect-src 'self'",
            ],
            body: .init(byteBuffer: ByteBuffer(string: html)))
    }

    static let html = #"""
<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>autodiffd playground</title>
<style>
  body { font: 14px/1.4 system-ui, -apple-system, "Segoe UI", Helvetica, Arial, sans-serif; margin: 0;
         color: #1f2937; background: #f9fafb; }
  header { background: #1e3a8a; color: white; padding: 10px 20px; }
  header h1 { margin: 0; font-size: 20px; }
  header p { margin: 4px 0 0; opacity: .85; }
  main { display: grid; grid-template-columns: minmax(320px, 420px) 1fr; gap: 16px; padding: 16px; }
  section { background: white; border: 1px solid #e5e7eb; border-radius: 6px; padding: 12px; }
  label { display: block; font-weight: 600; margin: 8px 0 2px; }
  textarea, input, select { width: 100%; box-sizing: border-box; font: 12px/1.35 ui-monospace, Menlo, monospace;
         border: 1px solid #d1d5db; border-radius: 4px; padding: 6px; }
  textarea { resize: vertical; }
  #graph { height: 190px; }
  #values, #seeds { height: 54px; }
  button { margin-top: 10px; background: #1d4ed8; color: white; border: 0; border-radius: 4px;
           padding: 8px 18px; font-size: 14px; cursor: pointer; }
  button:disabled { background: #9ca3af; }
  table { border-collapse: collapse; width: 100%; margin: 6px 0 12px; }
  th, td { text-align: left; border-bottom: 1px solid #e5e7eb; padding: 4px 6px; vertical-align: top;
           font: 12px ui-monospace, Menlo, monospace; }
  th { font-family: system-ui, sans-serif; }
  #error { color: #b91c1c; background: #fef2f2; border: 1px solid #fecaca; border-radius: 4px; padding: 8px;
           white-space: pre-wrap; }
  #picture img { max-width: 100%; border: 1px solid #e5e7eb; background: white; }
  #curl:empty { display: none; }
  #curl { white-space: pre-wrap; word-break: break-all; background: #111827; color: #e5e7eb; padding: 8px;
          border-radius: 4px; font: 12px ui-monospace, Menlo, monospace; }
  h2 { font-size: 15px; margin: 4px 0; }
  .note { color: #4b5563; font-size: 12px; }
  [hidden] { display: none !important; }
</style>
</head>
<body>
<header>
  <h1>autodiffd playground</h1>
  <p>For a non-scalar output <code>y</code>, <code>y.backward()</code> needs a seed <code>v</code> of y's shape:
     the result is vᵀ·∂y/∂x. The seed <code>"ones"</code> gives the gradient of <code>y.sum()</code>.</p>
</header>
<main>
<section>
  <label for="example">Example</label>
  <select id="example"></select>
  <p id="example-note" class="note"></p>
  <label for="graph">Graph (JSON)</label>
  <textarea id="graph" spellcheck="false"></textarea>
  <label for="values">Values (JSON: one per input)</label>
  <textarea id="values" spellcheck="false"></textarea>
  <label for="outputs">Outputs (comma-separated)</label>
  <input id="outputs" spellcheck="false">
  <label for="seeds">Seeds (JSON: one per non-scalar output, a tensor or "ones")</label>
  <textarea id="seeds" spellcheck="false"></textarea>
  <label for="apikey">API key (only if the server needs one)</label>
  <input id="apikey" type="password" autocomplete="off">
  <button id="run">Compute gradients</button>
</section>
<section>
  <div id="error" hidden></div>
  <div id="results" hidden>
    <h2>Outputs</h2>
    <table id="outputs-table"><thead><tr><th>output</th><th>value</th></tr></thead><tbody></tbody></table>
    <h2>Gradients</h2>
    <table id="gradients-table"><thead><tr><th>input</th><th>gradient</th></tr></thead><tbody></tbody></table>
    <div id="compare" hidden>
      <h2 id="compare-title"></h2>
      <table id="compare-table"><thead><tr><th>input</th><th>gradient</th></tr></thead><tbody></tbody></table>
    </div>
  </div>
  <h2>Picture (<code>POST /v1/explain?format=svg</code>)</h2>
  <div id="picture" class="note">Press “Compute gradients”.</div>
  <h2>The same call with curl</h2>
  <div id="curl"></div>
</section>
</main>
<script>
"use strict";
const EXAMPLES = [
  {
    title: "y = x², seed \"ones\" (next to y.sum())",
    note: "y is a vector, so it needs a seed. Seeding it with ones gives the same gradient as s = y.sum() " +
          "without a seed (shown below the gradients): 2x.",
    graph: {inputs: ["x"], nodes: [
      {id: "y", op: "mul", args: ["x", "x"]},
      {id: "s", op: "sum", args: ["y"]}]},
    values: {x: [1, 2, 3]},
    outputs: ["y"],
    seeds: {y: "ones"},
    compare: {title: "s = y.sum(), no seed", outputs: ["s"], seeds: {}}
  },
  {
    title: "two outputs, two seeds",
    note: "The result is the sum over outputs of seedᵀ·∂output/∂input: " +
          "∂/∂x = seed_p·w + seed_q·2x, ∂/∂w = seed_p·x.",
    graph: {inputs: ["x", "w"], nodes: [
      {id: "p", op: "mul", args: ["x", "w"]},
      {id: "q", op: "square", args: ["x"]}]},
    values: {x: [1, 2, 3], w: [0.5, -1, 2]},
    outputs: ["p", "q"],
    seeds: {p: [1, 0, 2], q: "ones"}
  },
  {
    title: "small MLP: loss = mean((tanh(x·W1 + b1)·W2 + b2)²)",
    note: "A scalar loss needs no seed; the gradients are those of every weight.",
    graph: {inputs: ["x", "W1", "b1", "W2", "b2"], nodes: [
      {id: "h", op: "matmul", args: ["x", "W1"]},
      {id: "z", op: "add", args: ["h", "b1"]},
      {id: "a", op: "tanh", args: ["z"]},
      {id: "o", op: "matmul", args: ["a", "W2"]},
      {id: "y", op: "add", args: ["o", "b2"]},
      {id: "y2", op: "square", args: ["y"]},
      {id: "loss", op: "mean", args: ["y2"]}]},
    values: {x: [[1, -1], [0.5, 2]], W1: [[0.1, -0.2, 0.3], [0.4, 0.5, -0.6]], b1: [0, 0.1, -0.1],
             W2: [[0.7], [-0.8], [0.9]], b2: [0.05]},
    outputs: ["loss"],
    seeds: {}
  }
];

const $ = (id) => document.getElementById(id);
let current = null;
let pictureURL = null;

function pretty(value) { return JSON.stringify(value); }

/** The graph with one node per line, so a whole example fits in the box. */
function formatGraph(graph) {
  const lines = ['{', '  "inputs": ' + JSON.stringify(graph.inputs) + ","];
  if (graph.constants) lines.push('  "constants": ' + JSON.stringify(graph.constants) + ",");
  lines.push('  "nodes": [');
  lines.push(graph.nodes.map((node) => "    " + JSON.stringify(node)).join(",\n"));
  lines.push("  ]", "}");
  return lines.join("\n");
}

function loadExample(index) {
  current = EXAMPLES[index];
  $("example-note").textContent = current.note;
  $("graph").value = formatGraph(current.graph);
  $("values").value = JSON.stringify(current.values);
  $("outputs").value = current.outputs.join(", ");
  $("seeds").value = JSON.stringify(current.seeds);
}

/** The request body from the form; throws an Error naming the field that is not JSON. */
function requestBody(outputsOverride, seedsOverride) {
  const parse = (id, what) => {
    try { return JSON.parse($(id).value); }
    catch (e) { throw new Error(what + " is not valid JSON: " + e.message); }
  };
  const body = {graph: parse("graph", "The graph"), values: parse("values", "The values")};
  body.outputs = outputsOverride ||
    $("outputs").value.split(",").map((s) => s.trim()).filter((s) => s.length > 0);
  const seeds = seedsOverride || ($("seeds").value.trim() === "" ? {} : parse("seeds", "The seeds"));
  if (Object.keys(seeds).length > 0) body.seeds = seeds;
  return body;
}

function headers() {
  const h = {"Content-Type": "application/json"};
  const key = $("apikey").value;
  if (key) h["Authorization"] = "Bearer " + key;
  return h;
}

/** POSTs and returns the response, or throws an Error carrying the contract's message. */
async function post(path, body) {
  const response = await fetch(path, {method: "POST", headers: headers(), body: JSON.stringify(body)});
  if (response.ok) return response;
  let text = await response.text();
  try {
    const error = JSON.parse(text).error;
    text = error.code + ": " + error.message + (error.node ? " (node \"" + error.node + "\")" : "");
  } catch (e) { /* not the contract's error body: show it as it came */ }
  const failure = new Error(text);
  failure.status = response.status;
  throw failure;
}

function shellQuote(text) { return "'" + text.replace(/'/g, "'\\''") + "'"; }

function curlCommand(body) {
  let command = "curl -sS -X POST " + shellQuote(location.origin + "/v1/backward") +
    " \\\n  -H 'Content-Type: application/json'";
  if ($("apikey").value) command += " \\\n  -H \"Authorization: Bearer $AUTODIFFD_KEY\"";
  return command + " \\\n  -d " + shellQuote(JSON.stringify(body));
}

function fillTable(id, entries, attribute) {
  const body = $(id).querySelector("tbody");
  body.replaceChildren();
  for (const [name, value] of entries) {
    const row = document.createElement("tr");
    const nameCell = document.createElement("td");
    nameCell.textContent = name;
    const valueCell = document.createElement("td");
    valueCell.textContent = value === null ? "null (unconnected)" : pretty(value);
    valueCell.setAttribute(attribute, name);
    row.append(nameCell, valueCell);
    body.append(row);
  }
}

function showError(message) {
  $("error").textContent = message;
  $("error").hidden = false;
}

async function run() {
  $("run").disabled = true;
  $("error").hidden = true;
  $("results").hidden = true;
  document.body.dataset.state = "running";
  try {
    const body = requestBody();
    $("curl").textContent = curlCommand(body);
    const result = await (await post("/v1/backward", body)).json();
    fillTable("outputs-table", Object.entries(result.outputs), "data-output");
    fillTable("gradients-table", Object.entries(result.gradients), "data-gradient");
    $("compare").hidden = true;
    fillTable("compare-table", [], "data-compare");
    if (current && current.compare && JSON.stringify(body.graph) === JSON.stringify(current.graph)) {
      const other = await (await post("/v1/backward", requestBody(current.compare.outputs, current.compare.seeds)))
        .json();
      $("compare-title").textContent = "Same gradients from " + current.compare.title;
      fillTable("compare-table", Object.entries(other.gradients), "data-compare");
      $("compare").hidden = false;
    }
    $("results").hidden = false;
    await drawPicture(body);
    document.body.dataset.state = "done";
  } catch (error) {
    showError(error.message);
    $("picture").textContent = "";
    document.body.dataset.state = "error";
  } finally {
    $("run").disabled = false;
  }
}

async function drawPicture(body) {
  const picture = $("picture");
  try {
    const svg = await (await post("/v1/explain?format=svg", body)).blob();
    if (pictureURL) URL.revokeObjectURL(pictureURL);
    pictureURL = URL.createObjectURL(new Blob([svg], {type: "image/svg+xml"}));
    const image = document.createElement("img");
    image.alt = "the graph with its values and gradients";
    image.id = "picture-image";
    await new Promise((resolve) => { image.onload = resolve; image.onerror = resolve; image.src = pictureURL; });
    picture.replaceChildren(image);
  } catch (error) {
    picture.textContent = "No picture: " + error.message;
  }
}

EXAMPLES.forEach((example, index) => {
  const option = document.createElement("option");
  option.value = String(index);
  option.textContent = example.title;
  $("example").append(option);
});
$("example").addEventListener("change", (event) => loadExample(Number(event.target.value)));
$("run").addEventListener("click", run);
loadExample(0);
</script>
</body>
</html>
"""#
}

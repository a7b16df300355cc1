// Reads flowcharts with Mermaid's own parser and renderer, and prints what Mermaid made of them.
//
// Used by tests/test_mermaid.py, which runs it as `node --input-type=module -e <this file>` from the
// folder holding node_modules with mermaid and jsdom: the checkout, where `make setup` runs `npm ci`
// on package.json and package-lock.json (exact versions). Argument: a JSON file with a list of
// flowchart texts. Output: one JSON list, per text {version, nodes: [{id, type, label}], edges:
// [{start, end, type, stroke}]}, where label is the text the rendered SVG shows (entity codes
// decoded, <br> as "\n").
import { readFileSync } from "node:fs";
import { JSDOM } from "jsdom";

const dom = new JSDOM("<!doctype html><html><body></body></html>", { pretendToBeVisual: true });
globalThis.window = dom.window;
for (const name of ["document", "navigator", "DOMParser", "Element", "HTMLElement", "SVGElement", "Node",
                    "CSSStyleSheet", "MutationObserver", "getComputedStyle"]) {
  globalThis[name] = dom.window[name];
}
// jsdom does no layout: give text a size (8 px a character) so that Mermaid can place the nodes.
const measured = function () {
  return { x: 0, y: 0, width: 8 * (this.textContent || "").length, height: 16 };
};
dom.window.SVGElement.prototype.getBBox = measured;
dom.window.SVGElement.prototype.getComputedTextLength = function () { return measured.call(this).width; };

const { default: mermaid } = await import("mermaid");
const { version } = JSON.parse(readFileSync("node_modules/mermaid/package.json", "utf8"));
mermaid.initialize({ startOnLoad: false, securityLevel: "strict" });

function shown(element) {
  // The label as a reader sees it: text, and a line break for each <br>.
  let text = "";
  for (const child of element.childNodes) {
    if (child.nodeType === dom.window.Node.TEXT_NODE) text += child.data;
    else if (child.nodeName.toLowerCase() === "br") text += "\n";
    else text += shown(child);
  }
  return text;
}

const texts = JSON.parse(readFileSync(process.argv[process.argv.length - 1], "utf8"));
const results = [];
for (const [i, text] of texts.entries()) {
  const diagram = await mermaid.mermaidAPI.getDiagramFromText(text);   // throws on a syntax error
  const { svg } = await mermaid.render(`d${i}`, text);
  const holder = document.createElement("div");
  holder.innerHTML = svg;
  const nodes = [];
  for (const [id, vertex] of diagram.db.getVertices()) {
    const group = holder.querySelector(`[id="d${i}-${vertex.domId}"]`);
    const label = group && group.querySelector(".nodeLabel");
    nodes.push({ id, type: vertex.type, label: label ? shown(label) : null });
  }
  const edges = diagram.db.getEdges().map((e) => ({ start: e.start, end: e.end, type: e.type, stroke: e.stroke }));
  results.push({ version, nodes, edges });
}
console.log(JSON.stringify(results));

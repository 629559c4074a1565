/* hqueue dashboard: one trial's learning curve (value per reported step) as an SVG line.
   No dependencies. CurveChart.draw(svg, points) takes [[step, value], ...] sorted by step;
   null values (NaN on the worker) are left out of the line and counted in the caption. */
"use strict";

const CurveChart = (() => {
  const NS = "http://www.w3.org/2000/svg";
  const PAD = { left: 64, right: 16, top: 12, bottom: 30 };

  function node(tag, attrs, text) {
    const n = document.createElementNS(NS, tag);
    for (const [k, v] of Object.entries(attrs)) n.setAttribute(k, String(v));
    if (text !== undefined) n.textContent = text;
    return n;
  }

  function fmt(v) {
    return Math.abs(v) >= 1e4 || (v !== 0 && Math.abs(v) < 1e-3) ? v.toExponential(2)
      : String(Number(v.toPrecision(4)));
  }

  function draw(svg, points) {
    const w = svg.clientWidth || 600, h = svg.clientHeight || 220;
    svg.setAttribute("viewBox", "0 0 " + w + " " + h);
    svg.replaceChildren();
    const finite = points.filter((p) => p[1] !== null && Number.isFinite(p[1]));
    if (!finite.length) {
      svg.append(node("text", { x: w / 2, y: h / 2, "text-anchor": "middle" },
                      points.length ? "no finite value reported" : "nothing reported"));
      return;
    }
    const steps = finite.map((p) => p[0]), values = finite.map((p) => p[1]);
    const x0 = Math.min(...steps), x1 = Math.max(Math.max(...steps), x0 + 1);
    let y0 = Math.min(...values), y1 = Math.max(...values);
    if (y1 === y0) { y0 -= 0.5 * (Math.abs(y0) || 1); y1 += 0.5 * (Math.abs(y1) || 1); }
    const pw = w - PAD.left - PAD.right, ph = h - PAD.top - PAD.bottom;
    const X = (s) => PAD.left + ((s - x0) / (x1 - x0)) * pw;
    const Y = (v) => PAD.top + (1 - (v - y0) / (y1 - y0)) * ph;
    svg.append(node("rect", { x: PAD.left, y: PAD.top, width: pw, height: ph, class: "axis" }));
    for (const v of [y0, (y0 + y1) / 2, y1]) {
      svg.append(node("text", { x: PAD.left - 6, y: Y(v) + 4, "text-anchor": "end" }, fmt(v)));
    }
    for (const s of [x0, x1]) {
      svg.append(node("text", { x: X(s), y: h - PAD.bottom + 16, "text-anchor": "middle" },
                      String(s)));
    }
    svg.append(node("text", { x: PAD.left + pw / 2, y: h - 4, "text-anchor": "middle" },
                    "step" + (finite.length < points.length
                      ? " (" + (points.length - finite.length) + " NaN values not drawn)" : "")));
    const path = finite.map((p) => X(p[0]).toFixed(1) + "," + Y(p[1]).toFixed(1)).join(" ");
    svg.append(node("polyline", { points: path, class: "line" }));
    if (finite.length <= 200) {
      for (const p of finite) svg.append(node("circle", { cx: X(p[0]), cy: Y(p[1]), r: 2.5,
                                                          class: "dot" }));
    }
  }

  return { draw };
})();

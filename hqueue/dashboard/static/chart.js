/* hqueue dashboard: a small canvas chart of loss per trial with the best-so-far curve.
   No dependencies. LossChart.draw(points) takes [[tid, loss], ...] sorted by tid. */
"use strict";

const LossChart = (() => {
  const COLORS = { dot: "rgba(55, 110, 190, 0.55)", dotOut: "rgba(55, 110, 190, 0.25)",
                   best: "#d9622b", grid: "#e4e7ec", axis: "#667085", text: "#475467" };
  const PAD = { left: 64, right: 16, top: 12, bottom: 34 };

  function niceTicks(lo, hi, count) {
    if (!(hi > lo)) return [lo];
    const raw = (hi - lo) / count;
    const mag = Math.pow(10, Math.floor(Math.log10(raw)));
    const step = [1, 2, 2.5, 5, 10].map((m) => m * mag).find((s) => s >= raw) || raw;
    const ticks = [];
    for (let v = Math.ceil(lo / step) * step; v <= hi + step * 1e-9; v += step) ticks.push(v);
    return ticks;
  }

  function fmt(v) {
    if (v === 0) return "0";
    const a = Math.abs(v);
    if (a >= 1e5 || a < 1e-3) return v.toExponential(1);
    return String(Number(v.toPrecision(3)));
  }

  function quantile(sorted, q) {
    const i = (sorted.length - 1) * q;
    const lo = Math.floor(i), hi = Math.ceil(i);
    return sorted[lo] + (sorted[hi] - sorted[lo]) * (i - lo);
  }

  // y range: every best-so-far value and the bulk of the losses; outliers are drawn clipped
  function yRange(losses, best) {
    const sorted = losses.slice().sort((a, b) => a - b);
    let lo = sorted[0];
    let hi = Math.max(quantile(sorted, 0.95), best.length ? best[0] : lo);
    if (!(hi > lo)) { const d = Math.abs(lo) * 0.1 || 1; lo -= d; hi += d; }
    const pad = (hi - lo) * 0.05;
    return [lo - pad, hi + pad];
  }

  function draw(canvas, points) {
    const dpr = window.devicePixelRatio || 1;
    const w = canvas.clientWidth, h = canvas.clientHeight;
    if (canvas.width !== Math.round(w * dpr) || canvas.height !== Math.round(h * dpr)) {
      canvas.width = Math.round(w * dpr); canvas.height = Math.round(h * dpr);
    }
    const ctx = canvas.getContext("2d");
    ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
    ctx.clearRect(0, 0, w, h);
    ctx.font = "12px system-ui, sans-serif";
    if (!points.length) {
      ctx.fillStyle = COLORS.text; ctx.textAlign = "center";
      ctx.fillText("no finished trial yet", w / 2, h / 2);
      return;
    }
    const tids = points.map((p) => p[0]), losses = points.map((p) => p[1]);
    const best = [];
    let run = Infinity;
    for (const loss of losses) { run = Math.min(run, loss); best.push(run); }
    const [y0, y1] = yRange(losses, best);
    const x0 = tids[0], x1 = Math.max(tids[tids.length - 1], x0 + 1);
    const pw = w - PAD.left - PAD.right, ph = h - PAD.top - PAD.bottom;
    const X = (t) => PAD.left + ((t - x0) / (x1 - x0)) * pw;
    const Y = (v) => PAD.top + (1 - (v - y0) / (y1 - y0)) * ph;

    ctx.strokeStyle = COLORS.grid; ctx.fillStyle = COLORS.text; ctx.lineWidth = 1;
    ctx.textAlign = "right"; ctx.textBaseline = "middle";
    for (const v of niceTicks(y0, y1, 5)) {
      const y = Math.round(Y(v)) + 0.5;
      ctx.beginPath(); ctx.moveTo(PAD.left, y); ctx.lineTo(w - PAD.right, y); ctx.stroke();
      ctx.fillText(fmt(v), PAD.left - 6, y);
    }
    ctx.textAlign = "center"; ctx.textBaseline = "top";
    for (const t of niceTicks(x0, x1, 8).filter((t) => Number.isInteger(t))) {
      ctx.fillText(String(t), X(t), h - PAD.bottom + 6);
    }
    ctx.fillText("trial id", PAD.left + pw / 2, h - 14);
    ctx.strokeStyle = COLORS.axis;
    ctx.strokeRect(PAD.left + 0.5, PAD.top + 0.5, pw, ph);

    const r = points.length > 5000 ? 1.2 : 2.5;
    for (let i = 0; i < points.length; i++) {
      const out = losses[i] > y1;
      ctx.fillStyle = out ? COLORS.dotOut : COLORS.dot;
      ctx.beginPath();
      ctx.arc(X(tids[i]), out ? PAD.top + 2 : Y(losses[i]), r, 0, 2 * Math.PI);
      ctx.fill();
    }
    ctx.strokeStyle = COLORS.best; ctx.lineWidth = 2;
    ctx.beginPath();
    ctx.moveTo(X(tids[0]), Y(Math.min(best[0], y1)));
    for (let i = 1; i < points.length; i++) {
      if (best[i] !== best[i - 1]) {
        ctx.lineTo(X(tids[i]), Y(Math.min(best[i - 1], y1)));
        ctx.lineTo(X(tids[i]), Y(best[i]));
      }
    }
    ctx.lineTo(X(tids[tids.length - 1]), Y(best[best.length - 1]));
    ctx.stroke();
  }

  return { draw, fmt };
})();

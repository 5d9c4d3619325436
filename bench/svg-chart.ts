/**
 * A small SVG line chart for the soak run (bench/soak.ts): series on a left axis, and one
 * optional group of series on a right axis (a ratio), with a legend. Hand-written: a few
 * <polyline>s, ticks and labels, no dependency.
 */
export interface Series {
  name: string;
  points: Array<[number, number]>;
}

const W = 900;
const H = 420;
const M = { left: 64, right: 64, top: 40, bottom: 70 };
const COLORS = ['#1f77b4', '#2ca02c', '#ff7f0e', '#7f7f7f', '#d62728', '#9467bd'];

const esc = (s: string): string => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

/** A "nice" step for about `n` ticks over [0, max]. */
function step(max: number, n: number): number {
  const raw = max / n || 1;
  const p = 10 ** Math.floor(Math.log10(raw));
  return [1, 2, 2.5, 5, 10].map((k) => k * p).find((s) => s >= raw) ?? raw;
}

export function svgChart(title: string, xLabel: string, yLabel: string, series: Series[], right?: { name: string; series: Series[] }): string {
  const xs = [...series, ...(right?.series ?? [])].flatMap((s) => s.points.map((p) => p[0]));
  const xMax = Math.max(1, ...xs);
  const yStep = step(Math.max(1, ...series.flatMap((s) => s.points.map((p) => p[1]))), 6);
  const yMax = yStep * Math.ceil(Math.max(1, ...series.flatMap((s) => s.points.map((p) => p[1]))) / yStep);
  const rVals = right?.series.flatMap((s) => s.points.map((p) => p[1])) ?? [];
  const rStep = step(Math.max(1.5, ...rVals), 5);
  const rMax = rStep * Math.ceil(Math.max(1.5, ...rVals) / rStep);
  const pw = W - M.left - M.right;
  const ph = H - M.top - M.bottom;
  const X = (x: number): number => M.left + (x / xMax) * pw;
  const Y = (y: number, max: number): number => M.top + ph - (y / max) * ph;
  const out: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="sans-serif" font-size="12">`,
    `<rect width="${W}" height="${H}" fill="white"/>`,
    `<text x="${W / 2}" y="22" text-anchor="middle" font-size="14">${esc(title)}</text>`,
  ];
  for (let y = 0; y <= yMax + 1e-9; y += yStep) {
    out.push(`<line x1="${M.left}" x2="${W - M.right}" y1="${Y(y, yMax)}" y2="${Y(y, yMax)}" stroke="#e5e5e5"/>`);
    out.push(`<text x="${M.left - 6}" y="${Y(y, yMax) + 4}" text-anchor="end">${+y.toFixed(2)}</text>`);
  }
  if (right) {
    for (let y = 0; y <= rMax + 1e-9; y += rStep) out.push(`<text x="${W - M.right + 6}" y="${Y(y, rMax) + 4}">${+y.toFixed(2)}</text>`);
    out.push(`<text transform="translate(${W - 14} ${M.top + ph / 2}) rotate(90)" text-anchor="middle">${esc(right.name)} (dashed)</text>`);
  }
  const xStep = step(xMax, 8);
  for (let x = 0; x <= xMax + 1e-9; x += xStep) out.push(`<text x="${X(x)}" y="${M.top + ph + 18}" text-anchor="middle">${+x.toFixed(1)}</text>`);
  out.push(`<rect x="${M.left}" y="${M.top}" width="${pw}" height="${ph}" fill="none" stroke="#333"/>`);
  out.push(`<text x="${M.left + pw / 2}" y="${M.top + ph + 36}" text-anchor="middle">${esc(xLabel)}</text>`);
  out.push(`<text transform="translate(16 ${M.top + ph / 2}) rotate(-90)" text-anchor="middle">${esc(yLabel)}</text>`);
  const all = [...series.map((s) => ({ s, max: yMax, dash: '' })), ...(right?.series ?? []).map((s) => ({ s, max: rMax, dash: ' stroke-dasharray="6 4"' }))];
  all.forEach(({ s, max, dash }, i) => {
    const c = COLORS[i % COLORS.length]!;
    const pts = s.points.map(([x, y]) => `${X(x).toFixed(1)},${Y(y, max).toFixed(1)}`).join(' ');
    out.push(`<polyline fill="none" stroke="${c}" stroke-width="2"${dash} points="${pts}"/>`);
    const lx = M.left + (i % 3) * 250;
    const ly = H - 18 + (i >= 3 ? 14 : 0) - 14;
    out.push(`<line x1="${lx}" x2="${lx + 24}" y1="${ly}" y2="${ly}" stroke="${c}" stroke-width="2"${dash}/><text x="${lx + 30}" y="${ly + 4}">${esc(s.name)}</text>`);
  });
  out.push('</svg>');
  return `${out.join('\n')}\n`;
}

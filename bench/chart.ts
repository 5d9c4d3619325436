/**
 * A small SVG writer for the benchmark charts: grouped vertical bars (one group per x label, one
 * bar per series) on a log-scale y axis with decade grid lines, a legend, and each bar's value
 * printed above it. No dependency: the output is a plain SVG 1.1 string that GitHub renders.
 *
 *   barChartSvg({ title, yLabel, groups: ['1 thread', '2 threads'], series: [{ name, values }] })
 *
 * A missing value (undefined, NaN, <= 0) leaves its slot empty and prints "—" there (a skipped peer).
 */

export interface Series {
  name: string;
  /** One value per group (undefined: no bar). */
  values: (number | undefined)[];
}

export interface BarChart {
  title: string;
  yLabel: string;
  groups: string[];
  series: Series[];
  /** Formats a value for its label (default: 3 significant digits with k / M). */
  format?: (v: number) => string;
}

/** Colour-blind-safe palette (Okabe & Ito), then greys. */
const COLORS = ['#0072B2', '#56B4E9', '#009E73', '#E69F00', '#D55E00', '#CC79A7', '#F0E442', '#555555', '#999999'];

const esc = (s: string): string => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');

export function compact(v: number): string {
  if (v >= 1e6) return `${Number((v / 1e6).toPrecision(3))}M`;
  if (v >= 1e3) return `${Number((v / 1e3).toPrecision(3))}k`;
  return v >= 100 ? v.toFixed(0) : String(Number(v.toPrecision(3)));
}

const ok = (v: number | undefined): v is number => v !== undefined && Number.isFinite(v) && v > 0;

export function barChartSvg(c: BarChart): string {
  const fmt = c.format ?? compact;
  const values = c.series.flatMap((s) => s.values).filter(ok);
  // the smallest bar stands at least a factor 2 (0.3 decade) above the axis
  const lo = values.length === 0 ? 0 : Math.floor(Math.log10(Math.min(...values)) - 0.3);
  const hi = Math.max(lo + 1, values.length === 0 ? 1 : Math.ceil(Math.log10(Math.max(...values))));
  const barW = 18;
  const gap = 4;
  const groupPad = 28;
  const groupW = c.series.length * (barW + gap) - gap;
  const left = 70;
  const top = 40;
  const plotH = 300;
  const legendW = 300;
  const plotW = c.groups.length * (groupW + groupPad) + groupPad;
  const width = left + plotW + 20 + legendW;
  const height = top + plotH + 50;
  const y = (v: number): number => top + plotH - ((Math.log10(v) - lo) / (hi - lo)) * plotH;
  const out: string[] = [];
  out.push(`<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="sans-serif" font-size="11">`);
  out.push(`<rect width="${width}" height="${height}" fill="#ffffff"/>`);
  out.push(`<text x="${left}" y="20" font-size="14" font-weight="bold">${esc(c.title)}</text>`);
  // decade grid lines and their labels
  for (let e = lo; e <= hi; e++) {
    const yy = y(10 ** e).toFixed(1);
    out.push(`<line x1="${left}" x2="${left + plotW}" y1="${yy}" y2="${yy}" stroke="#dddddd"/>`);
    out.push(`<text x="${left - 6}" y="${yy}" text-anchor="end" dominant-baseline="middle">${esc(fmt(10 ** e))}</text>`);
  }
  out.push(`<text transform="translate(16 ${top + plotH / 2}) rotate(-90)" text-anchor="middle">${esc(c.yLabel)} (log scale)</text>`);
  out.push(`<line x1="${left}" x2="${left}" y1="${top}" y2="${top + plotH}" stroke="#333333"/>`);
  out.push(`<line x1="${left}" x2="${left + plotW}" y1="${top + plotH}" y2="${top + plotH}" stroke="#333333"/>`);
  c.groups.forEach((g, gi) => {
    const x0 = left + groupPad + gi * (groupW + groupPad);
    out.push(`<text x="${x0 + groupW / 2}" y="${top + plotH + 18}" text-anchor="middle" font-size="12">${esc(g)}</text>`);
    c.series.forEach((s, si) => {
      const v = s.values[gi];
      const x = x0 + si * (barW + gap);
      const color = COLORS[si % COLORS.length]!;
      if (!ok(v)) {
        out.push(`<text x="${x + barW / 2}" y="${top + plotH - 4}" text-anchor="middle" fill="#999999">—</text>`);
        return;
      }
      const yv = y(v);
      out.push(`<rect x="${x}" y="${yv.toFixed(1)}" width="${barW}" height="${(top + plotH - yv).toFixed(1)}" fill="${color}"><title>${esc(`${s.name}, ${g}: ${fmt(v)}`)}</title></rect>`);
      out.push(`<text transform="translate(${x + barW / 2 + 3} ${(yv - 4).toFixed(1)}) rotate(-90)" font-size="9">${esc(fmt(v))}</text>`);
    });
  });
  c.series.forEach((s, si) => {
    const ly = top + 10 + si * 20;
    const lx = left + plotW + 20;
    out.push(`<rect x="${lx}" y="${ly - 9}" width="12" height="12" fill="${COLORS[si % COLORS.length]!}"/>`);
    out.push(`<text x="${lx + 18}" y="${ly + 1}">${esc(s.name)}</text>`);
  });
  out.push('</svg>');
  return `${out.join('\n')}\n`;
}

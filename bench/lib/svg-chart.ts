// A small SVG line-chart writer (no dependencies): panels side by side, log-scaled
// axes, one line per series. Used for "throughput and p99 against fan-out".

export interface Point {
  x: number;
  y: number;
}

export interface Series {
  name: string;
  color: string;
  dashed?: boolean;
  points: Point[];
}

export interface Panel {
  title: string;
  yLabel: string;
  xLabel: string;
  /** A line of small print under the title (what was offered, what counts). */
  note?: string;
  series: Series[];
}

export interface ChartSpec {
  title: string;
  subtitle?: string;
  panels: Panel[];
}

const PANEL_W = 440;
const PANEL_H = 300;
const MARGIN = { top: 40, right: 20, bottom: 50, left: 70 };
const HEADER = 56;
const LEGEND = 28;

export function escapeXml(text: string): string {
  return text.replace(/[<>&"']/g, (c) => ({ '<': '&lt;', '>': '&gt;', '&': '&amp;', '"': '&quot;', "'": '&apos;' })[c]!);
}

/** Powers of ten covering [min, max] (at least two). */
export function logTicks(min: number, max: number): number[] {
  const lo = Math.floor(Math.log10(min));
  const hi = Math.max(lo + 1, Math.ceil(Math.log10(max)));
  const ticks: number[] = [];
  for (let e = lo; e <= hi; e++) ticks.push(10 ** e);
  return ticks;
}

function tickLabel(value: number): string {
  if (value >= 1e6) return `${value / 1e6}M`;
  if (value >= 1e3) return `${value / 1e3}k`;
  return String(value);
}

const valid = (p: Point) => Number.isFinite(p.x) && Number.isFinite(p.y) && p.x > 0 && p.y > 0;

function renderPanel(panel: Panel, offsetX: number, offsetY: number): string {
  const points = panel.series.flatMap((s) => s.points.filter(valid));
  const plotW = PANEL_W - MARGIN.left - MARGIN.right;
  const plotH = PANEL_H - MARGIN.top - MARGIN.bottom;
  const out: string[] = [`<g transform="translate(${offsetX},${offsetY})">`];
  out.push(`<text x="${PANEL_W / 2}" y="18" text-anchor="middle" font-size="14" font-weight="bold">${escapeXml(panel.title)}</text>`);
  if (panel.note) out.push(`<text x="${PANEL_W / 2}" y="33" text-anchor="middle" font-size="10" fill="#555">${escapeXml(panel.note)}</text>`);
  if (points.length === 0) {
    out.push(`<text x="${PANEL_W / 2}" y="${PANEL_H / 2}" text-anchor="middle" font-size="12">no data</text></g>`);
    return out.join('\n');
  }
  const xTicks = logTicks(Math.min(...points.map((p) => p.x)), Math.max(...points.map((p) => p.x)));
  const yTicks = logTicks(Math.min(...points.map((p) => p.y)), Math.max(...points.map((p) => p.y)));
  const [x0, x1] = [Math.log10(xTicks[0]!), Math.log10(xTicks.at(-1)!)];
  const [y0, y1] = [Math.log10(yTicks[0]!), Math.log10(yTicks.at(-1)!)];
  const sx = (x: number) => MARGIN.left + ((Math.log10(x) - x0) / (x1 - x0)) * plotW;
  const sy = (y: number) => MARGIN.top + plotH - ((Math.log10(y) - y0) / (y1 - y0)) * plotH;
  const fx = (n: number) => n.toFixed(1);

  out.push(`<rect x="${MARGIN.left}" y="${MARGIN.top}" width="${plotW}" height="${plotH}" fill="none" stroke="#999"/>`);
  for (const t of xTicks) {
    out.push(`<line x1="${fx(sx(t))}" y1="${MARGIN.top}" x2="${fx(sx(t))}" y2="${MARGIN.top + plotH}" stroke="#eee"/>`);
    out.push(`<text x="${fx(sx(t))}" y="${MARGIN.top + plotH + 16}" text-anchor="middle" font-size="11">${tickLabel(t)}</text>`);
  }
  for (const t of yTicks) {
    out.push(`<line x1="${MARGIN.left}" y1="${fx(sy(t))}" x2="${MARGIN.left + plotW}" y2="${fx(sy(t))}" stroke="#eee"/>`);
    out.push(`<text x="${MARGIN.left - 6}" y="${fx(sy(t) + 4)}" text-anchor="end" font-size="11">${tickLabel(t)}</text>`);
  }
  out.push(`<text x="${MARGIN.left + plotW / 2}" y="${PANEL_H - 12}" text-anchor="middle" font-size="12">${escapeXml(panel.xLabel)}</text>`);
  out.push(`<text transform="translate(16,${MARGIN.top + plotH / 2}) rotate(-90)" text-anchor="middle" font-size="12">${escapeXml(panel.yLabel)}</text>`);
  for (const s of panel.series) {
    const pts = s.points.filter(valid).sort((a, b) => a.x - b.x);
    if (pts.length === 0) continue;
    const dash = s.dashed ? ' stroke-dasharray="6 4"' : '';
    out.push(`<polyline fill="none" stroke="${s.color}" stroke-width="2"${dash} points="${pts.map((p) => `${fx(sx(p.x))},${fx(sy(p.y))}`).join(' ')}"/>`);
    for (const p of pts)
      out.push(`<circle cx="${fx(sx(p.x))}" cy="${fx(sy(p.y))}" r="3.5" fill="${s.color}"><title>${escapeXml(`${s.name}: ${p.y}`)}</title></circle>`);
  }
  out.push('</g>');
  return out.join('\n');
}

export function renderChart(spec: ChartSpec): string {
  const width = spec.panels.length * PANEL_W;
  const names = new Map<string, Series>();
  for (const panel of spec.panels) for (const s of panel.series) if (!names.has(s.name)) names.set(s.name, s);
  const height = HEADER + PANEL_H + LEGEND;
  const out: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="Helvetica, Arial, sans-serif">`,
    `<rect width="${width}" height="${height}" fill="#fff"/>`,
    `<text x="${width / 2}" y="22" text-anchor="middle" font-size="16" font-weight="bold">${escapeXml(spec.title)}</text>`,
  ];
  if (spec.subtitle) out.push(`<text x="${width / 2}" y="42" text-anchor="middle" font-size="11" fill="#555">${escapeXml(spec.subtitle)}</text>`);
  spec.panels.forEach((panel, i) => out.push(renderPanel(panel, i * PANEL_W, HEADER)));
  let x = 20;
  const y = HEADER + PANEL_H + 16;
  for (const s of names.values()) {
    const dash = s.dashed ? ' stroke-dasharray="6 4"' : '';
    out.push(`<line x1="${x}" y1="${y - 4}" x2="${x + 24}" y2="${y - 4}" stroke="${s.color}" stroke-width="2"${dash}/>`);
    out.push(`<text x="${x + 30}" y="${y}" font-size="12">${escapeXml(s.name)}</text>`);
    x += 40 + s.name.length * 7;
  }
  out.push('</svg>');
  return out.join('\n') + '\n';
}

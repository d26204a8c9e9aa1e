// Bench output: aligned tables on stdout, JSON under bench/results/, and a PNG bar chart rendered by Chromium.
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const RESULTS_DIR = join(dirname(fileURLToPath(import.meta.url)), 'results');

export type Cell = string | number | null;

/** The upper middle value (of an even count); 0 for none. */
export const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? 0;

export interface Table {
  title: string;
  columns: string[];
  rows: Cell[][];
  /** Free-text notes printed under the table (method, caveats). */
  notes?: string[];
}

function formatCell(value: Cell): string {
  if (value === null) return '–';
  if (typeof value === 'string') return value;
  if (Number.isInteger(value)) return value.toLocaleString('en-US');
  const abs = Math.abs(value);
  return value.toLocaleString('en-US', { maximumFractionDigits: abs >= 100 ? 0 : abs >= 1 ? 2 : 4 });
}

export function renderTable(table: Table): string {
  const cells = [table.columns, ...table.rows.map((row) => row.map(formatCell))];
  const widths = table.columns.map((_, i) => Math.max(...cells.map((row) => (row[i] ?? '').length)));
  const line = (row: string[]) => row.map((cell, i) => (i === 0 ? cell.padEnd(widths[i]!) : cell.padStart(widths[i]!))).join('  ');
  const out = [`\n${table.title}`, line(cells[0]!), widths.map((w) => '-'.repeat(w)).join('  '), ...cells.slice(1).map(line)];
  for (const note of table.notes ?? []) out.push(`  ${note}`);
  return out.join('\n');
}

export function writeJson(name: string, data: unknown): string {
  mkdirSync(RESULTS_DIR, { recursive: true });
  const path = join(RESULTS_DIR, `${name}.json`);
  writeFileSync(path, `${JSON.stringify(data, (_k, v) => (typeof v === 'bigint' ? v.toString() : v), 2)}\n`);
  return path;
}

export interface BarSeries {
  label: string;
  values: { name: string; value: number }[];
  unit: string;
}

function escapeXml(text: string): string {
  return text.replace(/[<>&"]/g, (c) => ({ '<': '&lt;', '>': '&gt;', '&': '&amp;', '"': '&quot;' })[c]!);
}

/** One horizontal bar chart per series, stacked vertically, as SVG. */
export function barChartSvg(title: string, series: BarSeries[]): string {
  const width = 900;
  const barH = 18;
  const labelW = 300;
  let y = 40;
  const parts: string[] = [`<text x="10" y="24" font-size="18" font-weight="bold">${escapeXml(title)}</text>`];
  for (const s of series) {
    parts.push(`<text x="10" y="${y + 14}" font-size="14" font-weight="bold">${escapeXml(`${s.label} (${s.unit})`)}</text>`);
    y += 24;
    const max = Math.max(...s.values.map((v) => v.value), 1e-9);
    for (const v of s.values) {
      const w = Math.max(1, ((width - labelW - 90) * v.value) / max);
      parts.push(`<text x="10" y="${y + 13}" font-size="12">${escapeXml(v.name)}</text>`);
      parts.push(`<rect x="${labelW}" y="${y}" width="${w.toFixed(1)}" height="${barH - 4}" fill="#2f5d50"/>`);
      parts.push(`<text x="${labelW + w + 6}" y="${y + 13}" font-size="12">${escapeXml(formatCell(v.value))}</text>`);
      y += barH;
    }
    y += 12;
  }
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${y + 10}" font-family="sans-serif"><rect width="100%" height="100%" fill="white"/>${parts.join('')}</svg>`;
}

/** Renders the SVG to PNG with the same Chromium the browser tests use; returns null when it is not installed. */
export async function writePng(name: string, svg: string): Promise<string | null> {
  const { chromium } = await import('playwright-core');
  const executablePath = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
  let browser;
  try {
    browser = await chromium.launch({ executablePath, args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking'] });
  } catch {
    return null;
  }
  try {
    const page = await browser.newPage();
    await page.setContent(`<!doctype html><body style="margin:0">${svg}</body>`);
    mkdirSync(RESULTS_DIR, { recursive: true });
    const path = join(RESULTS_DIR, `${name}.png`);
    await page.locator('svg').screenshot({ path });
    return path;
  } finally {
    await browser.close();
  }
}

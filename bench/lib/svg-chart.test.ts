import { describe, expect, it } from 'vitest';
import { escapeXml, logTicks, renderChart } from './svg-chart';

describe('renderChart', () => {
  const svg = renderChart({
    title: 'Throughput <by> fan-out',
    panels: [
      {
        title: 'msgs/s',
        xLabel: 'fan-out',
        yLabel: 'msgs/s',
        series: [
          {
            name: 'ours',
            color: '#00f',
            points: [
              { x: 1, y: 1000 },
              { x: 10, y: 9000 },
              { x: 100, y: 80_000 },
            ],
          },
          {
            name: 'Socket.IO',
            color: '#f00',
            dashed: true,
            points: [
              { x: 1, y: 800 },
              { x: 10, y: NaN },
              { x: 100, y: 20_000 },
            ],
          },
        ],
      },
      { title: 'empty', xLabel: 'x', yLabel: 'y', series: [] },
    ],
  });

  it('is one well-formed svg document with escaped text', () => {
    expect(svg.startsWith('<svg xmlns="http://www.w3.org/2000/svg"')).toBe(true);
    expect(svg.trim().endsWith('</svg>')).toBe(true);
    expect(svg).toContain('Throughput &lt;by&gt; fan-out');
    expect(svg).not.toContain('NaN');
  });

  it('draws one line per series, skipping points it cannot place on a log scale', () => {
    const lines = svg.match(/<polyline[^>]*points="([^"]*)"/g) ?? [];
    expect(lines).toHaveLength(2);
    expect(lines[1]!.match(/points="([^"]*)"/)![1]!.split(' ')).toHaveLength(2);
    expect(lines[1]).toContain('stroke-dasharray');
  });

  it('says so when a panel has no data', () => {
    expect(svg).toContain('no data');
  });
});

describe('helpers', () => {
  it('covers a range with powers of ten', () => {
    expect(logTicks(3, 250)).toEqual([1, 10, 100, 1000]);
    expect(logTicks(10, 10)).toEqual([10, 100]);
  });

  it('escapes the five XML specials', () => {
    expect(escapeXml(`<a & "b" 'c'>`)).toBe('&lt;a &amp; &quot;b&quot; &apos;c&apos;&gt;');
  });
});

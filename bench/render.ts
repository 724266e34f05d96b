// Re-renders bench/results/<name>.md and .svg from its .json (after a change to the
// report or chart code, without measuring again):  npm run bench:render -- reference
import { readFileSync, writeFileSync } from 'node:fs';
import { chartSpec, renderMarkdown, type RunResults } from './lib/report';
import { renderChart } from './lib/svg-chart';

const name = process.argv[2] ?? 'reference';
const results = JSON.parse(readFileSync(`bench/results/${name}.json`, 'utf8')) as RunResults;
writeFileSync(`bench/results/${name}.md`, renderMarkdown(results));
if (results.fanout.length > 0) writeFileSync(`bench/results/${name}.svg`, renderChart(chartSpec(results)));
process.stdout.write(`rendered bench/results/${name}.{md,svg}\n`);

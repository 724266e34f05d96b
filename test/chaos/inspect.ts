// Reads a failed chaos run's recording: one connection's frames (runs of consecutive
// messages folded into one line), next to its member's membership changes, the run's
// faults and the gateway log lines (warn and above) of the time it was open.
// `node --import tsx test/chaos/inspect.ts <recording.json> <connection, e.g. r1m2#3>`
import { readFileSync } from 'node:fs';
import type { ConnectionTrace, FaultRecord, Member, MembershipChange, TraceEntry } from './trace';
import type { ProcessLog } from './log-check';

interface Recording {
  members: Member[];
  connections: ConnectionTrace[];
  changes: MembershipChange[];
  faults: FaultRecord[];
  trafficStartedAt: number;
  logs: ProcessLog[];
}

const [file, connectionId] = process.argv.slice(2);
if (!file || !connectionId) {
  console.error('usage: inspect.ts <recording.json> <connection id>');
  process.exit(2);
}
const recording = JSON.parse(readFileSync(file, 'utf8')) as Recording;
recording.logs ??= [];
recording.trafficStartedAt ??= Math.min(...recording.connections.map((c) => c.openedAt));
const conn = recording.connections.find((c) => c.id === connectionId);
if (!conn) {
  console.error(`no connection ${connectionId}; there are ${recording.connections.map((c) => c.id).join(' ')}`);
  process.exit(2);
}
const member = recording.members.find((m) => m.label === conn.member)!;
const at = (t: number) => `+${((t - recording.trafficStartedAt) / 1000).toFixed(3)}s`;
const labelOf = (userId: string) => recording.members.find((m) => m.userId === userId)?.label ?? userId.slice(0, 8);

function describe(e: TraceEntry): string {
  switch (e.kind) {
    case 'join-sent':
      return `join sent, after_seq ${e.afterSeq}, epoch ${e.epoch}`;
    case 'join-ok':
      return `join ok, last_seq ${e.lastSeq}, has_more ${e.hasMore}`;
    case 'join-failed':
      return `join failed: ${e.error}`;
    case 'member-removed':
      return `member.removed of ${labelOf(e.userId)}, seq ${e.seq}`;
    case 'gap':
      return `gap notice ${e.fromSeq}–${e.toSeq}`;
    case 'room-event':
      return `${e.type}, seq ${e.seq}`;
    case 'message':
      return `message seq ${e.seq} (${e.source})`;
  }
}

const timeline: Array<{ t: number; text: string }> = [];
let run: { first: Extract<TraceEntry, { kind: 'message' }>; last: Extract<TraceEntry, { kind: 'message' }> } | null = null;
const flush = () => {
  if (!run) return;
  const { first, last } = run;
  timeline.push({ t: first.at, text: first === last ? describe(first) : `messages seq ${first.seq}–${last.seq} (${first.source}), until ${at(last.at)}` });
  run = null;
};
for (const e of conn.entries) {
  if (e.kind === 'message' && e.roomId === member.roomId && run && e.seq === (run.last.seq ?? NaN) + 1 && e.source === run.last.source) {
    run.last = e;
    continue;
  }
  flush();
  if (e.kind === 'message') run = { first: e, last: e };
  else timeline.push({ t: e.at, text: describe(e) });
}
flush();
const end = conn.endedAt ?? Infinity;
for (const c of recording.changes.filter((c) => c.roomId === member.roomId)) {
  timeline.push({ t: c.startedAt, text: `    [change] ${c.kind} ${labelOf(c.userId)} at seq ${c.position} (committed ${at(c.committedAt)})` });
}
for (const f of recording.faults)
  timeline.push({ t: f.startedAt, text: `    [fault] ${f.kind} ${f.target} until ${f.endedAt === null ? '?' : at(f.endedAt)}: ${f.detail}` });
const gateway = conn.gateway.split(' ')[0];
for (const log of recording.logs.filter((l) => l.name.startsWith(`${gateway}#`))) {
  for (const line of log.output.split('\n')) {
    try {
      const entry = JSON.parse(line) as { level: number; time: number; msg: string; roomId?: string };
      if (entry.level >= 40 && entry.time >= conn.openedAt - 2000 && entry.time <= end + 2000 && (!entry.roomId || entry.roomId === member.roomId)) {
        timeline.push({ t: entry.time, text: `    [${log.name}] ${line.slice(0, 300)}` });
      }
    } catch {
      // not a log line
    }
  }
}
console.log(
  `${conn.id} (${member.label}, room ${member.roomId}) on ${conn.gateway}, open ${at(conn.openedAt)} – ${conn.endedAt === null ? 'end' : at(conn.endedAt)}`,
);
for (const { t, text } of timeline.sort((a, b) => a.t - b.t)) console.log(`${at(t)} ${text}`);

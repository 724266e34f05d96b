// Which error lines in the processes' logs a fault explains. Pure. Crash lines and
// fatal lines are never explained; an error line (pino level 50) is explained only when
// it is about a lost or refused connection and a fault was in progress at its time
// (or had ended less than `afterMs` before) — or when it is PostgreSQL's own word for
// what our PostgreSQL faults do, which may surface any time later, on the next use of a
// pooled connection. Explained lines are still reported, with the fault blamed.
import { logProblems } from '../support/child-process';
import type { FaultRecord } from './trace';

/** A fault, or any other window that explains connection errors (the run's own SIGTERM at the end). */
export type Explanation = Pick<FaultRecord, 'target' | 'startedAt' | 'endedAt'> & { kind: string };

export interface ProcessLog {
  /** e.g. `gateway-1` (slot) and which incarnation of it. */
  name: string;
  pid: number;
  output: string;
}

export interface ProblemLine {
  process: string;
  pid: number;
  /** pino's `time` (ms), null for a non-JSON line. */
  time: number | null;
  text: string;
  /** The fault it was blamed on. */
  fault?: string;
}

export interface LogVerdict {
  explained: ProblemLine[];
  unexplained: ProblemLine[];
}

/** What a dependency going away looks like in an error's text. */
const CONNECTION_TROUBLE =
  /ECONNREFUSED|ECONNRESET|EPIPE|ETIMEDOUT|CONNECTION_(CLOSED|ENDED|DESTROYED)|CONNECT_TIMEOUT|terminat|shutting down|starting up|not yet accepting|Connection is closed|connection (closed|lost|ended|refused)|socket hang up|write after end|the database system/i;

/** Node's own report of an uncaught exception (the shared crash patterns miss `triggerUncaughtException`). */
const NODE_CRASH = /triggerUncaughtException|^Node\.js v\d+\.\d+\.\d+$/;

/** The error a crashed process printed: the first plain line naming an error after Node's crash marker. */
export function crashReason(output: string): string | null {
  const lines = output.split('\n');
  const marker = lines.findIndex((line) => NODE_CRASH.test(line));
  if (marker < 0) return null;
  return lines.slice(marker).find((line) => /^\w*Error\b/.test(line)) ?? lines[marker]!;
}

/** What only a terminated backend or a stopping server says. */
const POSTGRES_FAULT_TEXT = /terminating connection due to administrator command|the database system is (shutting down|starting up)/i;

export function checkLogs(logs: ProcessLog[], faults: Explanation[], runEndedAt: number, afterMs = 5000): LogVerdict {
  const verdict: LogVerdict = { explained: [], unexplained: [] };
  const blame = (text: string, time: number): Explanation | undefined => {
    if (POSTGRES_FAULT_TEXT.test(text)) return faults.findLast((f) => f.kind.startsWith('postgres-') && f.startedAt <= time);
    if (!CONNECTION_TROUBLE.test(text)) return undefined;
    // A dependency going away explains a connection error better than a process being killed.
    const during = faults.filter((f) => f.startedAt <= time && time <= (f.endedAt ?? runEndedAt) + afterMs);
    return during.findLast((f) => /^(postgres|redis)-/.test(f.kind)) ?? during.at(-1);
  };
  for (const log of logs) {
    const { crashes, errors } = logProblems(log.output);
    const nodeCrash = crashReason(log.output);
    if (nodeCrash && !crashes.length) crashes.push(`crashed: ${nodeCrash}`);
    for (const text of crashes) verdict.unexplained.push({ process: log.name, pid: log.pid, time: null, text });
    for (const text of errors) {
      const line = JSON.parse(text) as { level: number; time?: number };
      const time = typeof line.time === 'number' ? line.time : null;
      const problem: ProblemLine = { process: log.name, pid: log.pid, time, text };
      const fault = line.level >= 60 || time === null ? undefined : blame(text, time);
      if (fault) {
        const after = time! - (fault.endedAt ?? runEndedAt);
        verdict.explained.push({ ...problem, fault: `${fault.kind} ${fault.target}${after > 0 ? `, ${(after / 1000).toFixed(1)} s after it ended` : ''}` });
      } else verdict.unexplained.push(problem);
    }
  }
  return verdict;
}

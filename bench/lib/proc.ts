// CPU time and resident memory of another process, from /proc (Linux). The bench reads
// the server's figures this way so the load generator's own cost never counts.
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { loadavg } from 'node:os';

let clockTicks: number | undefined;
function ticksPerSecond(): number {
  if (clockTicks === undefined) {
    try {
      clockTicks = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
    } catch {
      clockTicks = 100;
    }
  }
  return clockTicks;
}

/** utime + stime of `pid` in microseconds (resolution: one clock tick, usually 10 ms). */
export function cpuMicros(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  // Fields after the command name (which may contain spaces), from field 3 on.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const utime = Number(fields[11]);
  const stime = Number(fields[12]);
  return ((utime + stime) * 1e6) / ticksPerSecond();
}

/** Resident set size of `pid` in bytes (VmRSS). */
export function rssBytes(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const match = /^VmRSS:\s+(\d+)\s+kB/m.exec(status);
  return match ? Number(match[1]) * 1024 : NaN;
}

/**
 * The main thread's scheduler times (/proc/<pid>/schedstat): nanoseconds on a CPU and
 * nanoseconds runnable but waiting for one. On a shared, overloaded machine a process
 * can be starved without using a whole core: on-CPU + waiting ≈ 100% of the wall time
 * means its (single-threaded) event loop never idled.
 */
export function schedNanos(pid: number): { runNs: number; waitNs: number } {
  const [run = NaN, wait = NaN] = readFileSync(`/proc/${pid}/schedstat`, 'utf8').trim().split(/\s+/).map(Number);
  return { runNs: run, waitNs: wait };
}

export interface ProcessUsage {
  pid: number;
  /** CPU µs of all the process's threads. */
  cpuMicros: number;
  /** That CPU as a fraction of one core over the window. */
  coreFraction: number;
  /** Main thread on a CPU or waiting for one, as a fraction of the window: ≥ 0.9 = it never idled. */
  busyFraction: number;
}

/** CPU used by a set of processes over a window, sampled at its start and end. */
export class CpuMeter {
  private startCpu = new Map<number, number>();
  private startSched = new Map<number, { runNs: number; waitNs: number }>();
  private startAt = 0;

  constructor(private readonly pids: readonly number[]) {}

  start(): void {
    this.startAt = performance.now();
    for (const pid of this.pids) {
      this.startCpu.set(pid, cpuMicros(pid));
      this.startSched.set(pid, schedNanos(pid));
    }
  }

  stop(): ProcessUsage[] {
    const elapsedUs = (performance.now() - this.startAt) * 1000;
    return this.pids.map((pid) => {
      let used = NaN;
      let busy = NaN;
      try {
        used = cpuMicros(pid) - (this.startCpu.get(pid) ?? NaN);
        const sched = schedNanos(pid);
        const before = this.startSched.get(pid);
        if (before) busy = (sched.runNs - before.runNs + sched.waitNs - before.waitNs) / 1000 / elapsedUs;
      } catch {
        // the process is gone
      }
      return { pid, cpuMicros: used, coreFraction: used / elapsedUs, busyFraction: busy };
    });
  }
}

/** The machine's load averages (1, 5, 15 min), as `uptime` shows them. */
export function machineLoad(): { load1: number; load5: number; load15: number } {
  const [load1 = NaN, load5 = NaN, load15 = NaN] = loadavg();
  return { load1, load5, load15 };
}

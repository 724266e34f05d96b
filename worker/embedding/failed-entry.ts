// An entry of the failed list: the job as it was (or the raw text when it was not
// JSON), why it failed, when, and where. The requeue command reads these back.
export interface FailedEntry {
  job: unknown;
  error: string;
  failed_at: string;
  consumer: string;
}

export function failedEntry(job: unknown, error: string, consumer: string, now = new Date()): string {
  const entry: FailedEntry = { job, error, failed_at: now.toISOString(), consumer };
  return JSON.stringify(entry);
}

/** The job inside a failed-list entry, or null when the entry is not one of ours. */
export function jobOfFailedEntry(raw: string): unknown {
  try {
    const entry = JSON.parse(raw) as Partial<FailedEntry> | null;
    return entry && typeof entry === 'object' && 'job' in entry && 'error' in entry ? entry.job : null;
  } catch {
    return null;
  }
}

import * as v from 'valibot';

/** Valibot issues as one line for a log or an error column: `userId: missing; title: must be a string`. */
export function describeIssues(issues: readonly v.BaseIssue<unknown>[]): string {
  return issues
    .map((issue) => {
      const path = v.getDotPath(issue);
      const message = issue.input === undefined && issue.kind === 'schema' ? 'missing' : issue.message;
      return path ? `${path}: ${message}` : message;
    })
    .join('; ');
}

/** A command line that cannot be run as given; its message says what to change. Exit code 2. */
export class UsageError extends Error {
  override name = 'UsageError';
}

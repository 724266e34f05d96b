/** A job failure that says whether trying again could help (an HTTP 400 cannot; a timeout can). */
export class JobError extends Error {
  override name = 'JobError';
  constructor(
    message: string,
    readonly retryable: boolean,
  ) {
    super(message);
  }
}

export const isPermanent = (err: unknown) => err instanceof JobError && !err.retryable;

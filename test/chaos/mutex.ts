// One thing at a time: the membership churn's transactions and the PostgreSQL faults
// take turns, so no churn transaction is cut off with an outcome nobody knows.
export class Mutex {
  private tail: Promise<unknown> = Promise.resolve();

  run<T>(task: () => Promise<T>): Promise<T> {
    const result = this.tail.then(task);
    this.tail = result.catch(() => {});
    return result;
  }
}

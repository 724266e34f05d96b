/**
 * The last `capacity` message ids seen for one room. An outbox row can be published
 * twice (a worker dies between publishing and marking it); the second copy is dropped.
 */
export class RecentIds {
  private readonly ring: number[];
  private readonly seen = new Set<number>();
  private next = 0;

  constructor(private readonly capacity = 1024) {
    this.ring = new Array<number>(capacity);
  }

  /** Records the id; false if it was already among the recent ones. */
  add(id: number): boolean {
    if (this.seen.has(id)) return false;
    const evicted = this.ring[this.next];
    if (evicted !== undefined) this.seen.delete(evicted);
    this.ring[this.next] = id;
    this.next = (this.next + 1) % this.capacity;
    this.seen.add(id);
    return true;
  }
}

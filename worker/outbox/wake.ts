/**
 * Lets a loop sleep until either a timeout passes or someone calls wake(). A wake()
 * that comes while the loop is busy is remembered, so the next sleep returns at once
 * and no notification is lost between two sleeps.
 */
export interface WakeSignal {
  sleep(ms: number): Promise<void>;
  wake(): void;
}

export function createWakeSignal(): WakeSignal {
  let pending = false;
  let resolveSleep: (() => void) | null = null;
  let timer: NodeJS.Timeout | null = null;

  return {
    sleep(ms) {
      if (pending) {
        pending = false;
        return Promise.resolve();
      }
      return new Promise<void>((resolve) => {
        resolveSleep = resolve;
        timer = setTimeout(() => {
          resolveSleep = null;
          resolve();
        }, ms);
      });
    },
    wake() {
      if (resolveSleep) {
        if (timer) clearTimeout(timer);
        const resolve = resolveSleep;
        resolveSleep = null;
        resolve();
      } else {
        pending = true;
      }
    },
  };
}

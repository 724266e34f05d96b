// A local stand-in for an OpenAI-compatible embeddings endpoint. What it does is steered
// by markers in the input text, so each test picks its behaviour through the job content:
//   FAIL400 / FAIL500        answer that status
//   FLAKY:<token>:<n>        answer 503 to the first n requests carrying that token, then succeed
//   SLOW:<ms>                wait that long before answering
//   HOLD                     wait until release() (or the client gives up)
import type { ServerResponse } from 'node:http';
import { setTimeout as sleep } from 'node:timers/promises';
import { sendJson, startHttpStub, type HttpStub } from './http-stub';

export interface EmbeddingsApi extends HttpStub {
  /** The endpoint URL (EMBEDDING_API_URL). */
  endpoint: string;
  /** Requests being answered right now, and the most there ever were at once. */
  inFlight(): number;
  peakInFlight(): number;
  /** Answers every held request, and lets later HOLD requests through. */
  release(): void;
  /** HOLD requests wait again (until the next release()). */
  hold(): void;
}

/** A deterministic vector for a text: a test can recompute it. */
export const fakeVector = (text: string) => [text.length, text.charCodeAt(0) || 0, 0.5];

export async function startEmbeddingsApi(): Promise<EmbeddingsApi> {
  let inFlight = 0;
  let peak = 0;
  let released = false;
  const held: Array<() => void> = [];
  const flaky = new Map<string, number>();

  const stub = await startHttpStub(async (req, res: ServerResponse) => {
    inFlight++;
    peak = Math.max(peak, inFlight);
    try {
      const inputs: string[] = Array.isArray(req.json?.input) ? req.json.input : [];
      const text = inputs.join('\n');
      const slow = /SLOW:(\d+)/.exec(text);
      if (slow) await sleep(Number(slow[1]));
      if (text.includes('HOLD') && !released) await new Promise<void>((r) => held.push(r));
      if (text.includes('FAIL400')) return sendJson(res, 400, { error: { message: 'input is not acceptable' } });
      if (text.includes('FAIL500')) return sendJson(res, 500, { error: { message: 'upstream exploded' } });
      const flakyMatch = /FLAKY:(\w+):(\d+)/.exec(text);
      if (flakyMatch) {
        const seen = (flaky.get(flakyMatch[1]!) ?? 0) + 1;
        flaky.set(flakyMatch[1]!, seen);
        if (seen <= Number(flakyMatch[2])) return sendJson(res, 503, { error: { message: 'warming up' } });
      }
      sendJson(res, 200, {
        object: 'list',
        model: req.json?.model,
        data: inputs.map((input, index) => ({ object: 'embedding', index, embedding: fakeVector(input) })),
      });
    } finally {
      inFlight--;
    }
  });
  const release = () => {
    released = true;
    for (const resolve of held.splice(0)) resolve();
  };
  return {
    ...stub,
    endpoint: `${stub.url}/v1/embeddings`,
    inFlight: () => inFlight,
    peakInFlight: () => peak,
    release,
    hold() {
      released = false;
    },
    async close() {
      release();
      await stub.close();
    },
  };
}

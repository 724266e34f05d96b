// An OpenAI-compatible embeddings endpoint: POST {model, input: [...]} and get back
// {data: [{index, embedding}]}. Failures come out as JobErrors that say whether a retry
// could help.
import * as v from 'valibot';
import { describeIssues } from '../../shared/describe-issues';
import { bodySnippet, isRetryableStatus } from '../http-status';
import { postJson } from '../post-json';
import { JobError } from './job-error';

const EmbeddingsResponse = v.object({
  data: v.array(
    v.object({
      index: v.pipe(v.number(), v.safeInteger(), v.minValue(0)),
      embedding: v.pipe(v.array(v.pipe(v.number(), v.finite())), v.minLength(1, 'must not be empty')),
    }),
  ),
});

export interface EmbeddingsClientOptions {
  url: string;
  model: string;
  apiKey?: string;
  timeoutMs: number;
}

export interface EmbeddingsClient {
  /** One vector per input, in input order. */
  embed(inputs: readonly string[]): Promise<number[][]>;
}

/** The vectors in a response body, in input order, or a JobError saying what is wrong with it. */
export function vectorsFromResponse(body: string, inputCount: number): number[][] {
  let json: unknown;
  try {
    json = JSON.parse(body);
  } catch {
    throw new JobError(`embeddings API answered with a body that is not JSON: ${bodySnippet(body)}`, true);
  }
  const parsed = v.safeParse(EmbeddingsResponse, json);
  if (!parsed.success) throw new JobError(`embeddings API answer is not an embeddings response: ${describeIssues(parsed.issues)}`, true);
  const vectors: number[][] = new Array(inputCount);
  for (const item of parsed.output.data) {
    if (item.index >= inputCount || vectors[item.index]) throw new JobError(`embeddings API answered index ${item.index} for ${inputCount} input(s)`, true);
    vectors[item.index] = item.embedding;
  }
  const missing = Array.from({ length: inputCount }, (_, i) => i).filter((i) => !vectors[i]);
  if (missing.length > 0) throw new JobError(`embeddings API answered no vector for input(s) ${missing.join(', ')}`, true);
  const dimensions = new Set(vectors.map((vector) => vector.length));
  if (dimensions.size > 1) throw new JobError(`embeddings API answered vectors of different lengths (${[...dimensions].join(', ')})`, true);
  return vectors;
}

export function createEmbeddingsClient(options: EmbeddingsClientOptions): EmbeddingsClient {
  const headers: Record<string, string> = options.apiKey ? { authorization: `Bearer ${options.apiKey}` } : {};
  return {
    async embed(inputs) {
      if (inputs.length === 0) return [];
      const result = await postJson(options.url, { model: options.model, input: inputs }, { timeoutMs: options.timeoutMs, headers });
      if (!result.ok) throw new JobError(`embeddings API unreachable: ${result.error}`, true);
      if (result.status < 200 || result.status > 299) {
        throw new JobError(`embeddings API answered HTTP ${result.status}: ${bodySnippet(result.body)}`, isRetryableStatus(result.status));
      }
      return vectorsFromResponse(result.body, inputs.length);
    },
  };
}

// Splits long text into overlapping chunks for embedding, cutting at the most natural
// place available (paragraph, line, sentence, word) in the last half of each window.

export interface ChunkOptions {
  /** Longest chunk, in UTF-16 code units (JavaScript string length). */
  maxChars: number;
  /** How much of the end of a chunk the next one repeats, for context across the cut. Under maxChars / 2. */
  overlap: number;
}

const BREAKS = [/\n\s*\n/g, /\n/g, /[.!?。！？]["')\]]*\s/g, /\s/g];

/** Where to end a chunk of text[start, hardEnd): after the last natural break in its second half. */
function cutPoint(text: string, start: number, hardEnd: number): number {
  const window = text.slice(start, hardEnd);
  const earliest = Math.floor(window.length / 2);
  for (const pattern of BREAKS) {
    let best = -1;
    for (const match of window.matchAll(pattern)) {
      const end = match.index + match[0].length;
      if (end > earliest) best = end;
    }
    if (best > 0) return start + best;
  }
  // No break at all: a hard cut, but never between the halves of a surrogate pair.
  const code = text.charCodeAt(hardEnd - 1);
  return code >= 0xd800 && code <= 0xdbff ? hardEnd - 1 : hardEnd;
}

export function chunkText(text: string, options: ChunkOptions): string[] {
  const clean = text.trim();
  if (clean.length <= options.maxChars) return clean ? [clean] : [];
  const chunks: string[] = [];
  let start = 0;
  while (start < clean.length) {
    const hardEnd = start + options.maxChars;
    if (hardEnd >= clean.length) {
      chunks.push(clean.slice(start).trim());
      break;
    }
    const end = cutPoint(clean, start, hardEnd);
    chunks.push(clean.slice(start, end).trim());
    // Start the next chunk `overlap` back, moved forward to a word start so it does not begin mid-word.
    let next = Math.max(end - options.overlap, start + 1);
    if (next < end) {
      const space = clean.slice(next, end).search(/\s/);
      if (space >= 0) next += space + 1;
    }
    const nextCode = clean.charCodeAt(next);
    if (nextCode >= 0xdc00 && nextCode <= 0xdfff) next++;
    start = next;
  }
  return chunks.filter((chunk) => chunk.length > 0);
}

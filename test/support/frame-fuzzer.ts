// Random and mutated client frames for the protocol fuzzer (test/fuzz.test.ts). Seeded:
// the same seed gives the same frames, so a failure can be replayed with FUZZ_SEED.
//
// A frame is built as a small JSON tree whose leaves may be `Raw` tokens, so it can carry
// what JSON.stringify would never write: numbers like 1e309 or 2^64, escapes like \u0000
// and lone surrogates (\ud800), then optionally mutated as text.

export interface Random {
  next(): number;
  int(n: number): number;
  between(lo: number, hi: number): number;
  chance(p: number): boolean;
  pick<T>(items: readonly T[]): T;
}

/** mulberry32: tiny, fast, good enough to explore inputs, and reproducible. */
export function createRandom(seed: number): Random {
  let state = seed >>> 0;
  const next = () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  return {
    next,
    int: (n) => Math.floor(next() * n),
    between: (lo, hi) => lo + Math.floor(next() * (hi - lo + 1)),
    chance: (p) => next() < p,
    pick: (items) => items[Math.floor(next() * items.length)]!,
  };
}

export const FRAME_KINDS = [
  'valid',
  'mutated',
  'wrong-type',
  'prototype-keys',
  'huge-number',
  'unicode',
  'deep-nesting',
  'random-json',
  'random-text',
  'empty',
  'binary',
  'invalid-utf8',
  'near-max-size',
] as const;
export type FrameKind = (typeof FRAME_KINDS)[number];

export interface FuzzFrame {
  kind: FrameKind;
  data: string | Buffer;
  binary: boolean;
  /** The gateway may close the connection for it (over MAX_BODY_BYTES, not UTF-8). */
  mayClose: boolean;
}

export interface FuzzTargets {
  /** Room ids worth aiming at: rooms the connection is in and rooms it is not. */
  roomIds: readonly string[];
  /** Tokens the connection may present (never a token of a user it must not become). */
  tokens: readonly string[];
  maxBodyBytes: number;
}

const WEIGHTS: Record<FrameKind, number> = {
  valid: 12,
  mutated: 28,
  'wrong-type': 14,
  'prototype-keys': 5,
  'huge-number': 5,
  unicode: 10,
  'deep-nesting': 1.5,
  'random-json': 8,
  'random-text': 6,
  empty: 1,
  binary: 5,
  'invalid-utf8': 1,
  'near-max-size': 0.5,
};

class Raw {
  constructor(readonly text: string) {}
}
type Tree = null | boolean | number | string | Raw | Tree[] | { [key: string]: Tree };

function render(value: Tree): string {
  if (value instanceof Raw) return value.text;
  if (Array.isArray(value)) return `[${value.map(render).join(',')}]`;
  if (value !== null && typeof value === 'object') {
    return `{${Object.keys(value)
      .map((key) => `${JSON.stringify(key)}:${render(value[key]!)}`)
      .join(',')}}`;
  }
  return JSON.stringify(value);
}

/** Builds a plain object that may have an own "__proto__" key (a literal would set the prototype). */
function record(entries: Array<[string, Tree]>): { [key: string]: Tree } {
  const obj: { [key: string]: Tree } = Object.create(null);
  for (const [key, value] of entries) Object.defineProperty(obj, key, { value, enumerable: true, writable: true, configurable: true });
  return obj;
}

const HUGE_NUMBERS = [
  '1e309',
  '-1e309',
  '1e308',
  '9007199254740993',
  '18446744073709551616',
  '123456789012345678901234567890',
  '1e-400',
  '-0',
  '0.0000001',
  '1.5',
  '-1',
  '2147483648',
  '-9223372036854775809',
  '1E+2',
  '0e0',
  '4.9e-324',
];
const EDGE_STRINGS = [
  '',
  ' ',
  '\u0000',
  'a\u0000b',
  '\ud800',
  '\udfff',
  'x\ud83d',
  '\ude00y',
  '\ud83d\ude00',
  '\uffff',
  '\ufffe',
  '\ufeff',
  '\u202e',
  'e\u0301\u0301\u0301',
  '\u2028\u2029',
  '\u0085',
  '\t\r\n',
  '"',
  '\\',
  '</script>',
  "'; DROP TABLE arcyou_chat_messages; --",
  '${7*7}',
  '{{constructor}}',
  '__proto__',
  'constructor',
  'prototype',
  'toString',
  'hasOwnProperty',
  '%00',
  '\u{10ffff}',
  '\u{1f600}'.repeat(50),
];
/** Escapes JSON.stringify writes only for lone surrogates and control characters; here on purpose. */
const RAW_ESCAPES = ['"\\u0000"', '"\\ud800"', '"\\udc00\\ud800"', '"a\\u0000"', '"\\uD83D"', '"\\u0000\\u0000"', '"\\uffff"', '"\\/"'];
const KEYS = [
  'op',
  'room_id',
  'conversation_id',
  'content',
  'body',
  'token',
  'temp_id',
  'request_id',
  'last_read_message_id',
  '__proto__',
  'constructor',
  'prototype',
  'toString',
  'valueOf',
  '',
  'x',
];
const OPS = [
  'auth',
  'join',
  'send',
  'ack',
  'AUTH',
  'Send',
  'send ',
  ' join',
  'event',
  'barrier',
  'leave',
  'delete',
  '__proto__',
  'constructor',
  'hasOwnProperty',
  'toString',
  '',
];
const INVALID_UTF8 = [[0xff], [0xc3, 0x28], [0xed, 0xa0, 0x80], [0xc0, 0xaf], [0xf8, 0x88, 0x80, 0x80, 0x80], [0xe2, 0x82], [0xf4, 0x90, 0x80, 0x80]];
const MUTATION_CHARS = Array.from('{}[]":,\\0123456789-+.eEtrufalsn \u0000\ud800');

export function createFrameFuzzer(seed: number, targets: FuzzTargets): { next(): FuzzFrame } {
  const random = createRandom(seed);
  const kinds = FRAME_KINDS.map((kind) => [kind, WEIGHTS[kind]] as const);
  const totalWeight = kinds.reduce((sum, [, w]) => sum + w, 0);

  const uuid = () => {
    const hex = () => random.int(16).toString(16);
    const part = (n: number) => Array.from({ length: n }, hex).join('');
    return `${part(8)}-${part(4)}-4${part(3)}-${random.pick(['8', '9', 'a', 'b'])}${part(3)}-${part(12)}`;
  };

  const edgeString = (): string => {
    switch (random.int(4)) {
      case 0:
        return random.pick(EDGE_STRINGS);
      case 1: // random code points, any plane, surrogates included
        return Array.from({ length: random.between(1, 40) }, () => String.fromCharCode(random.int(0x10000))).join('');
      case 2:
        return 'x'.repeat(random.between(1, 300));
      default:
        return random.pick(EDGE_STRINGS) + random.pick(EDGE_STRINGS);
    }
  };

  const stringLeaf = (): Tree => (random.chance(0.2) ? new Raw(random.pick(RAW_ESCAPES)) : edgeString());

  const roomRef = (): Tree => {
    const room = random.chance(0.75) ? random.pick(targets.roomIds) : uuid();
    switch (random.int(10)) {
      case 0:
        return room.toUpperCase();
      case 1:
        return `{${room}}`;
      case 2:
        return room.replaceAll('-', '');
      case 3:
        return `${room} `;
      case 4:
        return randomValue(2);
      default:
        return room;
    }
  };

  const randomValue = (depth: number): Tree => {
    const roll = random.int(depth > 0 ? 9 : 6);
    switch (roll) {
      case 0:
        return null;
      case 1:
        return random.chance(0.5);
      case 2:
        return new Raw(random.pick(HUGE_NUMBERS));
      case 3:
        return random.int(1_000_000) - 1000;
      case 4:
      case 5:
        return stringLeaf();
      case 6:
      case 7:
        return record(
          Array.from({ length: random.int(5) }, () => [random.chance(0.3) ? random.pick(KEYS) : edgeString(), randomValue(depth - 1)] as [string, Tree]),
        );
      default:
        return Array.from({ length: random.int(5) }, () => randomValue(depth - 1));
    }
  };

  const content = (): Tree => {
    const fields: Array<[string, Tree]> = [['text', random.chance(0.6) ? `hello ${random.int(1000)}` : stringLeaf()]];
    if (random.chance(0.3)) fields.push([random.pick(['__proto__', 'constructor', 'meta', 'x']), randomValue(3)]);
    return record(fields);
  };

  const ids = (fields: Array<[string, Tree]>) => {
    if (random.chance(0.3)) fields.push(['temp_id', random.chance(0.7) ? `t${random.int(1e6)}` : randomValue(1)]);
    if (random.chance(0.3)) fields.push(['request_id', random.chance(0.7) ? random.int(1e6) : randomValue(1)]);
    return fields;
  };

  const roomFields = (): Array<[string, Tree]> => {
    switch (random.int(6)) {
      case 0:
        return [['conversation_id', roomRef()]];
      case 1: // both, possibly disagreeing
        return [
          ['room_id', roomRef()],
          ['conversation_id', roomRef()],
        ];
      case 2:
        return [];
      default:
        return [['room_id', roomRef()]];
    }
  };

  const validTree = (): { [key: string]: Tree } => {
    switch (random.int(4)) {
      case 0:
        return record(
          ids([
            ['op', 'auth'],
            ['token', random.chance(0.5) && targets.tokens.length ? random.pick(targets.tokens) : random.chance(0.5) ? uuid() : edgeString()],
          ]),
        );
      case 1:
        return record(ids([['op', 'join'], ...roomFields()]));
      case 2:
        return record(ids([['op', 'send'], ...roomFields(), [random.chance(0.8) ? 'content' : 'body', content()]]));
      default:
        return record(ids([['op', 'ack'], ...roomFields(), ['last_read_message_id', random.chance(0.7) ? random.int(10_000) : String(random.int(10_000))]]));
    }
  };

  const mutate = (text: string): string => {
    let out = text;
    for (let n = random.between(1, 4); n > 0; n--) {
      const at = random.int(out.length + 1);
      switch (random.int(8)) {
        case 0:
          out = out.slice(0, at); // truncated
          break;
        case 1:
          out = out.slice(0, at) + out.slice(at + random.between(1, 8));
          break;
        case 2:
          out = out.slice(0, at) + random.pick(MUTATION_CHARS) + out.slice(at);
          break;
        case 3:
          out = out.slice(0, at) + random.pick(MUTATION_CHARS) + out.slice(at + 1);
          break;
        case 4:
          out = out.slice(0, at) + out.slice(at, at + random.between(1, 16)) + out.slice(at);
          break;
        case 5:
          out = out.replace(/-?\d+(\.\d+)?/, random.pick(HUGE_NUMBERS));
          break;
        case 6:
          out = out.slice(0, at) + render(randomValue(2)) + out.slice(at);
          break;
        default:
          out = out + out;
      }
    }
    return out;
  };

  const deepNesting = (): string => {
    const budget = Math.floor(targets.maxBodyBytes / 6);
    const depth = Math.min(budget, Math.floor(Math.exp(random.next() * Math.log(40_000))) + 1);
    const [open, close] = random.pick([
      ['[', ']'],
      ['{"a":', '}'],
      ['{"__proto__":', '}'],
    ] as const);
    const nested = `${open.repeat(depth)}1${close.repeat(depth)}`;
    switch (random.int(3)) {
      case 0:
        return nested;
      case 1:
        return `{"op":"send","room_id":${render(roomRef())},"content":{"x":${nested}}}`;
      default:
        return `{"op":"ack","room_id":${render(roomRef())},"last_read_message_id":${nested},"temp_id":${nested}}`;
    }
  };

  const nearMaxSize = (): { text: string; bytes: number } => {
    const target = targets.maxBodyBytes + random.between(-128, 128);
    const head = `{"op":"send","room_id":${render(roomRef())},"content":{"text":"`;
    const tail = '"}}';
    const fill = Math.max(0, target - Buffer.byteLength(head + tail));
    const unit = random.pick(['x', 'é', '😀']); // 1, 2 and 4 UTF-8 bytes
    const text = head + unit.repeat(Math.floor(fill / Buffer.byteLength(unit))) + tail;
    return { text, bytes: Buffer.byteLength(text) };
  };

  const textFrame = (kind: FrameKind, data: string): FuzzFrame => ({ kind, data, binary: false, mayClose: Buffer.byteLength(data) > targets.maxBodyBytes });

  const pickKind = (): FrameKind => {
    let roll = random.next() * totalWeight;
    for (const [kind, weight] of kinds) {
      roll -= weight;
      if (roll < 0) return kind;
    }
    return 'valid';
  };

  return {
    next(): FuzzFrame {
      const kind = pickKind();
      switch (kind) {
        case 'valid':
          return textFrame(kind, render(validTree()));
        case 'mutated':
          return textFrame(kind, mutate(render(validTree())));
        case 'wrong-type': {
          const tree = validTree();
          const keys = Object.keys(tree);
          const key = random.chance(0.7) && keys.length ? random.pick(keys) : random.pick(KEYS);
          if (random.chance(0.15)) delete tree[key];
          else
            Object.defineProperty(tree, key, {
              value: key === 'op' && random.chance(0.5) ? random.pick(OPS) : randomValue(3),
              enumerable: true,
              writable: true,
              configurable: true,
            });
          return textFrame(kind, render(tree));
        }
        case 'prototype-keys': {
          const tree = validTree();
          const hostile: Tree = record([
            ['op', 'send'],
            ['isAdmin', true],
            ['room_id', roomRef()],
            ['polluted', 1],
          ]);
          const where = random.pick(['__proto__', 'constructor', 'prototype']);
          const wrapped = random.chance(0.5)
            ? record([[where, hostile], ...Object.entries(tree)])
            : record([...Object.entries(tree), [where, record([['prototype', hostile]])]]);
          return textFrame(kind, render(wrapped));
        }
        case 'huge-number': {
          const tree = validTree();
          const key = random.pick(['last_read_message_id', 'temp_id', 'request_id', 'room_id', 'op', 'token']);
          Object.defineProperty(tree, key, { value: new Raw(random.pick(HUGE_NUMBERS)), enumerable: true, writable: true, configurable: true });
          return textFrame(kind, render(tree));
        }
        case 'unicode': {
          const tree = validTree();
          const key = random.pick(['op', 'token', 'temp_id', 'request_id', 'room_id', 'content']);
          const value =
            key === 'content'
              ? record([
                  [edgeString(), stringLeaf()],
                  ['text', stringLeaf()],
                ])
              : stringLeaf();
          Object.defineProperty(tree, key, { value, enumerable: true, writable: true, configurable: true });
          return textFrame(kind, render(tree));
        }
        case 'deep-nesting':
          return textFrame(kind, deepNesting());
        case 'random-json':
          return textFrame(kind, render(randomValue(4)));
        case 'random-text':
          return textFrame(
            kind,
            random.chance(0.5) ? edgeString() : Array.from({ length: random.between(1, 200) }, () => String.fromCharCode(random.between(32, 126))).join(''),
          );
        case 'empty':
          return textFrame(kind, random.pick(['', ' ', '\n', '{}', '[]', 'null', '0', '""']));
        case 'binary': {
          const bytes = random.chance(0.3) ? Buffer.from(render(validTree())) : Buffer.from(Array.from({ length: random.int(2048) }, () => random.int(256)));
          return { kind, data: bytes, binary: true, mayClose: bytes.length > targets.maxBodyBytes };
        }
        case 'invalid-utf8': {
          const text = Buffer.from(render(validTree()));
          const at = random.int(text.length + 1);
          const data = Buffer.concat([text.subarray(0, at), Buffer.from(random.pick(INVALID_UTF8)), text.subarray(at)]);
          return { kind, data, binary: false, mayClose: true };
        }
        case 'near-max-size': {
          const { text, bytes } = nearMaxSize();
          return { kind, data: text, binary: false, mayClose: bytes > targets.maxBodyBytes };
        }
      }
    },
  };
}

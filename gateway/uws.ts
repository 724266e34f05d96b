// Loads uWebSockets.js and refuses its silent pure-JS fallback: the npm alias we use
// falls back to a slow JS implementation when the native binary does not load.
import { createRequire } from 'node:module';
import type * as UWS from 'uWebSockets.js';

export type { UWS };

export class NativeUwsUnavailableError extends Error {
  override name = 'NativeUwsUnavailableError';
}

export function loadNativeUws(): typeof UWS {
  // UWS_USE_FALLBACK is the package's own switch, not a gateway setting: the package reads
  // it from process.env when it is required, whatever our config says. So this refusal
  // reads the same place, right before that require; it names the cause, where the check
  // below would blame the platform.
  if (/^(1|true)$/i.test(process.env.UWS_USE_FALLBACK ?? '')) {
    throw new NativeUwsUnavailableError('UWS_USE_FALLBACK is set: refusing to run on the pure-JS uWebSockets.js fallback. Unset it.');
  }
  const require = createRequire(import.meta.url);
  const uws = require('uWebSockets.js') as typeof UWS;
  const native = Object.keys(require.cache).some((path) => /uWebSockets\.js.*\.node$/.test(path) || /uws_[\w]+\.node$/.test(path));
  if (!native || !String(uws.App).includes('[native code]')) {
    throw new NativeUwsUnavailableError(
      `uWebSockets.js native binary did not load for ${process.platform}-${process.arch} (Node ABI ${process.versions.modules}); ` +
        'refusing to run on the slow pure-JS fallback. Use Node 20 on glibc >= 2.36.',
    );
  }
  return uws;
}

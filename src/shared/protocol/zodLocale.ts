import { config } from 'zod/mini';
import en from 'zod/v4/locales/en.js';

// The mini build keeps the host and webview bundles small but ships without messages until a locale is set,
// and refused messages are logged with those messages.
config(en());

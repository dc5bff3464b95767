import { createRequire as __r } from 'node:module'; const require = __r(import.meta.url);

// <stdin>
var stdin_default = 1;
export {
  stdin_default as default
};

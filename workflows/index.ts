export { matcher } from './matcher.js';
export { run } from './run.js';

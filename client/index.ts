export { KnitClient, type DataFindQuery, type TagChangeRequest, type PullResult, type Progress } from './knit-client.js';
export type { Connection } from './http.js';
export { KnitError } from '../core/errors/knit-error.js';
export type { DataDetail } from '../core/data/model.js';

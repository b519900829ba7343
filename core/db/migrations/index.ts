import type { Migration } from '../migrate.js';
import { m0001 } from './0001_data.js';
import { m0002 } from './0002_plans_runs.js';
import { m0003 } from './0003_output_timestamp.js';
import { m0004 } from './0004_plan_match_error.js';
import { m0005 } from './0005_stop_delivery.js';
import { m0006 } from './0006_plan_network.js';
import { m0007 } from './0007_attempt_upload.js';
import { m0008 } from './0008_live_log.js';
import { m0009 } from './0009_run_change_notify.js';
import { m0010 } from './0010_list_pages.js';
import { m0011 } from './0011_run_invalidated_index.js';

/** Every schema change, in order. Never edit a released migration: add a new one. */
export const migrations: readonly Migration[] = [m0001, m0002, m0003, m0004, m0005, m0006, m0007, m0008, m0009, m0010, m0011];
